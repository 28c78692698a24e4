# shellcheck shell=bash
# Sourced by the deploy scripts: calls that change something run, or are
# only shown, as the script's dry_run and yes flags say.
# shellcheck disable=SC2154 # dry_run and yes belong to the sourcing script

# show prints a command as the shell would read it.
show() {
	printf 'would run:'
	printf ' %q' "$@"
	printf '\n'
}

# change runs a call that changes something, or shows it in a dry run.
change() {
	if $dry_run; then show "$@"; else "$@"; fi
}

# change_hiding is change for a call that carries a secret (its first
# argument): a dry run shows <hidden> in its place.
change_hiding() {
	local secret=$1 arg
	shift
	if ! $dry_run; then
		"$@"
		return
	fi
	local shown=()
	for arg in "$@"; do shown+=("${arg//"$secret"/<hidden>}"); done
	show "${shown[@]}"
}

# del runs a deletion with --yes, and only shows it otherwise.
del() {
	if $yes; then "$@"; else show "$@"; fi
}
