#!/usr/bin/env bash
# Load benchmark: starts the built service on a free loopback port with a throwaway data directory
# and an ECDSA P-256 CA, then runs wrk (1 thread, 64 connections, 10 s a case) against sign and
# newcert, printing the crypto ceiling measured in the same run. Needs wrk and openssl.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
command -v wrk >/dev/null || { echo "bench: wrk is missing (apt-get install wrk)" >&2; exit 2; }
[ -f dist/cli/main.js ] || { echo "bench: run npm run build first" >&2; exit 2; }

work=$(mktemp -d)
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
node dist/cli/main.js serve --port "$port" --data-dir "$work/data" --log-level warn > "$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -sf "127.0.0.1:$port/api/v1/cfssl/health" >/dev/null && break; sleep 0.1; done

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/k.pem" \
  -subj "/O=system:nodes/CN=system:node:bench" -out "$work/bench.csr" 2>/dev/null
node -e 'const fs=require("fs");fs.writeFileSync(process.argv[2],JSON.stringify({certificate_request:fs.readFileSync(process.argv[1],"utf8"),profile:"client"}))' \
  "$work/bench.csr" "$work/sign.json"
echo '{"request":{"CN":"bench","hosts":["bench.internal","10.0.0.1"],"key":{"algo":"ecdsa","size":256}},"profile":"peer"}' > "$work/newcert.json"

node bench/ceiling.mjs 3
run_case() {
  local name=$1 path=$2 body=$3
  echo "== $name: wrk -t1 -c$CONNECTIONS -d$DURATION POST /api/v1/cfssl/$path"
  BODY=$body wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s bench/post.lua "http://127.0.0.1:$port/api/v1/cfssl/$path" \
    | grep -E "Requests/sec|Latency  |50%|90%|99%|Non-2xx|Socket errors|requests in"
  echo "server RSS: $(ps -o rss= -p $server | awk '{printf "%.0f MB", $1/1024}')"
}
run_case "sign, ECDSA P-256 CSR" sign "$work/sign.json"
run_case "newcert, ECDSA P-256 key" newcert "$work/newcert.json"
rows=$(node -e 'const D=require("better-sqlite3");const d=new D(process.argv[1],{readonly:true});console.log(d.prepare("select count(*) n from certificates").get().n)' "$work/data/certs.db")
echo "certificates recorded: $rows"
