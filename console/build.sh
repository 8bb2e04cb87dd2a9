#!/usr/bin/env bash
# Builds the console into dist/ (committed, so the hrmesh binary embeds it without Node):
# generates the clients from ../proto with buf, type-checks, bundles with esbuild. Same sources,
# same bytes: .ci/run runs this and fails when dist/ differs from what is committed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
if [[ ! -x node_modules/.bin/esbuild ]]; then
  npm ci --no-audit --no-fund
fi
rm -rf src/gen
npx buf generate
npx tsc --noEmit -p .
mkdir -p dist
npx esbuild src/app.ts --bundle --minify --format=iife --target=es2020 --legal-comments=none \
  --outfile=dist/app.js --log-level=warning
cp index.html app.css dist/
