#!/usr/bin/env bash
# Renders deploy/containerapps/containerapp.yaml.tmpl from the environment
# (or an env file) to stdout, and fails if any ${VAR} is left unset. Needs
# only bash 3.2 and awk (no envsubst).
set -euo pipefail

usage() {
	cat <<'USAGE'
Usage: scripts/render-containerapp.sh [--env-file FILE] > containerapp.yaml

Substitutes these variables (from the environment, or FILE as KEY=VALUE lines):
  LOCATION APP_NAME ENVIRONMENT_ID ENVIRONMENT_DOMAIN ACR_SERVER IMAGE_TAG TENANT_ID BLUEPRINT_APP_ID
  AGENT_CLIENT_ID AGENT_USER_UPN CLIENT_SPA_APP_ID WEATHER_API_APP_ID STS_APP_ID
  STS_APP_URI AWS_REGION AWS_ROLE_ARN BEDROCK_MODEL_ID AGENTCORE_INVOCATION_URL
  MIN_REPLICAS MAX_REPLICAS SCALE_CONCURRENT_REQUESTS
MIN_REPLICAS, MAX_REPLICAS and SCALE_CONCURRENT_REQUESTS default to 1, 3 and 20
(docs/deploy-azure.md, Replicas); AGENT_USER_UPN and AGENTCORE_INVOCATION_URL (the AWS stack's AgentInvocationUrl, for
a chat UI that relays to the agent on AgentCore Runtime) may be empty;
BEDROCK_MODEL_ID defaults to deploy/models/default.env's; every other one is required.
USAGE
}

while (($#)); do
	case $1 in
	--env-file)
		set -a
		# shellcheck source=/dev/null
		. "${2:?--env-file needs a file}"
		set +a
		shift
		;;
	-h | --help) usage; exit 0 ;;
	*) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

vars=(LOCATION APP_NAME ENVIRONMENT_ID ENVIRONMENT_DOMAIN ACR_SERVER IMAGE_TAG TENANT_ID BLUEPRINT_APP_ID AGENT_CLIENT_ID AGENT_USER_UPN
	CLIENT_SPA_APP_ID WEATHER_API_APP_ID STS_APP_ID STS_APP_URI AWS_REGION AWS_ROLE_ARN BEDROCK_MODEL_ID AGENTCORE_INVOCATION_URL
	MIN_REPLICAS MAX_REPLICAS SCALE_CONCURRENT_REQUESTS)
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib/models.sh
. "$here/lib/models.sh"
export BEDROCK_MODEL_ID=${BEDROCK_MODEL_ID:-$(default_model)}
export MIN_REPLICAS=${MIN_REPLICAS:-1} MAX_REPLICAS=${MAX_REPLICAS:-3} SCALE_CONCURRENT_REQUESTS=${SCALE_CONCURRENT_REQUESTS:-20}
missing=()
for v in "${vars[@]}"; do
	if [[ -z ${!v:-} && $v != AGENT_USER_UPN && $v != AGENTCORE_INVOCATION_URL ]]; then
		missing+=("$v")
	fi
done
if ((${#missing[@]})); then
	echo "render-containerapp: set ${missing[*]}" >&2
	exit 1
fi
export AGENT_USER_UPN=${AGENT_USER_UPN:-} AGENTCORE_INVOCATION_URL=${AGENTCORE_INVOCATION_URL:-}

template="$here/../deploy/containerapps/containerapp.yaml.tmpl"
# Each listed variable, written ${NAME} or $NAME, is replaced by its value
# as envsubst with that list would (no envsubst: macOS lacks GNU
# gettext), so any other $ in the template is left alone; awk reads the
# values from its environment.
rendered=$(NAMES="${vars[*]}" awk '
	BEGIN { n = split(ENVIRON["NAMES"], names, " "); for (i = 1; i <= n; i++) listed[names[i]] = 1 }
	{
		line = $0; out = ""
		while ((at = index(line, "$")) > 0) {
			out = out substr(line, 1, at - 1); line = substr(line, at + 1)
			if (substr(line, 1, 1) == "{" && match(line, /^[{][A-Za-z_][A-Za-z0-9_]*[}]/) && (substr(line, 2, RLENGTH - 2) in listed)) {
				out = out ENVIRON[substr(line, 2, RLENGTH - 2)]; line = substr(line, RLENGTH + 1)
			} else if (match(line, /^[A-Za-z_][A-Za-z0-9_]*/) && (substr(line, 1, RLENGTH) in listed)) {
				out = out ENVIRON[substr(line, 1, RLENGTH)]; line = substr(line, RLENGTH + 1)
			} else {
				out = out "$"
			}
		}
		print out line
	}' "$template")
placeholder='[$][{]'
if grep -q "$placeholder" <<<"$rendered"; then
	echo "render-containerapp: placeholders left:" >&2
	grep -n "$placeholder" <<<"$rendered" >&2
	exit 1
fi
printf '%s\n' "$rendered"
