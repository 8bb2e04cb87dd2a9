#!/usr/bin/env bash
# Ledger benchmark: append throughput, balance-read latency at 10 / 1,000 / 100,000 entries of
# history, hold throughput under 8 concurrent clients and an accrual run over 10,000 assignments,
# over gRPC, on SQLite and on a throwaway
# PostgreSQL cluster (durable settings: fsync on). Prints one table per database.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=../.ci/postgres.sh
source .ci/postgres.sh
pg_start
trap pg_stop EXIT
cargo bench -p hrmesh-ledger-server --bench ledger
