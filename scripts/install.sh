#!/usr/bin/env bash
# Install what corral needs and is missing: Debian packages, then the Python package in .venv.
# Idempotent and quick when everything is already there. Usage: scripts/install.sh [test]
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(crun runc catatonit tini bubblewrap nftables iproute2 e2fsprogs runsc python3-venv)
if [[ "${1:-}" == "test" ]]; then
  PACKAGES+=(procps curl chromium postgresql)
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)-${1:-run}"
if [[ ! -f "$stamp" ]]; then
  .venv/bin/pip install -q --upgrade pip >/dev/null
  if [[ "${1:-}" == "test" ]]; then
    .venv/bin/pip install -q -e ".[test]"
  else
    .venv/bin/pip install -q -e ".[e2b]"
  fi
  touch "$stamp"
fi
