/**
 * NATS decentralized auth for tests: an operator, an account and a user made and signed here
 * (with nats-io's JWT library, as `nsc` would), the server config they need (`NatsSecurity.operator`)
 * and the user's `.creds` file, as an operator hands one to a gateway.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeAccount, encodeOperator, encodeUser, fmtCreds } from '@nats-io/jwt';
import { createAccount, createOperator, createUser } from '@nats-io/nkeys';
import type { NatsSecurity } from './nats.ts';

export interface TestOperator {
  /** For `startNats({ security: { operator } })`. */
  operator: NonNullable<NatsSecurity['operator']>;
  /** Writes a `.creds` file for a new user of the operator's account into `dir`; returns its path. */
  userCreds(dir: string, name: string): Promise<string>;
  /** The same for a user signed by an account the server does not know. */
  strangerCreds(dir: string, name: string): Promise<string>;
}

export async function makeTestOperator(): Promise<TestOperator> {
  const okp = createOperator();
  const akp = createAccount();
  const operatorJwt = await encodeOperator('test-operator', okp);
  // An account JWT without limits allows no connection at all: these lift them.
  const limits = {
    conn: -1,
    subs: -1,
    data: -1,
    payload: -1,
    imports: -1,
    exports: -1,
    leaf: -1,
    wildcards: true,
  };
  const accountJwt = await encodeAccount('chat', akp, { limits }, { signer: okp });
  const creds = async (dir: string, name: string, account: ReturnType<typeof createAccount>) => {
    const ukp = createUser();
    const userJwt = await encodeUser(name, ukp, account);
    const file = join(dir, `${name}.creds`);
    writeFileSync(file, new TextDecoder().decode(fmtCreds(userJwt, ukp)), { mode: 0o600 });
    return file;
  };
  return {
    operator: { jwt: operatorJwt, accounts: { [akp.getPublicKey()]: accountJwt } },
    userCreds: (dir, name) => creds(dir, name, akp),
    strangerCreds: (dir, name) => creds(dir, name, createAccount()),
  };
}
