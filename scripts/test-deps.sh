#!/usr/bin/env bash
# Installs the external commands that tests need, only those missing, with
# apt-get (and only when running as root). Tests find them through
# segments/testtool.Require, which skips locally and fails under CI=true.
set -euo pipefail

# command -> Debian package
declare -A packages=(
	[zstd]=zstd
)

missing=()
for cmd in "${!packages[@]}"; do
	command -v "$cmd" >/dev/null 2>&1 || missing+=("${packages[$cmd]}")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "test-deps: missing ${missing[*]}; not installing (needs root and apt-get)." >&2
	echo "test-deps: tests that need them skip locally and fail when CI=true." >&2
	exit 0
fi
echo "test-deps: installing ${missing[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
