#!/usr/bin/env bash
# Creates the Entra side of the agent: the agent identity blueprint (with
# its access_as_user scope and principal), an agent identity and its agent
# user, the Weather API app, the chat UI's SPA app, the intermediary STS app
# (v1 tokens), and the grants between them, and writes every ID to the env
# file as soon as it exists. A rerun finds what the env file names (else
# what has the same display name) and creates nothing twice; it adds to
# redirect URIs, identifier URIs and scopes, never replaces them. With
# --federated-credential it instead trusts a managed identity from the
# blueprint and the STS app (Container Apps); with --aws-role and
# --aws-issuer, an AWS role's GetWebIdentityToken tokens (AgentCore
# Runtime); --remove takes such a trust away again. With --vault, the
# app registration of AgentCore Identity's token vault (multi-tenant, the
# Weather API's delegated scope), a short-lived secret that goes straight
# into the vault's credential provider (aws-agentcore.sh vault), and that
# provider's callback URL among its redirect URIs. No blueprint secret
# unless --local-secret asks for one (compose against the real tenant).
# Runs under bash 3.2 (macOS) and with BSD tools.
set -euo pipefail

usage() {
	cat <<'USAGE'
Usage: scripts/entra-setup.sh --tenant-id ID [--name PREFIX] [--env-file FILE] [--local-secret [--secret-days N] [--secret-file FILE]] [--dry-run]
       scripts/entra-setup.sh --tenant-id ID --federated-credential MI_OBJECT_ID [--public-origin URL] [--prune] --env-file FILE [--dry-run]
       scripts/entra-setup.sh --tenant-id ID --aws-role ROLE_ARN --aws-issuer ISSUER_URL --env-file FILE [--dry-run]
       scripts/entra-setup.sh --tenant-id ID (--federated-credential MI_OBJECT_ID | --aws-role ROLE_ARN --aws-issuer ISSUER_URL) --remove --env-file FILE
       scripts/entra-setup.sh --tenant-id ID --vault [--secret-days N] --env-file FILE [--dry-run]

  --tenant-id             the tenant
  --name                  display name prefix, default agentid
  --env-file              where IDs are read from and written to, default deploy/compose/.env;
                          it never holds a secret
  --local-secret          also give the blueprint a client secret, for compose against the real
                          tenant only (the deployed paths need none): it lasts --secret-days days
                          (default 7, at most 90) and is written, mode 0600, to --secret-file
                          (default deploy/compose/secret.env, git-ignored), never to the env file
  --federated-credential  the managed identity's object ID: trust it from the blueprint and the STS app
                          (a credential for the same issuer and subject is reused; a new one is named
                          from a hash of the subject, so another identity gets its own)
  --public-origin         with --federated-credential: the deployed chat UI's origin (https://<fqdn>),
                          whose consent page is added to the blueprint's redirect URIs
  --prune                 with --federated-credential: also delete the blueprint's and the STS app's
                          credentials for managed identities that no longer exist (an application
                          holds at most 20)
  --aws-role, --aws-issuer  an IAM role's ARN and the account's outbound identity federation issuer:
                          the blueprint trusts the role's STS GetWebIdentityToken tokens
  --remove                with --federated-credential or --aws-role: delete that trust instead
  --vault                 AgentCore Identity's token vault with Entra as the provider, after the
                          default run and aws-agentcore.sh deploy, in the order the APIs force:
                          1. the vault's app registration (multi-tenant, AzureADMultipleOrgs; the
                             Weather API's Weather.Read as a delegated permission), VAULT_APP_ID;
                          2. a client secret lasting --secret-days days (default 7, at most 90),
                             handed on stdin to aws-agentcore.sh vault, which creates or updates the
                             credential provider with it, allows AGENTCORE_VAULT_RETURN_URL on the
                             runtime's workload identity and prints the provider's callback URL;
                             the secret is in no file and on no command line;
                          3. that callback URL added to the app's web redirect URIs.
                          A rerun reuses the app, and makes a new secret only when the one the
                          provider holds (VAULT_SECRET_KEY_ID) ends within half of --secret-days
                          or the provider lacks it, and removes the app's other secrets: the app
                          keeps the one its provider holds. FILE also holds AWS_REGION and AGENTCORE_VAULT_RETURN_URL for
                          aws-agentcore.sh; needs the AWS CLI, signed in to the account
  --dry-run               print the changing Graph calls instead of making them (lookups still run)

Signs you in with the device code flow for the Microsoft Graph Command Line Tools
client (az's Graph token carries Directory.AccessAsUser.All, with which Graph refuses
every Agent ID write), asking for the least privileged permission of each call it
makes. Before it changes anything it checks that you hold the directory roles the
run needs and names each one you lack with the Graph page that asks for it: the
default run needs Agent ID Developer (or Agent ID Administrator) and, for the admin
consents, Cloud Application Administrator (or Application Administrator or Privileged
Role Administrator); the agent user needs Agent ID Administrator (skipped without).
Needs curl and jq. AZURE_AUTHORITY_HOST and GRAPH_URL move the sign-in and Graph
hosts (cloudsim's cloudsim.env sets both); curl trusts CURL_CA_BUNDLE, else
SSL_CERT_FILE, else its own store. Entra is eventually consistent: a read right after
a create is retried for about 30 s; if it still fails, run the same command again,
it resumes from what the env file records.
USAGE
}

tenant='' name=agentid env_file=deploy/compose/.env mi_oid='' origin='' aws_role='' aws_issuer='' dry_run=false
remove=false prune=false local_secret=false secret_days=7 secret_file=deploy/compose/secret.env vault=false
while (($#)); do
	case $1 in
	--tenant-id) tenant=${2:?}; shift ;;
	--name) name=${2:?}; shift ;;
	--env-file) env_file=${2:?}; shift ;;
	--federated-credential) mi_oid=${2:?}; shift ;;
	--public-origin) origin=${2:?}; shift ;;
	--aws-role) aws_role=${2:?}; shift ;;
	--aws-issuer) aws_issuer=${2:?}; shift ;;
	--remove) remove=true ;;
	--prune) prune=true ;;
	--local-secret) local_secret=true ;;
	--vault) vault=true ;;
	--secret-days) secret_days=${2:?}; shift ;;
	--secret-file) secret_file=${2:?}; shift ;;
	--dry-run) dry_run=true ;;
	-h | --help) usage; exit 0 ;;
	*) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
[[ -n $tenant ]] || { usage >&2; exit 2; }
[[ -z $aws_role$aws_issuer || (-n $aws_role && -n $aws_issuer) ]] || { echo "entra-setup: --aws-role and --aws-issuer go together" >&2; exit 2; }
[[ -z $origin || -n $mi_oid ]] || { echo "entra-setup: --public-origin goes with --federated-credential" >&2; exit 2; }
[[ -z $mi_oid || -z $aws_role ]] || { echo "entra-setup: --federated-credential and --aws-role are separate runs" >&2; exit 2; }
! $remove || [[ -n $mi_oid$aws_role && -z $origin ]] || { echo "entra-setup: --remove goes with --federated-credential or --aws-role (and no --public-origin)" >&2; exit 2; }
! $prune || [[ -n $mi_oid ]] || { echo "entra-setup: --prune goes with --federated-credential" >&2; exit 2; }
! $local_secret || [[ -z $mi_oid$aws_role ]] || { echo "entra-setup: --local-secret goes with the default run, not --federated-credential or --aws-role" >&2; exit 2; }
if $vault && { [[ -n $mi_oid$aws_role$origin ]] || $remove || $prune || $local_secret; }; then
	echo "entra-setup: --vault is a run of its own (with --secret-days, --env-file, --dry-run)" >&2
	exit 2
fi
if ! [[ $secret_days =~ ^[0-9]+$ ]] || ((10#$secret_days < 1 || 10#$secret_days > 90)); then
	echo "entra-setup: --secret-days is a whole number of days from 1 to 90" >&2
	exit 2
fi

authority=${AZURE_AUTHORITY_HOST:-https://login.microsoftonline.com}
login="${authority%/}/${tenant}"
graph_host=${GRAPH_URL:-https://graph.microsoft.com}
graph_api="${graph_host%/}/v1.0"
# Entra's v2 issuer, the same whichever host serves the sign-in: the
# issuer of managed identity assertions.
issuer_v2="https://login.microsoftonline.com/${tenant}/v2.0"
token_exchange=api://AzureADTokenExchange
here=$(cd "$(dirname "$0")" && pwd)
# Microsoft Graph Command Line Tools: a Microsoft public client that can
# ask for the Agent ID permissions by device code.
cli_client=14d82eec-204b-4c2f-b7e8-296a70dab67e
graph_docs=https://learn.microsoft.com/graph/api

# curl trusts CURL_CA_BUNDLE by itself; SSL_CERT_FILE is handed over. No
# array: bash 3.2 (macOS) calls an empty "${a[@]}" unbound under set -u.
cacert=''
if [[ -z ${CURL_CA_BUNDLE:-} && -n ${SSL_CERT_FILE:-} ]]; then cacert=$SSL_CERT_FILE; fi
acurl() {
	if [[ -n $cacert ]]; then curl --cacert "$cacert" "$@"; else curl "$@"; fi
}

# The permissions each mode needs: for each call, the least privileged its
# Graph page lists (per property for a blueprint's update), and
# RoleManagement.Read.Directory for the role check, without which Graph
# returns directory roles with no name.
needed="User.Read RoleManagement.Read.Directory"
if [[ -n $mi_oid ]]; then
	needed+=" AgentIdentityBlueprint.AddRemoveCreds.All Application.ReadWrite.All"
	[[ -z $origin ]] || needed+=" AgentIdentityBlueprint.UpdateAuthProperties.All"
elif [[ -n $aws_role ]]; then
	needed+=" AgentIdentityBlueprint.AddRemoveCreds.All Application.Read.All"
elif $vault; then
	needed+=" Application.ReadWrite.All"
else
	needed+=" AgentIdentityBlueprint.Create AgentIdentityBlueprint.UpdateAuthProperties.All AgentIdentityBlueprint.AddRemoveCreds.All"
	needed+=" AgentIdentityBlueprintPrincipal.Create AgentIdentity.Create.All Application.ReadWrite.All AppRoleAssignment.ReadWrite.All"
	needed+=" DelegatedPermissionGrant.ReadWrite.All AgentIdUser.ReadWrite.IdentityParentedBy"
fi
scopes="offline_access"
for p in $needed; do scopes+=" https://graph.microsoft.com/${p}"; done

json() { jq -r "$1"; }
uuid() { cat /proc/sys/kernel/random/uuid 2>/dev/null || uuidgen | tr '[:upper:]' '[:lower:]'; }

# b64decode reads base64 on stdin: GNU and macOS 13+ decode with -d,
# macOS 12 and older with -D.
if [[ $(printf 'QQ==' | base64 -d 2>/dev/null) == A ]]; then
	b64decode() { base64 -d; }
else
	b64decode() { base64 -D; }
fi

# sha256hex prints the SHA-256 of stdin in hex (sha256sum on Linux,
# shasum on macOS).
sha256hex() {
	if command -v sha256sum >/dev/null 2>&1; then sha256sum; else shasum -a 256; fi | cut -d' ' -f1
}

# Secrets go to curl from files, never on its command line, where other
# users of the machine could read them (ps).
private=$(mktemp -d)
trap 'rm -rf "$private"' EXIT

# post_form URL FIELD...: a form POST; prints the body, or stops the script
# with curl's own words when the host cannot be reached.
post_form() {
	local url=$1 out
	shift
	local args=(-sS -X POST "$url")
	local f
	for f in "$@"; do args+=(--data-urlencode "$f"); done
	if ! out=$(acurl "${args[@]}" 2>"${private}/curl-error"); then
		echo "entra-setup: cannot reach ${url%%\?*}: $(cat "${private}/curl-error")" >&2
		exit 1
	fi
	printf '%s\n' "$out"
}

# device_code_token signs the user in and sets token. (Not run in a
# command substitution: bash clears set -e there.)
device_code_token() {
	local dc code interval expires waited=0 answer
	dc=$(post_form "${login}/oauth2/v2.0/devicecode" "client_id=${cli_client}" "scope=${scopes}")
	[[ $(json '.device_code // empty' <<<"$dc" 2>/dev/null) ]] ||
		{ echo "entra-setup: the device code request failed: $(json '.error_description // .' <<<"$dc" 2>/dev/null || echo "$dc")" >&2; exit 1; }
	json .message <<<"$dc" >&2
	code=$(json .device_code <<<"$dc")
	interval=$(json '.interval // 5' <<<"$dc")
	expires=$(json '.expires_in // 900' <<<"$dc")
	while ((waited <= expires)); do
		answer=$(post_form "${login}/oauth2/v2.0/token" "client_id=${cli_client}" \
			"grant_type=urn:ietf:params:oauth:grant-type:device_code" "device_code=${code}")
		case $(json '.error // empty' <<<"$answer") in
		"") token=$(json .access_token <<<"$answer"); return ;;
		authorization_pending) ;;
		slow_down) interval=$((interval + 5)) ;;
		*) echo "entra-setup: sign-in failed: $(json .error_description <<<"$answer")" >&2; exit 1 ;;
		esac
		sleep "$interval"
		waited=$((waited + interval))
	done
	echo "entra-setup: the device code expired before anyone signed in; run again" >&2
	exit 1
}

# claims prints a JWT's payload (read, not verified: the script only looks
# at what it was given).
claims() {
	local p=${1#*.}
	p=${p%%.*}
	p=$(tr '_-' '/+' <<<"$p")
	while ((${#p} % 4)); do p+='='; done
	b64decode <<<"$p"
}

# request METHOD PATH [BODY]: a Graph call; prints the body and returns 0
# on 2xx, else prints "<status> <code>: <message> (<detail codes>)" and
# returns 1.
# Graph's answer stays in memory (curl's stdout, the status on its last
# line), never in a file: addPassword's holds a secret.
request() {
	local method=$1 path=$2 body=${3:-} out status
	local args=(-sS -w '\n%{http_code}' -X "$method" -H "@${auth_header}" -H "Content-Type: application/json")
	[[ -z $body ]] || args+=(--data "$body")
	if ! out=$(acurl "${args[@]}" "${graph_api}${path}" 2>"${private}/curl-error"); then
		echo "entra-setup: cannot reach ${graph_api}: $(cat "${private}/curl-error")" >&2
		exit 1
	fi
	status=${out##*$'\n'}
	out=${out%$'\n'*}
	if [[ $status == 2* ]]; then
		printf '%s\n' "$out"
		return 0
	fi
	printf '%s %s\n' "$status" "$(printf '%s' "$out" | jq -r '(.error.code // "?") + ": " + (.error.message // "")
		+ ([.error.details[]?.code // empty] | if length > 0 then " (" + join(", ") + ")" else "" end)' 2>/dev/null)"
	return 1
}

# Microsoft Entra is eventually consistent: "A successful write to
# Microsoft Entra does not guarantee that an immediate read will reflect
# that change ... it is normal for ... A newly created object to return a
# 'Not Found'" ("Designing for Eventual Consistency for Microsoft Entra",
# devblogs.microsoft.com/identity, 2026-03-24). A service principal asked
# for an application the replica has not seen yet gets 400
# NoBackingApplicationObject. These are retried, about 30 s in all.
retry_waits="1 2 4 8 16"
replication_miss() {
	[[ $1 == "404 Request_ResourceNotFound"* || $1 == *NoBackingApplicationObject* ]]
}

# request_settled METHOD PATH [BODY]: request, retrying what replication
# explains; prints the last answer as request does.
request_settled() {
	local out wait
	for wait in $retry_waits stop; do
		if out=$(request "$@"); then
			printf '%s\n' "$out"
			return 0
		fi
		if [[ $wait == stop ]] || ! replication_miss "$out"; then
			printf '%s\n' "$out"
			return 1
		fi
		echo "entra-setup: $1 ${2%%\?*}: ${out%%:*}, Entra has not replicated it yet; again in ${wait}s" >&2
		sleep "$wait"
	done
}

# fail_call METHOD PATH ANSWER stops the script with Graph's answer, and
# says what a rerun does when replication is the likely cause.
fail_call() {
	echo "entra-setup: $1 ${2%%\?*} failed: $3" >&2
	if replication_miss "$3"; then
		echo "entra-setup: Entra is eventually consistent and had not replicated what this run created after about 30 s; run the same command again: it resumes from what ${env_file} records and creates nothing twice" >&2
	fi
	exit 1
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
	out=$(request_settled "$method" "$path" "$body") || fail_call "$method" "$path" "$out"
	printf '%s\n' "$out"
}

# exists PATH: the object at PATH, or nothing when Graph says 404 (no
# retry: used for IDs a rerun saved, long replicated).
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

# write_setting FILE NAME VALUE sets NAME in FILE (mode 0600), replacing
# its line or adding one.
write_setting() {
	local file=$1 tmp
	mkdir -p "$(dirname "$file")"
	touch "$file"
	chmod 600 "$file"
	tmp=$(mktemp "${private}/env.XXXXXX")
	awk -v k="$2" -v v="$3" 'BEGIN { FS = "=" } $1 == k { print k "=" v; done = 1; next } { print } END { if (!done) print k "=" v }' "$file" >"$tmp"
	cat "$tmp" >"$file"
	rm -f "$tmp"
}

# save NAME VALUE writes NAME to the env file at once, so a failure later
# leaves what exists where a rerun finds it.
save() {
	$dry_run && return
	write_setting "$env_file" "$1" "$2"
}

# A secret in the env file the deploy scripts read (written by earlier
# versions) is taken out: they export it to every child process and it is
# in any build context that holds the file.
if ! $dry_run && [[ -n $(setting BLUEPRINT_CLIENT_SECRET) ]]; then
	tmp=$(mktemp "${private}/env.XXXXXX")
	grep -v '^BLUEPRINT_CLIENT_SECRET=' "$env_file" >"$tmp" || true
	cat "$tmp" >"$env_file"
	echo "entra-setup: took BLUEPRINT_CLIENT_SECRET out of ${env_file}: no env file the deploy scripts read holds a secret. It still works until it expires: delete it from the blueprint (Entra admin center, Agent ID, the blueprint's credentials) if nothing uses it; compose against the real tenant gets a short-lived one with --local-secret" >&2
fi

device_code_token
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
missing=''
for p in $needed; do [[ $scp == *" $p "* ]] || missing+=" $p"; done
if [[ -n $missing ]]; then
	echo "entra-setup: the token lacks${missing}: consent to it (an admin can for the tenant) and run again; nothing was changed" >&2
	exit 1
fi

me_json=$(graph GET /me)
me=$(json .id <<<"$me_json")
upn=$(json '.userPrincipalName // empty' <<<"$me_json")
# Roles held directly or through a role-assignable group; one a user is
# only eligible for (Privileged Identity Management) counts once activated.
roles=$(graph GET "/me/transitiveMemberOf/microsoft.graph.directoryRole?\$select=displayName" | json '[.value[].displayName // empty] | join(",")')

# has_role ROLE...: the user holds one of them (Global Administrator holds all).
has_role() {
	local r
	for r in "$@" "Global Administrator"; do
		[[ ",${roles}," == *",${r},"* ]] && return 0
	done
	return 1
}

# owns APP_OBJECT_ID: the signed-in user is among the application's owners.
owns() {
	graph GET "/applications/${1}/owners?\$select=id" | jq -e --arg me "$me" 'any(.value[]; .id == $me)' >/dev/null
}

# The pre-flight: each directory role this run needs and the user lacks,
# with the Graph page that asks for it, before anything is created.
lacking='' optional=''
need_role() { # WHAT PAGES ROLE...
	local what=$1 pages=$2
	shift 2
	has_role "$@" && return
	local alt=$1
	shift
	(($#)) && alt+=" (or $(printf '%s, ' "$@" | sed 's/, $//'))"
	lacking+="
  - ${alt}: ${what} (${pages})"
}
app_admin_roles=("Cloud Application Administrator" "Application Administrator")
if $vault; then
	[[ -n $(setting WEATHER_API_APP_ID) ]] || { echo "entra-setup: ${env_file} has no WEATHER_API_APP_ID: run entra-setup.sh without --vault first" >&2; exit 1; }
	# Any user may register an app unless the tenant turned that off
	# (then Application Developer); its secrets and redirect URIs are its
	# owner's to change, or an application administrator's.
	vault_found=''
	[[ -z $(setting VAULT_APP_ID) ]] || vault_found=$(exists "/applications(appId='$(setting VAULT_APP_ID)')?\$select=id" | json '.id // empty')
	if [[ -n $vault_found ]] && ! has_role "${app_admin_roles[@]}" && ! owns "$vault_found"; then
		need_role "the vault app's secret and redirect URIs, which you do not own" \
			"${graph_docs}/application-addpassword, ${graph_docs}/application-update" "${app_admin_roles[@]}"
	fi
elif [[ -n $mi_oid$aws_role ]]; then
	for k in BLUEPRINT_APP_ID $([[ -n $mi_oid ]] && echo STS_APP_ID); do
		[[ -n $(setting "$k") ]] || { echo "entra-setup: ${env_file} has no ${k}: run entra-setup.sh without --federated-credential or --aws-role first" >&2; exit 1; }
	done
	bp_obj=$(graph GET "/applications(appId='$(setting BLUEPRINT_APP_ID)')?\$select=id" | json .id)
	# A blueprint's credentials are its owner's to change, or an Agent ID
	# Administrator's; an ordinary app's, its owner's or an application
	# administrator's.
	if ! has_role "Agent ID Administrator" && ! owns "$bp_obj"; then
		need_role "the blueprint's federated credentials, which you do not own" \
			"${graph_docs}/federatedidentitycredential-post, ${graph_docs}/agentidentityblueprint-update" "Agent ID Administrator"
	fi
	if [[ -n $mi_oid ]]; then
		sts_obj=$(graph GET "/applications(appId='$(setting STS_APP_ID)')?\$select=id" | json .id)
		if ! has_role "${app_admin_roles[@]}" && ! owns "$sts_obj"; then
			need_role "the STS app's federated credentials, which you do not own" "${graph_docs}/federatedidentitycredential-post" "${app_admin_roles[@]}"
		fi
	fi
else
	need_role "the blueprint, its principal and the agent identity" \
		"${graph_docs}/agentidentityblueprint-post, ${graph_docs}/agentidentity-post" "Agent ID Developer" "Agent ID Administrator"
	if [[ -z $(setting GRANT_AGENT_WEATHER_SCOPE) || -z $(setting GRANT_SPA_BLUEPRINT_SCOPE) ]]; then
		need_role "the admin consents for everyone (the agent's Weather.Read, the chat UI's access_as_user)" \
			"${graph_docs}/oauth2permissiongrant-post, https://learn.microsoft.com/entra/identity/enterprise-apps/grant-admin-consent" \
			"Cloud Application Administrator" "Application Administrator" "Privileged Role Administrator"
	fi
	if [[ -z $(setting AGENT_USER_UPN) ]] && ! has_role "Agent ID Administrator"; then
		optional="entra-setup: the agent user will be skipped: creating one needs the Agent ID Administrator role (${graph_docs}/agentuser-post); ask one to run this again"
	fi
	if $local_secret && [[ -n $(setting BLUEPRINT_APP_ID) ]] && ! has_role "Agent ID Administrator"; then
		bp_found=$(exists "/applications(appId='$(setting BLUEPRINT_APP_ID)')?\$select=id" | json '.id // empty')
		if [[ -n $bp_found ]] && ! owns "$bp_found"; then
			need_role "a secret on a blueprint you do not own" "${graph_docs}/agentidentityblueprint-addpassword" "Agent ID Administrator"
		fi
	fi
fi
if [[ -n $lacking ]]; then
	echo "entra-setup: ${upn:-you} lack(s) directory roles this run needs (you have: ${roles:-none}):${lacking}" >&2
	[[ -z $optional ]] || echo "$optional" >&2
	echo "A role you are only eligible for (Privileged Identity Management) counts once you activate it; roles through a role-assignable group count. Nothing was changed." >&2
	exit 1
fi
[[ -z $optional ]] || echo "$optional" >&2

# fic_name PREFIX SUBJECT: a federated credential's name, derived from its
# subject: a credential's name is unique in its application and cannot
# change, at most 120 URL-friendly characters (federatedIdentityCredential,
# "name"), and an AWS subject is a role ARN, so a hash of it.
fic_name() {
	printf '%s-%s' "$1" "$(printf '%s' "$2" | sha256hex | cut -c1-24)"
}

# ensure_fic APP_OBJECT PATH PREFIX ISSUER SUBJECT: the application's
# federated credential for that issuer and subject, reused when it has one.
ensure_fic() {
	local app=$1 path=$2 list fic
	list=$(graph GET "/applications/${app}${path}")
	if jq -e --arg i "$4" --arg s "$5" 'any(.value[]; .issuer == $i and .subject == $s)' >/dev/null <<<"$list"; then
		echo "entra-setup: ${app} already trusts ${5} from ${4}" >&2
		return
	fi
	if (($(json '.value | length' <<<"$list") >= 20)); then
		echo "entra-setup: application ${app} already holds 20 federated identity credentials, Graph's limit (${graph_docs}/application-post-federatedidentitycredentials): delete stale ones first, --prune for managed identities that no longer exist, or --remove for one trust" >&2
		exit 1
	fi
	fic=$(jq -cn --arg n "$(fic_name "$3" "$5")" --arg i "$4" --arg s "$5" --arg a "$token_exchange" '{name: $n, issuer: $i, subject: $s, audiences: [$a]}')
	graph POST "/applications/${app}${path}" "$fic" >/dev/null
}

# remove_fics APP_OBJECT PATH ISSUER [SUBJECT]: delete the application's
# credentials for that issuer and subject; without a subject, those for
# managed identities (ISSUER) that Graph no longer knows.
remove_fics() {
	local app=$1 path=$2 id subject
	graph GET "/applications/${app}${path}" | jq -r --arg i "$3" '.value[] | select(.issuer == $i) | .id + " " + .subject' >"${private}/fics"
	while read -r id subject; do
		if [[ -n ${4:-} ]]; then
			[[ $subject == "$4" ]] || continue
		elif [[ $subject == "$mi_oid" || -n $(exists "/servicePrincipals/${subject}?\$select=id") ]]; then
			continue
		fi
		echo "entra-setup: deleting ${app}'s federated credential for ${subject}" >&2
		graph DELETE "/applications/${app}${path}/${id}" >/dev/null
	done <"${private}/fics"
}

# vault_aws [SECRET] runs aws-agentcore.sh vault under this same bash, the
# secret, when there is one, on its stdin through a pipe (printf is a
# builtin: the secret is on no command line and in no file); prints the
# provider's callback URL. It exits 3 when the provider needs a secret.
vault_aws() {
	local args=(vault --env-file "$env_file")
	! $dry_run || args+=(--dry-run)
	if [[ -n ${1:-} ]]; then
		printf '%s\n' "$1" | VAULT_APP_ID=$vault_app "$BASH" "$here/aws-agentcore.sh" "${args[@]}" --client-secret-stdin
	else
		VAULT_APP_ID=$vault_app "$BASH" "$here/aws-agentcore.sh" "${args[@]}" </dev/null
	fi
}

# AgentCore Identity's token vault with Entra as the provider, in the
# order the APIs force: the app (the provider needs its client ID and a
# secret), the provider (aws-agentcore.sh vault), then the provider's
# callback URL, which exists only once the provider does, among the app's
# redirect URIs.
if $vault; then
	weather=$(setting WEATHER_API_APP_ID)
	weather_scope=$(graph GET "/applications(appId='${weather}')?\$select=api" |
		json '.api.oauth2PermissionScopes // [] | map(select(.value == "Weather.Read")) | .[0].id // empty')
	[[ -n $weather_scope ]] || { echo "entra-setup: the Weather API ${weather} has no Weather.Read scope: run entra-setup.sh without --vault first" >&2; exit 1; }
	# 1. The app: an ordinary registration, multi-tenant (AgentCore
	# supports only multi-tenant Microsoft apps), asking for the Weather
	# API's delegated scope, which each user consents to on the vault's
	# authorization URL. What it lacks is added to what it has.
	vault_app=$(setting VAULT_APP_ID)
	if [[ -z $vault_app || -z $(exists "/applications(appId='${vault_app}')?\$select=id") ]]; then
		vault_app=$(by_name /applications "${name} AgentCore vault" | json '.appId // empty')
		[[ -n $vault_app ]] || vault_app=$(graph POST /applications "$(jq -cn --arg n "${name} AgentCore vault" --arg w "$weather" --arg s "$weather_scope" \
			'{displayName: $n, signInAudience: "AzureADMultipleOrgs", requiredResourceAccess: [{resourceAppId: $w, resourceAccess: [{id: $s, type: "Scope"}]}]}')" | json .appId)
		save VAULT_APP_ID "$vault_app"
	fi
	vault_json=$(graph GET "/applications(appId='${vault_app}')")
	vault_obj=$(json .id <<<"$vault_json")
	change=$(jq -c --arg w "$weather" --arg s "$weather_scope" '
		(.requiredResourceAccess // []) as $r |
		(if any($r[]; .resourceAppId == $w and any(.resourceAccess[]?; .id == $s and .type == "Scope")) then $r
		else [$r[] | select(.resourceAppId != $w)]
			+ [{resourceAppId: $w, resourceAccess: ([$r[] | select(.resourceAppId == $w) | .resourceAccess[]?] + [{id: $s, type: "Scope"}])}] end) as $r2 |
		{} + (if .signInAudience != "AzureADMultipleOrgs" then {signInAudience: "AzureADMultipleOrgs"} else {} end)
		+ (if $r2 != $r then {requiredResourceAccess: $r2} else {} end)' <<<"$vault_json")
	[[ $change == '{}' ]] || graph PATCH "/applications/${vault_obj}" "$change" >/dev/null
	[[ -n $(exists "/servicePrincipals(appId='${vault_app}')?\$select=id") ]] || graph POST /servicePrincipals "{\"appId\":\"${vault_app}\"}" >/dev/null

	# 2. The provider. The secret it holds (VAULT_SECRET_KEY_ID; the env
	# file records its ID, never its text) is kept while more than half
	# of --secret-days remains; otherwise, or when the provider is missing
	# or holds another client (aws-agentcore.sh exits 3), a new one goes
	# from Graph's answer to the provider through pipes only.
	key=$(setting VAULT_SECRET_KEY_ID)
	keep_until=$(jq -rn --argjson d "$secret_days" 'now + $d * 43200 | floor | todate')
	live=''
	[[ -z $key ]] || live=$(jq -r --arg k "$key" --arg t "$keep_until" '.passwordCredentials[]? | select(.keyId == $k and (.endDateTime // "") > $t) | .keyId' <<<"$vault_json")
	rc=3
	if [[ -n $live ]]; then
		if callback=$(vault_aws); then rc=0; else rc=$?; fi
	fi
	if ((rc != 0 && rc != 3)); then
		echo "entra-setup: aws-agentcore.sh vault failed (above); ${env_file} records the app: run the same command again" >&2
		exit 1
	fi
	if ((rc == 3)); then
		ends=$(jq -rn --argjson d "$secret_days" 'now + $d * 86400 | floor | todate')
		out=$(graph POST "/applications/${vault_obj}/addPassword" \
			"{\"passwordCredential\":{\"displayName\":\"AgentCore vault provider, until ${ends}\",\"endDateTime\":\"${ends}\"}}")
		secret=dry-run-secret new_key=dry-run-key
		if ! $dry_run; then
			secret=$(printf '%s' "$out" | jq -r '.secretText // empty')
			new_key=$(printf '%s' "$out" | jq -r '.keyId // empty')
		fi
		out=''
		if ! callback=$(vault_aws "$secret"); then
			echo "entra-setup: aws-agentcore.sh vault failed (above); the new secret ${new_key} went nowhere and is removed by the next run that succeeds" >&2
			exit 1
		fi
		secret=''
		save VAULT_SECRET_KEY_ID "$new_key"
		save VAULT_SECRET_ENDS "$ends"
		echo "entra-setup: the vault's credential provider holds a new secret of ${vault_app}, valid until ${ends}; rerun before then to renew it" >&2
		key=$new_key
	fi
	# The provider holds one secret: the app's others (the one it held
	# before, expired ones, one left by a failed run) go.
	for old in $(jq -r --arg k "$key" '.passwordCredentials[]? | select(.keyId != $k) | .keyId' <<<"$vault_json"); do
		graph POST "/applications/${vault_obj}/removePassword" "{\"keyId\":\"${old}\"}" >/dev/null
		echo "entra-setup: removed the vault app's secret ${old}, which its provider no longer holds" >&2
	done

	# 3. The provider's callback URL among the app's web redirect URIs,
	# added to those it has (a PATCH replaces the whole collection).
	[[ -n $callback ]] || { echo "entra-setup: aws-agentcore.sh vault printed no callback URL" >&2; exit 1; }
	web=$(graph GET "/applications/${vault_obj}" | jq -c --arg u "$callback" \
		'(.web.redirectUris // []) as $r | if ($r | index($u)) then empty else {web: ((.web // {}) | del(.redirectUriSettings) | .redirectUris = $r + [$u])} end')
	[[ -z $web ]] || graph PATCH "/applications/${vault_obj}" "$web" >/dev/null
	echo "entra-setup: ${vault_app} returns users to ${callback}; llm-agent on the runtime: USER_TOKEN_SOURCE=agentcore-vault AGENTCORE_VAULT_SCOPES=api://${weather}/Weather.Read" >&2
	exit 0
fi

bp_fics=/microsoft.graph.agentIdentityBlueprint/federatedIdentityCredentials
if [[ -n $mi_oid ]]; then
	if $remove; then
		remove_fics "$bp_obj" "$bp_fics" "$issuer_v2" "$mi_oid"
		remove_fics "$sts_obj" /federatedIdentityCredentials "$issuer_v2" "$mi_oid"
		echo "entra-setup: the blueprint and the STS app no longer trust managed identity ${mi_oid}" >&2
		exit 0
	fi
	if $prune; then
		remove_fics "$bp_obj" "$bp_fics" "$issuer_v2"
		remove_fics "$sts_obj" /federatedIdentityCredentials "$issuer_v2"
	fi
	ensure_fic "$bp_obj" "$bp_fics" managed-identity "$issuer_v2" "$mi_oid"
	ensure_fic "$sts_obj" /federatedIdentityCredentials managed-identity "$issuer_v2" "$mi_oid"
	if [[ -n $origin ]]; then
		# The deployed UI's consent page is where Entra returns a user who
		# consented to the agent: the blueprint's web redirect URI, added to
		# those it has (a PATCH replaces the whole collection). az's Graph
		# token cannot update a blueprint, so containerapps.sh cannot.
		web=$(graph GET "/applications/${bp_obj}" | jq -c --arg u "${origin%/}/consent.html" \
			'(.web.redirectUris // []) as $r | if ($r | index($u)) then empty else {web: ((.web // {}) | del(.redirectUriSettings) | .redirectUris = $r + [$u])} end')
		[[ -z $web ]] || graph PATCH "/applications/${bp_obj}" "$web" >/dev/null
	fi
	echo "entra-setup: the blueprint and the STS app now trust managed identity ${mi_oid} (a new federated credential can take a couple of minutes to replicate; token-refresher retries meanwhile)" >&2
	exit 0
fi

if [[ -n $aws_role ]]; then
	if $remove; then
		remove_fics "$bp_obj" "$bp_fics" "$aws_issuer" "$aws_role"
		echo "entra-setup: the blueprint no longer trusts ${aws_role}'s tokens from ${aws_issuer}" >&2
		exit 0
	fi
	ensure_fic "$bp_obj" "$bp_fics" aws-role "$aws_issuer" "$aws_role"
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
# What the blueprint lacks of its identifier URI, access_as_user scope and
# local consent pages is added to what it has: a PATCH replaces a whole
# collection, so the deployed consent page (--public-origin) and any scope
# or URI added by hand stay. An existing scope keeps its ID: Graph refuses
# to change or remove an enabled one.
scope_id=$(json '.api.oauth2PermissionScopes // [] | map(select(.value == "access_as_user")) | .[0].id // empty' <<<"$bp")
[[ -n $scope_id ]] || scope_id=$(uuid)
change=$(jq -c --argjson want "$redirects" --arg uri "api://${bp_app}" --arg sid "$scope_id" '
	(.web.redirectUris // []) as $r | ($r + ($want - $r)) as $r2 |
	(.identifierUris // []) as $i | (if ($i | index($uri)) then $i else $i + [$uri] end) as $i2 |
	(.api.oauth2PermissionScopes // []) as $s |
	(if any($s[]; .value == "access_as_user") then $s else $s + [{id: $sid, value: "access_as_user", type: "User", isEnabled: true,
		adminConsentDisplayName: "Use the agent as you", adminConsentDescription: "Lets the chat UI call the agent on behalf of the signed-in user."}] end) as $s2 |
	{}
	+ (if $r2 != $r then {web: ((.web // {}) | del(.redirectUriSettings) | .redirectUris = $r2)} else {} end)
	+ (if $i2 != $i then {identifierUris: $i2} else {} end)
	+ (if $s2 != $s or (.api.requestedAccessTokenVersion // 1) != 2
		then {api: ((.api // {}) | .requestedAccessTokenVersion = 2 | .oauth2PermissionScopes = $s2)} else {} end)' <<<"$bp")
[[ $change == '{}' ]] || graph PATCH "/applications/${bp_obj}" "$change" >/dev/null
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
# api://<appId> (added to those it has) and its principal, found by the
# saved ID, else created; sets app. (Not run in a command substitution:
# bash clears set -e there.)
ensure_app() {
	local uris
	app=$(setting "$1")
	if [[ -z $app || -z $(exists "/applications(appId='${app}')?\$select=id") ]]; then
		app=$(by_name /applications "$(json .displayName <<<"$2")" | json '.appId // empty')
		[[ -n $app ]] || app=$(graph POST /applications "$2" | json .appId)
		save "$1" "$app"
	fi
	uris=$(graph GET "/applications(appId='${app}')?\$select=identifierUris" | jq -c --arg u "api://${app}" \
		'(.identifierUris // []) as $i | if ($i | index($u)) then empty else {identifierUris: ($i + [$u])} end')
	[[ -z $uris ]] || graph PATCH "/applications(appId='${app}')" "$uris" >/dev/null
	[[ -n $(exists "/servicePrincipals(appId='${app}')?\$select=id") ]] || graph POST /servicePrincipals "{\"appId\":\"${app}\"}" >/dev/null
}

ensure_app WEATHER_API_APP_ID "{\"displayName\":\"${name} weather API\",\"api\":{\"requestedAccessTokenVersion\":2,\"oauth2PermissionScopes\":[{\"id\":\"$(uuid)\",\"value\":\"Weather.Read\",\"type\":\"User\",\"isEnabled\":true,\"adminConsentDisplayName\":\"Read weather\",\"adminConsentDescription\":\"Read the weather.\"}]},\"appRoles\":[{\"id\":\"$(uuid)\",\"value\":\"Weather.Read\",\"allowedMemberTypes\":[\"Application\"],\"isEnabled\":true,\"displayName\":\"Read weather\",\"description\":\"Read the weather.\"}]}"
weather=$app
weather_sp=$(graph GET "/servicePrincipals(appId='${weather}')?\$select=id,appRoles")
weather_sp_id=$(json .id <<<"$weather_sp")
weather_role=$(json '.appRoles[] | select(.value=="Weather.Read") | .id' <<<"$weather_sp")

ensure_app CLIENT_SPA_APP_ID "{\"displayName\":\"${name} chat UI\",\"spa\":{\"redirectUris\":[\"http://localhost:3000\",\"http://127.0.0.1:3000\",\"http://localhost:3001\",\"http://127.0.0.1:3001\"]},\"requiredResourceAccess\":[{\"resourceAppId\":\"${bp_app}\",\"resourceAccess\":[{\"id\":\"${scope_id}\",\"type\":\"Scope\"}]}]}"
spa=$app
spa_sp=$(graph GET "/servicePrincipals(appId='${spa}')?\$select=id" | json .id)

# The intermediary app AWS STS trusts: v1 tokens, so iss is sts.windows.net.
ensure_app STS_APP_ID "{\"displayName\":\"${name} AWS STS federation\",\"api\":{\"requestedAccessTokenVersion\":1}}"
sts=$app
save STS_APP_URI "api://${sts}"
save STS_SP_OBJECT_ID "$(graph GET "/servicePrincipals(appId='${sts}')?\$select=id" | json .id)"

# Grants, each once (its ID saved): the agent's app role and delegated scope
# on the Weather API, the SPA's access_as_user on the blueprint, all
# admin-consented.
# grant SETTING PATH BODY; a grant Graph says exists (an env file that lost
# its ID) counts as done. Retried while Entra replicates the principals.
grant() {
	local out
	[[ -n $(setting "$1") ]] && return
	if $dry_run; then
		graph POST "$2" "$3" >/dev/null
	elif out=$(request_settled POST "$2" "$3"); then
		save "$1" "$(json .id <<<"$out")"
	elif [[ $out == *"already exists"* ]]; then
		save "$1" existing
	else
		fail_call POST "$2" "$out"
	fi
}
grant GRANT_AGENT_WEATHER_ROLE "/servicePrincipals/${agent_sp}/appRoleAssignments" "{\"principalId\":\"${agent_sp}\",\"resourceId\":\"${weather_sp_id}\",\"appRoleId\":\"${weather_role}\"}"
grant GRANT_AGENT_WEATHER_SCOPE /oauth2PermissionGrants "{\"clientId\":\"${agent_sp}\",\"consentType\":\"AllPrincipals\",\"resourceId\":\"${weather_sp_id}\",\"scope\":\"Weather.Read\"}"
grant GRANT_SPA_BLUEPRINT_SCOPE /oauth2PermissionGrants "{\"clientId\":\"${spa_sp}\",\"consentType\":\"AllPrincipals\",\"resourceId\":\"${bp_sp}\",\"scope\":\"access_as_user\"}"

# The agent's user account (the agent user flow), which only an Agent ID
# Administrator may create (agentuser-post).
if [[ -z $(setting AGENT_USER_UPN) ]] && has_role "Agent ID Administrator"; then
	domain=$(json '.userPrincipalName | split("@")[1]' <<<"$me_json")
	agent_upn="${name}-agent@${domain}"
	# A rerun that lost the setting is told the user exists: as good.
	body="{\"displayName\":\"${name} agent user\",\"mailNickname\":\"${name}-agent\",\"userPrincipalName\":\"${agent_upn}\",\"accountEnabled\":true,\"identityParentId\":\"${agent}\"}"
	if $dry_run; then
		graph POST /users/microsoft.graph.agentUser "$body" >/dev/null
	elif out=$(request_settled POST /users/microsoft.graph.agentUser "$body") || [[ $out == *"already exists"* ]]; then
		save AGENT_USER_UPN "$agent_upn"
	else
		fail_call POST /users/microsoft.graph.agentUser "$out"
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
save TENANT_ID "$tenant"

# A client secret only when asked, for compose against the real tenant
# (the deployed paths prove the blueprint with a managed identity or AWS's
# web identity): short-lived, in a file of its own that no deploy script
# reads, kept while it lasts.
secret=''
if $local_secret; then
	now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	ends=''
	if [[ -f $secret_file ]]; then ends=$(sed -n 's/^BLUEPRINT_CLIENT_SECRET_ENDS=//p' "$secret_file" | tail -1); fi
	if [[ -f $secret_file && $(sed -n 's/^BLUEPRINT_APP_ID=//p' "$secret_file" | tail -1) == "$bp_app" && -n $ends && $ends > $now ]]; then
		secret=$(sed -n 's/^BLUEPRINT_CLIENT_SECRET=//p' "$secret_file" | tail -1)
		echo "entra-setup: ${secret_file} holds the blueprint's local secret until ${ends}" >&2
	else
		ends=$(jq -rn --argjson d "$secret_days" 'now + $d * 86400 | floor | todate')
		out=$(graph POST "/applications/${bp_obj}/microsoft.graph.agentIdentityBlueprint/addPassword" \
			"{\"passwordCredential\":{\"displayName\":\"local compose, until ${ends}\",\"endDateTime\":\"${ends}\"}}")
		if ! $dry_run; then
			secret=$(json .secretText <<<"$out")
			write_setting "$secret_file" BLUEPRINT_APP_ID "$bp_app"
			write_setting "$secret_file" BLUEPRINT_CLIENT_SECRET "$secret"
			write_setting "$secret_file" BLUEPRINT_CLIENT_SECRET_ENDS "$ends"
			echo "entra-setup: wrote the blueprint's local secret, valid until ${ends}, to ${secret_file} (mode 0600, git-ignored): pass it to compose with a second --env-file" >&2
		fi
	fi
fi

# Smoke check, with the local secret: T1 for the agent, then TR for the
# Weather API. New objects take a while to reach every replica: retry for
# about two minutes.
if [[ -n $secret ]]; then
	printf '%s' "$secret" >"${private}/secret"
	for wait in 2 4 8 15 30 60 0; do
		t1=$(post_form "${login}/oauth2/v2.0/token" grant_type=client_credentials "client_id=${bp_app}" \
			"client_secret@${private}/secret" "scope=${token_exchange}/.default" "fmi_path=${agent}")
		json '.access_token // empty' <<<"$t1" | tr -d '\n' >"${private}/t1"
		tr=$(post_form "${login}/oauth2/v2.0/token" grant_type=client_credentials "client_id=${agent}" \
			client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer "client_assertion@${private}/t1" \
			"scope=api://${weather}/.default")
		[[ -z $(json '.access_token // empty' <<<"$tr") ]] || break
		if ((wait == 0)); then
			echo "entra-setup: the T1 -> TR smoke check still fails: $(json '.error_description // empty' <<<"$tr")$(json '.error_description // empty' <<<"$t1")" >&2
			exit 1
		fi
		echo "entra-setup: waiting ${wait}s for the new objects to replicate ($(json '.error_description // .error // empty' <<<"$tr" | cut -c1-80))" >&2
		sleep "$wait"
	done
	echo "entra-setup: T1 -> TR works" >&2
elif ! $dry_run; then
	echo "entra-setup: no blueprint secret (--local-secret adds a short-lived one for compose): T1 -> TR is checked where the blueprint proves itself, by containerapps.sh verify or llm-agent's /api/status" >&2
fi
echo "entra-setup: wrote ${env_file}" >&2
