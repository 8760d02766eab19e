#!/usr/bin/env bash
# Decloud developer entry point. Every sub-command first installs whatever is missing
# (apt packages, the virtual environment, OTB's Python bindings, the C++ module) and is
# cheap when nothing changed.
#
#   ./dev.sh demo [--series DIR] run the demo (real cloudy scene -> DecloudInfer + DecloudGapFilling -> GeoTIFFs, PNG, metrics)
#   ./dev.sh test            run the whole test suite (ruff + mypy + ctest + pytest), as CI does
#   ./dev.sh test --fast     the same without the slow tests (pytest -m "not slow": trainings, benchmarks, kills)
#   ./dev.sh setup           only install / build
#   ./dev.sh deps            only install the dependencies (no C++ module build)
#   ./dev.sh shell           open a shell inside the environment (same as `source env.sh`)
#
# Environment knobs:
#   DECLOUD_TF_PACKAGE   pip requirement for TensorFlow (default "tensorflow-cpu==2.19.*";
#                        GPU users: "tensorflow[and-cuda]==2.19.*"). The C API is the same.
#   DECLOUD_VENV         virtual environment folder (default ./.venv)
#   DECLOUD_BUILD_DIR    CMake build folder (default ./build)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VENV=${DECLOUD_VENV:-$ROOT/.venv}
BUILD=${DECLOUD_BUILD_DIR:-$ROOT/build}
DEPS=$ROOT/.deps
TF_PACKAGE=${DECLOUD_TF_PACKAGE:-tensorflow-cpu==2.19.*}
SYSTEM_PYTHON=/usr/bin/python3
JOBS=$(nproc 2>/dev/null || echo 2)

APT_PACKAGES=(otb-bin libotb-dev libotb-apps otb-testdriver otb-qgis qtbase5-dev libqt5opengl5-dev
  libtinyxml-dev libfftw3-dev swig libgdal-dev gdal-bin python3 python3-venv python3-dev g++ cmake make
  xz-utils dpkg-dev ca-certificates)
# Only for `./dev.sh test`: headless QGIS runs the module's apps through its OTB provider (test_qgis.py).
TEST_APT_PACKAGES=(qgis python3-qgis qgis-providers)

log() { printf '\033[1m[decloud]\033[0m %s\n' "$*" >&2; }
die() { printf '[decloud] error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "root is needed to run: $*"; fi
}

# Stamp helpers: a step re-runs only when its recipe (the string given) changes.
stamp_ok() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }
stamp_set() { mkdir -p "$(dirname "$1")"; printf '%s' "$2" >"$1"; }

install_apt_packages() {  # [package...] (default: APT_PACKAGES)
  local missing=() wanted=("$@")
  [ $# -gt 0 ] || wanted=("${APT_PACKAGES[@]}")
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  log "installing apt packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# OTB's SWIG sources, from Debian's own otb source package (Debian dropped python3-otb).
fetch_otb_swig_sources() {
  local dest=$DEPS/otb-swig
  [ -f "$dest/otbApplication.i" ] && return
  log "fetching Debian's otb source package for the Python bindings"
  if ! apt-get source --print-uris -qq otb >/dev/null 2>&1; then
    # Add a deb-src entry with the same Signed-By as the existing deb entry (apt refuses two values).
    local signed_by
    signed_by=$(grep -h -A6 '^URIs: .*deb.debian.org/debian/\?$' /etc/apt/sources.list.d/*.sources 2>/dev/null \
      | grep -m1 '^Signed-By:' | cut -d' ' -f2- || true)
    printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\n%s' \
      "${signed_by:+Signed-By: $signed_by
}" | as_root tee /etc/apt/sources.list.d/decloud-deb-src.sources >/dev/null
    as_root apt-get update -qq
  fi
  local dl=$DEPS/otb-src
  rm -rf "$dl" "$dest.new" && mkdir -p "$dl"
  (cd "$dl" && apt-get source --download-only -qq otb >/dev/null 2>&1) || die "apt-get source otb failed"
  local tarball
  tarball=$(ls "$dl"/otb_*.orig.tar.xz | head -n1)
  rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
  tar -xJf "$tarball" -C "$dest.tmp" --wildcards '*Modules/Wrappers/SWIG/src/*'
  mv "$(find "$dest.tmp" -type d -path '*Modules/Wrappers/SWIG/src' | head -n1)" "$dest.new"
  rm -rf "$dest.tmp" "$dl" "$dest" && mv "$dest.new" "$dest"
}

site_packages() { "$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }

create_venv() {
  local recipe="tf=$TF_PACKAGE;$(cat "$ROOT/requirements.txt");gdal=3.6.2;pyotb=2.2.1"
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating the virtual environment $VENV"
    "$SYSTEM_PYTHON" -m venv "$VENV"
  fi
  if ! stamp_ok "$VENV/.decloud-deps" "$recipe"; then
    log "installing Python packages (TensorFlow: $TF_PACKAGE)"
    local pip=("$VENV/bin/python" -m pip install -q)
    "${pip[@]}" -U pip setuptools wheel
    "${pip[@]}" "$TF_PACKAGE" -r "$ROOT/requirements.txt"
    # GDAL's Python bindings must match Debian's libgdal and see numpy at build time.
    "${pip[@]}" --no-build-isolation "GDAL==$(gdal-config --version)"
    # pyotb pins numpy<2 in its metadata only; its single dependency is already there.
    "${pip[@]}" --no-deps pyotb==2.2.1
    stamp_set "$VENV/.decloud-deps" "$recipe"
  fi
  if ! stamp_ok "$VENV/.decloud-package" "$(cat "$ROOT/pyproject.toml")"; then
    "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$ROOT"
    stamp_set "$VENV/.decloud-package" "$(cat "$ROOT/pyproject.toml")"
  fi
}

build_otb_bindings() {
  local site numpy_major recipe
  site=$(site_packages)
  numpy_major=$("$VENV/bin/python" -c 'import numpy; print(numpy.__version__.split(".")[0])')
  recipe="otb=$(dpkg-query -W -f='${Version}' libotb-dev);numpy=$numpy_major;py=$("$VENV/bin/python" -V)"
  stamp_ok "$site/.decloud-otb-bindings" "$recipe" && [ -f "$site/_otbApplication.so" ] && return
  fetch_otb_swig_sources
  log "building OTB's Python bindings (about 2 minutes, once)"
  local src=$DEPS/otb-swig out=$DEPS/otb-bindings
  rm -rf "$out" && mkdir -p "$out"
  swig -python -c++ -flatstaticmethod -DOTB_SWIGNUMPY=1 -I"$src" -I"$src/python" \
    -I/usr/include/OTB-8.1 -I/usr/include/ITK-4.13 -outdir "$out" -o "$out/otbApplicationPYTHON_wrap.cxx" \
    "$src/otbApplication.i"
  local pyinc npinc
  pyinc=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  npinc=$("$VENV/bin/python" -c 'import numpy; print(numpy.get_include())')
  g++ -std=c++14 -O1 -fPIC -shared -w -o "$out/_otbApplication.so" \
    "$out/otbApplicationPYTHON_wrap.cxx" "$src/python/itkPyCommand.cxx" "$src/python/otbPythonLogOutput.cxx" \
    "$src/python/otbProgressReporterManager.cxx" \
    -I"$src" -I"$src/python" -I"$pyinc" -I"$npinc" -I/usr/include/OTB-8.1 -I/usr/include/ITK-4.13 -I/usr/include/gdal \
    -lOTBApplicationEngine-8.1 -lOTBCommon-8.1 -lITKCommon-4.13
  cp "$out/otbApplication.py" "$out/_otbApplication.so" "$site/"
  stamp_set "$site/.decloud-otb-bindings" "$recipe"
}

build_module() {
  # Re-configure when the configuration recipe changes (another venv, prefix or Python), not only once.
  local recipe="venv=$VENV;python=$VENV/bin/python;prefix=$VENV;type=Release"
  if [ ! -f "$BUILD/CMakeCache.txt" ] || ! stamp_ok "$BUILD/.decloud-configure" "$recipe"; then
    log "configuring the OTBDecloud module"
    mkdir -p "$BUILD"
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DPython3_EXECUTABLE="$VENV/bin/python" \
      -DCMAKE_INSTALL_PREFIX="$VENV" >"$BUILD.configure.log" 2>&1 || { cat "$BUILD.configure.log" >&2; die "cmake configure failed"; }
    stamp_set "$BUILD/.decloud-configure" "$recipe"
  fi
  log "building the OTBDecloud module"
  # The filter drops progress lines and never fails itself (sed), so under pipefail the pipeline's status is
  # the build's: a compile error stops the set-up here, with the compiler's message above, and nothing stale
  # is installed.
  if ! cmake --build "$BUILD" -j "$JOBS" -- --no-print-directory 2>&1 | sed -E '/^(\[|-- )/d' >&2; then
    die "the C++ build failed (compiler messages above); nothing was installed"
  fi
  cmake --install "$BUILD" >/dev/null || die "cmake --install failed"
}

setup() {
  install_apt_packages
  create_venv
  build_otb_bindings
  build_module
}

enter_env() {
  # shellcheck source=env.sh
  source "$ROOT/env.sh"
}

# Sourced (tests call single steps such as build_module): define the functions only.
[ "${BASH_SOURCE[0]}" = "$0" ] || return 0

cmd=${1:-help}
shift || true
case "$cmd" in
  setup) setup ;;
  deps) install_apt_packages; create_venv; build_otb_bindings ;;
  demo)
    setup; enter_env
    decloud demo --out-dir "$ROOT/demo-output" "$@" ;;   # e.g. ./dev.sh demo --series ../shared/data/bolzano-west
  test)  # [--fast] [pytest arguments...]
    lane=()
    pytest_args=()
    for arg in "$@"; do
      # The fast lane spreads its test files over the cores (pytest-xdist; a module's shared fixtures stay in one
      # worker). The full suite stays in one process: its kill tests and benchmarks time processes side by side.
      if [ "$arg" = --fast ]; then lane=(-m "not slow" -n "$JOBS" --dist loadfile); else pytest_args+=("$arg"); fi
    done
    setup; install_apt_packages "${TEST_APT_PACKAGES[@]}"; enter_env
    log "ruff"
    (cd "$ROOT" && ruff check python/decloud bench experiments test)
    log "mypy"
    (cd "$ROOT" && mypy)
    log "ctest"
    (cd "$BUILD" && ctest --output-on-failure -j "$JOBS")
    log "pytest${lane[*]:+ (fast lane: ${lane[*]})}"
    python -m pytest "$ROOT/test/python" "${lane[@]}" "${pytest_args[@]}" ;;
  shell)
    setup; enter_env
    exec bash --rcfile <(echo "source ~/.bashrc 2>/dev/null; source '$ROOT/env.sh'; PS1='(decloud) '\$PS1") -i ;;
  *)
    sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
    [ "$cmd" = help ] || exit 2 ;;
esac
