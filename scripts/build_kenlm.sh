#!/usr/bin/env bash
# Build KenLM's estimation tools (lmplz, build_binary) into .kenlm/bin (git-ignored).
#
#   scripts/build_kenlm.sh            build (idempotent: does nothing when both tools exist)
#   scripts/build_kenlm.sh --force    rebuild from scratch
#
# `pip install kenlm` gives only the Python query module; no Debian package ships lmplz. The
# kenlm sdist on PyPI holds the full C++ tree (lm/builder included), so we download exactly the
# version the project queries with and build the two tools with cmake against Debian's boost:
#   apt: g++ cmake libboost-program-options-dev libboost-system-dev libboost-thread-dev
#        libboost-test-dev zlib1g-dev          (scripts/setup.sh installs them)
# training/lm.py uses .kenlm/bin/lmplz when it exists (--backend auto|lmplz), else its own
# modified Kneser-Ney ARPA writer.
#
# Env: KENLM_VERSION (default 0.3.0), PYTHON (default .venv/bin/python, for `pip download`),
#      JOBS (default: number of cores).
set -euo pipefail
cd "$(dirname "$0")/.."

KENLM_VERSION="${KENLM_VERSION:-0.3.0}"
PY="${PYTHON:-.venv/bin/python}"
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
PREFIX=.kenlm
BIN="$PREFIX/bin"

force=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "build_kenlm.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

if [ "$force" = 0 ] && [ -x "$BIN/lmplz" ] && [ -x "$BIN/build_binary" ]; then
  echo "== KenLM tools already built: $BIN/lmplz, $BIN/build_binary (--force to rebuild)"
  exit 0
fi

for tool in cmake g++ make; do
  command -v "$tool" >/dev/null || {
    echo "build_kenlm.sh: '$tool' not found; install it (apt-get install cmake g++ make)" >&2
    exit 1
  }
done
# boost headers are the usual missing piece; cmake's own message for them is hard to read
if [ ! -f /usr/include/boost/program_options.hpp ] && [ ! -f /usr/local/include/boost/program_options.hpp ]; then
  echo "build_kenlm.sh: boost headers not found; install: apt-get install" \
    "libboost-program-options-dev libboost-system-dev libboost-thread-dev" \
    "libboost-test-dev zlib1g-dev" >&2
  exit 1
fi

SRC="$PREFIX/src"
rm -rf "$SRC" "$PREFIX/build"
mkdir -p "$SRC" "$BIN"

echo "== downloading the kenlm $KENLM_VERSION sdist"
# --no-binary kenlm (not :all:, which would build cmake itself from source for the metadata
# step) and --no-build-isolation (the environment's setuptools reads the metadata): 1-2 s
"$PY" -m pip download -q --disable-pip-version-check --no-deps --no-binary kenlm \
  --no-build-isolation -d "$SRC" "kenlm==$KENLM_VERSION"
archive=""
for f in "$SRC"/kenlm-*.tar.gz "$SRC"/kenlm-*.zip; do
  [ -f "$f" ] && { archive="$f"; break; }
done
[ -n "$archive" ] || { echo "build_kenlm.sh: no kenlm sdist downloaded" >&2; exit 1; }
case "$archive" in
  *.zip) (cd "$SRC" && unzip -q "$(basename "$archive")") ;;
  *) tar -xzf "$archive" -C "$SRC" ;;
esac
top=$(find "$SRC" -mindepth 1 -maxdepth 1 -type d | head -n 1)
[ -f "$top/lm/builder/lmplz_main.cc" ] || {
  echo "build_kenlm.sh: $archive has no lm/builder (not a full KenLM tree)" >&2
  exit 1
}

echo "== building lmplz and build_binary ($JOBS jobs; about 100 s on 2 cores)"
mkdir -p "$PREFIX/build"
# KENLM_MAX_ORDER 6 is KenLM's default; an order above it needs a rebuild with a larger value
cmake -S "$top" -B "$PREFIX/build" -DCMAKE_BUILD_TYPE=Release -DKENLM_MAX_ORDER=6 \
  -DCOMPILE_TESTS=OFF >"$PREFIX/cmake.log" 2>&1 \
  || { echo "build_kenlm.sh: cmake failed; see $PREFIX/cmake.log" >&2; tail -n 20 "$PREFIX/cmake.log" >&2; exit 1; }
cmake --build "$PREFIX/build" -j "$JOBS" --target lmplz build_binary >"$PREFIX/make.log" 2>&1 \
  || { echo "build_kenlm.sh: build failed; see $PREFIX/make.log" >&2; tail -n 20 "$PREFIX/make.log" >&2; exit 1; }

for tool in lmplz build_binary; do
  found=$(find "$PREFIX/build" -type f -name "$tool" -perm -u+x | head -n 1)
  [ -n "$found" ] || { echo "build_kenlm.sh: $tool was not produced" >&2; exit 1; }
  install -m 0755 "$found" "$BIN/$tool"
done
# smoke test: a two-sentence bigram model
printf 'a b\nb a\n' | "$BIN/lmplz" -o 2 -S 100M --discount_fallback >/dev/null 2>"$PREFIX/smoke.log" \
  || { echo "build_kenlm.sh: the built lmplz does not run; see $PREFIX/smoke.log" >&2; exit 1; }
rm -rf "$PREFIX/build" "$SRC"
echo "== built $BIN/lmplz and $BIN/build_binary (kenlm $KENLM_VERSION)"
