/**
 * deploy/k8s/: every region's overlay, rendered offline (test/helpers/kustomize.ts; compared with
 * `kubectl kustomize` where kubectl is installed, a visible skip where not), validated
 * against the Kubernetes schemas (`kubernetes-models`), and checked against each other and the
 * gateway: selectors match the pod labels, the probes hit paths a running gateway answers on the
 * container's port, the grace period covers the gateway's stop bound, the HPA stays within the
 * worker-id range, the ConfigMap's regions.yaml and the container's environment are what the
 * gateway parses at start, and the Secret's keys are the ones docs/operations.md creates.
 *
 * The schemas check types and required fields; they accept unknown fields, so a misspelt field
 * name is caught only where a check below reads that field.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { StatefulSet } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Service } from 'kubernetes-models/v1';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { parseEnv, resolveStartup, WORKER_ID_FROM_ORDINAL, workerIdFromHostname } from '../src/config/env.ts';
import { loadConfigFile, parseConfig, selectRegion } from '../src/config/load.ts';
import { stopBoundMs } from '../src/gateway/shutdown.ts';
import { MAX_WORKER_ID } from '../src/util/snowflake.ts';
import { startTestGateway, type TestGateway } from './helpers/gateway.ts';
import { kustomize, type Manifest } from './helpers/kustomize.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const K8S = path.join(ROOT, 'deploy/k8s');
/** What main.ts waits past the stop bound before it exits regardless (STOP_BACKSTOP_SLACK_MS). */
const BACKSTOP_SLACK_MS = 2000;

type Validate = (m: Manifest) => void;
const MODELS: Record<string, Validate> = {
  'v1/Namespace': (m) => new Namespace(m as object as Namespace).validate(),
  'v1/ConfigMap': (m) => new ConfigMap(m as object as ConfigMap).validate(),
  'v1/Service': (m) => new Service(m as object as Service).validate(),
  'apps/v1/StatefulSet': (m) => new StatefulSet(m as object as StatefulSet).validate(),
  'policy/v1/PodDisruptionBudget': (m) =>
    new PodDisruptionBudget(m as object as PodDisruptionBudget).validate(),
  'autoscaling/v2/HorizontalPodAutoscaler': (m) =>
    new HorizontalPodAutoscaler(m as object as HorizontalPodAutoscaler).validate(),
};

type PodSpec = NonNullable<NonNullable<StatefulSet['spec']>['template']['spec']>;

function one<T extends Manifest>(ms: Manifest[], kind: string, name?: string): T {
  const found = ms.filter((m) => m.kind === kind && (name === undefined || m.metadata.name === name));
  assert.equal(found.length, 1, `one ${kind}${name ? ` ${name}` : ''}`);
  return found[0] as T;
}

/** Every label of `selector` is on `labels` with the same value. */
function selects(
  selector: Record<string, string> | undefined,
  labels: Record<string, string> | undefined,
): boolean {
  return (
    selector !== undefined &&
    Object.keys(selector).length > 0 &&
    Object.entries(selector).every(([k, v]) => labels?.[k] === v)
  );
}

/** `kubectl kustomize` renders the real thing, where kubectl is installed. */
const noKubectl =
  spawnSync('kubectl', ['version', '--client'], { timeout: 30_000 }).status === 0
    ? false
    : 'kubectl is not installed: the renderer is not compared with kustomize';
if (noKubectl) console.log(`# Kubernetes manifests: ${noKubectl}`);

/** Objects keyed by kind/name, with env lists ordered by name (kustomize puts patched ones first). */
function comparable(ms: unknown[]): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const m of ms as Manifest[]) {
    const copy = structuredClone(m);
    for (const c of (copy.spec as StatefulSet['spec'])?.template?.spec?.containers ?? []) {
      c.env?.sort((a, b) => a.name.localeCompare(b.name));
    }
    out.set(`${m.kind}/${m.metadata.name}`, copy);
  }
  return out;
}

const repoRegions = loadConfigFile(path.join(ROOT, 'regions.yaml')).regions;
const overlays = readdirSync(path.join(K8S, 'overlays')).sort();

describe('Kubernetes manifests (deploy/k8s)', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway();
  });
  after(async () => {
    await gw?.stop();
  });

  it('has one overlay per region of regions.yaml, and the same regions and ids in its config', () => {
    assert.deepEqual(overlays, repoRegions.map((r) => r.name).sort());
    const deployed = parseConfig(loadYamlConfigFromBase(), 'deploy/k8s/base/regions.yaml');
    assert.deepEqual(
      deployed.regions.map((r) => [r.name, r.id]),
      repoRegions.map((r) => [r.name, r.id]),
    );
  });

  for (const region of overlays) {
    describe(`overlay ${region}`, () => {
      const ms = kustomize(path.join(K8S, 'overlays', region));
      const sts = one<Manifest>(ms, 'StatefulSet');
      const stsSpec = sts.spec as NonNullable<StatefulSet['spec']>;
      const pod = stsSpec.template.spec as PodSpec;
      const podLabels = stsSpec.template.metadata?.labels as Record<string, string>;
      const container = pod.containers[0]!;
      const envVars = container.env ?? [];
      const ports = container.ports ?? [];
      const mounts = container.volumeMounts ?? [];
      const env = (name: string) => envVars.find((e) => e.name === name);

      it('renders as kubectl kustomize does', { skip: noKubectl }, () => {
        const real = parseAllDocuments(
          execFileSync('kubectl', ['kustomize', path.join(K8S, 'overlays', region)], { encoding: 'utf8' }),
        ).map((d) => d.toJS() as unknown);
        assert.deepEqual(comparable(ms), comparable(real));
      });

      it('validates against the Kubernetes schemas, all in the region’s namespace', () => {
        for (const m of ms) {
          const validate = MODELS[`${m.apiVersion}/${m.kind}`];
          assert.ok(validate, `a schema for ${m.apiVersion} ${m.kind}`);
          validate(m);
        }
        assert.deepEqual(ms.map((m) => m.kind).sort(), [
          'ConfigMap',
          'HorizontalPodAutoscaler',
          'Namespace',
          'PodDisruptionBudget',
          'Service',
          'Service',
          'StatefulSet',
        ]);
        const ns = one<Manifest>(ms, 'Namespace').metadata.name;
        assert.equal(ns, `chat-${region}`);
        for (const m of ms)
          if (m.kind !== 'Namespace') assert.equal(m.metadata.namespace, ns, `${m.kind} namespace`);
        assert.doesNotMatch(container.image ?? '', /^globalchat(:|$)/, 'the overlay names the pushed image');
      });

      it('selectors match the pod labels; the headless Service governs the StatefulSet', () => {
        assert.ok(selects(stsSpec.selector.matchLabels, podLabels), 'StatefulSet selector');
        const services = ms.filter((m) => m.kind === 'Service') as Manifest[];
        for (const s of services) {
          const spec = s.spec as NonNullable<Service['spec']>;
          assert.ok(selects(spec.selector, podLabels), `Service ${s.metadata.name} selector`);
          for (const p of spec.ports ?? []) {
            assert.ok(
              ports.some((cp) => cp.name === p.targetPort || cp.containerPort === p.targetPort),
              `Service ${s.metadata.name} targets a container port`,
            );
          }
        }
        const headless = one<Manifest>(ms, 'Service', stsSpec.serviceName);
        assert.equal((headless.spec as NonNullable<Service['spec']>).clusterIP, 'None');
        const pdb = one<Manifest>(ms, 'PodDisruptionBudget').spec as NonNullable<PodDisruptionBudget['spec']>;
        assert.ok(selects(pdb.selector?.matchLabels, podLabels), 'PDB selector');
        assert.equal(pdb.maxUnavailable, 1);
      });

      it('scales within the worker-id range, the worker id being the pod ordinal', () => {
        const hpa = one<Manifest>(ms, 'HorizontalPodAutoscaler').spec as NonNullable<
          HorizontalPodAutoscaler['spec']
        >;
        assert.deepEqual(hpa.scaleTargetRef, {
          apiVersion: sts.apiVersion,
          kind: 'StatefulSet',
          name: sts.metadata.name,
        });
        assert.ok(
          hpa.maxReplicas <= MAX_WORKER_ID + 1,
          `maxReplicas ${hpa.maxReplicas} ≤ ${MAX_WORKER_ID + 1}`,
        );
        assert.ok((hpa.minReplicas ?? 1) <= hpa.maxReplicas);
        assert.ok((stsSpec.replicas ?? 1) <= hpa.maxReplicas);
        // Utilization is relative to the request: without one the HPA cannot compute it.
        for (const m of hpa.metrics ?? []) {
          if (m.type === 'Resource' && m.resource?.target.type === 'Utilization') {
            assert.ok(container.resources?.requests?.[m.resource.name], `a ${m.resource.name} request`);
          }
        }
        assert.equal(env('CHAT_WORKER_ID')?.value, WORKER_ID_FROM_ORDINAL);
        // Pod names are <statefulset>-<ordinal>; the highest the HPA can create still parses.
        const last = hpa.maxReplicas - 1;
        assert.equal(workerIdFromHostname(`${sts.metadata.name}-${last}`), last);
      });

      it('runs the config the gateway parses: regions.yaml from the ConfigMap, secrets from the Secret', async () => {
        const configPath = env('CHAT_CONFIG')?.value ?? '';
        const mount = mounts.find((v) => configPath.startsWith(`${v.mountPath}/`));
        assert.ok(mount, `a volume mounted at ${path.dirname(configPath)}`);
        const volume = pod.volumes?.find((v) => v.name === mount.name);
        const cm = one<Manifest>(ms, 'ConfigMap', volume?.configMap?.name);
        const text = (cm.data as Record<string, string>)[path.basename(configPath)];
        assert.ok(text, `${path.basename(configPath)} in ConfigMap ${cm.metadata.name}`);

        // The container's environment as the gateway sees it, the Secret's values made up.
        // Optional keys (service credentials) as an operator whose services require passwords
        // sets them; those left out stay unset, as Kubernetes leaves them.
        const made: Record<string, string> = {
          'operator-token': 'o'.repeat(24),
          'api-keys': `backend:${'k'.repeat(24)}`,
          'cassandra-username': 'chat',
          'cassandra-password': 'cassandra-secret',
          'redis-username': 'gateway',
          'redis-password': 'redis-secret',
          'nats-user': 'gateway',
          'nats-password': 'nats-secret',
        };
        const vars: Record<string, string> = {};
        for (const e of envVars) {
          const ref = e.valueFrom?.secretKeyRef;
          if (!ref) vars[e.name] = e.value ?? '';
          else if (made[ref.key] !== undefined) vars[e.name] = made[ref.key]!;
          else if (!ref.optional) assert.fail(`unknown secret key ${ref.key}`);
        }
        const dir = await mkdtemp(path.join(tmpdir(), 'chat-k8s-'));
        try {
          await writeFile(path.join(dir, 'regions.yaml'), text);
          // The worker id from a pod name is checked above; here the host is not a pod.
          const startup = resolveStartup(
            parseEnv({ ...vars, CHAT_CONFIG: path.join(dir, 'regions.yaml'), CHAT_WORKER_ID: '0' }),
          );
          assert.equal(startup.region.name, region);
          assert.equal(selectRegion(startup.config, vars.CHAT_REGION).name, region);
          assert.equal(startup.config.auth.operatorToken, made['operator-token']);
          assert.deepEqual(Object.keys(startup.config.api.keys), ['backend']);
          assert.equal(startup.config.auth.devTokens, false);
          assert.equal(startup.config.auth.secret, undefined, 'no signing secret in a ConfigMap');
          const served = startup.config.regions.find((r) => r.name === region);
          assert.equal(served?.cassandra?.password, 'cassandra-secret', 'Cassandra password from the Secret');
          assert.equal(served?.redis?.password, 'redis-secret', 'Redis password from the Secret');
          assert.equal(served?.nats?.password, 'nats-secret', 'NATS password from the Secret');
          assert.equal(
            startup.port,
            ports.find((p) => p.name === 'http')?.containerPort,
            'CHAT_PORT is the container port',
          );
          assert.equal(startup.config.regions.find((r) => r.name === region)?.gateway.host, '0.0.0.0');

          const bound = stopBoundMs(startup.config.limits);
          const graceMs = (pod.terminationGracePeriodSeconds ?? 30) * 1000;
          assert.ok(
            graceMs >= bound + BACKSTOP_SLACK_MS,
            `grace ${graceMs} ms ≥ stop bound ${bound} + ${BACKSTOP_SLACK_MS} ms`,
          );
        } finally {
          await rm(dir, { recursive: true, force: true });
        }

        // docs/operations.md creates the Secret these name, with these keys.
        const ops = readFileSync(path.join(ROOT, 'docs/operations.md'), 'utf8');
        for (const e of envVars) {
          const ref = e.valueFrom?.secretKeyRef;
          if (!ref || ref.optional) continue;
          assert.match(
            ops,
            new RegExp(`create secret generic ${ref.name}\\b`),
            `docs create Secret ${ref.name}`,
          );
          assert.match(ops, new RegExp(`--from-literal=${ref.key}=`), `docs set ${ref.key}`);
        }
      });

      it('probes /readyz and /healthz on the container port, paths a gateway answers', async () => {
        assert.equal(container.readinessProbe?.httpGet?.path, '/readyz');
        assert.equal(container.livenessProbe?.httpGet?.path, '/healthz');
        for (const p of [container.readinessProbe, container.livenessProbe, container.startupProbe]) {
          if (!p) continue;
          assert.ok(ports.some((cp) => cp.name === p.httpGet?.port || cp.containerPort === p.httpGet?.port));
          const res = await fetch(`${gw.httpUrl}${p.httpGet?.path}`);
          assert.equal(res.status, 200, p.httpGet?.path);
        }
      });

      it('runs as the image’s non-root user, writing only to its volumes', () => {
        const user = /^USER (\d+):(\d+)$/m.exec(
          readFileSync(path.join(ROOT, 'deploy/Containerfile'), 'utf8'),
        );
        assert.ok(user, 'Containerfile USER');
        assert.equal(pod.securityContext?.runAsUser, Number(user[1]));
        assert.equal(pod.securityContext?.runAsNonRoot, true);
        const sc = container.securityContext ?? {};
        assert.equal(sc.readOnlyRootFilesystem, true);
        assert.equal(sc.allowPrivilegeEscalation, false);
        const paths = mounts.map((v) => v.mountPath);
        for (const dir of ['/tmp', '/data']) assert.ok(paths.includes(dir), `${dir} is a volume`);
      });
    });
  }
});

/** The deployment's regions.yaml as the base renders it, parsed as YAML. */
function loadYamlConfigFromBase(): unknown {
  const cm = kustomize(path.join(K8S, 'base')).find((m) => m.kind === 'ConfigMap');
  const text = (cm?.data as Record<string, string> | undefined)?.['regions.yaml'];
  assert.ok(text, 'base renders a ConfigMap with regions.yaml');
  return parseYaml(text);
}
