#!/usr/bin/env bash
# Builds the four binaries on the host (static, trimmed, version-stamped)
# and packs each into a scratch image with docker or podman, for machines
# that can build images but pull none.
#   bash scripts/build-images.sh [--dry-run] [--tag TAG] [--engine docker|podman] [--dist DIR]
set -euo pipefail

usage() {
	cat <<'USAGE'
Usage: scripts/build-images.sh [--dry-run] [--tag TAG] [--engine docker|podman] [--dist DIR]

Builds llm-agent, weather-api, token-refresher and cloudsim with CGO_ENABLED=0
into DIR (default dist/), copies the host's CA roots beside them, and packs
each into a scratch image agentid/<binary>:TAG (deploy/images/Containerfile.scratch).
TAG defaults to latest, the tag the compose files use; the engine to docker
when a Docker engine answers, else podman. --dry-run prints the commands
instead of running them. Then:
  docker compose -f deploy/compose/compose.local.yaml --env-file deploy/compose/local.env up --no-build
USAGE
}

dry_run=false
tag=latest
engine=''
dist=dist
while (($#)); do
	case $1 in
	--dry-run) dry_run=true ;;
	--tag) tag=${2:?--tag needs a value}; shift ;;
	--engine) engine=${2:?--engine needs a value}; shift ;;
	--dist) dist=${2:?--dist needs a value}; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

if [[ -z $engine ]]; then
	if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
		engine=docker
	elif command -v podman >/dev/null; then
		engine=podman
	else
		echo "build-images: neither a Docker engine (docker info failed) nor podman: install one, or pass --engine" >&2
		exit 1
	fi
fi

run() {
	if $dry_run; then
		printf '+ %q' "$1"; shift; printf ' %q' "$@"; printf '\n'
	else
		"$@"
	fi
}

cd "$(dirname "$0")/.."
version=$(git describe --always --dirty 2>/dev/null || echo dev)
run mkdir -p "${dist}/empty"
# The host's CA roots: Debian's and Ubuntu's file, Fedora's, or macOS's.
roots=''
for f in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem; do
	if [[ -f $f ]]; then roots=$f; break; fi
done
[[ -n $roots ]] || { echo "build-images: no CA roots file found (tried /etc/ssl/certs/ca-certificates.crt, /etc/pki/tls/certs/ca-bundle.crt, /etc/ssl/cert.pem)" >&2; exit 1; }
run cp "$roots" "${dist}/ca-certificates.crt"
for bin in llm-agent weather-api token-refresher cloudsim; do
	run env CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${version}" -o "${dist}/${bin}" "./cmd/${bin}"
	run "$engine" build --build-arg "BINARY=${bin}" -f deploy/images/Containerfile.scratch -t "agentid/${bin}:${tag}" "$dist"
done
