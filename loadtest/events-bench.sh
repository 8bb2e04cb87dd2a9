#!/usr/bin/env bash
# Integration events benchmark: how many events per second the ledger's relay publishes to
# RabbitMQ with publisher confirms (persistent messages into a durable queue), on SQLite and on a
# throwaway PostgreSQL cluster (fsync on), against a throwaway RabbitMQ.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=../.ci/postgres.sh
source .ci/postgres.sh
# shellcheck source=../.ci/rabbitmq.sh
source .ci/rabbitmq.sh
trap 'pg_stop; rabbit_stop' EXIT
pg_start
rabbit_start
cargo bench -p hrmesh-ledger-server --bench events
