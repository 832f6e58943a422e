/**
 * Entry point, run compiled as `node dist/main.js` (`npm start` builds dist/ first when it is
 * stale; docs/operations.md "Starting a gateway"). With no config it runs one embedded gateway
 * (LMDB store in ./data, in-process presence and routing). With CHAT_CONFIG=regions.yaml and
 * CHAT_REGION=<name> it serves that region on the services the file names.
 *
 * Environment (parsed in src/config/env.ts): CHAT_CONFIG, CHAT_REGION, CHAT_PORT, CHAT_HOST,
 * CHAT_WORKER_ID (a number, or `ordinal`: from the host name), CHAT_DATA_DIR, CHAT_OPERATOR_TOKEN,
 * CHAT_LOG_LEVEL, CHAT_TRANSPORT, and the backing services' secrets (CHAT_REDIS_PASSWORD and the
 * like, src/config/service-secrets.ts). The flags --config, --region, --port, --worker-id and --data-dir
 * override the variable of the same meaning.
 *
 * Logs are JSON lines on stdout (src/util/log.ts); the startup banner below is plain text so a
 * person (or a test waiting for "listening") can read it. A failed start is one fatal log line
 * on stderr.
 */
import { parseArgs } from 'node:util';
import { startGateway } from './app.ts';
import { parseEnv, resolveStartup } from './config/env.ts';
import { ConfigError, ServiceStartError } from './errors.ts';
import { stopBoundMs } from './gateway/shutdown.ts';
import { createLogger, type Logger } from './util/log.ts';
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
  const flags: Record<string, string | undefined> = {
    CHAT_CONFIG: values.config,
    CHAT_REGION: values.region,
    CHAT_PORT: values.port,
    CHAT_WORKER_ID: values['worker-id'],
    CHAT_DATA_DIR: values['data-dir'],
  };
  const env = { ...process.env };
  for (const [name, value] of Object.entries(flags)) if (value !== undefined) env[name] = value;
  const { config, region, workerId, port, dataDir, configFile, logLevel } = resolveStartup(parseEnv(env));
  const log = createLogger({ level: logLevel });

  const gateway = await startGateway({
    config,
    region,
    workerId,
    log,
    ...(port !== undefined ? { port } : {}),
    ...(dataDir ? { dataDir } : {}),
  });
  const mainLog = gateway.deps.log.child({ component: 'main' });
  // Load the web app now (compiled: the files the build wrote; from sources: bundled, see
  // src/web/assets.ts): the first page load does not wait, and a missing bundle shows here.
  const webMs = await warmWebAssets().catch((err: unknown) => {
    mainLog.error({ err }, 'web app: loading failed');
    return null;
  });
  const mode = configFile
    ? `region ${region.name} from ${configFile}`
    : `embedded mode (data in ${region.dataDir})`;
  // One write, so whoever waits for "listening" also has the rest.
  const lines = [
    `chat gateway ${gateway.gatewayId} listening — ${mode}`,
    `  Transport: ${gateway.transport.name} (${gateway.transport.name === 'uws' ? 'uWebSockets.js' : 'ws + node:http'}, Node ${process.version})`,
    `  WebSocket: ${gateway.url}?token=<jwt>`,
    `  Socket.IO: ${gateway.httpUrl} (path /socket.io/, auth: { token: '<jwt>' })`,
    `  Health:    ${gateway.httpUrl}/healthz  ${gateway.httpUrl}/readyz`,
  ];
  if (config.auth.devTokens) lines.push(`  Dev token: curl '${gateway.httpUrl}/dev/token?user=alice'`);
  if (webMs !== null) lines.push(`  Web chat:  ${gateway.httpUrl}/`);
  lines.push(
    ...(config.auth.operatorToken
      ? [
          `  Dashboard: ${gateway.httpUrl}/dashboard#token=${config.auth.operatorToken}`,
          `  Metrics:   ${gateway.httpUrl}/metrics  (header Authorization: Bearer <operator token>)`,
        ]
      : ['  Dashboard and metrics: off (set auth.operatorToken or CHAT_OPERATOR_TOKEN)']),
  );
  console.log(lines.join('\n'));

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    const boundMs = stopBoundMs(config.limits);
    mainLog.info({ signal, boundMs }, 'draining…');
    const t0 = Date.now();
    // The stop bounds each of its steps; this is the backstop should anything else hang.
    setTimeout(() => {
      mainLog.error({ boundMs }, `stop still running after ${boundMs} ms; exiting`);
      process.exit(1);
    }, boundMs + STOP_BACKSTOP_SLACK_MS).unref();
    gateway.stop().then(
      () => {
        mainLog.info({ ms: Date.now() - t0 }, 'stopped');
        process.exit(0);
      },
      (err: unknown) => {
        mainLog.error({ err }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** Past the stop's bound, how long the process waits before it exits regardless. */
const STOP_BACKSTOP_SLACK_MS = 2000;

/** Before the config is read there is no configured logger: a failed start goes to stderr. */
const fatalLog: Logger = createLogger({ level: 'info', destination: 'stderr' });

main().catch((err: unknown) => {
  if (err instanceof ConfigError) fatalLog.fatal({ path: err.path }, `config error: ${err.message}`);
  // Which service refused, which part of the gateway, where, and the driver's reason.
  else if (err instanceof ServiceStartError)
    fatalLog.fatal(
      { service: err.service, component: err.component, target: err.target, err: err.cause },
      `start failed: ${err.message}`,
    );
  else fatalLog.fatal({ err }, 'start failed');
  process.exit(1);
});
