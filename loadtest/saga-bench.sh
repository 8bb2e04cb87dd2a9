#!/usr/bin/env bash
# complete-review as a saga against the same five participant calls made directly, over gRPC, on
# SQLite and on a throwaway PostgreSQL cluster (durable settings: fsync on), at 1, 8, 32 and 64
# clients. Prints one table per database: workflows/s, p50 and p99 with the saga/direct ratios, and
# the cost per workflow, which stays put on a noisy machine where times do not: CPU of the mesh
# (every service runs in the bench process), bytes written, and on PostgreSQL the cluster's WAL
# syncs and commits. With --fsyncs the bench runs under strace (only fsync and fdatasync are
# traced, through seccomp) and the fsyncs of each window are printed per workflow; every traced
# fsync stops the process, so the times of such a run are slower (SQLite: up to half the
# throughput) and only its counts are to be compared.
#
#   bash loadtest/saga-bench.sh [--fsyncs]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
TRACE=0
case "${1:-}" in
  --fsyncs) TRACE=1 ;;
  -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
  "") ;;
  *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
esac
if [[ $TRACE == 1 ]] && ! command -v strace >/dev/null 2>&1; then
  echo "--fsyncs needs strace (apt-get install strace)" >&2; exit 1
fi

BENCH=$(cargo bench -p hrmesh-orchestrator-server --bench sagas --no-run --message-format json 2>/dev/null |
  python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "sagas" and m.get("executable"):
        print(m["executable"])')
[[ -x $BENCH ]] || { echo "the bench did not build" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hrmesh-bench.XXXXXX")
# shellcheck source=../.ci/postgres.sh
source .ci/postgres.sh
pg_start
trap 'pg_stop; rm -rf "$WORK"' EXIT
export HRMESH_BENCH_WINDOWS="$WORK/windows.tsv"

if [[ $TRACE == 1 ]]; then
  strace -f --seccomp-bpf -e trace=fsync,fdatasync -ttt -qq -o "$WORK/fsync.log" "$BENCH" --bench
  python3 - "$WORK" <<'EOF'
import bisect, os, sys
work = sys.argv[1]
times = sorted(float(line.split()[1]) for line in open(os.path.join(work, "fsync.log"))
               if "fsync(" in line or "fdatasync(" in line)
print("\n## fsyncs of the bench process per workflow (SQLite's; PostgreSQL syncs in its own processes)\n")
print("| window | workflows | fsyncs | per workflow |")
print("|---|---|---|---|")
for line in open(os.path.join(work, "windows.tsv")):
    if not line.startswith("Sqlite"):
        continue
    name, start, end, count = line.rstrip("\n").split("\t")
    n = bisect.bisect_right(times, float(end)) - bisect.bisect_left(times, float(start))
    print(f"| {name} | {count} | {n} | {n / int(count):.2f} |")
EOF
else
  "$BENCH" --bench
fi
