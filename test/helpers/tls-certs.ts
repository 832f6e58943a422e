/**
 * A throwaway certificate authority for tests of services that require TLS: a CA, a server
 * certificate for 127.0.0.1/localhost and a client certificate signed by it, plus a second,
 * unrelated CA with its own client certificate (what an untrusted party would present).
 * Generated with `openssl` into a temp dir; EC P-256 keys, so generation takes milliseconds.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeOnExit } from './proc.ts';

export interface TestCerts {
  dir: string;
  /** The CA that signed `server*` and `client*` (PEM file). */
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** An unrelated CA and a client certificate it signed: trusted by nobody. */
  rogueCa: string;
  rogueClientCert: string;
  rogueClientKey: string;
  /** Removes the directory. */
  remove(): void;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string): void {
  openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`]);
  openssl(dir, [
    'req',
    '-x509',
    '-new',
    '-key',
    `${name}.key`,
    '-subj',
    `/CN=${name} test CA`,
    '-days',
    '2',
    '-sha256',
    '-out',
    `${name}.pem`,
  ]);
}

/** A leaf certificate signed by `ca`; `ext` is its extensions (SAN, usage). */
function makeLeaf(dir: string, ca: string, name: string, cn: string, ext: string): void {
  openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key.ec`]);
  // PKCS#8 ("BEGIN PRIVATE KEY"): the format every server here and Java's tooling accept.
  openssl(dir, ['pkcs8', '-topk8', '-nocrypt', '-in', `${name}.key.ec`, '-out', `${name}.key`]);
  openssl(dir, ['req', '-new', '-key', `${name}.key`, '-subj', `/CN=${cn}`, '-out', `${name}.csr`]);
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.pem`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-days',
    '2',
    '-sha256',
    '-extfile',
    `${name}.ext`,
    '-out',
    `${name}.pem`,
  ]);
}

/** Generates the certificates into a fresh temp dir (removed on exit if `remove()` is not called). */
export function makeTestCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'tls-certs-'));
  const keep = removeOnExit(dir);
  makeCa(dir, 'ca');
  makeCa(dir, 'rogue-ca');
  makeLeaf(
    dir,
    'ca',
    'server',
    'localhost',
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n',
  );
  makeLeaf(dir, 'ca', 'client', 'chat-gateway', 'extendedKeyUsage=clientAuth\n');
  makeLeaf(dir, 'rogue-ca', 'rogue-client', 'chat-gateway', 'extendedKeyUsage=clientAuth\n');
  const f = (name: string) => join(dir, name);
  return {
    dir,
    ca: f('ca.pem'),
    serverCert: f('server.pem'),
    serverKey: f('server.key'),
    clientCert: f('client.pem'),
    clientKey: f('client.key'),
    rogueCa: f('rogue-ca.pem'),
    rogueClientCert: f('rogue-client.pem'),
    rogueClientKey: f('rogue-client.key'),
    remove() {
      rmSync(dir, { recursive: true, force: true });
      keep();
    },
  };
}

/**
 * A PKCS#12 keystore (server key + certificate) and truststore (the CA) for a Java server
 * (Cassandra), both with password `storePassword`. Needs `keytool` for the truststore: a
 * certificate-only PKCS#12 from openssl lacks the attribute that makes Java trust its entries.
 */
export function makeJavaStores(
  certs: TestCerts,
  storePassword: string,
  /** The JDK's keytool (Cassandra's JDK, beside its java). */
  keytool = 'keytool',
): { keystore: string; truststore: string } {
  const keystore = join(certs.dir, 'server.p12');
  const truststore = join(certs.dir, 'truststore.p12');
  openssl(certs.dir, [
    'pkcs12',
    '-export',
    '-in',
    certs.serverCert,
    '-inkey',
    certs.serverKey,
    '-name',
    'server',
    '-passout',
    `pass:${storePassword}`,
    '-out',
    keystore,
  ]);
  execFileSync(
    keytool,
    [
      '-importcert',
      '-noprompt',
      '-alias',
      'ca',
      '-file',
      certs.ca,
      '-storetype',
      'PKCS12',
      '-keystore',
      truststore,
      '-storepass',
      storePassword,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return { keystore, truststore };
}
