#!/usr/bin/env bash
# Part two of build.sh, run by it inside `unshare --net --mount` (a loopback of its own): starts
# nats-server with infra/nats (the compose config: JetStream, nats-config's authorization) and a
# PostgreSQL, then each image's own entrypoint (its CMD, user, working directory and environment, plus
# the environment compose gives it) in its root filesystem (buildah mount + chroot), waits until
# compose's health check passes, runs a small Figure 5 sweep through the coordinator with `pnpm sweep`
# and reads it back through the dashboard. Exit 0 only when the sweep is done with every job.
set -euo pipefail
CACHE=$1
STORE=(--storage-driver vfs --root "$CACHE/storage" --runroot "$CACHE/run")
bah() { buildah "${STORE[@]}" "$@"; }
log() { printf '[cluster.sh %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
ip link set lo up
mount --make-rprivate /

work=$(mktemp -d "$CACHE/cluster.XXXXXX")
chmod 0755 "$work"
pids=()
containers=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 2
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for c in "${containers[@]}"; do bah umount "$c" >/dev/null 2>&1 || true; bah rm "$c" >/dev/null 2>&1 || true; done
  [ -d "$work/postgres/data" ] && su postgres -c "pg_ctl -D $work/postgres/data -m immediate stop" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# infra/.env for this run: .env.example with a fresh value for each secret
cp infra/.env.example "$work/env"
while IFS= read -r v; do sed -i "s/^$v=.*/$v=$(openssl rand -hex 24)/" "$work/env"; done \
  < <(grep -oE '^[A-Z_]*(PASSWORD|TOKEN)' infra/.env.example)
set -a; . "$work/env"; set +a

# compose's environment of a service, its host names resolved to this loopback
compose_env() {
  node --import tsx infra/test/compose.ts "$1" "$work/env" |
    sed -E 's#(@|//)(postgres|nats):#\1127.0.0.1:#; s#^UNLEARN_COORDINATOR=coordinator:#UNLEARN_COORDINATOR=127.0.0.1:#'
}

log "nats-server with infra/nats/nats.conf (JetStream in $work/nats)"
mkdir -p "$work/nats"
sed "s|store_dir: /data|store_dir: $work/nats/data|" infra/nats/nats.conf >"$work/nats/nats.conf"
cp infra/nats/auth.conf "$work/nats/"
env $(compose_env nats) nats-server -c "$work/nats/nats.conf" >"$work/nats.log" 2>&1 &
pids+=($!)

log "PostgreSQL (this machine's $(ls /usr/lib/postgresql | tail -1); compose pins 16) with user and database unlearn"
pgrun="$work/postgres"
mkdir -m 0700 "$pgrun" && chown postgres: "$pgrun"
printf '%s\n' "$POSTGRES_PASSWORD" >"$pgrun/pwfile" && chown postgres "$pgrun/pwfile"
su postgres -c "initdb -D $pgrun/data -U unlearn --auth=scram-sha-256 --pwfile=$pgrun/pwfile" >"$work/initdb.log" 2>&1
su postgres -c "pg_ctl -D $pgrun/data -l $pgrun/log -o '-c listen_addresses=127.0.0.1 -p 5432 -k $pgrun' start" >/dev/null
PGPASSWORD=$POSTGRES_PASSWORD psql -h 127.0.0.1 -U unlearn -d postgres -qc 'CREATE DATABASE unlearn'
for _ in $(seq 50); do curl -fs 'http://127.0.0.1:8222/healthz?js-enabled-only=true' >/dev/null && break; sleep 0.2; done


# start IMAGE SERVICE NAME [ARGS…]: the image's CMD (+ ARGS) as its USER in its WORKDIR, with its
# ENV and compose's, chrooted into a mount of its root filesystem.
start() {
  local image=$1 service=$2 name=$3
  shift 3
  local ctr mnt uid cmd wd
  ctr=$(bah from --pull=never "$image")
  containers+=("$ctr")
  mnt=$(bah mount "$ctr")
  mount -t proc proc "$mnt/proc"
  mount --rbind /dev "$mnt/dev"
  uid=$(bah inspect --format '{{.OCIv1.Config.User}}' "$image")
  uid=$(awk -F: -v u="$uid" '$1 == u { print $3 ":" $4 }' "$mnt/etc/passwd")
  wd=$(bah inspect --format '{{.OCIv1.Config.WorkingDir}}' "$image")
  mapfile -t cmd < <(bah inspect --format '{{range .OCIv1.Config.Cmd}}{{println .}}{{end}}' "$image" | sed '/^$/d')
  mapfile -t envs < <(bah inspect --format '{{range .OCIv1.Config.Env}}{{println .}}{{end}}' "$image" | sed '/^$/d'; compose_env "$service")
  log "$name: ${cmd[*]} $* (as $uid in $wd)"
  chroot --userspec="$uid" "$mnt" /usr/bin/env -i HOME=/home/node "${envs[@]}" \
    /bin/sh -c 'cd "$0" && exec "$@"' "$wd" "${cmd[@]}" "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
  eval "MNT_${name//-/_}=$mnt"
}

start localhost/unlearn-coordinator:test coordinator coordinator
start localhost/unlearn-worker:test worker worker-1
start localhost/unlearn-worker:test worker worker-2
# compose publishes the dashboard's port 3000; in this namespace it is 127.0.0.1:3000 already
start localhost/unlearn-dashboard:test dashboard dashboard

log "waiting for compose's health check of the coordinator (grpc.health.v1 SERVING)"
for i in $(seq 120); do
  if chroot --userspec=1000:1000 "$MNT_coordinator" /usr/bin/env -i /bin/sh -c \
    'cd /app && exec node infra/docker/grpc-health.mjs 127.0.0.1:50051' >"$work/health.log" 2>&1; then break; fi
  [ "$i" = 120 ] && { log "coordinator never healthy"; cat "$work/health.log" "$work/coordinator.log" >&2; exit 1; }
  sleep 1
done
log "coordinator healthy: $(cat "$work/health.log")"

log "sweep: pnpm sweep --coordinator 127.0.0.1:50051 --config fig5.json (synthetic, 2 chains, burn-in 200)"
started=$(date +%s)
UNLEARN_TOKEN=$COORDINATOR_TOKEN pnpm --silent sweep --coordinator 127.0.0.1:50051 --config fig5.json \
  --dataset 'synthetic?n=2000&d=32&test=500&classes=2&seed=1' --chains 2 --burn-in 200 --json \
  >"$work/sweep.json" 2>"$work/sweep.log" || { tail -20 "$work/sweep.log" "$work"/worker-*.log >&2; exit 1; }
echo "sweep $(($(date +%s) - started))" >>"$CACHE/times"
cat "$work/sweep.json" >&2
node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
if (r.state !== "done" || r.failed !== 0 || !(r.jobs > 0)) { console.error("sweep not done:", r); process.exit(1); }
console.error(`sweep ${r.sweep}: ${r.state}, ${r.jobs} jobs, ${r.failed} failed`);
' "$work/sweep.json"
sweep=$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).sweep' "$work/sweep.json")

log "dashboard: the sweep's page through the dashboard image"
for i in $(seq 90); do
  code=$(curl -s -o "$work/page.html" -w '%{http_code}' -u ":$DASHBOARD_TOKEN" "http://127.0.0.1:3000/" || true)
  [ "$code" = 200 ] && break
  [ "$i" = 90 ] && { log "dashboard answered $code"; tail -20 "$work/dashboard.log" >&2; exit 1; }
  sleep 1
done
grep -q "${sweep:0:12}" "$work/page.html" || { log "dashboard's page does not list sweep $sweep"; exit 1; }
log "dashboard lists sweep $sweep; workers: $(grep -c 'job' "$work/worker-1.log" "$work/worker-2.log" | tr '\n' ' ')"
log "PASS: images built from infra/docker/Dockerfile ran a sweep end to end (logs in $work)"
