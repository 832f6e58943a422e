/**
 * The connection every part of `CassandraStorage` shares: one driver client whose queries are
 * prepared and run at the configured consistency (LOCAL_QUORUM by default, lightweight
 * transactions at LOCAL_SERIAL), and the keyspace its statements are qualified with.
 */
import cassandra, { type Client as CassandraClient, type types } from 'cassandra-driver';
import { type CassandraSecurity, cassandraSecurityOptions } from '../../services/cassandra.ts';
import { assertKeyspaceName } from './schema.ts';

const { Client, types: cql, policies } = cassandra;

/**
 * How long the driver waits between attempts to reconnect to a node it saw go down: 100 ms
 * doubling to this. The driver's default grows to 10 minutes; after a 10–20 s Cassandra restart
 * a gateway then waited 16 s or more for its next attempt, and its sends and cross-region applies
 * failed with NoHostAvailable all that time although the node was back (measured with
 * `npm run faults -- --scenario cassandra-stop`: first ack 9–43 s after the heal).
 */
const RECONNECT_MAX_DELAY_MS = 2000;

export type ConsistencyName = 'ONE' | 'LOCAL_ONE' | 'QUORUM' | 'LOCAL_QUORUM' | 'EACH_QUORUM' | 'ALL';

const CONSISTENCY: Record<ConsistencyName, number> = {
  ONE: cql.consistencies.one,
  LOCAL_ONE: cql.consistencies.localOne,
  QUORUM: cql.consistencies.quorum,
  LOCAL_QUORUM: cql.consistencies.localQuorum,
  EACH_QUORUM: cql.consistencies.eachQuorum,
  ALL: cql.consistencies.all,
};

/** Page size when reading a whole partition (counting unread messages, listing members). */
export const SCAN_PAGE = 1000;

/** Where the cluster is, plus its credentials and TLS (`username`, `password`, `tls`). */
export interface SessionOptions extends CassandraSecurity {
  contactPoints: string[];
  /** CQL native port. Default 9042. */
  port?: number;
  localDataCenter: string;
  keyspace: string;
  /** Reads and writes. Default LOCAL_QUORUM: the sender is acked once a local quorum has the message. */
  consistency?: ConsistencyName;
  /** Per-request timeout in ms (driver default 12 s). */
  readTimeoutMs?: number;
}

export class CqlSession {
  readonly client: CassandraClient;
  /** Keyspace, interpolated into every statement (identifiers cannot be bound). */
  readonly ks: string;

  constructor(options: SessionOptions) {
    // Interpolated into every statement, so validate it up front.
    assertKeyspaceName(options.keyspace);
    this.ks = options.keyspace;
    this.client = new Client({
      contactPoints: options.contactPoints,
      localDataCenter: options.localDataCenter,
      protocolOptions: { port: options.port ?? 9042 },
      ...cassandraSecurityOptions(options),
      policies: {
        reconnection: new policies.reconnection.ExponentialReconnectionPolicy(
          100,
          RECONNECT_MAX_DELAY_MS,
          false,
        ),
      },
      queryOptions: {
        consistency: CONSISTENCY[options.consistency ?? 'LOCAL_QUORUM'],
        serialConsistency: cql.consistencies.localSerial,
        prepare: true,
      },
      ...(options.readTimeoutMs !== undefined
        ? { socketOptions: { readTimeout: options.readTimeoutMs } }
        : {}),
    });
  }

  /** All rows of a single-partition query, following the driver's paging. */
  async selectAll(query: string, params: unknown[]): Promise<types.Row[]> {
    const rows: types.Row[] = [];
    let pageState: string | undefined;
    do {
      const rs = await this.client.execute(query, params, {
        fetchSize: SCAN_PAGE,
        ...(pageState ? { pageState } : {}),
      });
      rows.push(...rs.rows);
      pageState = rs.pageState ?? undefined;
    } while (pageState);
    return rows;
  }
}
