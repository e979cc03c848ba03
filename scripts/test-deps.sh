#!/usr/bin/env bash
# Installs the external programs that tests need, only those missing: Go
# programs with `go install` (into $(go env GOBIN), else $(go env GOPATH)/bin),
# Debian packages with apt-get (only when running as root). Tests find them
# through segments/testtool.Require, which skips locally and fails under CI=true.
set -euo pipefail

# Go programs: command -> module@version. Pinned, fetched through the module proxy.
declare -A go_tools=(
	[versitygw]=github.com/versity/versitygw/cmd/versitygw@v1.8.0
)
gobin="$(go env GOBIN)"
[ -n "$gobin" ] || gobin="$(go env GOPATH | cut -d: -f1)/bin"
for tool in "${!go_tools[@]}"; do
	if command -v "$tool" >/dev/null 2>&1 || [ -x "$gobin/$tool" ]; then
		continue
	fi
	echo "test-deps: go install ${go_tools[$tool]} into $gobin" >&2
	GOBIN="$gobin" go install "${go_tools[$tool]}"
done

# what to look for (a command, or an absolute path for a plugin) -> Debian package
declare -A packages=(
	[zstd]=zstd
	[rsyslogd]=rsyslog
	[/usr/lib/x86_64-linux-gnu/rsyslog/omelasticsearch.so]=rsyslog-elasticsearch
	[/usr/lib/x86_64-linux-gnu/rsyslog/omkafka.so]=rsyslog-kafka
	[prometheus]=prometheus
	[kcat]=kcat
	[rg]=ripgrep
	[chromium]=chromium
)

missing=()
for what in "${!packages[@]}"; do
	if [[ $what == /* ]]; then
		[ -e "$what" ] && continue
	else
		command -v "$what" >/dev/null 2>&1 && continue
	fi
	missing+=("${packages[$what]}")
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
# Installing must not start system services (rsyslog, prometheus) on the host:
# tests run their own instances on 127.0.0.1 with free ports.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
