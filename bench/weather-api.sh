#!/usr/bin/env bash
# Loopback load test of four servers, all sent the same request (token
# included): a bare net/http handler writing the very bytes weather-api
# answers and doing nothing else (bench/bare), the Weather API's handler
# with token checks replaced by a fixed caller (bench/plain), weather-api
# with a valid token, and weather-api with its validation cache off. The
# servers run in interleaved rounds, so a slow moment of the machine hits
# them all alike; the table shows each one's median requests per second
# and p99 latency.
# Goals: weather-api serves at least 0.8x the bare handler and 0.9x the
# handler without token checks.
#
#   bench/weather-api.sh                     3 rounds of 10 s per server
#   BENCH_DURATION=3s BENCH_ROUNDS=5 bench/weather-api.sh
#   BENCH_ENFORCE=1 bench/weather-api.sh     exit 1 when a goal is missed
#
# Needs go, curl and wrk (Debian: apt-get install wrk). Loopback only.
set -euo pipefail

duration=${BENCH_DURATION:-10s}
rounds=${BENCH_ROUNDS:-3}
connections=${BENCH_CONNECTIONS:-32}
goal_bare=0.80
goal_plain=0.90
cd "$(dirname "$0")/.."

for tool in go curl wrk; do
	command -v "$tool" >/dev/null || { echo "bench: $tool is not installed" >&2; exit 1; }
done

work=$(mktemp -d)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/bin/" ./cmd/cloudsim ./cmd/weather-api ./bench/plain ./bench/bare

# wait_for FILE PATTERN: the first match of PATTERN in FILE, within 20 s.
wait_for() {
	local match
	for _ in $(seq 200); do
		if match=$(grep -oE "$2" "$1" 2>/dev/null | head -1) && [ -n "$match" ]; then
			echo "$match"
			return 0
		fi
		sleep 0.1
	done
	echo "bench: timed out waiting for '$2' in $1:" >&2
	cat "$1" >&2
	return 1
}

"$work/bin/cloudsim" -addr 127.0.0.1:0 -identity-addr 127.0.0.1:0 -dir "$work/cloudsim" 2>"$work/cloudsim.log" &
pids+=($!)
wait_for "$work/cloudsim.log" "cloudsim ready" >/dev/null
set -a
# shellcheck source=/dev/null
. "$work/cloudsim/cloudsim.env"
set +a

LISTEN_ADDR=127.0.0.1:0 WEATHER_PROVIDER=offline "$work/bin/weather-api" 2>"$work/weather-api.log" &
pids+=($!)
LISTEN_ADDR=127.0.0.1:0 WEATHER_PROVIDER=offline VALIDATION_CACHE_TTL=0 "$work/bin/weather-api" 2>"$work/uncached.log" &
pids+=($!)
"$work/bin/plain" 127.0.0.1:0 2>"$work/plain.log" &
pids+=($!)
api=$(wait_for "$work/weather-api.log" "http://127\.0\.0\.1:[0-9]+")
uncached=$(wait_for "$work/uncached.log" "http://127\.0\.0\.1:[0-9]+")
plain=$(wait_for "$work/plain.log" "http://127\.0\.0\.1:[0-9]+")

# TR, as the agent gets it: T1 from the blueprint, then the agent's token
# for the Weather API with T1 as its client assertion.
token_endpoint="$AZURE_AUTHORITY_HOST/$TENANT_ID/oauth2/v2.0/token"
access_token() { sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p'; }
t1=$(curl -sS --cacert "$SSL_CERT_FILE" "$token_endpoint" -d grant_type=client_credentials \
	-d "client_id=$BLUEPRINT_APP_ID" --data-urlencode "client_secret=$BLUEPRINT_CLIENT_SECRET" \
	--data-urlencode "scope=api://AzureADTokenExchange/.default" -d "fmi_path=$AGENT_CLIENT_ID" | access_token)
tr=$(curl -sS --cacert "$SSL_CERT_FILE" "$token_endpoint" -d grant_type=client_credentials \
	-d "client_id=$AGENT_CLIENT_ID" -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer \
	-d "client_assertion=$t1" --data-urlencode "scope=api://$WEATHER_API_APP_ID/.default" | access_token)
[ -n "$tr" ] || { echo "bench: cloudsim issued no token" >&2; exit 1; }

path="/weather?city=Seattle"
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tr" "$api$path")
[ "$status" = 200 ] || { echo "bench: weather-api answered $status to a valid token" >&2; exit 1; }
[ "$(curl -s -o /dev/null -w '%{http_code}' "$api$path")" = 401 ] || { echo "bench: weather-api served a request with no token" >&2; exit 1; }

# The bare server answers with the bytes weather-api just wrote.
curl -sS -o "$work/answer.json" -H "Authorization: Bearer $tr" "$api$path"
"$work/bin/bare" 127.0.0.1:0 "$work/answer.json" 2>"$work/bare.log" &
pids+=($!)
bare=$(wait_for "$work/bare.log" "http://127\.0\.0\.1:[0-9]+")

servers=(bare plain weather-api uncached)
declare -A url=([bare]=$bare [plain]=$plain [weather-api]=$api [uncached]=$uncached)

# measure NAME ROUND: one wrk run against NAME; its "rps p99" goes to
# $work/NAME.results.
measure() {
	local out="$work/$1.$2.wrk"
	wrk -t1 -c"$connections" -d"$duration" --latency -H "Authorization: Bearer $tr" "${url[$1]}$path" >"$out"
	if grep -q "Non-2xx" "$out"; then
		echo "bench: $1 answered errors under load:" >&2
		cat "$out" >&2
		exit 1
	fi
	# p99 in milliseconds, whatever unit wrk chose (us, ms or s).
	awk '/^Requests\/sec:/ {rps = $2}
		$1 == "99%" {p99 = $2 + 0; if ($2 ~ /us$/) p99 /= 1000; else if ($2 !~ /ms$/) p99 *= 1000}
		END {printf "%s %.2fms\n", rps, p99}' "$out" >>"$work/$1.results"
}

# median FILE COLUMN: the median of a column (the lower middle for an even count).
median() { sort -g -k"$2,$2" "$1" | awk -v c="$2" '{v[NR] = $c} END {print v[int((NR + 1) / 2)]}'; }

for name in "${servers[@]}"; do # warm-up, not measured
	wrk -t1 -c"$connections" -d1s -H "Authorization: Bearer $tr" "${url[$name]}$path" >/dev/null
done
for round in $(seq "$rounds"); do
	for name in "${servers[@]}"; do measure "$name" "$round"; done
done

declare -A rps p99
for name in "${servers[@]}"; do
	rps[$name]=$(median "$work/$name.results" 1)
	p99[$name]=$(median "$work/$name.results" 2)
done

printf '%-40s %12s %10s\n' "median of $rounds rounds ($connections connections, $duration)" "requests/s" "p99"
printf '%-40s %12s %10s\n' "bare handler (same bytes, no work)" "${rps[bare]}" "${p99[bare]}"
printf '%-40s %12s %10s\n' "plain handler (no token check)" "${rps[plain]}" "${p99[plain]}"
printf '%-40s %12s %10s\n' "weather-api (valid token)" "${rps[weather-api]}" "${p99[weather-api]}"
printf '%-40s %12s %10s\n' "  same, VALIDATION_CACHE_TTL=0" "${rps[uncached]}" "${p99[uncached]}"

# The goals are for the default settings; the uncached row shows what an
# RS256 verification on every request costs.
missed=0
check() { # LABEL BASELINE GOAL
	local ratio
	ratio=$(awk -v a="${rps[weather-api]}" -v b="${rps[$2]}" 'BEGIN {printf "%.2f", a / b}')
	if awk -v r="$ratio" -v g="$3" 'BEGIN {exit !(r >= g)}'; then
		echo "weather-api / $1: $ratio (goal >= $3: met)"
	else
		echo "weather-api / $1: $ratio (goal >= $3: MISSED)"
		missed=1
	fi
}
check "bare handler" bare "$goal_bare"
check "plain handler" plain "$goal_plain"
if [ "$missed" = 1 ] && [ "${BENCH_ENFORCE:-0}" = 1 ]; then
	exit 1
fi
