/**
 * Every variable, port and secret name that compose and the Kubernetes manifests give the apps is one
 * the apps read, and the apps accept the environment they are given: each app's own environment
 * reader runs on it (the coordinator's start in a child process: coordinator-env-probe.ts), recording
 * which names it reads. Removing a required variable makes the same readers refuse, so these checks
 * can fail.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { IDeployment } from "kubernetes-models/apps/v1/Deployment";
import type { IConfigMap } from "kubernetes-models/v1/ConfigMap";
import { beforeAll, describe, expect, it } from "vitest";
import {
  natsAuthorization,
  natsConfigOptions,
  passwordVariable,
} from "../../apps/coordinator/src/nats-config.ts";
import { parseOptions } from "../../apps/dashboard/server/main.ts";
import { workerOptions } from "../../apps/worker/src/options.ts";
import { natsSettings } from "../../packages/cluster/src/env.ts";
import { chainsBucketLimits, jobLimits } from "../../packages/cluster/src/setup.ts";
import { featuresRegistry } from "../../packages/sweep/src/features-registry.ts";
import { requestLimits } from "../../packages/sweep/src/limits.ts";
import { COMPOSE_FILE, ENV_EXAMPLE, INFRA_DIR, interpolated, loadCompose, readEnvFile } from "./compose.ts";
import { build, K8S_DIR, type K8sObject } from "./kustomize.ts";

type Env = Record<string, string>;
type App = "coordinator" | "dashboard" | "worker";
const REPO = join(INFRA_DIR, "..");

/** Runs `read` on env through a proxy; returns the names it read and its error, if any. */
function recording(
  env: Env,
  read: (env: NodeJS.ProcessEnv) => unknown,
): { read: Set<string>; error?: Error } {
  const names = new Set<string>();
  const proxy = new Proxy({ ...env } as NodeJS.ProcessEnv, {
    get(target, key) {
      if (typeof key === "string") names.add(key);
      return Reflect.get(target, key);
    },
  });
  try {
    read(proxy);
    return { read: names };
  } catch (error) {
    return { read: names, error: error as Error };
  }
}

/** The dashboard image's flags (its CMD after main.ts). */
function dashboardFlags(): string[] {
  const dockerfile = readFileSync(join(INFRA_DIR, "docker/Dockerfile"), "utf8");
  const cmd = /FROM runtime AS dashboard[\s\S]*?CMD (\[.*\])/.exec(dockerfile)![1]!;
  const argv = JSON.parse(cmd) as string[];
  return argv.slice(argv.indexOf("apps/dashboard/server/main.ts") + 1);
}

const READERS: Record<Exclude<App, "coordinator">, (env: NodeJS.ProcessEnv) => unknown> = {
  worker: (env) => {
    workerOptions(env);
    natsSettings(env);
  },
  dashboard: (env) => parseOptions(dashboardFlags(), env),
};

interface ProbeResult {
  read: string[];
  refused: boolean;
  message: string;
}

/** The coordinator's start, run on each env in a child process (it binds loopback port 0, never 0.0.0.0). */
function probeCoordinator(envs: Env[]): ProbeResult[] {
  const safe = envs.map((env) => ({ ...env, ...(env.GRPC_ADDR ? { GRPC_ADDR: "127.0.0.1:0" } : {}) }));
  const out = execFileSync(
    process.execPath,
    ["--import", "tsx", join(INFRA_DIR, "test/coordinator-env-probe.ts")],
    {
      cwd: REPO,
      input: JSON.stringify(safe),
      encoding: "utf8",
      timeout: 60_000,
    },
  );
  return JSON.parse(out.trim().split("\n").pop()!) as ProbeResult[];
}

/** What the coordinator reads after it connects (delivery limits, request limits, features folders). */
function coordinatorLaterReads(env: Env): Set<string> {
  return recording(env, (e) => {
    jobLimits(e);
    chainsBucketLimits(e);
    requestLimits(e);
    void featuresRegistry(e);
  }).read;
}

// --- what the deployments give each app ---------------------------------------------------------

const compose = loadCompose();
const COMPOSE_APPS: Record<string, App> = {
  coordinator: "coordinator",
  dashboard: "dashboard",
  worker: "worker",
  "worker-gpu": "worker",
};

const SECRET_VALUES: Env = {
  DATABASE_URL: "postgres://unlearn:0123456789abcdef@postgres:5432/unlearn",
  NATS_COORDINATOR_PASSWORD: "0123456789abcdef0123",
  NATS_WORKER_PASSWORD: "fedcba9876543210fedc",
  COORDINATOR_TOKEN: "00112233445566778899aabb",
  DASHBOARD_TOKEN: "aabbccddeeff00112233",
};

/** A Deployment's container env with its ConfigMap and Secret references resolved. */
function k8sEnv(objects: K8sObject[], deployment: string): Env {
  const config = (objects.find((o) => o.kind === "ConfigMap") as unknown as IConfigMap).data!;
  const d = objects.find(
    (o) => o.kind === "Deployment" && o.metadata.name === deployment,
  ) as unknown as IDeployment;
  const env: Env = {};
  for (const e of d.spec!.template.spec!.containers[0]!.env!) {
    const cm = e.valueFrom?.configMapKeyRef?.key;
    const secret = e.valueFrom?.secretKeyRef?.key;
    const value = e.value ?? (cm !== undefined ? config[cm] : SECRET_VALUES[secret ?? ""]);
    if (value === undefined) throw new Error(`${deployment}: ${e.name} resolves to nothing`);
    env[e.name] = value;
  }
  return env;
}

const deployments: { where: string; app: App; env: Env }[] = [
  ...Object.entries(COMPOSE_APPS).map(([service, app]) => ({
    where: `compose ${service}`,
    app,
    env: compose.services[service]!.environment as Env,
  })),
  ...["cpu", "gpu"].flatMap((overlay) => {
    const objects = build(join(K8S_DIR, "overlays", overlay));
    return (["coordinator", "dashboard", "worker"] as App[]).map((app) => ({
      where: `k8s ${overlay} unlearn-${app}`,
      app,
      env: k8sEnv(objects, `unlearn-${app}`),
    }));
  }),
];

// -------------------------------------------------------------------------------------------------

describe("the apps accept what compose and the manifests give them, and read every name of it", () => {
  const coordinators = deployments.filter((d) => d.app === "coordinator");
  let probed: ProbeResult[] = [];
  let refusals: ProbeResult[] = [];
  beforeAll(() => {
    const full = coordinators[0]!.env;
    const without = (name: string) => Object.fromEntries(Object.entries(full).filter(([k]) => k !== name));
    const results = probeCoordinator([
      ...coordinators.map((d) => d.env),
      without("DATABASE_URL"),
      without("COORDINATOR_TOKEN"),
    ]);
    probed = results.slice(0, coordinators.length);
    refusals = results.slice(coordinators.length);
  }, 90_000);

  it.each(deployments.map((d) => [d.where, d] as const))("%s", (_where, d) => {
    let read: Set<string>;
    if (d.app === "coordinator") {
      const result = probed[coordinators.indexOf(d)]!;
      expect(result.refused, result.message).toBe(false);
      expect(result.message).toMatch(/listening on/);
      read = new Set([...result.read, ...coordinatorLaterReads(d.env)]);
    } else {
      const result = recording(d.env, READERS[d.app]);
      expect(result.error?.message).toBeUndefined();
      read = result.read;
    }
    const unread = Object.keys(d.env).filter((name) => !read.has(name));
    expect(unread, `${d.where} sets variables the ${d.app} never reads`).toEqual([]);
  });

  it("without DATABASE_URL or COORDINATOR_TOKEN the coordinator refuses to start (exit 2), naming it", () => {
    expect(refusals.map((r) => r.refused)).toEqual([true, true]);
    expect(refusals[0]!.message).toMatch(/DATABASE_URL is required/);
    expect(refusals[1]!.message).toMatch(/COORDINATOR_TOKEN is required/);
  });

  it("a misspelt or unknown variable is caught: the worker never reads it", () => {
    const env = { ...deployments.find((d) => d.app === "worker")!.env, WORKER_ENGINES: "onnx" };
    const { read } = recording(env, READERS.worker);
    expect(Object.keys(env).filter((n) => !read.has(n))).toEqual(["WORKER_ENGINES"]);
    expect(recording({ ...env, WORKER_ENGINE: "cuda" }, READERS.worker).error?.message).toMatch(
      /WORKER_ENGINE/,
    );
    expect(recording({ DASHBOARD_TOKEN: "short" }, READERS.dashboard).error?.message).toMatch(
      /DASHBOARD_TOKEN|16/,
    );
  });
});

describe("ports", () => {
  const port = (addr: string) => Number(addr.split(":").pop());
  it("compose publishes the coordinator's GRPC_ADDR port and health-checks that port", () => {
    const c = compose.services.coordinator!;
    const grpc = port(c.environment!.GRPC_ADDR!);
    expect(c.ports!.map((p) => port(p))).toEqual([grpc]);
    expect(c.ports![0]).toMatch(/^127\.0\.0\.1:/); // published on loopback only
    expect(c.healthcheck!.test).toContain(`127.0.0.1:${grpc}`);
  });
  it("the dashboard's port is the image's --port in compose and in the manifests", () => {
    const flags = dashboardFlags();
    const p = Number(flags[flags.indexOf("--port") + 1]);
    const d = compose.services.dashboard!;
    expect(d.ports!.map((x) => port(x))).toEqual([p]);
    expect(d.ports![0]).toMatch(/^127\.0\.0\.1:/);
    for (const overlay of ["cpu", "gpu"]) {
      const objects = build(join(K8S_DIR, "overlays", overlay));
      const dep = objects.find((o) => o.metadata.name === "unlearn-dashboard") as unknown as IDeployment;
      expect(dep.spec!.template.spec!.containers[0]!.ports![0]!.containerPort).toBe(p);
    }
  });
});

describe("secrets and NATS users", () => {
  const text = readFileSync(COMPOSE_FILE, "utf8");
  const example = readEnvFile(ENV_EXAMPLE);

  it("every name compose interpolates is in .env.example; secrets have no default in compose", () => {
    for (const [name, { hasDefault }] of interpolated(text)) {
      expect(Object.keys(example), name).toContain(name);
      if (/PASSWORD|TOKEN/.test(name)) expect(hasDefault, name).toBe(false);
    }
    // and no secret is written into compose.yaml itself
    for (const m of text.matchAll(/^\s*([A-Z_]*(?:PASSWORD|TOKEN)[A-Z_]*):\s*(.*)$/gm))
      expect(m[2], m[1]).toMatch(/^('")?\$\{[A-Z_]+(:\?[^}]*)?\}("')?$/);
  });

  it("nats/auth.conf is what `pnpm coordinator nats-config` prints, and nats-server gets its password variables", () => {
    const options = natsConfigOptions([]);
    expect(readFileSync(join(INFRA_DIR, "nats/auth.conf"), "utf8")).toBe(natsAuthorization(options));
    const wanted = [
      passwordVariable(options.coordinatorUser, "coordinator"),
      ...options.workers.map((w) => passwordVariable(w, "worker")),
    ].sort();
    expect(Object.keys(compose.services.nats!.environment!).sort()).toEqual(wanted);
    const users = [options.coordinatorUser, ...options.workers];
    for (const d of deployments) expect(users, d.where).toContain(d.env.NATS_USER ?? options.coordinatorUser);
    expect(deployments.filter((d) => d.app === "worker").every((d) => d.env.NATS_USER === "worker")).toBe(
      true,
    );
  });

  it("nats-server's JetStream store holds what the coordinator reserves (chains bucket + 2 GiB uploads)", () => {
    const conf = readFileSync(join(INFRA_DIR, "nats/nats.conf"), "utf8");
    const [, size, unit] = /max_file_store:\s*(\d+)([KMGT]?)/.exec(conf)!;
    const bytes = Number(size) * 1024 ** "_KMGT".indexOf(unit || "_");
    const coordinator = compose.services.coordinator!.environment as NodeJS.ProcessEnv;
    expect(bytes).toBeGreaterThanOrEqual(chainsBucketLimits(coordinator).maxBytes + 2 * 1024 ** 3);
  });

  it("the env file with real secrets is git-ignored", () => {
    expect(readFileSync(join(INFRA_DIR, ".gitignore"), "utf8")).toMatch(/^\.env$/m);
    expect(readFileSync(join(INFRA_DIR, "docker/Dockerfile.dockerignore"), "utf8")).toMatch(/^\*\*\/\.env$/m);
  });
});
