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

# del runs a deletion with --yes, and only shows it otherwise.
del() {
	if $yes; then "$@"; else show "$@"; fi
}
