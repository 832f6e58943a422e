import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../errors.ts';
import { type ChatConfig, configSchema, type RegionConfig } from './schema.ts';

/** Validates a raw config object; throws `ConfigError` naming the first bad field's path. */
export function parseConfig(raw: unknown, source = 'config'): ChatConfig {
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    const path = issue && issue.path.length > 0 ? issue.path.join('.') : '(root)';
    throw new ConfigError(`${source}: ${path}: ${issue?.message ?? 'invalid'}`, path);
  }
  return result.data;
}

export function loadConfigFile(file: string): ChatConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new ConfigError(`${file}: cannot read`, '(file)', { cause });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (cause) {
    throw new ConfigError(`${file}: not valid YAML: ${(cause as Error).message}`, '(file)', { cause });
  }
  return parseConfig(raw, file);
}

/** The built-in single-node config `npm start` runs with: embedded store, in-process everything. */
export function embeddedConfig(
  overrides: { port?: number; dataDir?: string; secret?: string; operatorToken?: string } = {},
): ChatConfig {
  return parseConfig(
    {
      regions: [
        {
          name: 'local',
          id: 0,
          gateway: { host: '127.0.0.1', port: overrides.port ?? 8080 },
          dataDir: overrides.dataDir ?? 'data',
        },
      ],
      auth: {
        secret: overrides.secret ?? 'embedded-dev-secret-not-for-production',
        devTokens: true,
        ...(overrides.operatorToken !== undefined ? { operatorToken: overrides.operatorToken } : {}),
      },
    },
    'embedded defaults',
  );
}

/** Picks the region this process serves: by name, or the only one. */
export function selectRegion(config: ChatConfig, name: string | undefined): RegionConfig {
  if (name === undefined) {
    if (config.regions.length === 1) return config.regions[0]!;
    throw new ConfigError(
      `several regions configured (${config.regions.map((r) => r.name).join(', ')}); set CHAT_REGION`,
      'regions',
    );
  }
  const region = config.regions.find((r) => r.name === name);
  if (!region) throw new ConfigError(`no region named "${name}" in config`, 'regions');
  return region;
}
