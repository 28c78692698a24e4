#!/usr/bin/env bash
# Deploys the agent to AWS only (deploy/aws/template.yaml): the Weather API
# as a Lambda behind API Gateway's JWT authorizer, and llm-agent on
# Bedrock AgentCore Runtime with a secretless blueprint. Then checks it, or
# tears it down.
#   scripts/aws-agentcore.sh deploy     --env-file FILE [--dry-run]
#   scripts/aws-agentcore.sh federation --env-file FILE [--dry-run]
#   scripts/aws-agentcore.sh vault      --env-file FILE [--client-secret-stdin] [--dry-run]
#   scripts/aws-agentcore.sh verify     --env-file FILE
#   scripts/aws-agentcore.sh teardown --env-file FILE [--yes] [--federation] [--entra] [--vault]
# Runs under bash 3.2 (macOS) and with BSD tools.
set -euo pipefail

usage() {
	cat <<'USAGE'
Usage: scripts/aws-agentcore.sh deploy|federation|vault|verify|teardown --env-file FILE [options]

FILE holds TENANT_ID, BLUEPRINT_APP_ID, AGENT_CLIENT_ID, CLIENT_SPA_APP_ID,
WEATHER_API_APP_ID (entra-setup.sh writes them), AWS_REGION, ARTIFACT_BUCKET
(an S3 bucket for the Lambda zip), IMAGE_TAG (a new one each deploy: a tag
already in ECR is refused), and optionally STACK_NAME (default agentid; the
AgentCore runtime is named after it, so stacks coexist), ECR_REPOSITORY
(default agentid/llm-agent), AGENT_USER_UPN and BEDROCK_MODEL_ID.

Needs the AWS CLI v2 (v1, in maintenance mode since 2026-08-05, works too:
every command here is in both; tested with v1.45), jq, go, and for deploy
docker with buildx (the image is linux/arm64).

deploy    enables outbound identity federation (no CloudFormation resource
          exists for it) unless it is on with JWT vending enabled, builds the
          Weather API's Lambda zip (linux/arm64)
          and the llm-agent image (docker buildx, linux/arm64, pushed to
          ECR), deploys the stack, and makes the blueprint trust the runtime
          role's tokens (entra-setup.sh --aws-role)
          --dry-run prints the changing calls instead of making them; it
          works on a new account, naming what does not exist yet
federation
          only the IAM step: enables outbound identity federation when it
          is off and prints the account's issuer (what deploy passes to
          entra-setup.sh --aws-issuer); needs only IAM and STS
vault     AgentCore Identity's token vault with Entra as the provider; run
          by entra-setup.sh --vault, which makes the vault's app
          (VAULT_APP_ID) and its secret first and adds the callback URL
          this prints to the app's redirect URIs after. Creates, or with a
          new secret updates, the OAuth2 credential provider
          AGENTCORE_VAULT_PROVIDER (default entra-weather-api, vendor
          MicrosoftOauth2); allows AGENTCORE_VAULT_RETURN_URL (the chat
          UI's https://<origin>/consent.html) on the runtime's workload
          identity, added to those it has; checks the runtime role may
          get the provider's tokens, bind sessions and read its secret (the
          template grants them for VaultProviderName, which deploy sets
          from AGENTCORE_VAULT_PROVIDER; otherwise an inline policy
          agentcore-vault); prints the provider's callback URL.
          --client-secret-stdin reads the app's client secret from stdin
          (never an argument, never a file); without one, a provider that
          is missing or holds another client ID exits 3. WORKLOAD_IDENTITY_NAME
          and RUNTIME_ROLE_ARN name the identity (created if missing) and
          role of an agent the stack does not run; otherwise the stack's
          runtime's are used. Needs the AWS CLI with bedrock-agentcore-control.
verify    the Weather API answers /health and refuses a call with no token
          (401 from the gateway), the runtime is READY, federation is on
teardown  prints what it would delete; --yes deletes the stack, the ECR
          repository and the bucket's zip; --federation also disables
          outbound identity federation; --entra also removes the
          blueprint's trust in the runtime role (entra-setup.sh --remove);
          --vault also deletes the token vault's credential provider
          (AGENTCORE_VAULT_PROVIDER, with the secret AgentCore keeps for
          it; the vault's app stays in Entra, and entra-setup.sh --vault
          gives a new provider a new secret and its callback URL)
USAGE
}

cmd=${1:-}
shift || true
env_file='' dry_run=false yes=false with_federation=false with_entra=false with_vault=false secret_stdin=false
while (($#)); do
	case $1 in
	--env-file) env_file=${2:?}; shift ;;
	--dry-run) dry_run=true ;;
	--yes) yes=true ;;
	--federation) with_federation=true ;;
	--entra) with_entra=true ;;
	--vault) with_vault=true ;;
	--client-secret-stdin) secret_stdin=true ;;
	-h | --help) usage; exit 0 ;;
	*) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
case $cmd in
-h | --help) usage; exit 0 ;;
deploy | federation | vault | verify | teardown) ;;
*) usage >&2; exit 2 ;;
esac
[[ -n $env_file ]] || { echo "aws-agentcore: --env-file is required" >&2; exit 2; }
set -a
# shellcheck source=/dev/null
. "$env_file"
set +a
for k in TENANT_ID AWS_REGION; do
	[[ -n ${!k:-} ]] || { echo "aws-agentcore: ${env_file} has no ${k}" >&2; exit 2; }
done
case $cmd in
federation | vault) ;;
*) : "${ARTIFACT_BUCKET:?} ${IMAGE_TAG:?}" ;;
esac
STACK_NAME=${STACK_NAME:-agentid}
ECR_REPOSITORY=${ECR_REPOSITORY:-agentid/llm-agent}
# The AWS CLI v2 pages output through less by default; v1 ignores this.
export AWS_PAGER=""
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib/models.sh
. "$here/lib/models.sh"
repo=$(cd "$here/.." && pwd)
export AWS_REGION

# shellcheck source=SCRIPTDIR/lib/dryrun.sh
. "$here/lib/dryrun.sh"

# output KEY: the stack's output; in a dry run on a new account (no stack
# yet), a placeholder naming it.
output() {
	local out
	if out=$(aws cloudformation describe-stacks --stack-name "$STACK_NAME" \
		--query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text 2>/dev/null); then
		printf '%s\n' "$out"
	elif $dry_run; then
		printf '<the stack %s output %s>\n' "$STACK_NAME" "$1"
	else
		echo "aws-agentcore: the stack ${STACK_NAME} has no output $1 (is it deployed in ${AWS_REGION}?)" >&2
		exit 1
	fi
}

# runtime_name is the AgentCore runtime's name, from the stack's: a
# runtime's name matches [a-zA-Z][a-zA-Z0-9_]{0,47} and is the account's
# and Region's one runtime of that name (CreateAgentRuntime,
# agentRuntimeName; ConflictException), so two stacks with the template's
# default would collide.
runtime_name() {
	local n
	n=$(printf '%s' "$STACK_NAME" | tr -c 'A-Za-z0-9_' '_')
	case $n in [A-Za-z]*) ;; *) n="a${n}" ;; esac
	printf '%.48s\n' "${n}_agent"
}

# issuer is the account's outbound identity federation issuer, enabling
# the feature when it is off: when GetOutboundWebIdentityFederationInfo
# fails (FeatureDisabled) or its JwtVendingEnabled is not true.
issuer() {
	local info iss on
	if info=$(aws iam get-outbound-web-identity-federation-info --query '[IssuerIdentifier,JwtVendingEnabled]' --output text 2>/dev/null); then
		read -r iss on <<<"$info"
	fi
	if [[ -n ${iss:-} && ${iss:-} != None && ${on:-} == True ]]; then
		echo "$iss"
	elif $dry_run; then
		change aws iam enable-outbound-web-identity-federation --query IssuerIdentifier --output text >&2
		echo "<the issuer enable-outbound-web-identity-federation returns>"
	else
		aws iam enable-outbound-web-identity-federation --query IssuerIdentifier --output text
	fi
}

federation() {
	aws sts get-caller-identity --query Arn --output text >/dev/null
	issuer
}

# quiet runs a call that changes something with its answer dropped, or
# shows it on stderr in a dry run (vault's stdout is its callback URL).
quiet() {
	if $dry_run; then show "$@" >&2; else "$@" >/dev/null; fi
}

# agentcore CALL ARGS...: an AgentCore control call that must succeed, its
# answer as JSON; a refusal stops the script with the CLI's own words.
agentcore() {
	local out
	if ! out=$(aws bedrock-agentcore-control "$@" --output json 2>"${private}/aws-error"); then
		echo "aws-agentcore: ${1} failed: $(tr -s '\n' ' ' <"${private}/aws-error")" >&2
		exit 1
	fi
	printf '%s\n' "$out"
}

# agentcore_get CALL ARGS...: a lookup; nothing when AgentCore says
# ResourceNotFoundException, the answer otherwise, and any other refusal
# stops the script.
agentcore_get() {
	local out
	if out=$(aws bedrock-agentcore-control "$@" --output json 2>"${private}/aws-error"); then
		printf '%s\n' "$out"
	elif ! grep -q ResourceNotFoundException "${private}/aws-error"; then
		echo "aws-agentcore: ${1} failed: $(tr -s '\n' ' ' <"${private}/aws-error")" >&2
		exit 1
	fi
}

# vault: the token vault's Entra provider, the return URL on the
# workload identity and the runtime role's rights; prints the provider's
# callback URL. The order is the APIs': the provider needs the app's
# client ID and secret, and its callback URL exists only once it does.
vault() {
	local name secret='' have='' client op callback provider_arn secret_arn wi wi_json wi_arn urls role policy runtime
	private=$(mktemp -d)
	trap 'rm -rf "$private"' EXIT
	[[ -n ${VAULT_APP_ID:-} ]] || { echo "aws-agentcore: ${env_file} has no VAULT_APP_ID: run entra-setup.sh --vault, which makes the vault's app and runs this" >&2; exit 1; }
	[[ -n ${AGENTCORE_VAULT_RETURN_URL:-} ]] ||
		{ echo "aws-agentcore: set AGENTCORE_VAULT_RETURN_URL in ${env_file}: the chat UI page AgentCore returns the user to after consent, https://<the page's origin>/consent.html" >&2; exit 1; }
	name=${AGENTCORE_VAULT_PROVIDER:-entra-weather-api}
	if $secret_stdin; then
		IFS= read -r secret || true
		[[ -n $secret ]] || { echo "aws-agentcore: --client-secret-stdin, but stdin holds no secret" >&2; exit 2; }
	fi
	aws sts get-caller-identity --query Arn --output text >/dev/null

	# The provider: created, or updated when there is a new secret (its
	# update needs the whole configuration, secret included; AgentCore
	# never gives the secret back). Without a secret, it must exist and
	# hold this client ID.
	have=$(agentcore_get get-oauth2-credential-provider --name "$name")
	client=''
	[[ -z $have ]] || client=$(jq -r '.oauth2ProviderConfigOutput.microsoftOauth2ProviderConfig.clientId // empty' <<<"$have")
	if [[ -z $secret ]]; then
		if [[ -z $have ]]; then
			echo "aws-agentcore: the credential provider ${name} does not exist, and creating it needs the vault app's client secret (entra-setup.sh --vault makes one and passes it on stdin)" >&2
			exit 3
		elif [[ $client != "$VAULT_APP_ID" ]]; then
			echo "aws-agentcore: the credential provider ${name} holds client ${client:-none}, not ${VAULT_APP_ID}: updating it needs the app's client secret (entra-setup.sh --vault makes one and passes it on stdin)" >&2
			exit 3
		fi
		echo "aws-agentcore: the credential provider ${name} holds ${VAULT_APP_ID} and its secret" >&2
	else
		op=create
		[[ -z $have ]] || op=update
		# The secret goes from stdin to jq's stdin to the AWS CLI's stdin
		# (file:///dev/stdin): on no command line, in no file.
		if $dry_run; then
			show aws bedrock-agentcore-control "${op}-oauth2-credential-provider" --name "$name" --credential-provider-vendor MicrosoftOauth2 \
				--oauth2-provider-config-input file:///dev/stdin >&2
			echo "  (stdin: clientId ${VAULT_APP_ID}, tenantId ${TENANT_ID}, the client secret)" >&2
			have=${have:-'{"callbackUrl":"<the callback URL create-oauth2-credential-provider returns>","credentialProviderArn":"<the provider ARN>","clientSecretArn":{"secretArn":"<the provider secret ARN>"}}'}
		elif ! have=$(printf '%s' "$secret" | jq -cRs --arg id "$VAULT_APP_ID" --arg tenant "$TENANT_ID" \
			'{microsoftOauth2ProviderConfig: {clientId: $id, clientSecret: ., tenantId: $tenant}}' |
			aws bedrock-agentcore-control "${op}-oauth2-credential-provider" --name "$name" --credential-provider-vendor MicrosoftOauth2 \
				--oauth2-provider-config-input file:///dev/stdin --output json 2>"${private}/aws-error"); then
			echo "aws-agentcore: ${op}-oauth2-credential-provider failed: $(tr -s '\n' ' ' <"${private}/aws-error")" >&2
			exit 1
		else
			echo "aws-agentcore: ${op}d the credential provider ${name} for ${VAULT_APP_ID}" >&2
		fi
		secret=''
	fi
	callback=$(jq -r '.callbackUrl // empty' <<<"$have")
	provider_arn=$(jq -r '.credentialProviderArn // empty' <<<"$have")
	secret_arn=$(jq -r '.clientSecretArn.secretArn // empty' <<<"$have")
	[[ -n $callback && -n $provider_arn ]] || { echo "aws-agentcore: the credential provider ${name} has no callbackUrl or ARN: $have" >&2; exit 1; }

	# The workload identity: the runtime's (AgentCore made it with the
	# runtime), or the one WORKLOAD_IDENTITY_NAME names, created when
	# missing. Its return URLs are replaced by an update, so the page's is
	# added to those it has.
	if [[ -n ${WORKLOAD_IDENTITY_NAME:-} ]]; then
		wi=$WORKLOAD_IDENTITY_NAME
	else
		runtime=$(output AgentRuntimeArn)
		if [[ $runtime == '<'* ]]; then
			wi="<the runtime's workload identity>"
		else
			wi=$(agentcore get-agent-runtime --agent-runtime-id "${runtime##*/}" | jq -r '.workloadIdentityDetails.workloadIdentityArn // empty')
			[[ -n $wi ]] || { echo "aws-agentcore: the runtime ${runtime##*/} has no workload identity" >&2; exit 1; }
			wi=${wi##*/}
		fi
	fi
	wi_json=''
	[[ $wi == '<'* ]] || wi_json=$(agentcore_get get-workload-identity --name "$wi")
	if [[ -n $wi_json ]]; then
		wi_arn=$(jq -r .workloadIdentityArn <<<"$wi_json")
		urls=$(jq -c --arg u "$AGENTCORE_VAULT_RETURN_URL" '(.allowedResourceOauth2ReturnUrls // []) as $r | if ($r | index($u)) then empty else $r + [$u] end' <<<"$wi_json")
		if [[ -n $urls ]]; then
			quiet aws bedrock-agentcore-control update-workload-identity --name "$wi" --allowed-resource-oauth2-return-urls "$urls"
			echo "aws-agentcore: ${wi} now allows ${AGENTCORE_VAULT_RETURN_URL}" >&2
		fi
	elif [[ -n ${WORKLOAD_IDENTITY_NAME:-} ]]; then
		urls=$(jq -cn --arg u "$AGENTCORE_VAULT_RETURN_URL" '[$u]')
		if $dry_run; then
			quiet aws bedrock-agentcore-control create-workload-identity --name "$wi" --allowed-resource-oauth2-return-urls "$urls"
			wi_arn="<the workload identity ARN>"
		else
			wi_arn=$(agentcore create-workload-identity --name "$wi" --allowed-resource-oauth2-return-urls "$urls" | jq -r .workloadIdentityArn)
			echo "aws-agentcore: created the workload identity ${wi}, allowing ${AGENTCORE_VAULT_RETURN_URL}" >&2
		fi
	elif $dry_run; then
		show aws bedrock-agentcore-control update-workload-identity --name "$wi" --allowed-resource-oauth2-return-urls "[\"${AGENTCORE_VAULT_RETURN_URL}\"]" >&2
		wi_arn="<the workload identity ARN>"
	else
		echo "aws-agentcore: the runtime's workload identity ${wi} does not exist" >&2
		exit 1
	fi

	# The runtime role: the vaulted token and session binding, for this
	# provider and workload identity only, and the provider's secret,
	# which GetResourceOauth2Token reads in the caller's name. The runtime
	# mints the workload access token itself: no GetWorkloadAccessToken*.
	# The stack's template grants them to its role for the provider it
	# was deployed with (VaultProviderName); another provider name, an
	# older stack or a role of RUNTIME_ROLE_ARN gets an inline policy.
	if [[ -z ${RUNTIME_ROLE_ARN:-} ]] && [[ $(aws cloudformation describe-stacks --stack-name "$STACK_NAME" \
		--query "Stacks[0].Parameters[?ParameterKey=='VaultProviderName'].ParameterValue" --output text 2>/dev/null || true) == "$name" ]]; then
		echo "aws-agentcore: the stack ${STACK_NAME}'s runtime role may get ${name}'s tokens (the template's TokenVault statements)" >&2
		printf '%s\n' "$callback"
		return
	fi
	role=${RUNTIME_ROLE_ARN:-$(output AgentRuntimeRoleArn)}
	policy=$(jq -cn --arg p "$provider_arn" --arg w "$wi_arn" --arg s "${secret_arn:-}" '{Version: "2012-10-17", Statement: ([
		{Sid: "VaultToken", Effect: "Allow", Action: ["bedrock-agentcore:GetResourceOauth2Token", "bedrock-agentcore:CompleteResourceTokenAuth"],
			Resource: ([$p, ($p | sub("/oauth2credentialprovider/.*$"; "")), $w, ($w | sub("/workload-identity/.*$"; ""))] | unique)}]
		+ (if $s == "" then [] else [{Sid: "ProviderClientSecret", Effect: "Allow", Action: "secretsmanager:GetSecretValue", Resource: $s}] end))}')
	quiet aws iam put-role-policy --role-name "${role##*/}" --policy-name agentcore-vault --policy-document "$policy"
	echo "aws-agentcore: ${role##*/} may get ${name}'s tokens for ${wi} (inline policy agentcore-vault)" >&2
	printf '%s\n' "$callback"
}

deploy() {
	local account registry image key dist iss role runtime url
	account=$(aws sts get-caller-identity --query Account --output text)
	# A reused IMAGE_TAG would change neither the image URI nor the Lambda
	# zip's key, so CloudFormation would see no change and leave the
	# runtime and the function as they are: refused.
	if aws ecr describe-images --repository-name "$ECR_REPOSITORY" --image-ids "imageTag=${IMAGE_TAG}" --output text >/dev/null 2>&1; then
		echo "aws-agentcore: ${ECR_REPOSITORY}:${IMAGE_TAG} is already in ECR: a reused IMAGE_TAG deploys nothing new (the stack's parameters would not change); set a new IMAGE_TAG in ${env_file}" >&2
		exit 1
	fi
	iss=$(issuer)

	# The Weather API's Lambda: bootstrap for provided.al2023 on arm64.
	key="weather-api/${IMAGE_TAG}.zip"
	dist=$(mktemp -d)
	trap 'rm -rf "$dist"' RETURN
	change env GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -C "$repo" -trimpath -ldflags "-s -w -X main.version=${IMAGE_TAG}" -o "$dist/bootstrap" ./cmd/weather-api
	change python3 -m zipfile -c "$dist/weather-api.zip" "$dist/bootstrap"
	aws s3api head-bucket --bucket "$ARTIFACT_BUCKET" 2>/dev/null ||
		change aws s3 mb "s3://${ARTIFACT_BUCKET}" --region "$AWS_REGION"
	change aws s3 cp "$dist/weather-api.zip" "s3://${ARTIFACT_BUCKET}/${key}"

	# llm-agent's image: AgentCore Runtime runs linux/arm64 containers.
	registry="${account}.dkr.ecr.${AWS_REGION}.amazonaws.com"
	image="${registry}/${ECR_REPOSITORY}:${IMAGE_TAG}"
	aws ecr describe-repositories --repository-names "$ECR_REPOSITORY" --output text >/dev/null 2>&1 ||
		change aws ecr create-repository --repository-name "$ECR_REPOSITORY" --image-scanning-configuration scanOnPush=true --output text
	if $dry_run; then
		echo "would run: aws ecr get-login-password | docker login --username AWS --password-stdin ${registry}"
	else
		aws ecr get-login-password | docker login --username AWS --password-stdin "$registry"
	fi
	change docker buildx build --platform linux/arm64 --build-arg BINARY=llm-agent --build-arg "VERSION=${IMAGE_TAG}" -t "$image" --push "$repo"

	change aws cloudformation deploy --stack-name "$STACK_NAME" --template-file "$repo/deploy/aws/template.yaml" \
		--capabilities CAPABILITY_IAM --no-fail-on-empty-changeset --parameter-overrides \
		"TenantId=${TENANT_ID}" "BlueprintAppId=${BLUEPRINT_APP_ID:?}" "AgentClientId=${AGENT_CLIENT_ID:?}" \
		"ClientSpaAppId=${CLIENT_SPA_APP_ID:?}" "WeatherApiAppId=${WEATHER_API_APP_ID:?}" "AgentUserUpn=${AGENT_USER_UPN:-}" \
		"LambdaCodeBucket=${ARTIFACT_BUCKET}" "LambdaCodeKey=${key}" "AgentImageUri=${image}" \
		"BedrockModelId=${BEDROCK_MODEL_ID:-$(default_model)}" "AgentRuntimeName=$(runtime_name)" \
		"VaultProviderName=${AGENTCORE_VAULT_PROVIDER:-entra-weather-api}"

	role=$(output AgentRuntimeRoleArn)
	url=$(output WeatherApiUrl)
	# The blueprint trusts the role's GetWebIdentityToken tokens: its only
	# credential on AWS.
	change bash "$here/entra-setup.sh" --tenant-id "$TENANT_ID" --aws-role "$role" --aws-issuer "$iss" --env-file "$env_file"
	echo "deployed: Weather API ${url}"
	echo "AgentCore invocation URL (AGENTCORE_INVOCATION_URL for the chat UI):"
	output AgentInvocationUrl
}

verify() {
	local url runtime status code iss on
	url=$(output WeatherApiUrl)
	runtime=$(output AgentRuntimeArn)
	curl -fsS "${url}/health" >/dev/null || { echo "verify: ${url}/health does not answer" >&2; exit 1; }
	code=$(curl -sS -o /dev/null -w '%{http_code}' "${url}/weather?city=Seattle")
	[[ $code == 401 ]] || { echo "verify: a call with no token got ${code}, not 401: is the JWT authorizer attached?" >&2; exit 1; }
	status=$(aws bedrock-agentcore-control get-agent-runtime --agent-runtime-id "${runtime##*/}" --query status --output text)
	[[ $status == READY ]] || { echo "verify: the runtime is ${status}, not READY" >&2; exit 1; }
	read -r iss on <<<"$(aws iam get-outbound-web-identity-federation-info --query '[IssuerIdentifier,JwtVendingEnabled]' --output text)"
	[[ -n $iss && $iss != None && ${on:-} == True ]] || { echo "verify: outbound identity federation is off (JwtVendingEnabled: ${on:-none})" >&2; exit 1; }
	echo "verify: the Weather API and its authorizer, the runtime and federation (${iss}) check out"
	echo "verify: a turn needs a signed-in user: open the chat UI with AGENTCORE_INVOCATION_URL set"
}

teardown() {
	local role iss
	if $with_entra; then
		# The blueprint outlives the stack: its trust in the runtime role
		# goes first, while the stack names the role.
		role=$(aws cloudformation describe-stacks --stack-name "$STACK_NAME" \
			--query "Stacks[0].Outputs[?OutputKey=='AgentRuntimeRoleArn'].OutputValue" --output text 2>/dev/null || true)
		iss=$(aws iam get-outbound-web-identity-federation-info --query IssuerIdentifier --output text 2>/dev/null || true)
		if ! $yes; then
			role=${role:-"<the AgentRuntimeRoleArn output>"} iss=${iss:-"<the outbound federation issuer>"}
		fi
		if [[ -n $role && $role != None && -n $iss && $iss != None ]]; then
			del bash "$here/entra-setup.sh" --tenant-id "$TENANT_ID" --aws-role "$role" --aws-issuer "$iss" --remove --env-file "$env_file"
		else
			echo "teardown: no stack role or issuer to untrust; entra-setup.sh --aws-role <role ARN> --aws-issuer <issuer> --remove does it by hand" >&2
		fi
	fi
	del aws cloudformation delete-stack --stack-name "$STACK_NAME"
	del aws cloudformation wait stack-delete-complete --stack-name "$STACK_NAME"
	del aws ecr delete-repository --repository-name "$ECR_REPOSITORY" --force
	del aws s3 rm "s3://${ARTIFACT_BUCKET}/weather-api/" --recursive
	if $with_federation; then
		del aws iam disable-outbound-web-identity-federation
	fi
	if $with_vault; then
		del aws bedrock-agentcore-control delete-oauth2-credential-provider --name "${AGENTCORE_VAULT_PROVIDER:-entra-weather-api}"
	fi
	$yes || echo "teardown: nothing deleted; add --yes (and --federation, --entra, --vault) to delete" >&2
}

"$cmd"
