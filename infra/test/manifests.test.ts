/**
 * The Kubernetes manifests: each overlay rendered (kustomize.ts; compared with `kubectl kustomize`
 * where it is installed), every object validated against the Kubernetes and KEDA schemas, and the
 * properties the deployment depends on checked against the apps' own names.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { type IScaledObject, ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";
import { Deployment, type IDeployment } from "kubernetes-models/apps/v1/Deployment";
import { type INetworkPolicy, NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { ConfigMap, type IConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { type ISecret, Secret } from "kubernetes-models/v1/Secret";
import { type IService, Service } from "kubernetes-models/v1/Service";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { JOBS_STREAM, workerConsumer } from "../../packages/cluster/src/names.ts";
import { build, K8S_DIR, type K8sObject, readYamlDocuments } from "./kustomize.ts";

type Validating = new (data: never) => { validate(): void };
const MODELS: Record<string, Validating> = {
  "v1/Namespace": Namespace,
  "v1/Service": Service,
  "v1/ConfigMap": ConfigMap,
  "v1/Secret": Secret,
  "apps/v1/Deployment": Deployment,
  "networking.k8s.io/v1/NetworkPolicy": NetworkPolicy,
  "keda.sh/v1alpha1/ScaledObject": ScaledObject,
};

export function validate(object: K8sObject): void {
  const Model = MODELS[`${object.apiVersion}/${object.kind}`];
  if (!Model) throw new Error(`no schema for ${object.apiVersion} ${object.kind}`);
  new Model(object as never).validate();
}

const OVERLAYS = ["cpu", "gpu"] as const;
const render = (overlay: string) => build(join(K8S_DIR, "overlays", overlay));
function find<T>(objects: K8sObject[], kind: string, name: string): T {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  return found as unknown as T;
}
const deployment = (objects: K8sObject[], name: string) => find<IDeployment>(objects, "Deployment", name);
const config = (objects: K8sObject[]) => find<IConfigMap>(objects, "ConfigMap", "unlearn-config").data!;
const container = (d: IDeployment) => d.spec!.template.spec!.containers[0]!;
const secretTemplate = () =>
  readYamlDocuments(join(K8S_DIR, "base/secrets.template.yaml"))[0] as ISecret & K8sObject;

function kubectl(): boolean {
  try {
    execFileSync("kubectl", ["version", "--client"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe.each(OVERLAYS)("overlay %s", (overlay) => {
  const objects = render(overlay);

  it("renders, in the unlearn namespace, objects the Kubernetes and KEDA schemas accept", () => {
    expect(objects.length).toBeGreaterThanOrEqual(13);
    for (const o of objects) {
      expect(() => validate(o), `${o.kind} ${o.metadata.name}`).not.toThrow();
      if (o.kind !== "Namespace") expect(o.metadata.namespace).toBe("unlearn");
    }
  });

  it.skipIf(!kubectl())("renders the same objects as kubectl kustomize", () => {
    const out = execFileSync("kubectl", ["kustomize", join(K8S_DIR, "overlays", overlay)], {
      encoding: "utf8",
    });
    const theirs = parseAllDocuments(out).map((d) => d.toJS());
    const key = (o: K8sObject) => `${o.kind}/${o.metadata.name}`;
    const sorted = (list: K8sObject[]) => [...list].sort((a, b) => key(a).localeCompare(key(b)));
    expect(sorted(objects)).toEqual(sorted(theirs));
  });

  it("coordinator: ready only when grpc.health.v1 says SERVING, on the port GRPC_ADDR names", () => {
    const settings = config(objects);
    const port = Number(settings.GRPC_ADDR!.split(":").pop());
    const d = deployment(objects, "unlearn-coordinator");
    const c = container(d);
    expect(d.spec!.replicas).toBeGreaterThanOrEqual(2); // one active, one standby
    expect(c.readinessProbe!.grpc!.port).toBe(port);
    expect(c.livenessProbe!.grpc).toBeUndefined(); // a standby is alive, only not ready
    expect(c.ports![0]!.containerPort).toBe(port);
    const svc = find<IService>(objects, "Service", "coordinator");
    expect(svc.spec!.ports![0]!.targetPort).toBe(c.ports![0]!.name);
    expect(svc.spec!.publishNotReadyAddresses).not.toBe(true);
    expect(settings.UNLEARN_COORDINATOR).toBe(`${svc.metadata!.name}:${svc.spec!.ports![0]!.port}`);
  });

  it("workers: scaled by KEDA from 0 on their engine's jobs consumer, with time to hand a job back", () => {
    const settings = config(objects);
    const so = find<IScaledObject>(objects, "ScaledObject", "unlearn-worker");
    const d = deployment(objects, "unlearn-worker");
    expect(so.spec!.scaleTargetRef.name).toBe(d.metadata!.name);
    expect(so.spec!.minReplicaCount).toBe(0);
    expect(d.spec!.replicas).toBeUndefined(); // KEDA's to set
    const trigger = so.spec!.triggers[0]!;
    expect(trigger.type).toBe("nats-jetstream");
    expect(trigger.metadata.stream).toBe(JOBS_STREAM);
    expect(trigger.metadata.consumer).toBe(workerConsumer(settings.WORKER_ENGINE!));
    expect(Number(trigger.metadata.lagThreshold)).toBe(Number(settings.WORKER_CONCURRENCY));
    // SIGTERM → running jobs get WORKER_STOP_GRACE_MS, then the hand-back: at least 15 s left for it
    expect(d.spec!.template.spec!.terminationGracePeriodSeconds! * 1000).toBeGreaterThanOrEqual(
      Number(settings.WORKER_STOP_GRACE_MS) + 15_000,
    );
  });

  it("workers on the gpu overlay request one NVIDIA GPU each and run with CUDA; cpu ones none", () => {
    const c = container(deployment(objects, "unlearn-worker"));
    const env = Object.fromEntries(c.env!.map((e) => [e.name, e.value]));
    if (overlay === "gpu") {
      expect(c.resources!.limits!["nvidia.com/gpu"]).toBe(1);
      expect(c.resources!.requests!["nvidia.com/gpu"]).toBe(1);
      expect(env.WORKER_DEVICE).toBe("cuda");
      expect(c.image).toMatch(/worker-gpu:/);
    } else {
      expect(c.resources!.limits!["nvidia.com/gpu"]).toBeUndefined();
      expect(env.WORKER_DEVICE).toBeUndefined();
      expect(c.image).toMatch(/\/worker:/);
    }
  });

  it("pods run unprivileged, and a default-deny NetworkPolicy covers the namespace", () => {
    for (const o of objects.filter((x) => x.kind === "Deployment")) {
      const pod = deployment(objects, o.metadata.name).spec!.template.spec!;
      expect(pod.securityContext!.runAsNonRoot).toBe(true);
      expect(pod.automountServiceAccountToken).toBe(false);
      for (const c of pod.containers) {
        expect(c.securityContext!.allowPrivilegeEscalation).toBe(false);
        expect(c.securityContext!.capabilities!.drop).toEqual(["ALL"]);
      }
    }
    const deny = find<INetworkPolicy>(objects, "NetworkPolicy", "default-deny");
    expect(deny.spec!.podSelector).toEqual({});
    expect(deny.spec!.policyTypes).toEqual(["Ingress", "Egress"]);
    const worker = find<INetworkPolicy>(objects, "NetworkPolicy", "worker");
    expect(worker.spec!.ingress).toBeUndefined();
  });

  it("every secret a pod reads is a key of the Secret template", () => {
    const template = secretTemplate();
    const refs = objects
      .filter((o) => o.kind === "Deployment")
      .flatMap((o) => container(deployment(objects, o.metadata.name)).env!)
      .flatMap((e) => (e.valueFrom?.secretKeyRef ? [e.valueFrom.secretKeyRef] : []));
    expect(refs.length).toBeGreaterThanOrEqual(6);
    for (const ref of refs) {
      expect(ref.name).toBe(template.metadata.name);
      expect(Object.keys(template.stringData!)).toContain(ref.key);
    }
  });
});

describe("the schemas and the renderer can fail", () => {
  // (These schemas check types and required fields; like the API server without strict validation
  // they let an unknown field through, so a misspelt one is caught only by the checks above.)
  it("a probe port given as text and a Deployment without a selector are refused", () => {
    const d = deployment(render("cpu"), "unlearn-coordinator");
    const typo = structuredClone(d);
    container(typo).readinessProbe = { grpc: { port: "50051" as unknown as number } };
    expect(() => validate(typo as unknown as K8sObject)).toThrow(/integer/);
    const noSelector = structuredClone(d) as { spec: { selector?: unknown } };
    delete noSelector.spec.selector;
    expect(() => validate(noSelector as unknown as K8sObject)).toThrow(/selector/);
  });

  it("the Secret template holds no values, and is valid", () => {
    const template = secretTemplate();
    validate(template);
    for (const [key, value] of Object.entries(template.stringData!)) expect(value, key).toBe("");
  });
});
