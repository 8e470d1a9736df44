# Shared by bench/compare.sh and bench/ab.sh: ports, readiness, the
# benchmark's clients and user, and one run of the load generator. Expects
# $pk (a proofkey binary), $lg (proofkey-loadgen), $concurrency, $duration
# and $warmup.

# Results in target/bench ($out); a temporary directory ($work) and the
# background processes ($pids), both cleaned up on exit.
setup_work() {
  out=target/bench
  mkdir -p "$out"
  work=$(mktemp -d)
  pids=()
  trap cleanup EXIT
}
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "not up: $1" >&2; exit 1
}

# ISSUERS: one issuer, or several separated by spaces (nodes of one
# deployment; each client of the load sticks to one).
load() { # label issuers client-id confidential-id secret [loadgen args...]
  local label=$1 cid=$3 sid=$4 secret=$5 issuers=() list one
  read -ra list <<< "$2"
  for one in "${list[@]}"; do issuers+=(--issuer "$one"); done
  shift 5
  LOADGEN_PASSWORD=bench-password LOADGEN_CONFIDENTIAL_SECRET=$secret \
    "$lg" --label "$label" "${issuers[@]}" --client-id "$cid" --username bench \
    --confidential-id "$sid" --concurrency "$concurrency" \
    --duration "${LOAD_DURATION:-$duration}" --warmup "${LOAD_WARMUP:-$warmup}" "$@"
}

# The benchmark's clients and user in $PROOFKEY_DATABASE_URL; prints the
# confidential client's secret.
provision() {
  "$pk" migrate >/dev/null # admin commands never create a database
  "$pk" client create --id bench-cli --public --redirect-uri http://127.0.0.1/callback \
    --scope openid --scope api --scope offline_access \
    --grant-type authorization_code --grant-type refresh_token >/dev/null
  # The same, with ES256 ID tokens (id_token_signed_response_alg).
  "$pk" client create --id bench-es256 --public --redirect-uri http://127.0.0.1/callback \
    --scope openid --scope api --grant-type authorization_code --id-token-alg ES256 >/dev/null
  echo bench-password | "$pk" user create bench --password-stdin >/dev/null
  "$pk" client create --id bench-svc --confidential --redirect-uri https://svc.example/cb \
    --scope api --grant-type client_credentials --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])'
}

