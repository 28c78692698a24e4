#!/usr/bin/env bash
# Vendors @azure/msal-browser's UMD build into web/static/vendor, from npm.
# Usage: bash scripts/update-msal-browser.sh <version>
set -euo pipefail
if [[ ${1:-} == -h || ${1:-} == --help || $# -ne 1 ]]; then
	echo "Usage: scripts/update-msal-browser.sh <version>   (needs npm; vendors lib/msal-browser.min.js)"
	[[ ${1:-} == -h || ${1:-} == --help ]] && exit 0
	exit 2
fi
version=$1
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack "@azure/msal-browser@${version}" >/dev/null)
tar -xzf "$work"/azure-msal-browser-*.tgz -C "$work" package/lib/msal-browser.min.js
cp "$work/package/lib/msal-browser.min.js" web/static/vendor/msal-browser.min.js
# -i.bak, then remove the backup: BSD sed (macOS) needs a suffix, GNU sed
# takes one too.
sed -i.bak "s/^\`msal-browser.min.js\` is \`@azure\/msal-browser\` [0-9.]*/\`msal-browser.min.js\` is \`@azure\/msal-browser\` ${version}/" web/static/vendor/README.md
rm -f web/static/vendor/README.md.bak
head -c 60 web/static/vendor/msal-browser.min.js; echo
