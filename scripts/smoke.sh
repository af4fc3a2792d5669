#!/usr/bin/env bash
# Starts the server the way the README does (`npm start`) on a throwaway data directory, waits for
# "Listening:", runs one passthru job with curl, and stops it with SIGTERM.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Its own process group, so SIGTERM reaches the server behind npm as it would from a terminal.
HOME="$tmp/home" BSUBIO_DATA_DIR="$tmp/data" setsid npm start --silent -- --port 0 >"$tmp/out" 2>"$tmp/err" &
pid=$!
# A slow machine may take a minute to load the server; allow two.
for _ in $(seq 1 600); do grep -q '^Listening: ' "$tmp/out" 2>/dev/null && break; sleep 0.2; done
base=$(sed -n 's/^Listening: //p' "$tmp/out")
[ -n "$base" ] || { echo "smoke: server did not start"; cat "$tmp/err"; exit 1; }
key=$(sed -n 's/.*"api_key": "\([^"]*\)".*/\1/p' "$tmp/home/.config/bsubio/config.json")
job=$(curl -fsS -H "Authorization: Bearer $key" -H 'Content-Type: application/json' -d '{"type":"passthru"}' "$base/v1/jobs")
id=$(echo "$job" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
token=$(echo "$job" | sed -n 's/.*"upload_token":"\([^"]*\)".*/\1/p')
echo "hello bsubio" >"$tmp/in.txt"
curl -fsS -F "file=@$tmp/in.txt" "$base/v1/upload/$id?token=$token" >/dev/null
curl -fsS -X POST -H "Authorization: Bearer $key" "$base/v1/jobs/$id/submit" >/dev/null
curl -fsS -H "Authorization: Bearer $key" "$base/v1/jobs/$id?wait=30" | grep -q '"status":"finished"'
out=$(curl -fsS -H "Authorization: Bearer $key" "$base/v1/jobs/$id/output")
[ "$out" = "hello bsubio" ] || { echo "smoke: unexpected output '$out'"; exit 1; }
kill -TERM -- "-$pid"
code=0; wait "$pid" || code=$?
echo "smoke: server exited with $code"
echo "smoke: ok ($base)"
