/**
 * Renders a kustomization the way `kustomize build` does, for the subset deploy/k8s/ uses, so the
 * manifests can be checked offline without kubectl: `resources` (files and directories with
 * their own kustomization.yaml), `namespace`, `images`, `patches` (strategic-merge patch files,
 * aimed by their own kind and name), and `configMapGenerator` from files with
 * `generatorOptions.disableNameSuffixHash`. Any other field is an error: a manifest must not use
 * something this renderer would silently ignore.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

export type Manifest = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
};

interface Kustomization {
  apiVersion?: string;
  kind?: string;
  namespace?: string;
  resources?: string[];
  images?: { name: string; newName?: string; newTag?: string }[];
  patches?: { path: string }[];
  configMapGenerator?: { name: string; files: string[] }[];
  generatorOptions?: { disableNameSuffixHash?: boolean };
}

const KNOWN = new Set([
  'apiVersion',
  'kind',
  'namespace',
  'resources',
  'images',
  'patches',
  'configMapGenerator',
  'generatorOptions',
]);

/** Kinds without a namespace (the `namespace` field leaves them alone). */
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
]);

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every YAML document of a file (empty ones skipped), as objects. */
export function readYamlDocs(file: string): Record<string, unknown>[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0]!.message}`);
      return d.toJS() as unknown;
    })
    .filter((d): d is Record<string, unknown> => isObject(d));
}

/**
 * Strategic merge as kustomize applies it to these manifests: objects merge key by key; lists
 * whose items all have a `name` (containers, env, volumes, ports) merge item by item on it;
 * other lists are replaced.
 */
export function strategicMerge(target: unknown, patch: unknown): unknown {
  if (isObject(target) && isObject(patch)) {
    const out: Record<string, unknown> = { ...target };
    for (const [k, v] of Object.entries(patch)) out[k] = k in target ? strategicMerge(target[k], v) : v;
    return out;
  }
  const named = (l: unknown[]) => l.every((i) => isObject(i) && typeof i.name === 'string');
  if (Array.isArray(target) && Array.isArray(patch) && named(target) && named(patch)) {
    const out = [...target] as Record<string, unknown>[];
    for (const item of patch as Record<string, unknown>[]) {
      const at = out.findIndex((t) => t.name === item.name);
      if (at === -1) out.push(item);
      else out[at] = strategicMerge(out[at], item) as Record<string, unknown>;
    }
    return out;
  }
  return patch;
}

/** Renders the kustomization in `dir` into its list of resources. */
export function kustomize(dir: string): Manifest[] {
  const k = readYamlDocs(path.join(dir, 'kustomization.yaml'))[0] as Kustomization | undefined;
  if (!k) throw new Error(`${dir}: empty kustomization.yaml`);
  for (const key of Object.keys(k)) if (!KNOWN.has(key)) throw new Error(`${dir}: unsupported field ${key}`);

  let out: Manifest[] = [];
  for (const r of k.resources ?? []) {
    const full = path.join(dir, r);
    if (statSync(full).isDirectory()) out.push(...kustomize(full));
    else out.push(...(readYamlDocs(full) as Manifest[]));
  }
  for (const gen of k.configMapGenerator ?? []) {
    if (k.generatorOptions?.disableNameSuffixHash !== true) {
      throw new Error(
        `${dir}: configMapGenerator needs disableNameSuffixHash (name hashes are not rendered)`,
      );
    }
    const data: Record<string, string> = {};
    for (const f of gen.files) data[path.basename(f)] = readFileSync(path.join(dir, f), 'utf8');
    out.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: gen.name }, data });
  }
  for (const p of k.patches ?? []) {
    for (const patch of readYamlDocs(path.join(dir, p.path)) as Manifest[]) {
      const at = out.findIndex((m) => m.kind === patch.kind && m.metadata.name === patch.metadata.name);
      if (at === -1)
        throw new Error(`${dir}: patch ${p.path} matches no ${patch.kind} ${patch.metadata.name}`);
      out[at] = strategicMerge(out[at], patch) as Manifest;
    }
  }
  if (k.namespace !== undefined) {
    const ns = k.namespace;
    out = out.map((m) =>
      CLUSTER_SCOPED.has(m.kind) ? m : { ...m, metadata: { ...m.metadata, namespace: ns } },
    );
  }
  for (const img of k.images ?? []) {
    for (const m of out) {
      for (const c of podContainers(m)) {
        const [name, tag] = splitImage(c.image);
        if (name !== img.name) continue;
        c.image = `${img.newName ?? name}${(img.newTag ?? tag) ? `:${img.newTag ?? tag}` : ''}`;
      }
    }
  }
  return out;
}

function splitImage(image: string): [string, string | undefined] {
  const colon = image.lastIndexOf(':');
  return colon > image.lastIndexOf('/')
    ? [image.slice(0, colon), image.slice(colon + 1)]
    : [image, undefined];
}

export interface Container {
  name: string;
  image: string;
  [field: string]: unknown;
}

/** The containers of a workload's pod template (none for other kinds). */
export function podContainers(m: Manifest): Container[] {
  const spec = m.spec as { template?: { spec?: { containers?: Container[] } } } | undefined;
  return spec?.template?.spec?.containers ?? [];
}
