#!/usr/bin/env bash
# The load benchmark, side by side: proofkey (release build, default
# settings, SQLite) and node-oidc-provider (its in-memory store), on this
# machine, in this run, under the same loads from bench/loadgen.
#
#   bench/compare.sh [--duration 10s] [--warmup 2s] [--concurrency 32] [--only proofkey|node]
#                    [--postgres] [--million] [--steady 4m]
#
# The figure that travels between machines is server CPU per operation: the
# load generator reads each server's user + system time from /proc/PID/stat
# at the start and the end of each measured window. It stands beside the
# floor, what the operation's signatures alone cost, measured here first
# with criterion (crates/core/benches/signing.rs: RSA-2048, ES256 and
# EdDSA), and beside the targets of issue 18, which are that floor plus a
# fixed allowance. Throughput and latency are printed too.
#
# Prints one JSON line per server and scenario (also kept in
# target/bench/results.jsonl), then the tables.
# --postgres also runs proofkey's scenarios on PostgreSQL (127.0.0.1:5432,
# user postgres, a database proofkey_bench made anew), with one node and
# then two (each client sticks to one node), and reports the database
# server's CPU per operation (every process named `postgres`), its WAL
# bytes and commits per operation, and the SQL statements per operation
# (counted from a node logging each statement, in a separate short pass).
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
postgres=
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --concurrency) concurrency=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --million) million=1; shift ;;
    --steady) steady=$2; shift 2 ;;
    --postgres) postgres=1; shift ;;
    *) echo "usage: $0 [--duration D] [--warmup D] [--concurrency N] [--only proofkey|node] [--postgres] [--million] [--steady D]" >&2; exit 2 ;;
  esac
done

# shellcheck source=bench/lib.sh
. bench/lib.sh

setup_work

echo "== building (release)" >&2
cargo build --release -q -p proofkey-cli -p proofkey-loadgen
pk=target/release/proofkey
lg=target/release/proofkey-loadgen

echo "== the signature floor: criterion, crates/core/benches/signing.rs" >&2
cargo bench -q -p proofkey-core --bench signing -- --warm-up-time 1 --measurement-time 3 --noplot 'sign JWT' >&2
python3 - > "$out/signing.json" <<'PY'
import json
cost = {}
for alg in ("RS256", "ES256", "EdDSA"):
    with open(f"target/criterion/sign JWT {alg}/new/estimates.json") as f:
        cost[alg] = json.load(f)["mean"]["point_estimate"] / 1000.0
print(json.dumps(cost))
PY

# `flow` asks for `api` (no openid: no ID token); both servers know it.
scenarios=(--flow-scope api --scenario flow-openid --scenario flow --scenario refresh --scenario introspect --scenario client-credentials)
# Starts `proofkey serve` on a free port with extra serve arguments, its
# log in $out/LOG; sets port and pk_pid, and returns once it answers.
start_proofkey() { # log [serve args...]
  local log=$1; shift
  port=$(free_port)
  RUST_LOG=${PK_LOG:-warn} "$pk" serve --listen "127.0.0.1:$port" "$@" 2>"$out/$log" &
  pk_pid=$!
  pids+=("$pk_pid")
  wait_http "http://127.0.0.1:$port/healthz"
}
# The scenarios, then flow-openid again with the client whose ID tokens are
# ES256 (reported as flow-openid-es256).
run_all() { # label issuer pid...
  local label=$1 issuer=$2; shift 2
  local watch=()
  for p in "$@"; do watch+=(--server-pid "$p"); done
  load "$label" "$issuer" bench-cli bench-svc "$secret" "${watch[@]}" "${scenarios[@]}" | tee -a "$results"
  load "$label" "$issuer" bench-es256 bench-svc "$secret" "${watch[@]}" \
    --scenario flow-openid --name-suffix=-es256 | tee -a "$results"
}

results=$out/results.jsonl
: > "$results"

if [ "$only" != node ]; then
  echo "== proofkey" >&2
  db="sqlite://$work/bench.db"
  export PROOFKEY_DATABASE_URL=$db
  secret=$(provision)
  start_proofkey proofkey.log
  run_all proofkey "http://127.0.0.1:$port" "$pk_pid"
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
  run_all node-oidc-provider "http://127.0.0.1:$port" "$node_pid"
  echo "node-oidc-provider resident memory: $(( $(ps -o rss= -p "$node_pid") / 1024 )) MiB" >&2
fi

if [ -n "$postgres" ] && [ "$only" != node ]; then
  pg="psql -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1 -qtA"
  $pg -d postgres -c "DROP DATABASE IF EXISTS proofkey_bench" -c "CREATE DATABASE proofkey_bench"
  export PROOFKEY_DATABASE_URL=postgres://postgres@127.0.0.1:5432/proofkey_bench
  secret=$(provision)
  # What PostgreSQL did around one load run: WAL bytes and commits.
  pg_counters() { $pg -d postgres -c "SELECT pg_current_wal_lsn() - '0/0', (SELECT sum(xact_commit) FROM pg_stat_database)" ; }
  # One scenario against the nodes at $issuers, with the database's
  # counters read around it and added to its JSON line.
  pg_run() { # label scenario client [loadgen args...]
    local label=$1 scenario=$2 client=$3; shift 3
    local before after line
    before=$(pg_counters)
    line=$(load "$label" "$issuers" "$client" bench-svc "$secret" --flow-scope api \
      --scenario "$scenario" --db-comm postgres "${watch[@]}" "$@")
    after=$(pg_counters)
    python3 -c '
import json, sys
r = json.loads(sys.argv[1])
b = [float(x) for x in sys.argv[2].split("|")]
a = [float(x) for x in sys.argv[3].split("|")]
n = r["ops"] + r["warmup_ops"]
r["wal_bytes_per_op"] = (a[0] - b[0]) / n if n else None
r["commits_per_op"] = (a[1] - b[1]) / n if n else None
print(json.dumps(r))' "$line" "$before" "$after" | tee -a "$results"
  }
  for nodes in 1 2; do
    echo "== proofkey on PostgreSQL, $nodes node(s)" >&2
    issuers= watch=() node_pids=()
    for i in $(seq 1 "$nodes"); do
      start_proofkey "proofkey-pg-$i.log"
      issuers="$issuers http://127.0.0.1:$port"
      watch+=(--server-pid "$pk_pid")
      node_pids+=("$pk_pid")
    done
    for s in flow-openid flow refresh introspect client-credentials; do
      pg_run "proofkey-pg-$nodes" "$s" bench-cli
    done
    pg_run "proofkey-pg-$nodes" flow-openid bench-es256 --name-suffix=-es256
    for p in "${node_pids[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
  done
  echo "== SQL statements per operation (one node logging each statement)" >&2
  PK_LOG=warn,sqlx::query=debug start_proofkey proofkey-pg-statements.log
  issuers="http://127.0.0.1:$port" watch=()
  for s in flow-openid flow refresh introspect client-credentials; do
    before=$(grep -c 'sqlx::query' "$out/proofkey-pg-statements.log" || true)
    line=$(concurrency=4 LOAD_WARMUP=0s load statements "$issuers" bench-cli bench-svc "$secret" \
      --flow-scope api --scenario "$s" --max-ops 200)
    after=$(grep -c 'sqlx::query' "$out/proofkey-pg-statements.log" || true)
    python3 -c '
import json, sys
r = json.loads(sys.argv[1])
print(json.dumps({"label": "statements", "scenario": r["scenario"], "ops": r["ops"],
                  "statements_per_op": (int(sys.argv[3]) - int(sys.argv[2])) / max(r["ops"], 1)}))' \
      "$line" "$before" "$after" | tee -a "$results"
  done
  kill "$pk_pid"; wait "$pk_pid" 2>/dev/null || true
  unset PROOFKEY_DATABASE_URL
fi

python3 bench/report.py "$results" "$out/signing.json"
