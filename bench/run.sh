#!/usr/bin/env bash
# The comparison with the Node SDK (chipchat) in BENCHMARKS.md. Run from the
# repository root: bash bench/run.sh [list|decode|webhook|webhook-go|all]
# webhook-go is the webhook receivers of both Go toolchains without Node (no
# npm needed): the SDK's handler against an empty one, ROUNDS alternating
# rounds of SECS seconds per receiver, on ports PORT_BASE+1..4 (18191-18194).
# Needs node and npm (installs chipchat into bench/node_modules) and fetches
# Go 1.27.3 through GOTOOLCHAIN. Each measurement alternates the contenders in
# rounds so load from elsewhere on the machine falls on all alike.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
ROUNDS=${ROUNDS:-4}
SECS=${SECS:-3}
PAGE=testdata/bench/conversations-200.json
GO_NEW=go1.27.3
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

if [ "$what" != webhook-go ]; then
  [ -d bench/node_modules/chipchat ] || (cd bench && npm install --no-audit --no-fund --silent)
  node --version
fi
go build -o "$tmp/jsonbench-go1.26" ./bench/jsonbench
GOTOOLCHAIN=$GO_NEW go build -o "$tmp/jsonbench-go1.27" ./bench/jsonbench
go version; GOTOOLCHAIN=$GO_NEW go version

if [ "$what" = list ] || [ "$what" = all ]; then
  echo "== list 200 conversations: pages/s (sequential, one connection)"
  "$tmp/jsonbench-go1.26" serve-page 127.0.0.1:18080 "$PAGE" & pids+=($!)
  sleep 1
  for r in $(seq "$ROUNDS"); do
    "$tmp/jsonbench-go1.27" list http://127.0.0.1:18080 "$SECS"
    node bench/node/list.js http://127.0.0.1:18080 "$SECS"
    "$tmp/jsonbench-go1.26" list http://127.0.0.1:18080 "$SECS"
  done
fi

if [ "$what" = decode ] || [ "$what" = all ]; then
  echo "== decode the page alone: pages/s"
  for r in $(seq "$ROUNDS"); do
    "$tmp/jsonbench-go1.27" decode "$PAGE" "$SECS"
    node bench/node/parse.js "$PAGE" "$SECS"
    "$tmp/jsonbench-go1.26" decode "$PAGE" "$SECS"
  done
fi

if [ "$what" = webhook ] || [ "$what" = all ]; then
  echo "== webhook receivers: events/s (load generator in its own process, 8 connections)"
  "$tmp/jsonbench-go1.27" serve-webhook 127.0.0.1:18091 127.0.0.1:18092 & pids+=($!); p27=$!
  "$tmp/jsonbench-go1.26" serve-webhook 127.0.0.1:18093 127.0.0.1:18094 & pids+=($!); p26=$!
  node bench/node/webhook.js 18095 & pids+=($!); pnode=$!
  sleep 1
  "$tmp/jsonbench-go1.26" load "$SECS" "$ROUNDS" \
    sdk-go1.27=http://127.0.0.1:18091/@$p27 empty-go1.27=http://127.0.0.1:18092/@$p27 \
    sdk-go1.26=http://127.0.0.1:18093/@$p26 empty-go1.26=http://127.0.0.1:18094/@$p26 \
    node-chipchat=http://127.0.0.1:18095/@$pnode
fi

if [ "$what" = webhook-go ]; then
  echo "== webhook receivers, Go only: events/s (load generator in its own process, 8 connections)"
  b=${PORT_BASE:-18190}
  "$tmp/jsonbench-go1.27" serve-webhook 127.0.0.1:$((b+1)) 127.0.0.1:$((b+2)) & pids+=($!); p27=$!
  "$tmp/jsonbench-go1.26" serve-webhook 127.0.0.1:$((b+3)) 127.0.0.1:$((b+4)) & pids+=($!); p26=$!
  sleep 1
  "$tmp/jsonbench-go1.26" load "$SECS" "$ROUNDS" \
    sdk-go1.27=http://127.0.0.1:$((b+1))/@$p27 empty-go1.27=http://127.0.0.1:$((b+2))/@$p27 \
    sdk-go1.26=http://127.0.0.1:$((b+3))/@$p26 empty-go1.26=http://127.0.0.1:$((b+4))/@$p26
fi
