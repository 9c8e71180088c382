#!/usr/bin/env bash
# Set up everything tinyai needs on a fresh machine, idempotently:
#   1. a virtual environment in .venv with torch installed FIRST and pinned by constraints.txt
#      (an unpinned resolve would pull a newer torch with gigabytes of CUDA packages);
#   2. the package itself (editable) with its dev extras;
#   3. Fashion-MNIST from Debian's dataset-fashion-mnist when it is missing.
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

FASHION_DIR=/usr/share/datasets/fashion-mnist
if [ ! -f "$FASHION_DIR/train-images-idx3-ubyte.gz" ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian's dataset-fashion-mnist"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; } >/dev/null \
      || echo "setup: warning: could not install dataset-fashion-mnist; Fashion-MNIST features will be unavailable" >&2
  else
    echo "setup: warning: Fashion-MNIST is missing and apt-get is unavailable here;" \
         "install it with 'sudo apt-get install dataset-fashion-mnist' or set TINYAI_FASHION_MNIST=/dir/with/idx/files" >&2
  fi
fi
