/**
 * Search (`Storage.searchMessages`) on Cassandra: each message row carries its body's search terms
 * (`terms set<text>`, from `searchTerms`, written with the row) and an SAI index on the set's
 * values (migration 4) answers `terms CONTAINS ? AND …` within one (conversation, bucket)
 * partition, in clustering order, newest first. Why not an index on the body itself: SAI in 5.0
 * has no tokenizing analyzer and SASI is disabled by default and cannot AND two words
 * (docs/architecture.md, "Search"; measured in bench/micro/search-index.ts). An edit or delete that
 * rewrites the row must write `terms` with the body (`ChangeStore.applyChange`): the index then
 * follows the row, with no old postings to remove.
 *
 * A search walks the 10-day buckets newest first, all of the user's conversations at once: a
 * bucket is a time window, so once a page is full nothing in older buckets can precede it. A rare
 * word in many old conversations could mean reading many partitions, so one call reads at most
 * `partitionBudget` of them (finishing the bucket it is in) and then returns with `nextBefore`
 * set to where it stopped.
 */
import { searchTerms } from '../../protocol/search.ts';
import { snowflakeFloor } from '../../util/snowflake.ts';
import { assertMessageId, clampLimit, MAX_MESSAGE_ID, mapLimit } from '../common.ts';
import { MAX_SEARCH_LIMIT, type SearchPage, type SearchQuery, type StoredMessage } from '../types.ts';
import { BUCKET_MS, bucketOfId, creationBucket, MESSAGE_ROW_COLUMNS, rowToMessage, toLong } from './rows.ts';
import type { CqlSession } from './session.ts';

/**
 * Partitions one search call reads at most (it always finishes the bucket it started): about
 * 200 ms of SAI reads on a quiet node (docs/benchmarks.md, "Search"), and enough for a page of a
 * common word across a user's conversations in one call.
 */
export const DEFAULT_SEARCH_PARTITION_BUDGET = 200;
/** Partition reads in flight at once for one search. */
const READ_CONCURRENCY = 16;

/** The `terms` cell of a message row: what the index matches a query against. */
export function termsOf(body: string): string[] {
  return searchTerms(body);
}

interface Span {
  conversationId: string;
  /** Newest bucket to read (the pointer's, or the cursor's if older). */
  hi: number;
  /** Oldest bucket that can hold its messages. */
  lo: number;
}

export class MessageSearch {
  private readonly selects = new Map<number, string>();

  constructor(
    private readonly db: CqlSession,
    /** When a conversation was created: its messages cannot be in earlier buckets. */
    private readonly createdAtOf: (conversationId: string) => Promise<number>,
    /** The conversation's newest bucket with messages, or null when it has none. */
    private readonly newestBucket: (conversationId: string) => Promise<number | null>,
    private readonly partitionBudget = DEFAULT_SEARCH_PARTITION_BUDGET,
  ) {}

  async search(query: SearchQuery): Promise<SearchPage> {
    const limit = clampLimit(query.limit, MAX_SEARCH_LIMIT);
    if (query.before !== undefined) assertMessageId(query.before, 'before');
    const terms = [...new Set(query.terms)];
    if (limit === 0 || terms.length === 0 || query.before === 0n) return { messages: [], nextBefore: null };
    const upper = query.before === undefined ? MAX_MESSAGE_ID : query.before - 1n;
    const spans = await this.spans([...new Set(query.conversationIds)], bucketOfId(upper));
    if (spans.length === 0) return { messages: [], nextBefore: null };

    // One more than a page: finding it says there is a next page.
    const want = limit + 1;
    const found: StoredMessage[] = [];
    const oldest = Math.min(...spans.map((s) => s.lo));
    let reads = 0;
    for (let bucket = Math.max(...spans.map((s) => s.hi)); bucket >= oldest; bucket--) {
      if (reads >= this.partitionBudget) {
        // Everything at or above this bucket's successor was read: go on below it next time.
        return { messages: found, nextBefore: snowflakeFloor((bucket + 1) * BUCKET_MS) };
      }
      const active = spans.filter((s) => s.lo <= bucket && bucket <= s.hi);
      reads += active.length;
      const need = want - found.length;
      const pages = await mapLimit(active, READ_CONCURRENCY, (s) =>
        this.readPartition(s.conversationId, bucket, upper, terms, need),
      );
      const inBucket = pages.flat().sort((a, b) => (a.messageId < b.messageId ? 1 : -1));
      found.push(...inBucket.slice(0, need));
      if (found.length >= want) break;
    }
    const page = found.slice(0, limit);
    return {
      messages: page,
      nextBefore: found.length > limit ? (page[page.length - 1]?.messageId ?? null) : null,
    };
  }

  /** The conversations that have messages, with the buckets a search below `top` may read. */
  private async spans(conversationIds: string[], top: number): Promise<Span[]> {
    const spans = await mapLimit(conversationIds, READ_CONCURRENCY, async (conversationId) => {
      const [newest, createdAt] = await Promise.all([
        this.newestBucket(conversationId),
        this.createdAtOf(conversationId),
      ]);
      if (newest === null) return null;
      const span: Span = { conversationId, hi: Math.min(newest, top), lo: creationBucket(createdAt) };
      return span.hi >= span.lo ? span : null;
    });
    return spans.filter((s): s is Span => s !== null);
  }

  private async readPartition(
    conversationId: string,
    bucket: number,
    upper: bigint,
    terms: string[],
    n: number,
  ): Promise<StoredMessage[]> {
    const rs = await this.db.client.execute(this.select(terms.length), [
      conversationId,
      bucket,
      toLong(upper),
      ...terms,
      n,
    ]);
    return rs.rows.map(rowToMessage);
  }

  /** The prepared select for `count` terms (at most SEARCH_MAX_TERMS distinct statements). */
  private select(count: number): string {
    let q = this.selects.get(count);
    if (q === undefined) {
      const contains = Array.from({ length: count }, () => 'terms CONTAINS ?').join(' AND ');
      q = `SELECT ${MESSAGE_ROW_COLUMNS} FROM ${this.db.ks}.messages
        WHERE conversation_id = ? AND bucket = ? AND message_id <= ? AND ${contains} LIMIT ?`;
      this.selects.set(count, q);
    }
    return q;
  }
}
