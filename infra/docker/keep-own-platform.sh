#!/bin/sh
# Run in /app after `pnpm install`: onnxruntime-node and webgpu ship their native libraries for every
# platform (about 300 MB of an install); only this image's (linux, Node's process.arch) are kept.
set -eu
arch=$(node -p process.arch)
for dir in node_modules/.pnpm/onnxruntime-node@*/node_modules/onnxruntime-node/bin/napi-v6; do
  [ -d "$dir" ] || continue
  find "$dir" -mindepth 2 -maxdepth 2 -type d ! -path "*/linux/$arch" -exec rm -rf {} +
  find "$dir" -mindepth 1 -maxdepth 1 -type d ! -name linux -exec rm -rf {} +
done
for dir in node_modules/.pnpm/webgpu@*/node_modules/webgpu/dist; do
  [ -d "$dir" ] || continue
  find "$dir" -mindepth 1 -maxdepth 1 -type d ! -name "linux-$arch" -exec rm -rf {} +
done
