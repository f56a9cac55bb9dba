#!/usr/bin/env bash
# The README's main command: builds the environment if needed, then runs the
# main job on the embedded synthetic default (tools/quickstart.py): generate
# and convert the synthetic dataset, train the tiny OIM model on CPU,
# evaluate it, and run the person-search demo. Everything lands in one output
# folder, named at the end (default: outputs/quickstart).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
exec "${MMQGN_VENV:-$ROOT/.venv}/bin/python" tools/quickstart.py "$@"
