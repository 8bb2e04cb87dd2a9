#!/usr/bin/env bash
# complete-review as a saga against the same five participant calls made directly: workflows/s and
# p50/p99 latency with 1 and 8 clients, over gRPC, on SQLite and on a throwaway PostgreSQL cluster
# (durable settings: fsync on). Prints one table per database with the saga/direct ratios.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=../.ci/postgres.sh
source .ci/postgres.sh
pg_start
trap pg_stop EXIT
cargo bench -p hrmesh-orchestrator-server --bench sagas
