#!/usr/bin/env bash
# The webgpu engine measured on a GPU machine that has no Node and no network (issue 12).
#
#   bench/gpu/run.sh --pack     here, in the installed workspace: build .gpu/bundle.tar.xz (Node,
#                               bundled entry points, native packages, MNIST, the Vulkan loader .deb)
#   bench/gpu/run.sh            there: unpack the bundle and, within 8 minutes,
#                                 1. run core's conformance suite and the webgpu tests on the GPU,
#                                 2. print ms/step and effective TFLOP/s of the MNIST step at
#                                    100, 1000 and 10000 chains on webgpu and onnx (CPU), same run,
#                                 3. time Figure 5's compute (sweeps/fig5.json, 100 chains) on webgpu.
#   bench/gpu/run.sh --quick    the same end to end on small sizes (synthetic data): runs here on
#                               Mesa's software adapter in a few minutes
#
# The device call: run(command="bash bench/gpu/run.sh", carry=[".gpu"], timeout_s=540). Output goes
# to stdout and, where $OUT is set, to $OUT/gpu-bench.log. Exit 1 when a part fails, 2 on bad flags.
set -uo pipefail
cd "$(dirname "$0")/../.."

mode=full
case "${1:-}" in
  --pack) mode=pack ;;
  --quick) mode=quick ;;
  "") ;;
  *) echo "usage: bench/gpu/run.sh [--pack | --quick]" >&2; exit 2 ;;
esac

if [ "$mode" = pack ]; then
  grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >>.git/info/exclude
  exec node bench/gpu/pack.mjs
fi

[ -f .gpu/bundle.tar.xz ] || { echo "no .gpu/bundle.tar.xz: run bench/gpu/run.sh --pack first (and carry .gpu)" >&2; exit 2; }
log=${OUT:+$OUT/gpu-bench.log}
exec > >(tee ${log:+"$log"}) 2>&1
started=$SECONDS
say() { printf '\n== [%3ds] %s\n' $((SECONDS - started)) "$*"; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/unlearn-gpu.XXXXXX")
trap 'rm -rf "$dir"' EXIT
say "unpacking the bundle into $dir"
if command -v xz >/dev/null; then
  tar -C "$dir" -xJf .gpu/bundle.tar.xz || exit 1
else
  python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' .gpu/bundle.tar.xz "$dir" || exit 1
fi

# The Vulkan loader: the machine's own if it has one, else Debian's libvulkan1 from the bundle,
# unpacked beside the bundle (not into /) and found through LD_LIBRARY_PATH.
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
  mkdir -p "$dir/vulkan"
  if command -v dpkg >/dev/null; then
    dpkg -x "$dir"/libvulkan1_*.deb "$dir/vulkan"
  else
    (cd "$dir/vulkan" && ar x "$dir"/libvulkan1_*.deb && tar -xf data.tar.*)
  fi
  export LD_LIBRARY_PATH="$dir/vulkan/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
# NVIDIA's Vulkan driver manifest where the driver is mounted under /usr/local/nvidia (these machines).
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -f "$nvidia_icd" ] && [ -z "${VK_DRIVER_FILES:-}" ]; then
  export VK_DRIVER_FILES=$nvidia_icd VK_ICD_FILENAMES=$nvidia_icd
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
# What the Vulkan loader will see (for a run that finds no adapter).
echo "Vulkan: loader $(ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1' && echo system || echo "carried ($LD_LIBRARY_PATH)"), drivers: ${VK_DRIVER_FILES:-$(ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>/dev/null | tr '\n' ' ')}"

node="$dir/node"
app="$dir/app"
"$node" --version || exit 1
status=0
part() {
  local limit=$1; shift
  timeout --kill-after=5 "$limit" "$node" "$@"
  local rc=$?
  [ $rc -eq 124 ] && echo "(stopped at its ${limit}s limit)"
  [ $rc -ne 0 ] && status=1
  return 0
}

if [ "$mode" = quick ]; then
  synthetic='synthetic?n=2048&d=64&test=512&classes=2&seed=1'
  say "engine tests (conformance + webgpu)"
  CI=1 part 240 "$app/tests.mjs"
  say "step benchmark (small: $synthetic)"
  part 240 "$app/step.mjs" --chains 4,64 --seconds 1 --dataset "$synthetic"
  say "Figure 5 compute (small: bench/gpu/fig5-quick.json)"
  part 240 "$app/fig5.mjs" --config bench/gpu/fig5-quick.json --limit-s 230
else
  # Budget: ~15 s unpacking, 75 s tests, 170 s step benchmark, 180 s Figure 5: under 8 minutes.
  say "engine tests (conformance + webgpu) on the GPU"
  CI=1 part 75 "$app/tests.mjs"
  say "step benchmark: MNIST 3v8, 100 / 1000 / 10000 chains, webgpu vs onnx"
  part 170 "$app/step.mjs" --chains 100,1000,10000 --seconds 4
  say "Figure 5 compute at the paper's settings (100 chains, burn-in 10000) on webgpu"
  part 185 "$app/fig5.mjs" --config "$dir/sweeps/fig5.json" --limit-s 180
fi
say "done (exit $status)"
exit $status
