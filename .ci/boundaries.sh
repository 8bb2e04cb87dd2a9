#!/usr/bin/env bash
# Crate boundaries the code relies on (ARCHITECTURE.md, "Crates"): cores know neither transport nor
# storage, stores know storage but never gRPC. Fails naming the crate and what it reaches.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Whatever a crate must not reach through its normal and build dependencies.
transport='tonic|tonic-[a-z]+|prost|prost-[a-z]+|hrmesh-proto|hrmesh-mesh|hyper|axum|reqwest'
storage='sea-orm|sea-orm-[a-z]+|sqlx|sqlx-[a-z]+|mongodb|hrmesh-storage'
declare -A forbidden=(
  [hrmesh-domain]="$transport|$storage"
  [hrmesh-ledger-core]="$transport|$storage"
  [hrmesh-performance-core]="$transport|$storage"
  [hrmesh-notification-core]="$transport|$storage"
  [hrmesh-saga-core]="$transport|$storage"
  [hrmesh-storage]="$transport"
  [hrmesh-ledger-store]="$transport"
  [hrmesh-performance-store]="$transport"
  [hrmesh-notification-store]="$transport"
  [hrmesh-saga-store]="$transport"
)
failed=0
for crate in "${!forbidden[@]}"; do
  reached=$(cargo tree --locked -p "$crate" -e normal,build --prefix none \
    | awk '{print $1}' | sort -u | grep -E "^(${forbidden[$crate]})$" || true)
  if [[ -n "$reached" ]]; then
    echo "boundaries: $crate must not depend on: $(echo "$reached" | tr '\n' ' ')" >&2
    failed=1
  fi
done
if (( failed )); then exit 1; fi
echo "boundaries: cores reach neither transport nor storage; stores do not reach gRPC"
