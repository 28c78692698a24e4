#!/usr/bin/env bash
# Deploys the agent to AWS only (deploy/aws/template.yaml): the Weather API
# as a Lambda behind API Gateway's JWT authorizer, and llm-agent on
# Bedrock AgentCore Runtime with a secretless blueprint. Then checks it, or
# tears it down.
#   scripts/aws-agentcore.sh deploy     --env-file FILE [--dry-run]
#   scripts/aws-agentcore.sh federation --env-file FILE [--dry-run]
#   scripts/aws-agentcore.sh verify     --env-file FILE
#   scripts/aws-agentcore.sh teardown --env-file FILE [--yes] [--federation] [--entra]
# Runs under bash 3.2 (macOS) and with BSD tools.
set -euo pipefail

usage() {
	cat <<'USAGE'
Usage: scripts/aws-agentcore.sh deploy|federation|verify|teardown --env-file FILE [options]

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
verify    the Weather API answers /health and refuses a call with no token
          (401 from the gateway), the runtime is READY, federation is on
teardown  prints what it would delete; --yes deletes the stack, the ECR
          repository and the bucket's zip; --federation also disables
          outbound identity federation; --entra also removes the
          blueprint's trust in the runtime role (entra-setup.sh --remove)
USAGE
}

cmd=${1:-}
shift || true
env_file='' dry_run=false yes=false with_federation=false with_entra=false
while (($#)); do
	case $1 in
	--env-file) env_file=${2:?}; shift ;;
	--dry-run) dry_run=true ;;
	--yes) yes=true ;;
	--federation) with_federation=true ;;
	--entra) with_entra=true ;;
	-h | --help) usage; exit 0 ;;
	*) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
case $cmd in
-h | --help) usage; exit 0 ;;
deploy | federation | verify | teardown) ;;
*) usage >&2; exit 2 ;;
esac
[[ -n $env_file ]] || { echo "aws-agentcore: --env-file is required" >&2; exit 2; }
set -a
# shellcheck source=/dev/null
. "$env_file"
set +a
: "${TENANT_ID:?} ${AWS_REGION:?}"
if [[ $cmd != federation ]]; then
	: "${ARTIFACT_BUCKET:?} ${IMAGE_TAG:?}"
fi
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
		"BedrockModelId=${BEDROCK_MODEL_ID:-$(default_model)}" "AgentRuntimeName=$(runtime_name)"

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
	$yes || echo "teardown: nothing deleted; add --yes (and --federation, --entra) to delete" >&2
}

"$cmd"
