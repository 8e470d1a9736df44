#!/usr/bin/env bash
# Before and after, side by side: this checkout's release build ("after")
# and another checkout's ("before"), each `proofkey serve` on a fresh SQLite
# file with default settings, both up at once, the load generator (this
# checkout's) alternating between them run by run, so that both see the
# same machine, whatever it is doing meanwhile. On a shared 2-core VM,
# single runs vary by 10 % and more; medians of alternating runs compare.
# Each side's server CPU per operation (/proc/PID/stat, read by the load
# generator around each measured window) is compared too: the figure that
# moves least with the machine. Both sides run without the metrics
# listener, so that two servers can run at once.
#
#   bench/ab.sh BEFORE_CHECKOUT [--rounds 5] [--duration 8s] [--warmup 1s]
#               [--concurrency 32] [SCENARIO...]
#
# SCENARIO: flow (default), flow-openid, refresh, introspect,
# client-credentials (bench/compare.sh's loads). BEFORE_CHECKOUT is any
# checkout of proofkey, e.g. `git worktree add /tmp/before <rev>`; both are
# built here. Prints the runs and the medians per scenario and side; the
# JSON lines are kept in target/bench/ab.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
before=${1:?usage: bench/ab.sh BEFORE_CHECKOUT [options] [SCENARIO...]}
shift
rounds=5 duration=8s warmup=1s concurrency=32 picked=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --concurrency) concurrency=$2; shift 2 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) picked+=("$1"); shift ;;
  esac
done
[ ${#picked[@]} -gt 0 ] || picked=(flow)

# shellcheck source=bench/lib.sh
. bench/lib.sh

setup_work

echo "== building (release): this checkout and $before" >&2
cargo build --release -q -p proofkey-cli -p proofkey-loadgen
(cd "$before" && cargo build --release -q -p proofkey-cli)
lg=target/release/proofkey-loadgen

declare -A port secret pid
for side in before after; do
  if [ $side = before ]; then pk=$before/target/release/proofkey; else pk=target/release/proofkey; fi
  mkdir -p "$work/$side"
  export PROOFKEY_DATABASE_URL="sqlite://$work/$side/bench.db"
  secret[$side]=$(provision)
  port[$side]=$(free_port)
  RUST_LOG=warn "$pk" serve --listen "127.0.0.1:${port[$side]}" --metrics-listen off 2>"$out/ab-$side.log" &
  pid[$side]=$!
  pids+=("$!")
  wait_http "http://127.0.0.1:${port[$side]}/healthz"
done
unset PROOFKEY_DATABASE_URL

: > "$out/ab.jsonl"
for scenario in "${picked[@]}"; do
  for _ in $(seq 1 "$rounds"); do
    for side in before after; do
      load "$side" "http://127.0.0.1:${port[$side]}" bench-cli bench-svc "${secret[$side]}" \
        --flow-scope api --scenario "$scenario" --server-pid "${pid[$side]}" | tee -a "$out/ab.jsonl" >&2
    done
  done
done

python3 - "$out/ab.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(f"{'scenario':<20}{'before ops/s':>14}{'after ops/s':>13}{'change':>9}{'p99 before':>12}{'p99 after':>11}{'CPU µs/op before':>18}{'after':>8}{'change':>9}")
for s in dict.fromkeys(r["scenario"] for r in rows):
    med = lambda side, k: statistics.median(r[k] for r in rows if r["scenario"] == s and r["label"] == side)
    b, a = med("before", "ops_per_sec"), med("after", "ops_per_sec")
    cpu = lambda side: statistics.median(r.get("server_cpu_us_per_op") or 0.0 for r in rows if r["scenario"] == s and r["label"] == side)
    cb, ca = cpu("before"), cpu("after")
    print(f"{s:<20}{b:>14.0f}{a:>13.0f}{(a / b - 1) * 100:>8.1f}%{med('before', 'p99_ms'):>11.1f}ms{med('after', 'p99_ms'):>9.1f}ms"
          f"{cb:>18.1f}{ca:>8.1f}" + (f"{(ca / cb - 1) * 100:>8.1f}%" if cb else f"{'-':>9}"))
errors = sum(r["errors"] for r in rows)
if errors:
    print(f"{errors} errors")
PY
