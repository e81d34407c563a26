# syntax=docker/dockerfile:1.7
# The GPU worker: every GPU route of the engines, chosen by WORKER_ENGINE with WORKER_DEVICE=cuda.
#   onnx   onnxruntime-node's CUDA execution provider (CUDA 12, cuDNN 9: the base image), downloaded by
#          its install script at build time (ONNXRUNTIME_NODE_INSTALL=cuda12)
#   tfjs   @tensorflow/tfjs-node-gpu (libtensorflow 2.9, built for CUDA 11: its CUDA 11.8 and cuDNN 8
#          runtime libraries are added beside CUDA 12 from NVIDIA's repository, which the base configures)
#   webgpu the npm package webgpu (Dawn) over Vulkan: the Vulkan loader, and NVIDIA's ICD file naming the
#          driver library that the NVIDIA container toolkit mounts (NVIDIA_DRIVER_CAPABILITIES graphics)
#   docker build -f infra/docker/worker-gpu.Dockerfile -t unlearn-worker-gpu .   (context: the repository)
# Runs as the unprivileged user node (uid 1000) from a root-owned /app; no secret is read at build time.

ARG NODE_IMAGE=node:20-bookworm-slim@sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0
ARG CUDA_IMAGE=nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04@sha256:2fcc4280646484290cc50dce5e65f388dd04352b07cbe89a635703bd1f9aedb6

FROM ${NODE_IMAGE} AS node

FROM node AS tools
RUN npm install --global --no-fund --no-audit pnpm@12.4.2 turbo@2.11.11 && npm cache clean --force
ENV PNPM_HOME=/pnpm CI=true TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1
COPY infra/docker/keep-own-platform.sh /usr/local/bin/keep-own-platform

FROM tools AS prune
WORKDIR /src
COPY . .
RUN turbo prune @unlearn/worker @unlearn/infra --docker --out-dir /out

FROM tools AS deps
WORKDIR /app
COPY --from=prune /out/json/ .
RUN --mount=type=cache,id=unlearn-pnpm,target=/pnpm/store \
    pnpm install --frozen-lockfile --prod --store-dir /pnpm/store --config.public-hoist-pattern=tsx \
 && keep-own-platform
# onnxruntime-node's install script stays off in the workspace (pnpm-workspace.yaml allowBuilds); here it
# runs once to fetch the CUDA 12 provider into the package (libonnxruntime_providers_cuda.so).
RUN cd packages/core/node_modules/onnxruntime-node && ONNXRUNTIME_NODE_INSTALL=cuda12 node script/install.js \
 && test -f bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so
# tfjs-node-gpu is not a workspace dependency (the tfjs engine loads it when present): it is installed
# in a folder of its own that Node's resolution from packages/core reaches (/app/packages/node_modules);
# its install script downloads libtensorflow-gpu.
RUN mkdir -p packages && cd packages && npm init -y >/dev/null \
 && npm install --no-fund --no-audit --omit=dev @tensorflow/tfjs-node-gpu@4.22.0 && npm cache clean --force \
 && test -f node_modules/@tensorflow/tfjs-node-gpu/deps/lib/libtensorflow.so.2
COPY --from=prune /out/full/ .
COPY --from=prune /src/tsconfig.base.json ./

FROM ${CUDA_IMAGE} AS worker-gpu
ENV DEBIAN_FRONTEND=noninteractive
# Vulkan loader (webgpu); CUDA 11.8 runtime and cuDNN 8 beside the base's CUDA 12 and cuDNN 9 (tfjs).
RUN apt-get update && apt-get install -y --no-install-recommends \
      libvulkan1 \
      cuda-cudart-11-8 libcublas-11-8 libcufft-11-8 libcurand-11-8 libcusolver-11-8 libcusparse-11-8 \
      libcudnn8=8.9.7.29-1+cuda11.8 \
 && rm -rf /var/lib/apt/lists/* \
 && echo /usr/local/cuda-11.8/lib64 > /etc/ld.so.conf.d/zz-cuda-11-8.conf && ldconfig
# NVIDIA's Vulkan ICD: the loader finds the driver through this file; the toolkit mounts the library.
RUN mkdir -p /etc/vulkan/icd.d && printf '%s\n' \
      '{ "file_format_version": "1.0.0",' \
      '  "ICD": { "library_path": "libGLX_nvidia.so.0", "api_version": "1.3" } }' \
      > /etc/vulkan/icd.d/nvidia_icd.json
ENV NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics
COPY --from=node /usr/local/bin/node /usr/local/bin/node
RUN groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
WORKDIR /app
COPY --from=deps /app /app
USER node
ENV NODE_ENV=production DO_NOT_TRACK=1 WORKER_ENGINE=onnx WORKER_DEVICE=cuda
CMD ["node", "--import", "tsx", "apps/worker/src/main.ts"]
