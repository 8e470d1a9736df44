"""The tables of bench/compare.sh, from its JSON lines and the signing costs.

    python3 bench/report.py target/bench/results.jsonl target/bench/signing.json

Server CPU per operation against the floor (the operation's signatures,
measured by criterion in the same run) and against issue 18's targets; then
node-oidc-provider beside proofkey; then throughput and latency; then the
PostgreSQL figures when the run had them.
"""

import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
sign = json.load(open(sys.argv[2]))
rs, es = sign["RS256"], sign["ES256"]

# What each scenario signs: proofkey's access tokens are ES256 JWTs
# (RFC 9068); ID tokens are RS256 unless the client registered another alg.
floor = {
    "flow": es,
    "flow-openid": es + rs,
    "flow-openid-es256": 2 * es,
    "refresh": es + rs,
    "introspect": 0.0,
    "client-credentials": es,
}
# Issue 18's targets, in µs of server CPU per operation.
target = {
    "flow": (120.0, "120"),
    "flow-openid": (rs + 150, "RS256 + 150"),
    "refresh": (rs + 150, "RS256 + 150"),
    "introspect": (40.0, "40"),
    "client-credentials": (es + 60, "ES256 + 60"),
}

by = {}
for r in rows:
    by.setdefault(r["scenario"], {})[r["label"]] = r

print()
print(f"signing, µs per JWT (criterion, this run): RS256 {rs:.0f}, ES256 {es:.0f}, EdDSA {sign['EdDSA']:.0f}")
print()
print("server CPU per operation, µs (user + system, /proc/PID/stat)")
head = f"{'scenario':<20}{'proofkey':>10}{'floor':>8}{'beyond':>8}{'target':>18}{'met':>5}{'node':>9}{'efficiency':>12}"
print(head)


def cpu(r):
    return r.get("server_cpu_us_per_op") if r else None


for s, by_label in by.items():
    p, n = by_label.get("proofkey"), by_label.get("node-oidc-provider")
    if not p and not n:
        continue
    pc, nc = cpu(p), cpu(n)
    f = floor.get(s)
    line = f"{s:<20}"
    line += f"{pc:>10.0f}" if pc is not None else f"{'-':>10}"
    line += f"{f:>8.0f}" if f is not None else f"{'-':>8}"
    line += f"{pc - f:>8.0f}" if pc is not None and f is not None else f"{'-':>8}"
    eff = nc / pc if pc and nc else None
    if s in target:
        t, how = target[s]
        line += f"{f'{t:.0f} ({how})':>18}"
        line += f"{('yes' if pc is not None and pc <= t else 'NO'):>5}"
    elif s == "flow-openid-es256":
        line += f"{'10x node':>18}"
        line += f"{('yes' if eff and eff >= 10 else ('NO' if eff else '-')):>5}"
    else:
        line += f"{'-':>18}{'-':>5}"
    line += f"{nc:>9.0f}" if nc is not None else f"{'-':>9}"
    line += f"{eff:>11.1f}x" if eff else f"{'-':>12}"
    print(line)

print()
print("throughput and latency at the same load")
print(f"{'scenario':<20}{'proofkey ops/s':>16}{'p50/p99 ms':>16}{'p99/p50':>9}{'node ops/s':>12}{'p50/p99 ms':>16}{'ratio':>8}")
for s, by_label in by.items():
    p, n = by_label.get("proofkey"), by_label.get("node-oidc-provider")
    if not p and not n:
        continue

    def cell(x):
        if not x:
            return f"{'-':>16}{'-':>16}"
        return f"{x['ops_per_sec']:>16.0f}{x['p50_ms']:>8.1f}/{x['p99_ms']:<7.1f}"

    spread = f"{p['p99_ms'] / p['p50_ms']:>8.1f}x" if p and p["p50_ms"] else f"{'-':>9}"
    ratio = f"{p['ops_per_sec'] / n['ops_per_sec']:>7.1f}x" if p and n and n["ops_per_sec"] else f"{'-':>8}"
    errs = sum(x["errors"] for x in (p, n) if x)
    print(f"{s:<20}{cell(p)}{spread}{cell(n)[4:]}{ratio}" + (f"  ({errs} errors)" if errs else ""))

pg = [r for r in rows if r["label"].startswith("proofkey-pg-")]
if pg:
    stmts = {r["scenario"]: r["statements_per_op"] for r in rows if r["label"] == "statements"}
    print()
    print("PostgreSQL: per operation, server and database CPU (µs), WAL bytes, commits, statements")
    print(f"{'scenario':<20}{'nodes':>6}{'ops/s':>8}{'p99 ms':>8}{'node CPU':>10}{'db CPU':>8}{'total':>8}{'WAL B':>8}{'commits':>9}{'stmts':>7}")
    for r in pg:
        nodes = r["label"].rsplit("-", 1)[1]
        sc, dc = r.get("server_cpu_us_per_op") or 0, r.get("db_cpu_us_per_op") or 0
        wal, commits = r.get("wal_bytes_per_op") or 0, r.get("commits_per_op") or 0
        st = stmts.get(r["scenario"])
        print(f"{r['scenario']:<20}{nodes:>6}{r['ops_per_sec']:>8.0f}{r['p99_ms']:>8.1f}{sc:>10.0f}{dc:>8.0f}{sc + dc:>8.0f}"
              f"{wal:>8.0f}{commits:>9.2f}" + (f"{st:>7.1f}" if st is not None else f"{'-':>7}")
              + (f"  ({r['errors']} errors)" if r["errors"] else ""))
