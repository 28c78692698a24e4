#!/usr/bin/env bash
# Deploys the agent to AWS only (deploy/aws/template.yaml): the Weather API
# as a Lambda behind API Gateway's JWT authorizer, and llm-agent on
# Bedrock AgentCore Runtime with a secretless blueprint. Then checks it, or
# tears it down.
#   scripts/aws-agentcore.sh deploy     --env-file FILE [--dry-run]
#   scripts/aws-agentcore.sh federation --env-file FILE [--dry-run]
#   scripts/aws-agentcore.sh verify     --env-file FILE
#   scripts/aws-agentcore.sh teardown --env-file FILE [--yes] [--federation] [--entra]
set -euo pipefail

usage() {
	cat <<'USAGE'
Usage: scripts/aws-agentcore.sh deploy|federation|verify|teardown --env-file FILE [options]

FILE holds TENANT_ID, BLUEPRINT_APP_ID, AGENT_CLIENT_ID, CLIENT_SPA_APP_ID,
WEATHER_API_APP_ID (entra-setup.sh writes them), AWS_REGION, ARTIFACT_BUCKET
(an S3 bucket for the Lambda zip), IMAGE_TAG, and optionally STACK_NAME
(default agentid), ECR_REPOSITORY (default agentid/llm-agent),
AGENT_USER_UPN and BEDROCK_MODEL_ID.

Needs the AWS CLI, v1 or v2, recent enough for iam's outbound web identity
federation and bedrock-agentcore-control (v1.45 has both), jq, go, and for
deploy docker with buildx (the image is linux/arm64).

deploy    enables outbound identity federation (no CloudFormation resource
          exists for it), builds the Weather API's Lambda zip (linux/arm64)
          and the llm-agent image (docker buildx, linux/arm64, pushed to
          ECR), deploys the stack, and makes the blueprint trust the runtime
          role's tokens (entra-setup.sh --aws-role)
          --dry-run prints the changing calls instead of making them
federation
          only the IAM step: enables outbound identity federation when it
          is off and prints the account's issuer (what deploy passes to
          entra-setup.sh --aws-issuer); needs only IAM and STS
verify    the Weather API answers /health and refuses a call with no token
          (401 from the gateway), the runtime is READY, federation is on
teardown  prints what it would delete; --yes deletes the stack, the ECR
          repository and the bucket's zip; --federation also disables
          outbound identity federation; --entra says how to remove the
          blueprint's federated credential
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
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib/models.sh
. "$here/lib/models.sh"
repo=$(cd "$here/.." && pwd)
export AWS_REGION

# shellcheck source=SCRIPTDIR/lib/dryrun.sh
. "$here/lib/dryrun.sh"

output() {
	aws cloudformation describe-stacks --stack-name "$STACK_NAME" \
		--query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}

# issuer is the account's outbound identity federation issuer, enabling
# the feature when it is off.
issuer() {
	local iss
	if iss=$(aws iam get-outbound-web-identity-federation-info --query IssuerIdentifier --output text 2>/dev/null) && [[ -n $iss && $iss != None ]]; then
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
		"BedrockModelId=${BEDROCK_MODEL_ID:-$(default_model)}"

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
	local url runtime status code iss
	url=$(output WeatherApiUrl)
	runtime=$(output AgentRuntimeArn)
	curl -fsS "${url}/health" >/dev/null || { echo "verify: ${url}/health does not answer" >&2; exit 1; }
	code=$(curl -sS -o /dev/null -w '%{http_code}' "${url}/weather?city=Seattle")
	[[ $code == 401 ]] || { echo "verify: a call with no token got ${code}, not 401: is the JWT authorizer attached?" >&2; exit 1; }
	status=$(aws bedrock-agentcore-control get-agent-runtime --agent-runtime-id "${runtime##*/}" --query status --output text)
	[[ $status == READY ]] || { echo "verify: the runtime is ${status}, not READY" >&2; exit 1; }
	iss=$(aws iam get-outbound-web-identity-federation-info --query IssuerIdentifier --output text)
	[[ -n $iss && $iss != None ]] || { echo "verify: outbound identity federation is off" >&2; exit 1; }
	echo "verify: the Weather API and its authorizer, the runtime and federation (${iss}) check out"
	echo "verify: a turn needs a signed-in user: open the chat UI with AGENTCORE_INVOCATION_URL set"
}

teardown() {
	del aws cloudformation delete-stack --stack-name "$STACK_NAME"
	del aws cloudformation wait stack-delete-complete --stack-name "$STACK_NAME"
	del aws ecr delete-repository --repository-name "$ECR_REPOSITORY" --force
	del aws s3 rm "s3://${ARTIFACT_BUCKET}/weather-api/" --recursive
	if $with_federation; then
		del aws iam disable-outbound-web-identity-federation
	fi
	if $with_entra; then
		echo "teardown: remove the blueprint's federated credential aws-agentcore-role in the Entra admin center (Agent ID)" >&2
	fi
	$yes || echo "teardown: nothing deleted; add --yes (and --federation) to delete" >&2
}

"$cmd"
