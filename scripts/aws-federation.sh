#!/usr/bin/env bash
# Chain B's AWS side: an IAM OIDC provider for Entra's v1 issuer, a role
# that trusts the intermediary STS app's token by aud and sub, a Bedrock-only
# permissions policy, and a preflight call to the model. Idempotent: what
# exists is checked and updated, not duplicated. Runs under bash 3.2
# (macOS) and with BSD tools.
set -euo pipefail

usage() {
	cat <<'USAGE'
Usage: scripts/aws-federation.sh --tenant-id ID --sts-app-uri URI --sts-sp-object-id OID
                                 [--role-name NAME] [--region REGION] [--model-id ID] [--dry-run]

  --tenant-id         the Entra tenant (the provider is sts.windows.net/<tenant>/)
  --sts-app-uri       the STS app's identifier URI: the provider's client ID and the aud condition
  --sts-sp-object-id  the STS app's service principal object ID: the sub condition
  --role-name         default agentid-bedrock-invoke
  --region            default us-east-1
  --model-id          the inference profile, default deploy/models/default.env's
  --dry-run           print the changing calls instead of making them (lookups still run)

Prints AWS_ROLE_ARN=<arn> for the agent's settings. Needs the AWS CLI v2 (v1, in
maintenance mode since 2026-08-05, works too: every command here, iam's OIDC
provider and role calls, sts get-caller-identity and bedrock-runtime converse,
is in both; tested with v1.45), signed in with rights over IAM.
USAGE
}

here=$(cd "$(dirname "$0")" && pwd)
# The AWS CLI v2 pages output through less by default; v1 ignores this.
export AWS_PAGER=""
# shellcheck source=SCRIPTDIR/lib/dryrun.sh
. "$here/lib/dryrun.sh"
# shellcheck source=SCRIPTDIR/lib/models.sh
. "$here/lib/models.sh"

tenant='' sts_uri='' sts_sub='' role=agentid-bedrock-invoke region=us-east-1 model=$(default_model) dry_run=false
while (($#)); do
	case $1 in
	--tenant-id) tenant=${2:?}; shift ;;
	--sts-app-uri) sts_uri=${2:?}; shift ;;
	--sts-sp-object-id) sts_sub=${2:?}; shift ;;
	--role-name) role=${2:?}; shift ;;
	--region) region=${2:?}; shift ;;
	--model-id) model=${2:?}; shift ;;
	--dry-run) dry_run=true ;;
	-h | --help) usage; exit 0 ;;
	*) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
[[ -n $tenant && -n $sts_uri && -n $sts_sub ]] || { usage >&2; exit 2; }

eol=$(model_end_of_life "$model" "$region")
if [[ -n $eol ]]; then
	echo "aws-federation: warning: $model reached end of life on Bedrock on $eol in $region (deploy/models/lifecycle.tsv), so the preflight will fail; pass --model-id an active model such as $(default_model)" >&2
fi

account=$(aws sts get-caller-identity --query Account --output text)
host="sts.windows.net/${tenant}/" # the trailing slash is part of the issuer
provider_arn="arn:aws:iam::${account}:oidc-provider/${host}"

if clients=$(aws iam get-open-id-connect-provider --open-id-connect-provider-arn "$provider_arn" --query ClientIDList --output text 2>/dev/null); then
	if ! grep -qwF -- "$sts_uri" <<<"$clients"; then
		change aws iam add-client-id-to-open-id-connect-provider --open-id-connect-provider-arn "$provider_arn" --client-id "$sts_uri"
	fi
else
	change aws iam create-open-id-connect-provider --url "https://${host}" --client-id-list "$sts_uri"
fi

trust=$(cat <<JSON
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"${provider_arn}"},
"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"${host}:aud":"${sts_uri}","${host}:sub":"${sts_sub}"}}}]}
JSON
)
if aws iam get-role --role-name "$role" --query Role.Arn --output text >/dev/null 2>&1; then
	change aws iam update-assume-role-policy --role-name "$role" --policy-document "$trust"
else
	change aws iam create-role --role-name "$role" --assume-role-policy-document "$trust" --max-session-duration 3600
fi

# Bedrock only: the inference profile and the foundation models it routes to.
base_model=${model#*.}
policy=$(cat <<JSON
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["bedrock:InvokeModel","bedrock:InvokeModelWithResponseStream"],
"Resource":["arn:aws:bedrock:${region}:${account}:inference-profile/${model}","arn:aws:bedrock:*::foundation-model/${base_model}"]}]}
JSON
)
change aws iam put-role-policy --role-name "$role" --policy-name bedrock-invoke --policy-document "$policy"

# Preflight with the operator's credentials: can this account call the
# model here? Bedrock's refusal says which fix applies.
if ! refusal=$(aws bedrock-runtime converse --region "$region" --model-id "$model" \
	--messages '[{"role":"user","content":[{"text":"ping"}]}]' --inference-config '{"maxTokens":5}' --query stopReason --output text 2>&1 >/dev/null); then
	echo "$refusal" >&2
	case $refusal in
	*ResourceNotFoundException*"end of its life"*)
		echo "aws-federation: $model has reached end of life on Bedrock in $region: pass --model-id an active model, such as $(default_model)" >&2 ;;
	*ResourceNotFoundException*Legacy*)
		echo "aws-federation: $model is Legacy on Bedrock and this account has not used it lately, so Bedrock refuses it: pass --model-id an active model, such as $(default_model)" >&2 ;;
	*AccessDeniedException*)
		echo "aws-federation: the preflight call to $model in $region was refused: enable model access in the Bedrock console, or allow bedrock:InvokeModel to the identity running this script" >&2 ;;
	*)
		echo "aws-federation: the preflight call to $model in $region failed (above)" >&2 ;;
	esac
	exit 1
fi
echo "AWS_ROLE_ARN=arn:aws:iam::${account}:role/${role}"
