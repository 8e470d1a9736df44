#!/usr/bin/env bash
# Runs every test: installs the interop peers (npm: node-oidc-provider and
# openid-client; the MCP TypeScript SDK and conformance suite, with Node 22)
# and the example SPA's library (oauth4webapi), then the whole Rust test
# suite (the browser tests need Chromium and chromedriver: .ci/run installs
# them). Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")"
if command -v npm >/dev/null 2>&1; then
  npm ci --prefix interop/node --no-audit --no-fund --loglevel=error
  npm ci --prefix interop/mcp --no-audit --no-fund --loglevel=error
  # oauth4webapi for the example SPA, which the browser tests run.
  npm ci --prefix examples/spa --no-audit --no-fund --loglevel=error
  # With the peers installed, their interop tests must run, never skip.
  export PROOFKEY_REQUIRE_INTEROP=1
else
  echo "*** npm not found: the interop tests (node-oidc-provider, MCP) will say they did not run ***" >&2
fi
# The MCP interop test runs the example MCP server's binary, which
# `cargo test --workspace` builds (for the example's own tests).
cargo test --workspace "$@"
