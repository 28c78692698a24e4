#!/usr/bin/env bash
# llm-agent's own cost per turn: four cases of BenchmarkTurn
# (internal/e2e/bench_test.go), each the whole stack in one process on
# loopback with cloudsim's deterministic model and every token cached after
# the first turn. Prints turns/s, p50 and p99 latency, and identity-%, the
# identity step's share of a turn.
#
#   bench/agent.sh                   200 turns per case
#   BENCH_TURNS=1000 bench/agent.sh
#
# The full matrix (24 cases):
#   go test -run '^$' -bench BenchmarkTurn -benchtime 200x ./internal/e2e/
set -euo pipefail
cd "$(dirname "$0")/.."

turns=${BENCH_TURNS:-200}
cases=(
	sidecar/direct/post/users=1
	sidecar/bedrock/ws/users=8
	msal/bedrock/post/users=32
	msal/direct/ws/users=8
)
go test -c -o "${TMPDIR:-/tmp}/agentid-e2e.test" ./internal/e2e/
trap 'rm -f "${TMPDIR:-/tmp}/agentid-e2e.test"' EXIT
for c in "${cases[@]}"; do
	# go test matches -bench one level per '/': anchor each level.
	pattern="BenchmarkTurn/^${c//\//$/^}\$"
	(cd internal/e2e && "${TMPDIR:-/tmp}/agentid-e2e.test" -test.run '^$' -test.bench "$pattern" -test.benchtime "${turns}x") |
		grep '^BenchmarkTurn/' || { echo "bench: case $c did not run" >&2; exit 1; }
done
