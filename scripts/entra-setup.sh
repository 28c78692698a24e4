#!/usr/bin/env bash
# Creates the Entra side of the agent: the agent identity blueprint (with
# its access_as_user scope and principal), an agent identity, the Weather
# API app, the chat UI's SPA app, the intermediary STS app (v1 tokens), and
# the grants between them; adds a local-development secret to the
# blueprint, checks T1 -> TR, and writes a .env for compose. With
# --federated-credential it instead adds the managed identity's federated
# credentials to the blueprint and the STS app (Container Apps); with
# --aws-role and --aws-issuer, the blueprint's federated credential for an
# AWS role's GetWebIdentityToken tokens (AgentCore Runtime).
set -euo pipefail

usage() {
	cat <<'USAGE'
Usage: scripts/entra-setup.sh --tenant-id ID [--name PREFIX] [--env-file FILE] [--dry-run]
       scripts/entra-setup.sh --tenant-id ID --federated-credential MI_OBJECT_ID --env-file FILE [--dry-run]
       scripts/entra-setup.sh --tenant-id ID --aws-role ROLE_ARN --aws-issuer ISSUER_URL --env-file FILE [--dry-run]

  --tenant-id             the tenant
  --name                  display name prefix, default agentid
  --env-file              where IDs are read from and written to, default deploy/compose/.env
  --federated-credential  the managed identity's object ID: trust it from the blueprint and the STS app
  --aws-role, --aws-issuer  an IAM role's ARN and the account's outbound identity federation issuer:
                          the blueprint trusts the role's STS GetWebIdentityToken tokens
  --dry-run               print the changing Graph calls instead of making them (lookups still run)

Signs you in with the device code flow for the Microsoft Graph Command Line Tools
client: az's Graph token cannot call the Agent ID APIs (it carries
Directory.AccessAsUser.All, which they refuse). You need the Agent ID Developer or
Agent ID Administrator role, and curl and jq. The agent user is not created here:
create it in the Entra admin center and set AGENT_USER_UPN.
USAGE
}

tenant='' name=agentid env_file=deploy/compose/.env mi_oid='' aws_role='' aws_issuer='' dry_run=false
while (($#)); do
	case $1 in
	--tenant-id) tenant=${2:?}; shift ;;
	--name) name=${2:?}; shift ;;
	--env-file) env_file=${2:?}; shift ;;
	--federated-credential) mi_oid=${2:?}; shift ;;
	--aws-role) aws_role=${2:?}; shift ;;
	--aws-issuer) aws_issuer=${2:?}; shift ;;
	--dry-run) dry_run=true ;;
	-h | --help) usage; exit 0 ;;
	*) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
[[ -n $tenant ]] || { usage >&2; exit 2; }
[[ -z $aws_role$aws_issuer || (-n $aws_role && -n $aws_issuer) ]] || { echo "entra-setup: --aws-role and --aws-issuer go together" >&2; exit 2; }

login="https://login.microsoftonline.com/${tenant}"
graph_api="https://graph.microsoft.com/v1.0"
# Microsoft Graph Command Line Tools: a Microsoft public client that can
# ask for the Agent ID scopes by device code.
cli_client=14d82eec-204b-4c2f-b7e8-296a70dab67e
scopes="https://graph.microsoft.com/AgentIdentityBlueprint.Create https://graph.microsoft.com/AgentIdentityBlueprint.AddRemoveCreds.All \
https://graph.microsoft.com/AgentIdentityBlueprintPrincipal.Create https://graph.microsoft.com/AgentIdentity.Create.All \
https://graph.microsoft.com/Application.ReadWrite.All https://graph.microsoft.com/AppRoleAssignment.ReadWrite.All \
https://graph.microsoft.com/DelegatedPermissionGrant.ReadWrite.All https://graph.microsoft.com/User.Read offline_access"

json() { jq -r "$1"; }

device_code_token() {
	local dc code interval token
	dc=$(curl -sS -X POST "${login}/oauth2/v2.0/devicecode" --data-urlencode "client_id=${cli_client}" --data-urlencode "scope=${scopes}")
	json .message <<<"$dc" >&2
	code=$(json .device_code <<<"$dc")
	interval=$(json '.interval // 5' <<<"$dc")
	while :; do
		token=$(curl -sS -X POST "${login}/oauth2/v2.0/token" --data-urlencode "client_id=${cli_client}" \
			--data-urlencode "grant_type=urn:ietf:params:oauth:grant-type:device_code" --data-urlencode "device_code=${code}")
		case $(json '.error // empty' <<<"$token") in
		"") json .access_token <<<"$token"; return ;;
		authorization_pending | slow_down) sleep "$interval" ;;
		*) echo "entra-setup: sign-in failed: $(json .error_description <<<"$token")" >&2; exit 1 ;;
		esac
	done
}

# graph METHOD PATH [BODY]: a lookup runs always; a change is printed in a dry run.
graph() {
	local method=$1 path=$2 body=${3:-}
	if $dry_run && [[ $method != GET ]]; then
		printf 'would call: %s %s %s\n' "$method" "$path" "$body" >&2
		echo '{"id":"dry-run-id","appId":"dry-run-appid"}'
		return
	fi
	local args=(-sS -X "$method" -H "Authorization: Bearer ${token}" -H "Content-Type: application/json" "${graph_api}${path}")
	[[ -z $body ]] || args+=(--data "$body")
	curl "${args[@]}"
}

# setting NAME reads NAME from the env file, if it has one.
setting() {
	if [[ -f $env_file ]]; then
		sed -n "s/^$1=//p" "$env_file" | tail -1
	fi
}

token=$(device_code_token)

me=$(graph GET /me | json .id)
roles=$(graph GET "/me/memberOf/microsoft.graph.directoryRole?\$select=displayName" | json '[.value[].displayName] | join(",")')
if ! grep -qE 'Agent ID (Developer|Administrator)|Global Administrator' <<<"$roles"; then
	echo "entra-setup: you need the Agent ID Developer or Agent ID Administrator role (you have: ${roles:-none})" >&2
	exit 1
fi

if [[ -n $mi_oid ]]; then
	bp_obj=$(graph GET "/applications(appId='$(setting BLUEPRINT_APP_ID)')?\$select=id" | json .id)
	sts_obj=$(graph GET "/applications(appId='$(setting STS_APP_ID)')?\$select=id" | json .id)
	fic=$(printf '{"name":"container-app-managed-identity","issuer":"%s/v2.0","subject":"%s","audiences":["api://AzureADTokenExchange"]}' "$login" "$mi_oid")
	graph POST "/applications/${bp_obj}/microsoft.graph.agentIdentityBlueprint/federatedIdentityCredentials" "$fic" >/dev/null
	graph POST "/applications/${sts_obj}/federatedIdentityCredentials" "$fic" >/dev/null
	echo "entra-setup: the blueprint and the STS app now trust managed identity ${mi_oid}" >&2
	exit 0
fi

if [[ -n $aws_role ]]; then
	bp_obj=$(graph GET "/applications(appId='$(setting BLUEPRINT_APP_ID)')?\$select=id" | json .id)
	fic=$(jq -cn --arg iss "$aws_issuer" --arg sub "$aws_role" '{name:"aws-agentcore-role",issuer:$iss,subject:$sub,audiences:["api://AzureADTokenExchange"]}')
	graph POST "/applications/${bp_obj}/microsoft.graph.agentIdentityBlueprint/federatedIdentityCredentials" "$fic" >/dev/null
	echo "entra-setup: the blueprint now trusts ${aws_role}'s tokens from ${aws_issuer}" >&2
	exit 0
fi

# The blueprint, its access_as_user scope and its principal. Key lookups
# (applications(appId='…')) because $filter=appId does not find blueprints.
bp_app=$(setting BLUEPRINT_APP_ID)
if [[ -z $bp_app ]] || [[ $(graph GET "/applications(appId='${bp_app}')?\$select=id" | json '.id // empty') == "" ]]; then
	bp=$(graph POST /applications/microsoft.graph.agentIdentityBlueprint \
		"{\"displayName\":\"${name} blueprint\",\"sponsors@odata.bind\":[\"${graph_api}/users/${me}\"],\"owners@odata.bind\":[\"${graph_api}/users/${me}\"]}")
	bp_app=$(json .appId <<<"$bp")
fi
bp_obj=$(graph GET "/applications(appId='${bp_app}')?\$select=id" | json .id)
scope_id=$(cat /proc/sys/kernel/random/uuid 2>/dev/null || uuidgen)
# Its web redirect URIs are where Entra returns the browser after a user
# consents to the agent identity (the chat UI's consent.html).
graph PATCH "/applications/${bp_obj}" "{\"web\":{\"redirectUris\":[\"http://localhost:3001/consent.html\",\"http://127.0.0.1:3001/consent.html\"]},\"identifierUris\":[\"api://${bp_app}\"],\"api\":{\"requestedAccessTokenVersion\":2,\"oauth2PermissionScopes\":[{\"id\":\"${scope_id}\",\"value\":\"access_as_user\",\"type\":\"User\",\"isEnabled\":true,\"adminConsentDisplayName\":\"Use the agent as you\",\"adminConsentDescription\":\"Lets the chat UI call the agent on behalf of the signed-in user.\"}]}}" >/dev/null
bp_sp=$(graph POST /servicePrincipals/microsoft.graph.agentIdentityBlueprintPrincipal "{\"appId\":\"${bp_app}\"}" | json .id)

agent=$(setting AGENT_CLIENT_ID)
if [[ -z $agent ]]; then
	agent=$(graph POST /servicePrincipals/microsoft.graph.agentIdentity \
		"{\"displayName\":\"${name} agent\",\"agentIdentityBlueprintId\":\"${bp_app}\",\"sponsors@odata.bind\":[\"${graph_api}/users/${me}\"]}" | json .appId)
fi
agent_sp=$(graph GET "/servicePrincipals(appId='${agent}')?\$select=id" | json .id)

# create_app NAME JSON: an ordinary app registration and its principal.
create_app() {
	local app
	app=$(graph POST /applications "$2" | json .appId)
	graph PATCH "/applications(appId='${app}')" "{\"identifierUris\":[\"api://${app}\"]}" >/dev/null
	graph POST /servicePrincipals "{\"appId\":\"${app}\"}" >/dev/null
	echo "$app"
}

weather=$(setting WEATHER_API_APP_ID)
role_id=$(cat /proc/sys/kernel/random/uuid 2>/dev/null || uuidgen)
weather_scope=$(cat /proc/sys/kernel/random/uuid 2>/dev/null || uuidgen)
[[ -n $weather ]] || weather=$(create_app weather "{\"displayName\":\"${name} weather API\",\"api\":{\"requestedAccessTokenVersion\":2,\"oauth2PermissionScopes\":[{\"id\":\"${weather_scope}\",\"value\":\"Weather.Read\",\"type\":\"User\",\"isEnabled\":true,\"adminConsentDisplayName\":\"Read weather\",\"adminConsentDescription\":\"Read the weather.\"}]},\"appRoles\":[{\"id\":\"${role_id}\",\"value\":\"Weather.Read\",\"allowedMemberTypes\":[\"Application\"],\"isEnabled\":true,\"displayName\":\"Read weather\",\"description\":\"Read the weather.\"}]}")
weather_sp=$(graph GET "/servicePrincipals(appId='${weather}')?\$select=id,appRoles" )
weather_sp_id=$(json .id <<<"$weather_sp")
weather_role=$(json '.appRoles[] | select(.value=="Weather.Read") | .id' <<<"$weather_sp")

spa=$(setting CLIENT_SPA_APP_ID)
[[ -n $spa ]] || spa=$(create_app spa "{\"displayName\":\"${name} chat UI\",\"spa\":{\"redirectUris\":[\"http://localhost:3001\",\"http://127.0.0.1:3001\"]},\"requiredResourceAccess\":[{\"resourceAppId\":\"${bp_app}\",\"resourceAccess\":[{\"id\":\"${scope_id}\",\"type\":\"Scope\"}]}]}")
spa_sp=$(graph GET "/servicePrincipals(appId='${spa}')?\$select=id" | json .id)

# The intermediary app AWS STS trusts: v1 tokens, so iss is sts.windows.net.
sts=$(setting STS_APP_ID)
[[ -n $sts ]] || sts=$(create_app sts "{\"displayName\":\"${name} AWS STS federation\",\"api\":{\"requestedAccessTokenVersion\":1}}")
sts_sp=$(graph GET "/servicePrincipals(appId='${sts}')?\$select=id" | json .id)

# Grants: the agent's app role and delegated scope on the Weather API, the
# SPA's access_as_user on the blueprint, all admin-consented.
graph POST "/servicePrincipals/${agent_sp}/appRoleAssignments" "{\"principalId\":\"${agent_sp}\",\"resourceId\":\"${weather_sp_id}\",\"appRoleId\":\"${weather_role}\"}" >/dev/null
graph POST /oauth2PermissionGrants "{\"clientId\":\"${agent_sp}\",\"consentType\":\"AllPrincipals\",\"resourceId\":\"${weather_sp_id}\",\"scope\":\"Weather.Read\"}" >/dev/null
graph POST /oauth2PermissionGrants "{\"clientId\":\"${spa_sp}\",\"consentType\":\"AllPrincipals\",\"resourceId\":\"${bp_sp}\",\"scope\":\"access_as_user\"}" >/dev/null

# A local-development secret for the blueprint (compose against the real
# tenant); Container Apps uses the managed identity instead.
secret=$(graph POST "/applications/${bp_obj}/microsoft.graph.agentIdentityBlueprint/addPassword" '{"passwordCredential":{"displayName":"local compose"}}' | json .secretText)

# Smoke check: T1 for the agent, then TR for the Weather API.
if ! $dry_run; then
	t1=$(curl -sS -X POST "${login}/oauth2/v2.0/token" --data-urlencode grant_type=client_credentials --data-urlencode "client_id=${bp_app}" \
		--data-urlencode "client_secret=${secret}" --data-urlencode "scope=api://AzureADTokenExchange/.default" --data-urlencode "fmi_path=${agent}" | json '.access_token // empty')
	tr=$(curl -sS -X POST "${login}/oauth2/v2.0/token" --data-urlencode grant_type=client_credentials --data-urlencode "client_id=${agent}" \
		--data-urlencode client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer --data-urlencode "client_assertion=${t1}" \
		--data-urlencode "scope=api://${weather}/.default" | json '.access_token // empty')
	if [[ -z $t1 || -z $tr ]]; then
		echo "entra-setup: the T1 -> TR smoke check failed (new objects can take a minute to replicate; run again)" >&2
		exit 1
	fi
	echo "entra-setup: T1 -> TR works" >&2
fi

mkdir -p "$(dirname "$env_file")"
cat >"$env_file" <<ENV
TENANT_ID=${tenant}
BLUEPRINT_APP_ID=${bp_app}
BLUEPRINT_CLIENT_SECRET=${secret}
AGENT_CLIENT_ID=${agent}
AGENT_USER_UPN=$(setting AGENT_USER_UPN)
CLIENT_SPA_APP_ID=${spa}
WEATHER_API_APP_ID=${weather}
STS_APP_ID=${sts}
STS_APP_URI=api://${sts}
STS_SP_OBJECT_ID=${sts_sp}
ENV
chmod 600 "$env_file"
echo "entra-setup: wrote ${env_file}" >&2
