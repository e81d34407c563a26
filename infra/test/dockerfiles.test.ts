/**
 * The images' Dockerfiles: pinned bases, stages that exist, an unprivileged user, no secret at build
 * time, and the start commands of the repository's own scripts. (infra/test/build.sh builds the CPU
 * ones for real; the GPU one is checked here only.)
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { INFRA_DIR, loadCompose } from "./compose.ts";
import { cmd, type Dockerfile, parseDockerfile, type Stage, user } from "./dockerfile.ts";

const cpu = parseDockerfile(join(INFRA_DIR, "docker/Dockerfile"));
const gpu = parseDockerfile(join(INFRA_DIR, "docker/worker-gpu.Dockerfile"));
const scripts = (
  JSON.parse(readFileSync(join(INFRA_DIR, "../package.json"), "utf8")) as { scripts: Record<string, string> }
).scripts;
const PINNED = /^[a-z0-9./-]+:[\w.-]+@sha256:[0-9a-f]{64}$/;

const stage = (file: Dockerfile, name: string): Stage => {
  const s = file.stages.find((x) => x.name === name);
  if (!s) throw new Error(`no stage ${name}`);
  return s;
};
const text = (s: Stage) => s.instructions.map((i) => `${i.op} ${i.args}`).join("\n");

describe.each([
  ["Dockerfile", cpu],
  ["worker-gpu.Dockerfile", gpu],
] as const)("%s", (_name, file) => {
  it("pins every outside base image by tag and digest", () => {
    const names = new Set(file.stages.map((s) => s.name));
    const outside = file.stages.map((s) => s.from).filter((f) => !names.has(f));
    expect(outside.length).toBeGreaterThan(0);
    for (const from of outside) expect(from).toMatch(PINNED);
  });

  it("copies only from stages defined before, and reads no secret at build time", () => {
    file.stages.forEach((s, i) => {
      const earlier = new Set(file.stages.slice(0, i).map((x) => x.name));
      for (const ins of s.instructions) {
        const from = /--from=(\S+)/.exec(ins.args)?.[1];
        if (ins.op === "COPY" && from) expect(earlier, `${s.name}: COPY --from=${from}`).toContain(from);
        if (ins.op === "ARG" || ins.op === "ENV")
          expect(ins.args).not.toMatch(/PASSWORD|TOKEN|SECRET|DATABASE_URL/);
        if (ins.op === "RUN") expect(ins.args).not.toMatch(/--mount=type=secret/);
      }
    });
    expect(Object.keys(file.args).join(" ")).not.toMatch(/PASSWORD|TOKEN|SECRET/);
  });

  it("installs from the frozen lockfile, production dependencies only (but to build the dashboard)", () => {
    const installs = file.stages.flatMap((s) => s.instructions).filter((i) => /pnpm install/.test(i.args));
    expect(installs.length).toBeGreaterThan(0);
    for (const i of installs) expect(i.args).toMatch(/--frozen-lockfile/);
    // what the images keep is installed --prod; only the dashboard's build stage has dev dependencies
    const full = file.stages.filter((s) =>
      s.instructions.some((i) => /pnpm install(?!.*--prod)/.test(i.args)),
    );
    expect(full.map((s) => s.name).filter((n) => n !== "build-dashboard")).toEqual([]);
  });
});

describe("the CPU images", () => {
  it.each([
    ["coordinator", "coordinator"],
    ["dashboard", "dashboard"],
    ["worker", "worker"],
  ])("%s runs as node with the repository's own start command (pnpm %s)", (target, script) => {
    const s = stage(cpu, target);
    expect(user(s)).toBe("node");
    // the README's command, e.g. "node --import tsx apps/coordinator/src/main.ts", plus flags
    expect(cmd(s)!.join(" ").startsWith(scripts[script]!)).toBe(true);
  });

  it("each target installs only its own app's slice of the workspace", () => {
    for (const app of ["coordinator", "dashboard", "worker"])
      expect(text(stage(cpu, `prune-${app}`))).toMatch(
        new RegExp(`turbo prune @unlearn/${app} @unlearn/infra --docker`),
      );
  });

  it("the dashboard is built in the image (no write into /app at start), its build copied into the prod install", () => {
    expect(text(stage(cpu, "build-dashboard"))).toMatch(/ensureBuild/);
    expect(text(stage(cpu, "deps-dashboard"))).toMatch(
      /COPY --from=build-dashboard \/app\/apps\/dashboard\/\.next/,
    );
    expect(cpu.stages.findIndex((s) => s.name === "dashboard")).toBeGreaterThan(
      cpu.stages.findIndex((s) => s.name === "deps-dashboard"),
    );
  });

  it("compose builds these targets from this file", () => {
    const { services } = loadCompose();
    for (const target of ["coordinator", "dashboard", "worker"]) {
      const b = services[target]!.build!;
      expect([b.dockerfile, b.target]).toEqual(["infra/docker/Dockerfile", target]);
    }
    expect(services["worker-gpu"]!.build!.dockerfile).toBe("infra/docker/worker-gpu.Dockerfile");
  });
});

describe("the GPU worker image", () => {
  const final = gpu.stages.at(-1)!;
  const all = gpu.stages.map(text).join("\n");

  it("is a CUDA runtime image with Node, run as node, starting the worker like the CPU one", () => {
    expect(gpu.stages.map((s) => s.name)).toEqual(["node", "tools", "prune", "deps", "worker-gpu"]);
    expect(final.from).toMatch(/^nvidia\/cuda:12\.[\d.]+-cudnn-runtime-ubuntu22\.04@sha256:/);
    expect(user(final)).toBe("node");
    expect(cmd(final)).toEqual(cmd(stage(cpu, "worker")));
    expect(text(final)).toMatch(/COPY --from=node \/usr\/local\/bin\/node/);
  });

  it("carries each GPU route: onnxruntime's CUDA 12 provider, tfjs-node-gpu, the Vulkan loader and NVIDIA's ICD", () => {
    expect(all).toMatch(/ONNXRUNTIME_NODE_INSTALL=cuda12 node script\/install\.js/);
    expect(all).toMatch(/libonnxruntime_providers_cuda\.so/);
    expect(all).toMatch(/@tensorflow\/tfjs-node-gpu@\d/);
    expect(text(final)).toMatch(/libvulkan1/);
    expect(text(final)).toMatch(/\/etc\/vulkan\/icd\.d\/nvidia_icd\.json/);
    expect(text(final)).toMatch(/NVIDIA_DRIVER_CAPABILITIES=[^ ]*graphics/);
    expect(text(final)).toMatch(/NVIDIA_DRIVER_CAPABILITIES=[^ ]*compute/);
    expect(text(final)).toMatch(/WORKER_DEVICE=cuda/);
  });
});
