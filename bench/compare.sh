#!/usr/bin/env bash
# The load benchmark, side by side: proofkey (release build, default
# settings, SQLite) and node-oidc-provider (its in-memory store), on this
# machine, in this run, under the same loads from bench/loadgen.
#
#   bench/compare.sh [--duration 10s] [--warmup 2s] [--concurrency 32] [--only proofkey|node]
#                    [--million] [--steady 4m]
#
# Prints one JSON line per server and scenario (also kept in
# target/bench/results.jsonl), then a table with the ratios.
# --million also runs a million complete flows against proofkey and reports
# its resident memory and database size before and after them.
# --steady D runs complete flows for D against a second proofkey whose rows
# expire within about a minute (code_retention 0s, access tokens 1m, a
# sweep every 10s) and samples its database size and resident memory every
# 15 seconds (target/bench/steady.tsv): the database grows for about a
# minute, then stops. With the default settings the same plateau comes
# after the code retention (1h) and the token lifetime have passed.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=10s
warmup=2s
concurrency=32
only=
million=
steady=
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --concurrency) concurrency=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --million) million=1; shift ;;
    --steady) steady=$2; shift 2 ;;
    *) echo "usage: $0 [--duration D] [--warmup D] [--concurrency N] [--only proofkey|node] [--million] [--steady D]" >&2; exit 2 ;;
  esac
done

# shellcheck source=bench/lib.sh
. bench/lib.sh

setup_work

echo "== building (release)" >&2
cargo build --release -q -p proofkey-cli -p proofkey-loadgen
pk=target/release/proofkey
lg=target/release/proofkey-loadgen

# `flow` asks for `api` (no openid: no ID token); both servers know it.
scenarios=(--flow-scope api --scenario flow-openid --scenario flow --scenario refresh --scenario introspect --scenario client-credentials)
# Starts `proofkey serve` on a free port with extra serve arguments, its
# log in $out/LOG; sets port and pk_pid, and returns once it answers.
start_proofkey() { # log [serve args...]
  local log=$1; shift
  port=$(free_port)
  RUST_LOG=warn "$pk" serve --listen "127.0.0.1:$port" "$@" 2>"$out/$log" &
  pk_pid=$!
  pids+=("$pk_pid")
  wait_http "http://127.0.0.1:$port/healthz"
}

results=$out/results.jsonl
: > "$results"

if [ "$only" != node ]; then
  echo "== proofkey" >&2
  db="sqlite://$work/bench.db"
  export PROOFKEY_DATABASE_URL=$db
  secret=$(provision)
  start_proofkey proofkey.log
  load proofkey "http://127.0.0.1:$port" bench-cli bench-svc "$secret" \
    "${scenarios[@]}" | tee -a "$results"
  echo "proofkey resident memory: $(( $(ps -o rss= -p "$pk_pid") / 1024 )) MiB" >&2
  if [ -n "$million" ]; then
    echo "== a million flows against proofkey" >&2
    LOAD_DURATION=1h LOAD_WARMUP=0s load proofkey "http://127.0.0.1:$port" bench-cli bench-svc "$secret" \
      --flow-scope api --scenario flow --max-ops 1000000 | tee "$out/million.jsonl"
    echo "proofkey after a million flows: resident $(( $(ps -o rss= -p "$pk_pid") / 1024 )) MiB," \
      "database $(du -sh "$work" | cut -f1)" >&2
  fi
  kill "$pk_pid"; wait "$pk_pid" 2>/dev/null || true
  if [ -n "$steady" ]; then
    echo "== steady state: flows for $steady, rows expiring within about a minute" >&2
    mkdir -p "$work/steady"
    export PROOFKEY_DATABASE_URL="sqlite://$work/steady/bench.db"
    secret=$(provision)
    start_proofkey proofkey-steady.log --code-retention 0s --access-token-lifetime 1m --sweep-interval 10s
    LOAD_DURATION=$steady LOAD_WARMUP=0s load proofkey "http://127.0.0.1:$port" bench-cli bench-svc "$secret" \
      --flow-scope api --scenario flow > "$out/steady.jsonl" &
    lg_pid=$!
    printf 'seconds\tdatabase_bytes\tresident_kib\n' > "$out/steady.tsv"
    start=$(date +%s)
    while kill -0 "$lg_pid" 2>/dev/null; do
      printf '%s\t%s\t%s\n' "$(( $(date +%s) - start ))" "$(du -sb "$work/steady" | cut -f1)" \
        "$(ps -o rss= -p "$pk_pid" | tr -d ' ')" >> "$out/steady.tsv"
      sleep 15
    done
    wait "$lg_pid"
    cat "$out/steady.jsonl"
    echo "steady state (target/bench/steady.tsv):" >&2
    (column -t "$out/steady.tsv" 2>/dev/null || cat "$out/steady.tsv") >&2
    kill "$pk_pid"; wait "$pk_pid" 2>/dev/null || true
  fi
  unset PROOFKEY_DATABASE_URL
fi

if [ "$only" != proofkey ]; then
  echo "== node-oidc-provider" >&2
  npm ci --prefix interop/node --no-audit --no-fund --loglevel=error >&2
  port=$(free_port)
  secret=bench-secret-$RANDOM-$RANDOM-$RANDOM
  (cd interop/node && NODE_ENV=production exec node bench-provider.mjs "$port" "$secret" >"$work/node.log" 2>&1) &
  node_pid=$!
  pids+=("$node_pid")
  wait_http "http://127.0.0.1:$port/.well-known/openid-configuration"
  load node-oidc-provider "http://127.0.0.1:$port" bench-cli bench-svc "$secret" \
    "${scenarios[@]}" | tee -a "$results"
  echo "node-oidc-provider resident memory: $(( $(ps -o rss= -p "$node_pid") / 1024 )) MiB" >&2
fi

python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in rows:
    by.setdefault(r["scenario"], {}).setdefault(r["label"], r)
print()
print(f"{'scenario':<20}{'proofkey ops/s':>16}{'p50/p99 ms':>16}{'node ops/s':>14}{'p50/p99 ms':>16}{'ratio':>8}")
for s, r in by.items():
    p, n = r.get("proofkey"), r.get("node-oidc-provider")
    cell = lambda x: (f"{x['ops_per_sec']:>16.0f}{x['p50_ms']:>8.1f}/{x['p99_ms']:<7.1f}" if x else f"{'-':>16}{'-':>16}")
    ratio = f"{p['ops_per_sec'] / n['ops_per_sec']:>7.1f}x" if p and n and n["ops_per_sec"] else f"{'-':>8}"
    errs = sum(x["errors"] for x in (p, n) if x)
    print(f"{s:<20}{cell(p)}{cell(n)[2:]}{ratio}" + (f"  ({errs} errors)" if errs else ""))
PY
