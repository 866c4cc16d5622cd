#!/usr/bin/env bash
# Install what corral needs and is missing: Debian packages, then the Python package in .venv.
# Idempotent and quick when everything is already there. Usage: scripts/install.sh [test|bench]
# (bench: what the tests need, plus Debian's docker.io, a peer in benchmarks/bench_perf.py)
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(crun runc catatonit tini bubblewrap nftables iproute2 e2fsprogs runsc python3-venv)
mode="${1:-run}"
if [[ "$mode" == "test" || "$mode" == "bench" ]]; then
  PACKAGES+=(procps curl chromium postgresql)
fi
if [[ "$mode" == "bench" ]]; then
  PACKAGES+=(docker.io)
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Install, never start: a packaged daemon (docker.io's dockerd) started here would rewrite
  # the host's firewall under corral. The benchmark starts its own, on a private socket.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
  "$PYTHON" -m venv .venv
fi
extra="e2b,mcp"
[[ "$mode" == "run" ]] || extra="test"
stamp=".venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)-$extra"
if [[ ! -f "$stamp" ]]; then
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e ".[$extra]"
  touch "$stamp"
fi
