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

# onnxruntime-web for the page `tinyai app` writes, from the npm registry into tinyai's cache
# (never the repository); tinyai.app names the version and the two files it copies.
ort_web=$(.venv/bin/python -c 'from tinyai.app import ORT_WEB_VERSION as v, ORT_WEB_FILES as f, ort_web_dir as d; print(v, d(), *f)' 2>/dev/null) \
  || { echo "setup: warning: cannot import tinyai.app; onnxruntime-web not checked" >&2; ort_web=; }
if [ -n "$ort_web" ]; then
  read -r ort_version ort_dir ort_files <<<"$ort_web"
  missing=
  for name in $ort_files; do [ -f "$ort_dir/$name" ] || missing=1; done
  if [ -n "$missing" ] && command -v npm >/dev/null 2>&1; then
    echo "setup: fetching onnxruntime-web $ort_version from npm for tinyai app"
    tmp=$(mktemp -d)
    if (cd "$tmp" && npm pack --silent "onnxruntime-web@$ort_version" >/dev/null 2>&1) \
        && tar -xzf "$tmp"/onnxruntime-web-*.tgz -C "$tmp" package/dist; then
      # (the MIT licence notice travels in the bundle's header)
      for name in $ort_files; do
        cp "$tmp/package/dist/$name" "$ort_dir/.$name.tmp" && mv "$ort_dir/.$name.tmp" "$ort_dir/$name"
      done
    else
      echo "setup: warning: could not fetch onnxruntime-web $ort_version with npm; tinyai app" \
           "will not work and its test will skip" >&2
    fi
    rm -rf "$tmp"
  elif [ -n "$missing" ]; then
    echo "setup: warning: npm is missing, so onnxruntime-web is not installed: tinyai app will" \
         "not work and its test will skip (install npm, e.g. 'sudo apt-get install npm', and" \
         "re-run scripts/setup.sh, or set TINYAI_ORT_WEB=/folder/with/its/dist/files)" >&2
  fi
fi
