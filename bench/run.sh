#!/usr/bin/env bash
# The comparison with the Node SDK (chipchat) in BENCHMARKS.md. Run from the
# repository root:
#
#   ROUNDS=10 SECS=2 bash bench/run.sh [list] [decode] [webhook] [webhook-go] | tee out.txt
#
# (no argument, or all: the first three). webhook runs the SDK's webhook
# handler (both Go toolchains) against an empty one and chipchat's receiver;
# webhook-go the Go receivers alone, on ports PORT_BASE+1..4 (default
# 18191-18194). Both run ROUNDS alternating rounds of SECS seconds per
# receiver; SLICES=n splits each receiver's SECS into n turns, the receivers
# taking turns slice by slice, so that a change in the machine's state during
# a round falls on all of them alike (the header line records it). The load
# generator prints the median over the rounds of each round's SDK ÷ empty
# ratio. CPUPROFILE=FILE profiles the Go 1.27 receivers for
# CPUPROFILE_SECONDS (default 10).
#
# Needs node and npm (installs chipchat into bench/node_modules) and fetches
# Go 1.27.3 through GOTOOLCHAIN.
#
# list and decode run in rounds. A round of a measurement runs each contender
# (the SDK built with Go 1.27.3, the Node SDK, the SDK built with Go 1.26)
# once for SECS seconds, one after the other, the order rotating from round to
# round; list's measurements (meta not read, one Get per conversation, Map per
# conversation) take turns within each round number. Each contender measures
# itself and prints one JSON line (pages, wall seconds, its process's CPU
# seconds, CPU per page, share of a core); this script tags it with the
# measurement, the round and the contender, and after the round prints the
# load average before and after it (/proc/loadavg) and a verdict: a round in
# which a contender got less than half a core (CPU seconds / wall seconds <
# 0.5) was starved by other work on the machine and is refused. At the end
# `jsonbench summary` prints per measurement every round, the medians over the
# accepted rounds, the same-round ratios and the refused count, and the script
# fails if a measurement keeps fewer than MIN_ACCEPTED rounds (default 3).
# The summary of a saved output again: go run ./bench/jsonbench summary out.txt
#
# On a machine other work keeps busy, NICE=-10 runs the page server and the
# contenders at that niceness (negative needs root or CAP_SYS_NICE) so that
# they get a core; the header line says so, and the rule above still applies.
set -euo pipefail
cd "$(dirname "$0")/.."
what=" ${*:-all} "
has() { [[ $what == *" $1 "* || $what == *" all "* ]]; }
ROUNDS=${ROUNDS:-10}
SECS=${SECS:-2}
MIN_ACCEPTED=${MIN_ACCEPTED:-3}
NICE=${NICE:-}
run=()
[ -z "$NICE" ] || run=(nice -n "$NICE")
PAGE=testdata/bench/conversations-200.json
GO_NEW=go1.27.3
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

[ -d bench/node_modules/chipchat ] || (cd bench && npm install --no-audit --no-fund --silent)
go build -o "$tmp/jsonbench-go1.26" ./bench/jsonbench
GOTOOLCHAIN=$GO_NEW go build -o "$tmp/jsonbench-go1.27" ./bench/jsonbench
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) ROUNDS=$ROUNDS SECS=$SECS${SLICES:+ SLICES=$SLICES}${NICE:+ NICE=$NICE} $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- bench internal '*.go' go.mod go.sum || echo ' (uncommitted changes)')"
echo "# $(go version); $(GOTOOLCHAIN=$GO_NEW go version); node $(node --version); chipchat $(node -p 'require("./bench/node_modules/chipchat/package.json").version')"
echo "# $(nproc) CPUs; $(uptime)"
log=$tmp/log

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# contender BENCH ROUND NAME COMMAND...: runs one contender and prints its line
# tagged with the measurement, the round and the contender's name.
contender() {
  local bench=$1 r=$2 name=$3 out
  shift 3
  out=$("${run[@]}" "$@")
  printf '{"bench":"%s","round":%d,"contender":"%s",%s\n' "$bench" "$r" "$name" "${out#\{}" | tee -a "$log" >>"$tmp/round"
  tail -n 1 "$tmp/round"
}

# round BENCH R: runs the contenders of measurement BENCH (the functions
# run_BENCH_go1.27, run_BENCH_node, run_BENCH_go1.26), rotated by R.
round() {
  local bench=$1 r=$2 names=(go1.27 node go1.26) order=() before i
  for i in 0 1 2; do order+=("${names[$(((i + r) % 3))]}"); done
  : >"$tmp/round"
  before=$(loadavg)
  for name in "${order[@]}"; do
    "run_${bench//-/_}" "$bench" "$r" "$name"
  done
  printf '{"bench":"%s","round":%d,"event":"round","loadBefore":"%s","loadAfter":"%s","order":"%s"}\n' \
    "$bench" "$r" "$before" "$(loadavg)" "${order[*]}" | tee -a "$log" >>"$tmp/round"
  tail -n 1 "$tmp/round"
  "$tmp/jsonbench-go1.26" verdict "$tmp/round"
}

run_list() { # BENCH R NAME
  local read=${1#list-}
  case $3 in
    go1.27) contender "$1" "$2" "$3" "$tmp/jsonbench-go1.27" list http://127.0.0.1:18080 "$SECS" "$read" ;;
    go1.26) contender "$1" "$2" "$3" "$tmp/jsonbench-go1.26" list http://127.0.0.1:18080 "$SECS" "$read" ;;
    node) contender "$1" "$2" "$3" node bench/node/list.js http://127.0.0.1:18080 "$SECS" "$read" ;;
  esac
}
run_list_none() { run_list "$@"; }
run_list_get() { run_list "$@"; }
run_list_map() { run_list "$@"; }

run_decode() { # BENCH R NAME
  case $3 in
    go1.27) contender "$1" "$2" "$3" "$tmp/jsonbench-go1.27" decode "$PAGE" "$SECS" ;;
    go1.26) contender "$1" "$2" "$3" "$tmp/jsonbench-go1.26" decode "$PAGE" "$SECS" ;;
    node) contender "$1" "$2" "$3" node bench/node/parse.js "$PAGE" "$SECS" ;;
  esac
}

if has list; then
  echo "== list 200 conversations, meta not read / one Get per conversation / Map per conversation (sequential, one connection)"
  "${run[@]}" "$tmp/jsonbench-go1.26" serve-page 127.0.0.1:18080 "$PAGE" & pids+=($!)
  sleep 1
  for r in $(seq "$ROUNDS"); do
    for read in none get map; do round "list-$read" "$r"; done
  done
fi

if has decode; then
  echo "== decode the page alone (the SDK's codec into []*Conversation; V8's JSON.parse)"
  for r in $(seq "$ROUNDS"); do round decode "$r"; done
fi

if has list || has decode; then
  echo "== summary (rounds with a contender below half a core refused)"
  "$tmp/jsonbench-go1.26" summary "$log" "$MIN_ACCEPTED"
fi

if has webhook; then
  echo "== webhook receivers: events/s (load generator in its own process, 8 connections); load average $(loadavg)"
  "$tmp/jsonbench-go1.27" serve-webhook 127.0.0.1:18091 127.0.0.1:18092 & pids+=($!); p27=$!
  "$tmp/jsonbench-go1.26" serve-webhook 127.0.0.1:18093 127.0.0.1:18094 & pids+=($!); p26=$!
  node bench/node/webhook.js 18095 & pids+=($!); pnode=$!
  sleep 1
  "$tmp/jsonbench-go1.26" load "$SECS" "$ROUNDS" \
    sdk-go1.27=http://127.0.0.1:18091/@$p27 empty-go1.27=http://127.0.0.1:18092/@$p27 \
    sdk-go1.26=http://127.0.0.1:18093/@$p26 empty-go1.26=http://127.0.0.1:18094/@$p26 \
    node-chipchat=http://127.0.0.1:18095/@$pnode
  echo "# load average after the webhook run: $(loadavg)"
fi

if [[ $what == *" webhook-go "* ]]; then
  echo "== webhook receivers, Go only: events/s (load generator in its own process, 8 connections); load average $(loadavg)"
  b=${PORT_BASE:-18190}
  "$tmp/jsonbench-go1.27" serve-webhook 127.0.0.1:$((b+1)) 127.0.0.1:$((b+2)) & pids+=($!); p27=$!
  CPUPROFILE='' "$tmp/jsonbench-go1.26" serve-webhook 127.0.0.1:$((b+3)) 127.0.0.1:$((b+4)) & pids+=($!); p26=$!
  sleep 1
  CPUPROFILE='' "$tmp/jsonbench-go1.26" load "$SECS" "$ROUNDS" \
    sdk-go1.27=http://127.0.0.1:$((b+1))/@$p27 empty-go1.27=http://127.0.0.1:$((b+2))/@$p27 \
    sdk-go1.26=http://127.0.0.1:$((b+3))/@$p26 empty-go1.26=http://127.0.0.1:$((b+4))/@$p26
  echo "# load average after the webhook run: $(loadavg)"
fi
