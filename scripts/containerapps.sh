#!/usr/bin/env bash
# Deploys the agent to Azure Container Apps, checks it, or tears it down.
#   scripts/containerapps.sh deploy   --env-file FILE [--dry-run]
#   scripts/containerapps.sh build    --env-file FILE [--dry-run]
#   scripts/containerapps.sh verify   --env-file FILE
#   scripts/containerapps.sh teardown --env-file FILE [--yes] [--aws] [--entra]
# Runs under bash 3.2 (macOS) and with BSD tools.
set -euo pipefail

usage() {
	cat <<'USAGE'
Usage: scripts/containerapps.sh deploy|build|verify|teardown --env-file FILE [options]

FILE holds the render variables (see scripts/render-containerapp.sh) plus
RESOURCE_GROUP, ENVIRONMENT_NAME and ACR_NAME; entra-setup.sh and
aws-federation.sh write most of them. Optional, for telemetry through the
environment's managed OpenTelemetry agent: APPLICATIONINSIGHTS_CONNECTION_STRING
(traces and logs; Application Insights takes no metrics), OTLP_ENDPOINT and
OTLP_HEADERS (an OTLP destination for traces and metrics).

deploy    resource group, ACR, environment, the app with a system-assigned
          identity, AcrPull, the images (build), both federated
          credentials (entra-setup.sh --federated-credential), the rendered
          manifest, and the SPA redirect URI for the app's address
          --dry-run prints the changing calls instead of making them; it
          works on a new subscription, naming what does not exist yet
build     the three images at IMAGE_TAG, with ACR Tasks (az acr build), or,
          where ACR Tasks is refused (TasksOperationsNotAllowed, as on free
          trial subscriptions), with docker buildx on this machine, pushed
          after az acr login. An IMAGE_TAG already in the registry is
          refused: the app would keep its revision (pick a new tag)
verify    /api/status, a chat turn, the refresher's log line, and
          AssumeRoleWithWebIdentity in CloudTrail
teardown  prints what it would delete; --yes deletes the Azure resources,
          --aws also the IAM role and OIDC provider, --entra also the
          blueprint's and STS app's trust in the app's identity
          (entra-setup.sh --remove) and the apps az may delete

Needs the Azure CLI, jq, and for a local build docker with buildx; the AWS
steps the AWS CLI v2 (v1 works too).
USAGE
}

cmd=${1:-}
shift || true
env_file='' dry_run=false yes=false with_aws=false with_entra=false
while (($#)); do
	case $1 in
	--env-file) env_file=${2:?}; shift ;;
	--dry-run) dry_run=true ;;
	--yes) yes=true ;;
	--aws) with_aws=true ;;
	--entra) with_entra=true ;;
	-h | --help) usage; exit 0 ;;
	*) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
case $cmd in
-h | --help) usage; exit 0 ;;
deploy | build | verify | teardown) ;;
*) usage >&2; exit 2 ;;
esac
[[ -n $env_file ]] || { echo "containerapps: --env-file is required" >&2; exit 2; }
set -a
# shellcheck source=/dev/null
. "$env_file"
set +a
here=$(cd "$(dirname "$0")" && pwd)

# shellcheck source=SCRIPTDIR/lib/dryrun.sh
. "$here/lib/dryrun.sh"

# look PLACEHOLDER CMD...: what a read-only az call answers; in a dry run,
# PLACEHOLDER when it fails (on a new subscription the resource the call
# reads is one the dry run only showed creating). A real run stops on the
# failure, as set -e would.
look() {
	local placeholder=$1 out
	shift
	if out=$("$@"); then
		printf '%s\n' "$out"
	elif $dry_run; then
		printf '%s\n' "$placeholder"
	else
		echo "containerapps: $* failed" >&2
		exit 1
	fi
}

# ACR Tasks is refused on some subscriptions: "ACR Tasks requests for the
# registry ... are not permitted" (TasksOperationsNotAllowed, as reported
# in MicrosoftDocs/azure-aks-docs#112 and Azure-Samples/azure-search-openai-
# demo#2220); "Azure Container Registry task runs are temporarily paused
# from Azure free credits" (learn.microsoft.com/azure/container-registry/
# container-registry-tasks-overview, read 2026-12-06). Then the images are
# built here with docker buildx and pushed after az acr login, single-arch
# amd64 with no provenance attestation (a manifest list Container Apps
# need not resolve), from the same Dockerfile.
build() {
	local bin log server local_build=
	if az acr repository show --name "$ACR_NAME" --image "llm-agent:${IMAGE_TAG}" --output none 2>/dev/null; then
		# A revision is created by a revision-scope change; the same image
		# reference is none, so the app would keep running the old image
		# (learn.microsoft.com/azure/container-apps/revisions, read 2026-12-06).
		echo "containerapps: llm-agent:${IMAGE_TAG} is already in ${ACR_NAME}: a reused IMAGE_TAG rolls out nothing (the app's revision stays); set a new IMAGE_TAG in ${env_file}" >&2
		exit 1
	fi
	server=$(look "${ACR_NAME}.azurecr.io" az acr show --name "$ACR_NAME" --query loginServer --output tsv 2>/dev/null)
	log=$(mktemp)
	for bin in llm-agent weather-api token-refresher; do
		# ACR Tasks cannot build the BuildKit Dockerfile: its own file.
		if $dry_run; then
			show az acr build --registry "$ACR_NAME" --image "${bin}:${IMAGE_TAG}" --file deploy/images/Dockerfile.acr \
				--build-arg "BINARY=${bin}" --build-arg "VERSION=${IMAGE_TAG}" "$here/.."
			continue
		fi
		if [[ -z $local_build ]]; then
			if az acr build --registry "$ACR_NAME" --image "${bin}:${IMAGE_TAG}" --file deploy/images/Dockerfile.acr \
				--build-arg "BINARY=${bin}" --build-arg "VERSION=${IMAGE_TAG}" "$here/.." 2>"$log"; then
				continue
			fi
			if ! grep -q TasksOperationsNotAllowed "$log"; then
				cat "$log" >&2
				rm -f "$log"
				exit 1
			fi
			echo "containerapps: ACR Tasks is not allowed on this registry (TasksOperationsNotAllowed): building the images here with docker buildx" >&2
			az acr login --name "$ACR_NAME"
			local_build=1
		fi
		docker buildx build --platform linux/amd64 --provenance=false --file "$here/../deploy/images/Dockerfile.acr" \
			--build-arg "BINARY=${bin}" --build-arg "VERSION=${IMAGE_TAG}" --tag "${server}/${bin}:${IMAGE_TAG}" --push "$here/.."
	done
	rm -f "$log"
	if $dry_run; then
		echo "would run, if ACR Tasks is refused (TasksOperationsNotAllowed): az acr login --name ${ACR_NAME}, then docker buildx build --platform linux/amd64 --provenance=false --push for each image"
	fi
}

deploy() {
	change az group create --name "$RESOURCE_GROUP" --location "$LOCATION" --output none
	az acr show --name "$ACR_NAME" --output none 2>/dev/null ||
		change az acr create --name "$ACR_NAME" --resource-group "$RESOURCE_GROUP" --sku Basic --output none
	az containerapp env show --name "$ENVIRONMENT_NAME" --resource-group "$RESOURCE_GROUP" --output none 2>/dev/null ||
		change az containerapp env create --name "$ENVIRONMENT_NAME" --resource-group "$RESOURCE_GROUP" --location "$LOCATION" --output none
	telemetry
	build
	# The app first with a public placeholder image: its identity must
	# exist before it may pull from the registry or be trusted by Entra.
	az containerapp show --name "$APP_NAME" --resource-group "$RESOURCE_GROUP" --output none 2>/dev/null ||
		change az containerapp create --name "$APP_NAME" --resource-group "$RESOURCE_GROUP" --environment "$ENVIRONMENT_NAME" \
			--image mcr.microsoft.com/k8se/quickstart:latest --system-assigned --output none
	principal=$(look "<the app's principal ID>" az containerapp show --name "$APP_NAME" --resource-group "$RESOURCE_GROUP" --query identity.principalId --output tsv)
	acr_id=$(look "<the registry's ID>" az acr show --name "$ACR_NAME" --query id --output tsv)
	change az role assignment create --assignee-object-id "$principal" --assignee-principal-type ServicePrincipal --role AcrPull --scope "$acr_id" --output none
	# The app's FQDN is its name under this domain: llm-agent's PUBLIC_ORIGIN,
	# and where its consent page is (a redirect URI of the blueprint, which
	# only entra-setup.sh's Agent ID token may change).
	ENVIRONMENT_DOMAIN=$(look "<the environment's default domain>" az containerapp env show --name "$ENVIRONMENT_NAME" --resource-group "$RESOURCE_GROUP" \
		--query properties.defaultDomain --output tsv)
	change bash "$here/entra-setup.sh" --tenant-id "$TENANT_ID" --federated-credential "$principal" \
		--public-origin "https://${APP_NAME}.${ENVIRONMENT_DOMAIN}" --env-file "$env_file"
	ENVIRONMENT_ID=$(look "<the environment's ID>" az containerapp env show --name "$ENVIRONMENT_NAME" --resource-group "$RESOURCE_GROUP" --query id --output tsv)
	ACR_SERVER=$(look "${ACR_NAME}.azurecr.io" az acr show --name "$ACR_NAME" --query loginServer --output tsv)
	export ENVIRONMENT_ID ENVIRONMENT_DOMAIN ACR_SERVER
	manifest=$(mktemp)
	trap 'rm -f "$manifest"' RETURN
	bash "$here/render-containerapp.sh" >"$manifest"
	change az containerapp update --name "$APP_NAME" --resource-group "$RESOURCE_GROUP" --yaml "$manifest" --output none
	fqdn=$(look "${APP_NAME}.${ENVIRONMENT_DOMAIN}" az containerapp show --name "$APP_NAME" --resource-group "$RESOURCE_GROUP" \
		--query properties.configuration.ingress.fqdn --output tsv)
	spa_obj=$(az ad app show --id "$CLIENT_SPA_APP_ID" --query id --output tsv)
	uris=$(az ad app show --id "$CLIENT_SPA_APP_ID" --query spa.redirectUris --output json)
	if ! grep -q "https://${fqdn}" <<<"$uris"; then
		# Added to what the SPA has: a PATCH replaces the whole collection.
		new=$(jq -c --arg u "https://${fqdn}" '. + [$u] | {spa: {redirectUris: .}}' <<<"$uris")
		change az rest --method PATCH --url "https://graph.microsoft.com/v1.0/applications/${spa_obj}" --body "$new"
	fi
	echo "deployed: https://${fqdn}"
}

# telemetry points the environment's managed OpenTelemetry agent at the
# destinations the env file names. The agent is set on the environment, not
# on the app, and injects OTEL_EXPORTER_OTLP_ENDPOINT and
# OTEL_EXPORTER_OTLP_PROTOCOL=grpc into the containers, which the binaries
# read (learn.microsoft.com/azure/container-apps/opentelemetry-agents; the
# commands: learn.microsoft.com/cli/azure/containerapp/env/telemetry).
telemetry() {
	local env=(--name "$ENVIRONMENT_NAME" --resource-group "$RESOURCE_GROUP")
	if [[ -n ${APPLICATIONINSIGHTS_CONNECTION_STRING:-} ]]; then
		change_hiding "$APPLICATIONINSIGHTS_CONNECTION_STRING" az containerapp env telemetry app-insights set "${env[@]}" \
			--connection-string "$APPLICATIONINSIGHTS_CONNECTION_STRING" --enable-open-telemetry-traces true --enable-open-telemetry-logs true --output none
	fi
	if [[ -n ${OTLP_ENDPOINT:-} ]]; then
		local verb=add
		az containerapp env telemetry otlp show "${env[@]}" --otlp-name agentid --output none 2>/dev/null && verb=update
		local otlp=(az containerapp env telemetry otlp "$verb" "${env[@]}" --otlp-name agentid --endpoint "$OTLP_ENDPOINT" --insecure false
			--enable-open-telemetry-traces true --enable-open-telemetry-metrics true --enable-open-telemetry-logs false --output none)
		if [[ -n ${OTLP_HEADERS:-} ]]; then
			change_hiding "$OTLP_HEADERS" "${otlp[@]}" --headers "$OTLP_HEADERS"
		else
			change "${otlp[@]}"
		fi
	fi
}

verify() {
	fqdn=$(az containerapp show --name "$APP_NAME" --resource-group "$RESOURCE_GROUP" --query properties.configuration.ingress.fqdn --output tsv)
	status=$(curl -fsS "https://${fqdn}/api/status")
	for check in identity weather_api bedrock; do
		if [[ $(jq -r ".checks.${check}.ok" <<<"$status") != true ]]; then
			echo "verify: ${check} is not OK: $(jq -r ".checks.${check}.reason" <<<"$status")" >&2
			exit 1
		fi
	done
	# The ingress is public: a turn without a signed-in user must be refused
	# (AUTONOMOUS_NEEDS_SIGN_IN); a signed-in turn is the browser's.
	code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST "https://${fqdn}/api/chat" -H 'Content-Type: application/json' \
		-d '{"message":"What is the weather in Seattle?","llm_mode":"bedrock","token_flow":"autonomous"}')
	[[ $code == 401 ]] || { echo "verify: a turn without a signed-in user was answered ${code}, not 401: anyone could run Bedrock turns" >&2; exit 1; }
	az containerapp logs show --name "$APP_NAME" --resource-group "$RESOURCE_GROUP" --container token-refresher --tail 100 --format text |
		grep -q "wrote web identity token" || { echo "verify: no token written by token-refresher" >&2; exit 1; }
	aws cloudtrail lookup-events --region "$AWS_REGION" --lookup-attributes AttributeKey=EventName,AttributeValue=AssumeRoleWithWebIdentity \
		--max-results 5 --query 'Events[].Username' --output text
	echo "verify: status, the sign-in gate, the refresher and STS all check out"
}

teardown() {
	local principal
	if $with_entra; then
		# The blueprint outlives the app (az cannot delete it): its trust in
		# the app's identity goes first, while the identity can be read.
		principal=$(az containerapp show --name "$APP_NAME" --resource-group "$RESOURCE_GROUP" --query identity.principalId --output tsv 2>/dev/null || true)
		if [[ -z $principal ]] && ! $yes; then principal="<the app's principal ID>"; fi
		if [[ -n $principal ]]; then
			del bash "$here/entra-setup.sh" --tenant-id "$TENANT_ID" --federated-credential "$principal" --remove --env-file "$env_file"
		fi
	fi
	del az containerapp delete --name "$APP_NAME" --resource-group "$RESOURCE_GROUP" --yes
	del az containerapp env delete --name "$ENVIRONMENT_NAME" --resource-group "$RESOURCE_GROUP" --yes
	del az acr delete --name "$ACR_NAME" --yes
	if $with_aws; then
		local role=${AWS_ROLE_ARN##*/} account=${AWS_ROLE_ARN#arn:aws:iam::}
		account=${account%%:*}
		del aws iam delete-role-policy --role-name "$role" --policy-name bedrock-invoke
		del aws iam delete-role --role-name "$role"
		del aws iam delete-open-id-connect-provider --open-id-connect-provider-arn "arn:aws:iam::${account}:oidc-provider/sts.windows.net/${TENANT_ID}/"
	fi
	if $with_entra; then
		for app in "$CLIENT_SPA_APP_ID" "$WEATHER_API_APP_ID" "$STS_APP_ID"; do
			del az ad app delete --id "$app"
		done
		echo "teardown: delete the blueprint and its agent identities in the Entra admin center (Agent ID); az's Graph token cannot. Credentials of other deployments stay: entra-setup.sh --federated-credential <a current identity> --prune removes those of identities that no longer exist" >&2
	fi
	$yes || echo "teardown: nothing deleted; add --yes (and --aws, --entra) to delete" >&2
}

"$cmd"
