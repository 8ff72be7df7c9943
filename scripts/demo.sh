#!/usr/bin/env bash
# Sets up and builds fx (scripts/setup.sh), then runs the demo: `fxjit demo`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
exec build/fxjit demo "$@"
