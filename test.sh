#!/usr/bin/env bash
# Runs every test: installs the node-oidc-provider interop peer (npm), then
# the whole Rust test suite. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")"
if command -v npm >/dev/null 2>&1; then
  npm ci --prefix interop/node --no-audit --no-fund --loglevel=error
  # With the peer installed, its interop test must run, never skip.
  export PROOFKEY_REQUIRE_INTEROP=1
else
  echo "*** npm not found: the node-oidc-provider interop test will say it did not run ***" >&2
fi
cargo test --workspace "$@"
