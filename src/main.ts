/**
 * Entry point. `npm start` with no config runs one embedded gateway (LMDB store in ./data,
 * in-process presence and routing). With CHAT_CONFIG=regions.yaml and CHAT_REGION=<name> it
 * serves that region on the services the file names.
 *
 * Environment: CHAT_CONFIG, CHAT_REGION, CHAT_PORT, CHAT_HOST, CHAT_WORKER_ID, CHAT_DATA_DIR,
 * CHAT_OPERATOR_TOKEN (the dashboard's token when the config has none).
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { startGateway } from './app.ts';
import { embeddedConfig, loadConfigFile, selectRegion } from './config/load.ts';
import { ConfigError } from './errors.ts';
import { warmWebAssets } from './web/index.ts';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string' },
      region: { type: 'string' },
      port: { type: 'string' },
      'worker-id': { type: 'string' },
      'data-dir': { type: 'string' },
    },
  });
  const configFile = values.config ?? process.env.CHAT_CONFIG;
  const portRaw = values.port ?? process.env.CHAT_PORT;
  const port = portRaw !== undefined ? Number(portRaw) : undefined;
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
    throw new ConfigError(`CHAT_PORT: not a port: ${portRaw}`, 'CHAT_PORT');
  }
  const workerRaw = values['worker-id'] ?? process.env.CHAT_WORKER_ID ?? '0';
  const workerId = Number(workerRaw);
  if (!Number.isInteger(workerId) || workerId < 0 || workerId > 31) {
    throw new ConfigError(`CHAT_WORKER_ID: must be 0..31, got ${workerRaw}`, 'CHAT_WORKER_ID');
  }
  const dataDir = values['data-dir'] ?? process.env.CHAT_DATA_DIR;
  // The dashboard's operator token: from the config file (`auth.operatorToken`), else
  // CHAT_OPERATOR_TOKEN, else (embedded mode only) a random one for this run, printed below.
  const envOperatorToken = process.env.CHAT_OPERATOR_TOKEN || undefined;
  const config = configFile
    ? loadConfigFile(configFile)
    : embeddedConfig({
        ...(dataDir ? { dataDir } : {}),
        operatorToken: envOperatorToken ?? randomBytes(18).toString('base64url'),
      });
  if (configFile && envOperatorToken !== undefined) {
    if (envOperatorToken.length < 16) {
      throw new ConfigError('CHAT_OPERATOR_TOKEN: at least 16 characters', 'CHAT_OPERATOR_TOKEN');
    }
    config.auth.operatorToken ??= envOperatorToken;
  }
  const region = selectRegion(config, values.region ?? process.env.CHAT_REGION);
  if (process.env.CHAT_HOST) region.gateway.host = process.env.CHAT_HOST;

  const gateway = await startGateway({
    config,
    region,
    workerId,
    ...(port !== undefined ? { port } : {}),
    ...(dataDir ? { dataDir } : {}),
  });
  // Bundle the web app now: the first page load does not wait, and a broken bundle shows here.
  const webMs = await warmWebAssets().catch((err: unknown) => {
    console.error(`web app: ${err instanceof Error ? err.message : String(err)}`);
    return null;
  });
  const mode = configFile
    ? `region ${region.name} from ${configFile}`
    : `embedded mode (data in ${region.dataDir})`;
  // One write, so whoever waits for "listening" also has the rest.
  const lines = [
    `chat gateway ${gateway.gatewayId} listening — ${mode}`,
    `  WebSocket: ${gateway.url}?token=<jwt>`,
    `  Socket.IO: ${gateway.httpUrl} (path /socket.io/, auth: { token: '<jwt>' })`,
    `  Health:    ${gateway.httpUrl}/healthz  ${gateway.httpUrl}/readyz  ${gateway.httpUrl}/metrics`,
  ];
  if (config.auth.devTokens) lines.push(`  Dev token: curl '${gateway.httpUrl}/dev/token?user=alice'`);
  if (webMs !== null) lines.push(`  Web chat:  ${gateway.httpUrl}/`);
  lines.push(
    config.auth.operatorToken
      ? `  Dashboard: ${gateway.httpUrl}/dashboard#token=${config.auth.operatorToken}`
      : '  Dashboard: off (set auth.operatorToken or CHAT_OPERATOR_TOKEN)',
  );
  console.log(lines.join('\n'));

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: draining…`);
    gateway.stop().then(
      () => {
        console.log('stopped');
        process.exit(0);
      },
      (err) => {
        console.error('stop failed', err);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) console.error(`config error: ${err.message}`);
  else console.error(err);
  process.exit(1);
});
