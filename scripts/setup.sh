#!/usr/bin/env bash
# Set SignStream up on a Debian/Ubuntu machine: system packages (Qt's X11 libraries), a virtual
# environment in .venv, the Python stack, the project itself (editable).
#
#   scripts/setup.sh            app only (no torch)
#   scripts/setup.sh --train    + training extras (torch CPU build, onnx, pyarrow) and
#                               KenLM's lmplz built into .kenlm/bin
#   scripts/setup.sh --dev      + training extras + test/lint tools
#   options: --no-apt (skip system packages), PYTHON=python3.11 to choose the interpreter
#
# Idempotent: a second run installs nothing new and takes seconds.
# Why mediapipe is installed with --no-deps: see docs/INSTALL.md.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
apt=1
for arg in "$@"; do
  case "$arg" in
    --train) extras="train" ;;
    --dev) extras="train,dev" ;;
    --no-apt) apt=0 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

# Qt's xcb platform plugin needs these at run time; xvfb/xauth run the GUI tests headless;
# cmake and boost build KenLM's lmplz (scripts/build_kenlm.sh); g++ compiles the kenlm module.
APT_PACKAGES="libgl1 libegl1 libglib2.0-0 libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0 \
libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 \
libxcb-randr0 libxcb-xfixes0 libdbus-1-3 libfontconfig1 libpulse0 xvfb xauth g++ cmake \
libboost-program-options-dev libboost-system-dev libboost-thread-dev libboost-test-dev zlib1g-dev"
if [ "$apt" = 1 ] && command -v apt-get >/dev/null; then
  missing=""
  for p in $APT_PACKAGES; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
  done
  if [ -n "$missing" ]; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    echo "== apt: installing$missing"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
fi

PY="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv with $PY"
  "$PY" -m venv .venv
fi
VPY=.venv/bin/python
"$VPY" -m pip install -q --disable-pip-version-check --upgrade "pip>=24" "setuptools>=77" >/dev/null
pip_install() { "$VPY" -m pip install -q --disable-pip-version-check -c requirements/constraints.txt "$@"; }

# Every requirement of pyproject.toml except mediapipe (installed below without its declared deps).
mapfile -t reqs < <("$VPY" - "$extras" <<'PYEOF'
import sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
reqs = list(project["dependencies"])
for extra in filter(None, sys.argv[1].split(",")):
    reqs += project["optional-dependencies"][extra]
for r in reqs:
    if not r.replace(" ", "").startswith("mediapipe"):
        print(r)
PYEOF
)
echo "== pip: ${#reqs[@]} requirements${extras:+ (extras: $extras)}"
pip_install "${reqs[@]}"
pip_install --no-deps "mediapipe==0.10.21"
pip_install --no-deps --no-build-isolation -e .
"$VPY" -c "import cv2, mediapipe, onnxruntime, numpy; from mediapipe import solutions" \
  || { echo "setup.sh: the installed stack does not import" >&2; exit 1; }
if [ -n "$extras" ]; then
  # KenLM's lmplz/build_binary for `signstream train lm` (idempotent; ~1-2 min the first time)
  scripts/build_kenlm.sh >/dev/null || echo "setup.sh: could not build KenLM's lmplz; \
training/lm.py will write its own modified Kneser-Ney ARPA instead" >&2
fi
echo "== SignStream is installed in .venv (run: .venv/bin/signstream)"
