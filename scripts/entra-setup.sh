#!/usr/bin/env bash
# Creates the Entra side of the agent: the agent identity blueprint (with
# its access_as_user scope and principal), an agent identity and its agent
# user, the Weather API app, the chat UI's SPA app, the intermediary STS app
# (v1 tokens), and the grants between them; adds a local-development secret
# to the blueprint, checks T1 -> TR, and writes every ID to the env file as
# soon as it exists. A rerun finds what the env file names and creates
# nothing twice. With --federated-credential it instead trusts a managed
# identity from the blueprint and the STS app (Container Apps); with
# --aws-role and --aws-issuer, an AWS role's GetWebIdentityToken tokens
# (AgentCore Runtime).
set -euo pipefail

usage() {
	cat <<'USAGE'
Usage: scripts/entra-setup.sh --tenant-id ID [--name PREFIX] [--env-file FILE] [--dry-run]
       scripts/entra-setup.sh --tenant-id ID --federated-credential MI_OBJECT_ID [--public-origin URL] --env-file FILE [--dry-run]
       scripts/entra-setup.sh --tenant-id ID --aws-role ROLE_ARN --aws-issuer ISSUER_URL --env-file FILE [--dry-run]

  --tenant-id             the tenant
  --name                  display name prefix, default agentid
  --env-file              where IDs are read from and written to, default deploy/compose/.env
  --federated-credential  the managed identity's object ID: trust it from the blueprint and the STS app
  --public-origin         with --federated-credential: the deployed chat UI's origin (https://<fqdn>),
                          added to the SPA's and the blueprint's redirect URIs
  --aws-role, --aws-issuer  an IAM role's ARN and the account's outbound identity federation issuer:
                          the blueprint trusts the role's STS GetWebIdentityToken tokens
  --dry-run               print the changing Graph calls instead of making them (lookups still run)

Signs you in with the device code flow for the Microsoft Graph Command Line Tools
client (az's Graph token carries Directory.AccessAsUser.All, with which Graph refuses
every Agent ID write), asking for the least privileged permission of each call it
makes. You need the Agent ID Developer role, or Agent ID Administrator to create the
agent user too, and curl and jq. AZURE_AUTHORITY_HOST and GRAPH_URL move the sign-in
and Graph hosts (cloudsim's cloudsim.env sets both); curl trusts CURL_CA_BUNDLE, else
SSL_CERT_FILE.
USAGE
}

tenant='' name=agentid env_file=deploy/compose/.env mi_oid='' origin='' aws_role='' aws_issuer='' dry_run=false
while (($#)); do
	case $1 in
	--tenant-id) tenant=${2:?}; shift ;;
	--name) name=${2:?}; shift ;;
	--env-file) env_file=${2:?}; shift ;;
	--federated-credential) mi_oid=${2:?}; shift ;;
	--public-origin) origin=${2:?}; shift ;;
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
[[ -z $origin || -n $mi_oid ]] || { echo "entra-setup: --public-origin goes with --federated-credential" >&2; exit 2; }

authority=${AZURE_AUTHORITY_HOST:-https://login.microsoftonline.com}
login="${authority%/}/${tenant}"
graph_host=${GRAPH_URL:-https://graph.microsoft.com}
graph_api="${graph_host%/}/v1.0"
# Entra's v2 issuer, the same whichever host serves the sign-in.
issuer_v2="https://login.microsoftonline.com/${tenant}/v2.0"
tls=()
if [[ -z ${CURL_CA_BUNDLE:-} && -n ${SSL_CERT_FILE:-} ]]; then tls=(--cacert "$SSL_CERT_FILE"); fi
# Microsoft Graph Command Line Tools: a Microsoft public client that can
# ask for the Agent ID permissions by device code.
cli_client=14d82eec-204b-4c2f-b7e8-296a70dab67e

# The permissions each mode needs: for each call, the least privileged its
# Graph page lists (per property for a blueprint's update), and
# RoleManagement.Read.Directory for the role check, without which Graph
# returns directory roles with no name.
needed=(User.Read RoleManagement.Read.Directory)
if [[ -n $mi_oid ]]; then
	needed+=(AgentIdentityBlueprint.AddRemoveCreds.All Application.ReadWrite.All)
	[[ -z $origin ]] || needed+=(AgentIdentityBlueprint.UpdateAuthProperties.All)
elif [[ -n $aws_role ]]; then
	needed+=(AgentIdentityBlueprint.AddRemoveCreds.All Application.Read.All)
else
	needed+=(AgentIdentityBlueprint.Create AgentIdentityBlueprint.UpdateAuthProperties.All AgentIdentityBlueprint.AddRemoveCreds.All
		AgentIdentityBlueprintPrincipal.Create AgentIdentity.Create.All Application.ReadWrite.All AppRoleAssignment.ReadWrite.All
		DelegatedPermissionGrant.ReadWrite.All AgentIdUser.ReadWrite.IdentityParentedBy)
fi
scopes="offline_access"
for p in "${needed[@]}"; do scopes+=" https://graph.microsoft.com/${p}"; done

json() { jq -r "$1"; }
uuid() { cat /proc/sys/kernel/random/uuid 2>/dev/null || uuidgen; }

device_code_token() {
	local dc code interval token
	dc=$(curl -sS "${tls[@]}" -X POST "${login}/oauth2/v2.0/devicecode" --data-urlencode "client_id=${cli_client}" --data-urlencode "scope=${scopes}")
	[[ $(json '.device_code // empty' <<<"$dc") ]] || { echo "entra-setup: the device code request failed: $(json '.error_description // .' <<<"$dc")" >&2; exit 1; }
	json .message <<<"$dc" >&2
	code=$(json .device_code <<<"$dc")
	interval=$(json '.interval // 5' <<<"$dc")
	while :; do
		token=$(curl -sS "${tls[@]}" -X POST "${login}/oauth2/v2.0/token" --data-urlencode "client_id=${cli_client}" \
			--data-urlencode "grant_type=urn:ietf:params:oauth:grant-type:device_code" --data-urlencode "device_code=${code}")
		case $(json '.error // empty' <<<"$token") in
		"") json .access_token <<<"$token"; return ;;
		authorization_pending) sleep "$interval" ;;
		slow_down) interval=$((interval + 5)); sleep "$interval" ;;
		*) echo "entra-setup: sign-in failed: $(json .error_description <<<"$token")" >&2; exit 1 ;;
		esac
	done
}

# claims prints a JWT's payload (read, not verified: the script only looks
# at what it was given).
claims() {
	local p=${1#*.}
	p=${p%%.*}
	p=$(tr '_-' '/+' <<<"$p")
	while ((${#p} % 4)); do p+='='; done
	base64 -d <<<"$p"
}

# request METHOD PATH [BODY]: a Graph call; prints the body and returns 0
# on 2xx, else prints "<status> <code>: <message>" and returns 1.
request() {
	local method=$1 path=$2 body=${3:-} out status
	out=$(mktemp)
	local args=(-sS "${tls[@]}" -o "$out" -w '%{http_code}' -X "$method" -H "@${auth_header}" -H "Content-Type: application/json")
	[[ -z $body ]] || args+=(--data "$body")
	status=$(curl "${args[@]}" "${graph_api}${path}")
	if [[ $status == 2* ]]; then
		cat "$out"
		rm -f "$out"
		return 0
	fi
	printf '%s %s\n' "$status" "$(jq -r '(.error.code // "?") + ": " + (.error.message // "")' "$out" 2>/dev/null)"
	rm -f "$out"
	return 1
}

# graph METHOD PATH [BODY]: a call that must succeed; a failure stops the
# script with Graph's code and message. A change is only printed in a dry run.
graph() {
	local method=$1 path=$2 body=${3:-} out
	if $dry_run && [[ $method != GET ]]; then
		printf 'would call: %s %s %s\n' "$method" "$path" "$body" >&2
		echo '{"id":"dry-run-id","appId":"dry-run-appid"}'
		return
	fi
	if $dry_run && [[ $path == *dry-run* ]]; then
		# A lookup of what the dry run only pretended to create.
		echo '{"id":"dry-run-id","appId":"dry-run-appid","appRoles":[{"value":"Weather.Read","id":"dry-run-role"}],"value":[]}'
		return
	fi
	if ! out=$(request "$method" "$path" "$body"); then
		echo "entra-setup: ${method} ${path%%\?*} failed: ${out}" >&2
		exit 1
	fi
	printf '%s\n' "$out"
}

# exists PATH: the object at PATH, or nothing when Graph says 404.
exists() {
	local out
	if $dry_run && [[ $1 == *dry-run* ]]; then
		graph GET "$1"
	elif out=$(request GET "$1"); then
		printf '%s\n' "$out"
	elif [[ $out != 404* ]]; then
		echo "entra-setup: GET ${1%%\?*} failed: ${out}" >&2
		exit 1
	fi
}

# by_name LIST NAME: the one object of the list at LIST whose displayName
# is NAME, for a rerun whose env file lost an ID; nothing when there is
# none. Several stop the script: only a saved ID can choose.
by_name() {
	local filter found
	filter=$(jq -rn --arg v "$2" --arg q "'" '"displayName eq " + $q + ($v | gsub($q; $q + $q)) + $q | @uri')
	found=$(graph GET "${1}?\$filter=${filter}")
	case $(json '.value | length' <<<"$found") in
	0) ;;
	1) json '.value[0]' <<<"$found" ;;
	*)
		echo "entra-setup: several objects at ${1} are named '${2}'; put the ID of the one to use in ${env_file}" >&2
		exit 1
		;;
	esac
}

# setting NAME reads NAME from the env file, if it has one.
setting() {
	if [[ -f $env_file ]]; then
		sed -n "s/^$1=//p" "$env_file" | tail -1
	fi
}

# save NAME VALUE writes NAME to the env file at once, so a failure later
# leaves what exists where a rerun finds it.
save() {
	$dry_run && return
	mkdir -p "$(dirname "$env_file")"
	touch "$env_file"
	chmod 600 "$env_file"
	local tmp
	tmp=$(mktemp)
	awk -v k="$1" -v v="$2" 'BEGIN { FS = "=" } $1 == k { print k "=" v; done = 1; next } { print } END { if (!done) print k "=" v }' "$env_file" >"$tmp"
	cat "$tmp" >"$env_file"
	rm -f "$tmp"
}

token=$(device_code_token)
# Secrets go to curl from files, never on its command line, where other
# users of the machine could read them (ps).
private=$(mktemp -d)
trap 'rm -rf "$private"' EXIT
auth_header="${private}/authorization"
printf 'Authorization: Bearer %s\n' "$token" >"$auth_header"

# Before any write: the token must carry every permission this mode needs,
# and neither permission that makes Graph ignore the Agent ID ones.
scp=" $(claims "$token" | json '.scp // ""') "
for bad in Directory.AccessAsUser.All Directory.ReadWrite.All; do
	if [[ $scp == *" $bad "* ]]; then
		echo "entra-setup: the token carries $bad (consented to this client in the tenant), with which Graph refuses every Agent ID write (403); revoke that grant for the Microsoft Graph Command Line Tools and run again" >&2
		exit 1
	fi
done
missing=()
for p in "${needed[@]}"; do [[ $scp == *" $p "* ]] || missing+=("$p"); done
if ((${#missing[@]})); then
	echo "entra-setup: the token lacks ${missing[*]}: consent to it (an admin can for the tenant) and run again; nothing was changed" >&2
	exit 1
fi

me_json=$(graph GET /me)
me=$(json .id <<<"$me_json")
roles=$(graph GET "/me/memberOf/microsoft.graph.directoryRole?\$select=displayName" | json '[.value[].displayName // empty] | join(",")')
if ! grep -qE 'Agent ID (Developer|Administrator)|Global Administrator' <<<"$roles"; then
	echo "entra-setup: you need the Agent ID Developer or Agent ID Administrator role (you have: ${roles:-none})" >&2
	exit 1
fi

# ensure_fic APP_OBJECT PATH NAME ISSUER SUBJECT: a federated credential,
# unless the app has one for that issuer and subject.
ensure_fic() {
	local app=$1 path=$2 fic
	if graph GET "/applications/${app}${path}" | jq -e --arg i "$4" --arg s "$5" '.value | any(.issuer == $i and .subject == $s)' >/dev/null; then
		return
	fi
	fic=$(jq -cn --arg n "$3" --arg i "$4" --arg s "$5" '{name: $n, issuer: $i, subject: $s, audiences: ["api://AzureADTokenExchange"]}')
	graph POST "/applications/${app}${path}" "$fic" >/dev/null
}

if [[ -n $mi_oid$aws_role ]]; then
	for k in BLUEPRINT_APP_ID $([[ -n $mi_oid ]] && echo STS_APP_ID); do
		[[ -n $(setting "$k") ]] || { echo "entra-setup: ${env_file} has no ${k}: run entra-setup.sh without --federated-credential or --aws-role first" >&2; exit 1; }
	done
fi

if [[ -n $mi_oid ]]; then
	bp_obj=$(graph GET "/applications(appId='$(setting BLUEPRINT_APP_ID)')?\$select=id" | json .id)
	sts_obj=$(graph GET "/applications(appId='$(setting STS_APP_ID)')?\$select=id" | json .id)
	ensure_fic "$bp_obj" /microsoft.graph.agentIdentityBlueprint/federatedIdentityCredentials container-app-managed-identity "$issuer_v2" "$mi_oid"
	ensure_fic "$sts_obj" /federatedIdentityCredentials container-app-managed-identity "$issuer_v2" "$mi_oid"
	if [[ -n $origin ]]; then
		# The deployed UI's consent page is where Entra returns a user who
		# consented to the agent: the blueprint's web redirect URI. az's
		# Graph token cannot update a blueprint, so containerapps.sh cannot.
		web=$(graph GET "/applications/${bp_obj}" | jq -c --arg u "${origin%/}/consent.html" '{web: {redirectUris: ((.web.redirectUris // []) + [$u] | unique)}}')
		graph PATCH "/applications/${bp_obj}" "$web" >/dev/null
	fi
	echo "entra-setup: the blueprint and the STS app now trust managed identity ${mi_oid} (a new federated credential can take a couple of minutes to replicate; token-refresher retries meanwhile)" >&2
	exit 0
fi

if [[ -n $aws_role ]]; then
	bp_obj=$(graph GET "/applications(appId='$(setting BLUEPRINT_APP_ID)')?\$select=id" | json .id)
	ensure_fic "$bp_obj" /microsoft.graph.agentIdentityBlueprint/federatedIdentityCredentials aws-agentcore-role "$aws_issuer" "$aws_role"
	echo "entra-setup: the blueprint now trusts ${aws_role}'s tokens from ${aws_issuer} (a new federated credential can take a couple of minutes to replicate)" >&2
	exit 0
fi

redirects='["http://localhost:3000/consent.html","http://127.0.0.1:3000/consent.html","http://localhost:3001/consent.html","http://127.0.0.1:3001/consent.html"]'

# The blueprint, found by the ID the env file saved, else created. Key
# lookups (applications(appId='…')) because $filter=appId does not find
# blueprints.
bp_app=$(setting BLUEPRINT_APP_ID)
if [[ -z $bp_app || -z $(exists "/applications(appId='${bp_app}')?\$select=id") ]]; then
	bp_app=$(by_name /applications/microsoft.graph.agentIdentityBlueprint "${name} blueprint" | json '.appId // empty')
	[[ -n $bp_app ]] || bp_app=$(graph POST /applications/microsoft.graph.agentIdentityBlueprint \
		"{\"displayName\":\"${name} blueprint\",\"sponsors@odata.bind\":[\"${graph_api}/users/${me}\"],\"owners@odata.bind\":[\"${graph_api}/users/${me}\"]}" | json .appId)
	save BLUEPRINT_APP_ID "$bp_app"
fi
bp=$(graph GET "/applications(appId='${bp_app}')")
bp_obj=$(json .id <<<"$bp")
# Its access_as_user scope keeps the ID it has: Graph refuses to change or
# remove an enabled scope.
scope_id=$(json '.api.oauth2PermissionScopes // [] | map(select(.value == "access_as_user")) | .[0].id // empty' <<<"$bp")
[[ -n $scope_id ]] || scope_id=$(uuid)
graph PATCH "/applications/${bp_obj}" "{\"web\":{\"redirectUris\":${redirects}},\"identifierUris\":[\"api://${bp_app}\"],\"api\":{\"requestedAccessTokenVersion\":2,\"oauth2PermissionScopes\":[{\"id\":\"${scope_id}\",\"value\":\"access_as_user\",\"type\":\"User\",\"isEnabled\":true,\"adminConsentDisplayName\":\"Use the agent as you\",\"adminConsentDescription\":\"Lets the chat UI call the agent on behalf of the signed-in user.\"}]}}" >/dev/null
bp_sp=$(exists "/servicePrincipals(appId='${bp_app}')?\$select=id" | json '.id // empty')
[[ -n $bp_sp ]] || bp_sp=$(graph POST /servicePrincipals/microsoft.graph.agentIdentityBlueprintPrincipal "{\"appId\":\"${bp_app}\"}" | json .id)

agent=$(setting AGENT_CLIENT_ID)
if [[ -z $agent || -z $(exists "/servicePrincipals/${agent}?\$select=id") ]]; then
	agent=$(by_name /servicePrincipals/microsoft.graph.agentIdentity "${name} agent" | json '.appId // empty')
	[[ -n $agent ]] || agent=$(graph POST /servicePrincipals/microsoft.graph.agentIdentity \
		"{\"displayName\":\"${name} agent\",\"agentIdentityBlueprintId\":\"${bp_app}\",\"sponsors@odata.bind\":[\"${graph_api}/users/${me}\"]}" | json .appId)
	save AGENT_CLIENT_ID "$agent"
fi
agent_sp=$agent # an agent identity's object ID is its appId

# ensure_app SETTING JSON: an ordinary app registration with identifier URI
# api://<appId> and its principal, found by the saved ID, else created.
ensure_app() {
	local app
	app=$(setting "$1")
	if [[ -z $app || -z $(exists "/applications(appId='${app}')?\$select=id") ]]; then
		app=$(by_name /applications "$(json .displayName <<<"$2")" | json '.appId // empty')
		[[ -n $app ]] || app=$(graph POST /applications "$2" | json .appId)
		save "$1" "$app"
	fi
	graph PATCH "/applications(appId='${app}')" "{\"identifierUris\":[\"api://${app}\"]}" >/dev/null
	[[ -n $(exists "/servicePrincipals(appId='${app}')?\$select=id") ]] || graph POST /servicePrincipals "{\"appId\":\"${app}\"}" >/dev/null
	echo "$app"
}

weather=$(ensure_app WEATHER_API_APP_ID "{\"displayName\":\"${name} weather API\",\"api\":{\"requestedAccessTokenVersion\":2,\"oauth2PermissionScopes\":[{\"id\":\"$(uuid)\",\"value\":\"Weather.Read\",\"type\":\"User\",\"isEnabled\":true,\"adminConsentDisplayName\":\"Read weather\",\"adminConsentDescription\":\"Read the weather.\"}]},\"appRoles\":[{\"id\":\"$(uuid)\",\"value\":\"Weather.Read\",\"allowedMemberTypes\":[\"Application\"],\"isEnabled\":true,\"displayName\":\"Read weather\",\"description\":\"Read the weather.\"}]}")
weather_sp=$(graph GET "/servicePrincipals(appId='${weather}')?\$select=id,appRoles")
weather_sp_id=$(json .id <<<"$weather_sp")
weather_role=$(json '.appRoles[] | select(.value=="Weather.Read") | .id' <<<"$weather_sp")

spa=$(ensure_app CLIENT_SPA_APP_ID "{\"displayName\":\"${name} chat UI\",\"spa\":{\"redirectUris\":[\"http://localhost:3000\",\"http://127.0.0.1:3000\",\"http://localhost:3001\",\"http://127.0.0.1:3001\"]},\"requiredResourceAccess\":[{\"resourceAppId\":\"${bp_app}\",\"resourceAccess\":[{\"id\":\"${scope_id}\",\"type\":\"Scope\"}]}]}")
spa_sp=$(graph GET "/servicePrincipals(appId='${spa}')?\$select=id" | json .id)

# The intermediary app AWS STS trusts: v1 tokens, so iss is sts.windows.net.
sts=$(ensure_app STS_APP_ID "{\"displayName\":\"${name} AWS STS federation\",\"api\":{\"requestedAccessTokenVersion\":1}}")
save STS_APP_URI "api://${sts}"
save STS_SP_OBJECT_ID "$(graph GET "/servicePrincipals(appId='${sts}')?\$select=id" | json .id)"

# Grants, each once (its ID saved): the agent's app role and delegated scope
# on the Weather API, the SPA's access_as_user on the blueprint, all
# admin-consented.
# grant SETTING PATH BODY; a grant Graph says exists (an env file that lost
# its ID) counts as done.
grant() {
	local out
	[[ -n $(setting "$1") ]] && return
	if $dry_run; then
		graph POST "$2" "$3" >/dev/null
	elif out=$(request POST "$2" "$3"); then
		save "$1" "$(json .id <<<"$out")"
	elif [[ $out == *"already exists"* ]]; then
		save "$1" existing
	else
		echo "entra-setup: POST ${2} failed: ${out}" >&2
		exit 1
	fi
}
grant GRANT_AGENT_WEATHER_ROLE "/servicePrincipals/${agent_sp}/appRoleAssignments" "{\"principalId\":\"${agent_sp}\",\"resourceId\":\"${weather_sp_id}\",\"appRoleId\":\"${weather_role}\"}"
grant GRANT_AGENT_WEATHER_SCOPE /oauth2PermissionGrants "{\"clientId\":\"${agent_sp}\",\"consentType\":\"AllPrincipals\",\"resourceId\":\"${weather_sp_id}\",\"scope\":\"Weather.Read\"}"
grant GRANT_SPA_BLUEPRINT_SCOPE /oauth2PermissionGrants "{\"clientId\":\"${spa_sp}\",\"consentType\":\"AllPrincipals\",\"resourceId\":\"${bp_sp}\",\"scope\":\"access_as_user\"}"

# The agent's user account (the agent user flow), which only an Agent ID
# Administrator may create (agentuser-post).
if [[ -z $(setting AGENT_USER_UPN) ]]; then
	if grep -qE 'Agent ID Administrator|Global Administrator' <<<"$roles"; then
		domain=$(json '.userPrincipalName | split("@")[1]' <<<"$me_json")
		upn="${name}-agent@${domain}"
		# A rerun that lost the setting is told the user exists: as good.
		body="{\"displayName\":\"${name} agent user\",\"mailNickname\":\"${name}-agent\",\"userPrincipalName\":\"${upn}\",\"accountEnabled\":true,\"identityParentId\":\"${agent}\"}"
		if $dry_run; then
			graph POST /users/microsoft.graph.agentUser "$body" >/dev/null
		elif out=$(request POST /users/microsoft.graph.agentUser "$body") || [[ $out == *"already exists"* ]]; then
			save AGENT_USER_UPN "$upn"
		else
			echo "entra-setup: POST /users/microsoft.graph.agentUser failed: ${out}" >&2
			exit 1
		fi
	else
		echo "entra-setup: skipping the agent user: creating one needs the Agent ID Administrator role (you have: ${roles}); ask one to run this again" >&2
	fi
fi

# The MCP server's directory questions need consent for the agent: each
# user gives it on first use (the chat UI's consent link), but the agent
# user cannot, so an admin consents for everyone once.
mcp=e8c77dc2-69b3-43f4-bc51-3213c9d915b4 # Microsoft MCP Server for Enterprise
if [[ -z $(exists "/servicePrincipals(appId='${mcp}')?\$select=id") ]]; then
	echo "entra-setup: the Microsoft MCP Server for Enterprise has no principal in this tenant: provision it with Grant-EntraBetaMCPServerPermission (Microsoft.Entra.Beta 1.0.13 or later) to use the directory tools" >&2
elif ! $dry_run; then
	consent=$(jq -rn --arg c "$agent" --arg s "api://${mcp}/MCP.User.Read.All" --arg r "http://localhost:3001/consent.html" \
		'"client_id=\($c|@uri)&scope=\($s|@uri)&redirect_uri=\($r|@uri)"')
	echo "entra-setup: for the agent user's directory questions, an admin consents once for everyone at ${login}/v2.0/adminconsent?${consent}" >&2
fi

# A local-development secret for the blueprint (compose against the real
# tenant), once; Container Apps uses the managed identity instead.
secret=$(setting BLUEPRINT_CLIENT_SECRET)
if [[ -z $secret ]]; then
	secret=$(graph POST "/applications/${bp_obj}/microsoft.graph.agentIdentityBlueprint/addPassword" '{"passwordCredential":{"displayName":"local compose"}}' | json .secretText)
	save BLUEPRINT_CLIENT_SECRET "$secret"
fi
save TENANT_ID "$tenant"

# Smoke check: T1 for the agent, then TR for the Weather API. New objects
# take a while to reach every replica: retry for about two minutes.
if ! $dry_run; then
	for wait in 2 4 8 15 30 60 0; do
		printf '%s' "$secret" >"${private}/secret"
		t1=$(curl -sS "${tls[@]}" -X POST "${login}/oauth2/v2.0/token" --data-urlencode grant_type=client_credentials --data-urlencode "client_id=${bp_app}" \
			--data-urlencode "client_secret@${private}/secret" --data-urlencode "scope=api://AzureADTokenExchange/.default" --data-urlencode "fmi_path=${agent}")
		json '.access_token // empty' <<<"$t1" | tr -d '\n' >"${private}/t1"
		tr=$(curl -sS "${tls[@]}" -X POST "${login}/oauth2/v2.0/token" --data-urlencode grant_type=client_credentials --data-urlencode "client_id=${agent}" \
			--data-urlencode client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer --data-urlencode "client_assertion@${private}/t1" \
			--data-urlencode "scope=api://${weather}/.default")
		[[ -z $(json '.access_token // empty' <<<"$tr") ]] || break
		if ((wait == 0)); then
			echo "entra-setup: the T1 -> TR smoke check still fails: $(json '.error_description // empty' <<<"$tr")$(json '.error_description // empty' <<<"$t1")" >&2
			exit 1
		fi
		echo "entra-setup: waiting ${wait}s for the new objects to replicate ($(json '.error_description // .error // empty' <<<"$tr" | cut -c1-80))" >&2
		sleep "$wait"
	done
	echo "entra-setup: T1 -> TR works" >&2
fi
echo "entra-setup: wrote ${env_file}" >&2
