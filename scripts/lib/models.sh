# shellcheck shell=bash
# Sourced: the project's Bedrock model facts, from deploy/models (the one
# place llm-agent takes them from too).

models_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../deploy/models" && pwd)"

# default_model prints the default inference profile (default.env).
default_model() {
	sed -n 's/^BEDROCK_MODEL_ID=//p' "$models_dir/default.env"
}

# model_end_of_life MODEL REGION prints the date MODEL reached end of life
# on Bedrock in REGION, when lifecycle.tsv records one on or before today;
# nothing otherwise. MODEL may be an inference profile ID (us.anthropic.…).
model_end_of_life() {
	local base=$1
	case ${1%%.*} in
	us | us-gov | eu | apac | jp | au | ca | global) base=${1#*.} ;;
	esac
	awk -F '\t' -v m="$base" -v r="$2" -v today="$(date -u +%Y-%m-%d)" '
		$1 == m && $2 == r { regional = $4; has_regional = 1 }
		$1 == m && $2 == "*" { everywhere = $4 }
		END {
			eol = has_regional ? regional : everywhere
			if (eol != "" && eol != "-" && eol <= today) print eol
		}' "$models_dir/lifecycle.tsv"
}
