/**
 * `npm test`: typecheck, lint, install services, start one shared Cassandra, then run every
 * test/**\/*.test.ts with Node's test runner, one file at a time.
 *
 *   npm test                    everything
 *   npm test -- presence ws     only files whose path contains "presence" or "ws"
 *   npm test -- --unit          no services or Cassandra: skips test/integration/,
 *                               test/helpers.test.ts (which tests the service helpers) and
 *                               test/browser.test.ts (which needs Chromium)
 *   npm test -- --no-faults     every test file, but not the fault suite
 *   npm test -- --unit --node 22   the files on another Node major (official binary from the npm
 *                               registry, scripts/node-versions.sh; the gateway then runs on
 *                               the transport that runtime gets, see docs/operations.md)
 *
 * The whole run (no filters, not --unit) then runs the unit set (`--unit`) on each of
 * `OTHER_NODE_MAJORS`, and ends with the fault suite's bounded set
 * (`npm run faults -- --quick`, scripts/faults/: three regions under SDK traffic, one fault per
 * scenario, 0 lost and 0 duplicated deliveries required), after the test files passed and their
 * Cassandra is stopped (the suite starts its own cluster).
 *
 * Exits with the test runner's exit code (or the first failing step's).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { type CassandraHandle, startCassandra } from '../test/helpers/cassandra.ts';

const root = join(import.meta.dirname, '..');
const bin = (name: string) => join(root, 'node_modules/.bin', name);

const args = process.argv.slice(2);
/** `--node 22` or `--node=22`: the Node major to run the test files with (default: this one). */
const nodeAt = args.findIndex((a) => a === '--node' || a.startsWith('--node='));
const nodeMajor =
  nodeAt < 0 ? undefined : args[nodeAt]!.includes('=') ? args[nodeAt]!.split('=')[1] : args[nodeAt + 1];
if (nodeAt >= 0 && !/^\d+$/.test(nodeMajor ?? '')) {
  console.error('--node needs a major version, e.g. --node 22');
  process.exit(2);
}
if (nodeAt >= 0 && !args[nodeAt]!.includes('=')) args.splice(nodeAt + 1, 1);
const unit = args.includes('--unit');
const noFaults = args.includes('--no-faults');
const filters = args.filter((a) => !a.startsWith('--'));

/** Supported Node majors besides the one `npm test` runs on; the full run tests them too. */
const OTHER_NODE_MAJORS = ['22', '24'];

let current: ChildProcess | undefined;
let cassandra: CassandraHandle | undefined;

/** Runs a command with inherited stdio and resolves with its exit code. */
function run(cmd: string, cmdArgs: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(cmd, cmdArgs, { cwd: root, stdio: 'inherit', env });
    current = child;
    child.once('error', (err) => {
      console.error(`${cmd}: ${err.message}`);
      resolve(1);
    });
    child.once('exit', (code, signal) => {
      current = undefined;
      resolve(code ?? (signal ? 128 : 1));
    });
  });
}

/** The `node` binary of a Node major: this process's own, or installed by node-versions.sh. */
function nodeBinary(major: string | undefined): Promise<string> {
  if (major === undefined || major === process.versions.node.split('.')[0]) {
    return Promise.resolve(process.execPath);
  }
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(root, 'scripts/node-versions.sh'), 'path', major], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve(out.trim()) : reject(new Error(`node-versions.sh path ${major}: exit ${code}`)),
    );
  });
}

/** Test files that need real servers (or, for the browser test, Chromium from apt). */
const needsServices = (f: string) =>
  f.startsWith('test/integration/') || f === 'test/helpers.test.ts' || f === 'test/browser.test.ts';

/** All *.test.ts files under test/ that match the filters, as sorted repo-relative paths. */
function testFiles(unitOnly = unit): string[] {
  const entries = readdirSync(join(root, 'test'), { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.test.ts'))
    .map((e) => relative(root, join(e.parentPath, e.name)))
    .filter((f) => !unitOnly || !needsServices(f))
    .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
    .sort();
}

async function main(): Promise<number> {
  const step = async (name: string, cmd: string, cmdArgs: string[]) => {
    console.log(`\n== ${name}`);
    const code = await run(cmd, cmdArgs);
    if (code !== 0) throw Object.assign(new Error(`${name} failed (exit ${code})`), { code });
  };
  await step('typecheck', bin('tsc'), ['--noEmit']);
  // The browser code (web app, dashboard) has its own config: DOM types, no Node types.
  await step('typecheck web', bin('tsc'), ['--noEmit', '-p', 'src/web/ui']);
  await step('lint', bin('biome'), ['check', '.']);

  const files = testFiles();
  if (files.length === 0) {
    console.error(`no test files match ${filters.join(' ') || '(all)'}`);
    return 1;
  }

  const env = { ...process.env };
  if (!unit) {
    await step('services', 'bash', [join(root, 'scripts/services.sh'), 'install']);
    console.log('\n== cassandra');
    cassandra = await startCassandra();
    console.log(`cassandra ${cassandra.contactPoints[0]}:${cassandra.port} up in ${cassandra.startupMs} ms`);
    env.TEST_CASSANDRA = JSON.stringify({
      contactPoints: cassandra.contactPoints,
      port: cassandra.port,
      localDataCenter: cassandra.localDataCenter,
    });
  }

  const node = await nodeBinary(nodeMajor);
  const version = node === process.execPath ? process.version : `Node ${nodeMajor} (${node})`;
  console.log(`\n== tests (${files.length} files) on ${version}`);
  // A hung test must not eat CI's whole time budget.
  const nodeArgs = ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=300000'];
  const code = await run(node, [...nodeArgs, ...files], env);
  if (code !== 0 || unit || noFaults || filters.length > 0 || nodeMajor !== undefined) return code;
  await cleanup();
  // The other supported runtimes: the unit set, which starts embedded gateways on the transport
  // each runtime gets (no native uWS build for Node 22 and 24 here: the node transport).
  for (const major of OTHER_NODE_MAJORS) {
    const other = await nodeBinary(major);
    const unitFiles = testFiles(true);
    console.log(`\n== unit tests (${unitFiles.length} files) on Node ${major}`);
    const otherCode = await run(other, [...nodeArgs, ...unitFiles], process.env);
    if (otherCode !== 0) return otherCode;
  }
  console.log('\n== fault suite (npm run faults -- --quick)');
  return run(bin('tsx'), [join(root, 'scripts/faults/run.ts'), '--quick']);
}

async function cleanup(): Promise<void> {
  const c = cassandra;
  cassandra = undefined;
  await c?.close();
}

// `on`, not `once`: while this handler is registered the helpers' own signal handler does not
// exit the process, so Cassandra's close() can finish and remove its temp dir.
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    current?.kill(sig);
    void cleanup().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  });
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  const code = (err as { code?: unknown }).code;
  exitCode = typeof code === 'number' && code !== 0 ? code : 1;
} finally {
  await cleanup();
}
process.exit(exitCode);
