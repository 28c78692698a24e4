#!/usr/bin/env bash
# llm-agent's memory under a soak (bench/soak/main.go): cloudsim, the
# Weather API and token-refresher in one process, llm-agent with MSAL in
# process and the load in another, on loopback. 5,000 turns over 2,000
# distinct user tokens (each an on-behalf-of cache partition), then idle
# until those tokens have expired. Prints RSS and the heap after GC before
# the load, at its peak and after idle, and fails when the heap after idle
# is not within the margin of the baseline. Bounded: the load stops after
# 4 minutes, the idle after 8; cloudsim's tokens live 5.5 minutes (MSAL
# reuses a token until 5 minutes before it expires), so a run takes about
# 8 minutes. Not part of CI.
#
#   bench/soak.sh
#   bench/soak.sh -turns 2000 -users 500 -margin-mib 2
set -euo pipefail
cd "$(dirname "$0")/.."

bin="${TMPDIR:-/tmp}/agentid-soak"
go build -o "$bin" ./bench/soak
trap 'rm -f "$bin"' EXIT
"$bin" -turns "${SOAK_TURNS:-5000}" -users "${SOAK_USERS:-2000}" "$@"
