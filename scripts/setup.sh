#!/usr/bin/env bash
# Set up everything tinyai needs on a fresh machine, idempotently:
#   1. a virtual environment in .venv with torch installed FIRST and pinned by constraints.txt
#      (an unpinned resolve would pull a newer torch with gigabytes of CUDA packages);
#   2. the package itself (editable) with its dev extras;
#   3. from Debian, when missing: dataset-fashion-mnist, and chromium for the browser tests.
# Re-running is cheap: the install is skipped while pyproject.toml and constraints.txt are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "error: tinyai needs Python >= 3.11 ($PYTHON is $("$PYTHON" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $("$PYTHON" --version)"
  "$PYTHON" -m venv .venv
fi

# This machine's pip config lists local mirror folders that may be absent; pip warns about each
# one on every package. Drop only those lines, so real errors stay visible.
pip_install() {
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "$@" \
    2> >(grep -v "^WARNING: Location 'file://" >&2)
}

want=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
have=$(cat .venv/.tinyai-installed 2>/dev/null || true)
if [ "$want" != "$have" ]; then
  echo "setup: installing torch (pinned by constraints.txt), then tinyai and its dependencies"
  pip_install -c constraints.txt torch
  pip_install -c constraints.txt -e '.[dev]'
  echo "$want" > .venv/.tinyai-installed
fi

# Debian packages tinyai uses: installed when missing where apt runs as root; elsewhere a
# warning that names the command, never a failure.
apt_updated=
apt_install() {  # PACKAGE WHAT-HAPPENS-WITHOUT-IT
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian's $1"
    if [ -z "$apt_updated" ]; then
      apt-get update -qq >/dev/null 2>&1 || true
      apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null 2>&1 \
      || echo "setup: warning: could not install $1; $2" >&2
  else
    echo "setup: warning: $1 is missing and apt-get is unavailable here (or not root);" \
         "install it with 'sudo apt-get install $1'; $2" >&2
  fi
}

FASHION_DIR=/usr/share/datasets/fashion-mnist
if [ ! -f "$FASHION_DIR/train-images-idx3-ubyte.gz" ]; then
  apt_install dataset-fashion-mnist \
    "Fashion-MNIST features will be unavailable (or set TINYAI_FASHION_MNIST=/dir/with/idx/files)"
fi

# Headless Chromium checks the HTML report (and web pages) in the tests, driven by Playwright
# with Debian's browser: Playwright never downloads one of its own.
if [ -z "${TINYAI_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1 \
    && ! command -v chromium-browser >/dev/null 2>&1 && ! command -v google-chrome >/dev/null 2>&1; then
  apt_install chromium "the browser tests will skip (or set TINYAI_CHROMIUM=/path/to/chromium)"
fi
