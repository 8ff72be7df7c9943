#!/usr/bin/env bash
# Gets a Debian 12 machine ready to build fx, installing only what is missing, then configures
# (first time only) and builds build/. A second run touches no network and starts building at once.
#
# Environment:
#   FX_VENV     virtual environment with the torch wheel   (~/.cache/fx/venv-torch2.11)
#   CCACHE_DIR  compiler cache shared by all clones         (~/.cache/fx/ccache)
#   FX_JOBS     parallel compile jobs                       (nproc)
#   FX_TORCH, FX_CUDA, FX_CUDA_ROOT, FX_TESTS, FX_BENCH, FX_WERROR, CMAKE_BUILD_TYPE
#               passed to CMake when set (see README.md); a changed value reconfigures build/
#   FX_TRITON_INCLUDE_DIR  Triton's C API headers for the Triton backend (serving/triton); by
#               default ../shared/third_party/triton-core/include beside the checkout, when it exists
#   FX_SERVING  0: do not install the Triton server and clients (nvidia-pytriton, tritonclient)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
readonly TORCH_VERSION=2.11.0
readonly TORCHVISION_VERSION=0.26.0
venv="${FX_VENV:-$HOME/.cache/fx/venv-torch2.11}"
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/fx/ccache}"
jobs="${FX_JOBS:-$(nproc)}"
torch_source="${FX_TORCH:-wheel}"

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# ---- Debian packages -------------------------------------------------------------------------------
packages=(cmake ninja-build ccache g++ libgtest-dev googletest libbenchmark-dev nlohmann-json3-dev)
if [[ "$torch_source" == system ]]; then
  packages+=(libtorch-dev)
else
  packages+=(python3 python3-venv)
fi
missing=()
for p in "${packages[@]}"; do
  [[ "$(dpkg -s "$p" 2>/dev/null)" == *"Status: install ok installed"* ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  sudo=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null || die "not root and no sudo; install these first: ${missing[*]}"
    sudo=(sudo)
  fi
  if ! { "${sudo[@]}" apt-get update -qq &&
         "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
           "${missing[@]}" >/dev/null; }; then
    # An offline machine can still build with what it has (GoogleTest from /usr/src, no ccache).
    say "warning: could not install ${missing[*]}; carrying on with what is installed"
  fi
else
  say "Debian packages: all present"
fi
command -v cmake >/dev/null || die "cmake is missing"
command -v c++ >/dev/null || die "no C++ compiler (g++) found"
generator=Ninja
command -v ninja >/dev/null || generator="Unix Makefiles"

# ---- torch wheel in a virtual environment ----------------------------------------------------------
# Compares installed versions through package metadata (milliseconds), and imports torch only after
# installing it.
torch_ok() {
  "$venv/bin/python" - "$TORCH_VERSION" "$TORCHVISION_VERSION" 2>/dev/null <<'EOF'
import sys
from importlib.metadata import version
base = lambda v: v.split("+")[0]
sys.exit(0 if (base(version("torch")), base(version("torchvision"))) == tuple(sys.argv[1:3]) else 1)
EOF
}
if [[ "$torch_source" == wheel ]]; then
  if torch_ok; then
    say "torch $TORCH_VERSION, torchvision $TORCHVISION_VERSION: present in $venv"
  else
    if ! "$venv/bin/python" -c '' 2>/dev/null; then
      say "creating the virtual environment $venv"
      mkdir -p "$(dirname "$venv")"
      "${FX_PYTHON:-python3}" -m venv "$venv"
    fi
    say "installing torch $TORCH_VERSION and torchvision $TORCHVISION_VERSION into $venv (a few GB, once)"
    "$venv/bin/python" -m pip install --progress-bar off --disable-pip-version-check \
      "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
    "$venv/bin/python" -c 'import torch, torchvision' || die "torch does not import in $venv"
  fi
fi

# ---- Triton server and clients for tests/serving and bench/triton ---------------------------------
# nvidia-pytriton ships a Triton server binary (it runs without a GPU); tritonclient[all] is the
# HTTP/gRPC client. An offline machine goes on without them; the serving tests then skip.
serving_ok() {
  "$venv/bin/python" - 2>/dev/null <<'EOF'
import sys
from importlib.metadata import version
sys.exit(0 if version("nvidia-pytriton") == "0.7.0" and version("tritonclient") else 1)
EOF
}
if [[ "$torch_source" == wheel && "${FX_SERVING:-1}" != 0 ]]; then
  if serving_ok; then
    say "nvidia-pytriton 0.7.0 (Triton server 2.51.0), tritonclient: present in $venv"
  else
    say "installing nvidia-pytriton 0.7.0 and tritonclient[all] into $venv"
    "$venv/bin/python" -m pip install --progress-bar off --disable-pip-version-check \
      "nvidia-pytriton==0.7.0" "tritonclient[all]" ||
      say "warning: could not install the Triton server and clients; the serving tests will skip"
  fi
fi

# ---- configure and build ---------------------------------------------------------------------------
cmake_args=(-DFX_VENV="$venv" -DFX_CCACHE_DIR="$CCACHE_DIR")
if [[ -z "${FX_TRITON_INCLUDE_DIR:-}" && -f ../shared/third_party/triton-core/include/triton/core/tritonbackend.h ]]; then
  FX_TRITON_INCLUDE_DIR="$(cd ../shared/third_party/triton-core/include && pwd)"
fi
for var in FX_TORCH FX_CUDA FX_CUDA_ROOT FX_TESTS FX_BENCH FX_WERROR CMAKE_BUILD_TYPE FX_TRITON_INCLUDE_DIR; do
  if [[ -n "${!var:-}" ]]; then cmake_args+=("-D$var=${!var}"); fi
done

# True when build/ is configured and its cache already holds every value we would pass.
configured_as_asked() {
  [[ -f build/CMakeCache.txt && ( -f build/build.ninja || -f build/Makefile ) ]] || return 1
  local arg name value
  for arg in "${cmake_args[@]}"; do
    arg="${arg#-D}" name="${arg%%=*}" value="${arg#*=}"
    [[ "$(sed -n "s/^$name:[A-Z]*=//p" build/CMakeCache.txt)" == "$value" ]] || return 1
  done
}
if configured_as_asked; then
  say "build/ is configured"
else
  say "configuring build/"
  generator_arg=()
  [[ -f build/CMakeCache.txt ]] || generator_arg=(-G "$generator")
  cmake -S . -B build "${generator_arg[@]}" "${cmake_args[@]}" | sed -n 's/^-- fx: /setup: /p'
fi
# Editors and clangd look for it at the root.
if [[ ! -e compile_commands.json || -L compile_commands.json ]]; then
  ln -sfn build/compile_commands.json compile_commands.json
fi

say "building ($jobs jobs)"
cmake --build build --parallel "$jobs"
