#!/usr/bin/env bash
# Loopback load test: weather-api with a valid token against the same
# handler with token checks replaced by a fixed caller (bench/plain), both
# sent the same requests, and weather-api again with its validation cache
# off. Prints requests per second and p99 latency, and the ratio of the
# first two.
# Goal: weather-api serves at least 80% of the baseline's throughput.
#
#   bench/weather-api.sh                 10 s per run
#   BENCH_DURATION=3s bench/weather-api.sh
#   BENCH_ENFORCE=1 bench/weather-api.sh exit 1 when the goal is missed
#
# Needs go, curl and wrk (Debian: apt-get install wrk). Loopback only.
set -euo pipefail

duration=${BENCH_DURATION:-10s}
connections=${BENCH_CONNECTIONS:-32}
goal=0.80
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

go build -o "$work/bin/" ./cmd/cloudsim ./cmd/weather-api ./bench/plain

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

# run NAME URL: warm up, then measure; prints "rps p99". Both servers get
# the same request, token included, so the gap is what checking it costs.
run() {
	local args=(-t1 -c"$connections" --latency -H "Authorization: Bearer $tr")
	wrk "${args[@]}" -d2s "$2$path" >/dev/null
	wrk "${args[@]}" -d"$duration" "$2$path" >"$work/$1.wrk"
	if grep -q "Non-2xx" "$work/$1.wrk"; then
		echo "bench: $1 answered errors under load:" >&2
		cat "$work/$1.wrk" >&2
		exit 1
	fi
	local rps p99
	rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/$1.wrk")
	p99=$(awk '$1 == "99%" {print $2}' "$work/$1.wrk")
	echo "$rps $p99"
}

read -r plain_rps plain_p99 < <(run plain "$plain")
read -r api_rps api_p99 < <(run weather-api "$api")
read -r uncached_rps uncached_p99 < <(run uncached "$uncached")

# The goal is for the default settings; the uncached row shows what an
# RS256 verification on every request costs.
ratio=$(awk -v a="$api_rps" -v p="$plain_rps" 'BEGIN {printf "%.2f", a / p}')
printf '%-34s %12s %10s\n' "server ($connections connections, $duration)" "requests/s" "p99"
printf '%-34s %12s %10s\n' "plain handler (no token check)" "$plain_rps" "$plain_p99"
printf '%-34s %12s %10s\n' "weather-api (valid token)" "$api_rps" "$api_p99"
printf '%-34s %12s %10s\n' "  same, VALIDATION_CACHE_TTL=0" "$uncached_rps" "$uncached_p99"
if awk -v r="$ratio" -v g="$goal" 'BEGIN {exit !(r >= g)}'; then
	echo "ratio: $ratio (goal >= $goal: met)"
else
	echo "ratio: $ratio (goal >= $goal: MISSED)"
	[ "${BENCH_ENFORCE:-0}" != 1 ] || exit 1
fi
