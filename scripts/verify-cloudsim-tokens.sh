#!/usr/bin/env bash
# An independent client for cloudsim: curl gets T1, TR and an OBO token the
# way the Entra docs spell the requests, and Debian's python3-jwt verifies
# each signature against the keys cloudsim publishes. Nothing here shares
# code with cloudsim or MSAL.
#
# Usage: scripts/verify-cloudsim-tokens.sh [cloudsim binary]
set -euo pipefail

case ${1:-} in
-h | --help)
  cat <<'USAGE'
Usage: scripts/verify-cloudsim-tokens.sh [cloudsim binary]

Starts cloudsim (the binary given, else one built from ./cmd/cloudsim) on
loopback with a state folder of its own, gets T1, TR and an on-behalf-of token
with curl as the Entra docs spell the requests, and verifies each signature
with python3-jwt against the keys cloudsim publishes. Needs go (without a
binary), curl and /usr/bin/python3 with the jwt module. CI runs it.
USAGE
  exit 0
  ;;
-*) echo "unknown argument: $1" >&2; exit 2 ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d)"
cloudsim_pid=""
cleanup() {
  if [[ -n "$cloudsim_pid" ]]; then kill "$cloudsim_pid" 2>/dev/null || true; wait "$cloudsim_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

bin="${1:-}"
if [[ -z "$bin" ]]; then
  bin="$work/cloudsim"
  (cd "$root" && go build -o "$bin" ./cmd/cloudsim)
fi

"$bin" -addr 127.0.0.1:0 -identity-addr 127.0.0.1:0 -dir "$work/state" >"$work/cloudsim.log" 2>&1 &
cloudsim_pid=$!
for _ in $(seq 1 100); do
  grep -q "cloudsim ready on" "$work/cloudsim.log" 2>/dev/null && break
  kill -0 "$cloudsim_pid" 2>/dev/null || { cat "$work/cloudsim.log" >&2; exit 1; }
  sleep 0.1
done
grep -q "cloudsim ready on" "$work/cloudsim.log" || { echo "cloudsim did not start" >&2; exit 1; }

set -a
# shellcheck disable=SC1091
. "$work/state/cloudsim.env"
set +a
ca="$work/state/ca.pem"
token_url="$AZURE_AUTHORITY_HOST/$TENANT_ID/oauth2/v2.0/token"
jwt_bearer="urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

# token FORM...: POST the form, print the access token, fail loudly on an error.
token() {
  local args=() body
  for kv in "$@"; do args+=(--data-urlencode "$kv"); done
  body="$(curl -sS --cacert "$ca" "${args[@]}" "$token_url")"
  /usr/bin/python3 -c 'import json,sys; b=json.load(sys.stdin); print(b["access_token"]) if "access_token" in b else sys.exit("token request refused: " + b.get("error_description", str(b)))' <<<"$body"
}

t1="$(token grant_type=client_credentials "client_id=$BLUEPRINT_APP_ID" "client_secret=$BLUEPRINT_CLIENT_SECRET" \
  scope=api://AzureADTokenExchange/.default "fmi_path=$AGENT_CLIENT_ID")"
tr="$(token grant_type=client_credentials "client_id=$AGENT_CLIENT_ID" "client_assertion_type=$jwt_bearer" \
  "client_assertion=$t1" "scope=api://$WEATHER_API_APP_ID/.default")"
tc="$(token grant_type=password "client_id=$CLIENT_SPA_APP_ID" "username=$CLOUDSIM_DEMO_USERNAME" \
  "password=$CLOUDSIM_DEMO_PASSWORD" "scope=api://$BLUEPRINT_APP_ID/access_as_user")"
tu="$(token grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer "client_id=$AGENT_CLIENT_ID" \
  "client_assertion_type=$jwt_bearer" "client_assertion=$t1" "assertion=$tc" requested_token_use=on_behalf_of \
  "scope=api://$WEATHER_API_APP_ID/Weather.Read")"

curl -sS --cacert "$ca" "$AZURE_AUTHORITY_HOST/$TENANT_ID/discovery/v2.0/keys" >"$work/jwks.json"

T1="$t1" TR="$tr" TU="$tu" JWKS="$work/jwks.json" /usr/bin/python3 - <<'PY'
import json, os, sys
import jwt

keys = {k["kid"]: jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(k)) for k in json.load(open(os.environ["JWKS"]))["keys"]}
tid = os.environ["TENANT_ID"]
issuer = f"https://login.microsoftonline.com/{tid}/v2.0"
agent, blueprint, weather = os.environ["AGENT_CLIENT_ID"], os.environ["BLUEPRINT_APP_ID"], os.environ["WEATHER_API_APP_ID"]

def verify(name, token, audience, expect):
    kid = jwt.get_unverified_header(token)["kid"]
    claims = jwt.decode(token, keys[kid], algorithms=["RS256"], audience=audience, issuer=issuer)
    for k, v in expect.items():
        got = claims.get(k)
        ok = v in got if isinstance(got, list) else got == v
        if not ok:
            sys.exit(f"{name}: {k} = {got!r}, want {v!r}")
    print(f"{name}: signature verified, iss/aud/exp checked, {len(expect)} claims as expected")
    return claims

t1 = verify("T1", os.environ["T1"], "fb60f99c-7a34-4190-8149-302f77469936", {"azp": blueprint, "idtyp": "app"})
if not t1["sub"].endswith("/" + agent):
    sys.exit(f"T1 sub {t1['sub']!r} does not name the agent identity")
verify("TR", os.environ["TR"], weather, {"azp": agent, "roles": "Weather.Read", "xms_par_app_azp": blueprint})
verify("TU (OBO)", os.environ["TU"], weather, {"azp": agent, "scp": "Weather.Read", "idtyp": "user"})

try:
    forged = os.environ["TR"][:-4] + ("AAAA" if not os.environ["TR"].endswith("AAAA") else "BBBB")
    verify("forged TR", forged, weather, {})
    sys.exit("a token with a damaged signature verified")
except jwt.InvalidSignatureError:
    print("forged TR: refused as it must be")
PY
echo "independent client: 3 passed, 0 failed"
