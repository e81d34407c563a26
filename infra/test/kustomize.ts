/**
 * The part of kustomize that infra/k8s uses, so the manifests can be rendered where no kustomize
 * binary exists (CI installs none): `resources` (files and directories with a kustomization.yaml),
 * `namespace`, `images` (newName/newTag/digest by container image name) and `patches` given as a
 * JSON patch file with a kind/name target. Any other field is refused, so a kustomization that
 * starts to use more cannot be rendered wrongly in silence; manifests.test.ts compares the result
 * with `kubectl kustomize` where that is installed.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseAllDocuments, parse as parseYaml } from "yaml";

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [key: string]: unknown };
  [key: string]: unknown;
};

interface ImageRule {
  name: string;
  newName?: string;
  newTag?: string;
  digest?: string;
}
interface PatchRule {
  path: string;
  target: { kind: string; name: string };
}
interface JsonPatchOp {
  op: "add" | "replace" | "remove";
  path: string;
  value?: unknown;
}

const KNOWN = new Set(["apiVersion", "kind", "namespace", "resources", "images", "patches"]);

/** Every document of a YAML file (empty documents dropped); a parse error names the file. */
export function readYamlDocuments(file: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(file, "utf8"));
  return docs.flatMap((doc) => {
    if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0]!.message}`);
    const value = doc.toJS();
    return value == null ? [] : [value];
  });
}

export function build(dir: string): K8sObject[] {
  const file = join(dir, "kustomization.yaml");
  const k = parseYaml(readFileSync(file, "utf8")) as Record<string, unknown>;
  for (const key of Object.keys(k))
    if (!KNOWN.has(key))
      throw new Error(`${file}: "${key}" is not in the kustomize subset this renderer knows`);
  let objects: K8sObject[] = [];
  for (const entry of (k.resources as string[] | undefined) ?? []) {
    const path = resolve(dir, entry);
    if (!existsSync(path)) throw new Error(`${file}: resource ${entry} does not exist`);
    objects.push(...(statSync(path).isDirectory() ? build(path) : (readYamlDocuments(path) as K8sObject[])));
  }
  for (const rule of (k.patches as PatchRule[] | undefined) ?? []) {
    const ops = readYamlDocuments(resolve(dir, rule.path))[0] as JsonPatchOp[];
    const targets = objects.filter(
      (o) => o.kind === rule.target.kind && o.metadata.name === rule.target.name,
    );
    if (targets.length !== 1)
      throw new Error(`${file}: patch ${rule.path} matches ${targets.length} objects`);
    objects = objects.map((o) => (o === targets[0] ? applyJsonPatch(o, ops, rule.path) : o));
  }
  for (const rule of (k.images as ImageRule[] | undefined) ?? [])
    objects = objects.map((o) => setImage(o, rule));
  if (typeof k.namespace === "string") {
    const ns = k.namespace;
    objects = objects.map((o) =>
      o.kind === "Namespace" ? o : { ...o, metadata: { ...o.metadata, namespace: ns } },
    );
  }
  return objects;
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

/** RFC 6902 add / replace / remove (all this repository uses); "-" appends to an array. */
export function applyJsonPatch<T>(object: T, ops: JsonPatchOp[], source = "patch"): T {
  const out = clone(object) as unknown;
  for (const op of ops) {
    const keys = op.path
      .split("/")
      .slice(1)
      .map((s) => s.replaceAll("~1", "/").replaceAll("~0", "~"));
    const last = keys.pop()!;
    let parent = out as Record<string, unknown>;
    for (const key of keys) {
      const next = parent[key];
      if (next === null || typeof next !== "object") throw new Error(`${source}: ${op.path}: no ${key}`);
      parent = next as Record<string, unknown>;
    }
    if (Array.isArray(parent)) {
      const index = last === "-" ? parent.length : Number(last);
      if (!Number.isInteger(index) || index < 0 || index > parent.length)
        throw new Error(`${source}: ${op.path}: bad index`);
      if (op.op === "add") parent.splice(index, 0, clone(op.value));
      else if (op.op === "replace") parent[index] = clone(op.value);
      else parent.splice(index, 1);
    } else {
      if (op.op !== "add" && !(last in parent)) throw new Error(`${source}: ${op.path}: nothing to ${op.op}`);
      if (op.op === "remove") delete parent[last];
      else parent[last] = clone(op.value);
    }
  }
  return out as T;
}

function setImage(object: K8sObject, rule: ImageRule): K8sObject {
  const spec = (object.spec as { template?: { spec?: { containers?: { image: string }[] } } } | undefined)
    ?.template?.spec;
  if (!spec?.containers) return object;
  const out = clone(object);
  const containers = (out.spec as { template: { spec: { containers: { image: string }[] } } }).template.spec
    .containers;
  for (const c of containers) {
    const [name, tag] = splitImage(c.image);
    if (name !== rule.name) continue;
    const newName = rule.newName ?? name;
    c.image = rule.digest
      ? `${newName}@${rule.digest}`
      : `${newName}${rule.newTag !== undefined ? `:${rule.newTag}` : tag}`;
  }
  return out;
}

/** "name:tag" → ["name", ":tag"]; a registry port is not a tag. */
function splitImage(image: string): [string, string] {
  const at = image.indexOf("@");
  if (at >= 0) return [image.slice(0, at), image.slice(at)];
  const colon = image.lastIndexOf(":");
  return colon > image.lastIndexOf("/") ? [image.slice(0, colon), image.slice(colon)] : [image, ""];
}

export const K8S_DIR = resolve(dirname(new URL(import.meta.url).pathname), "../k8s");
