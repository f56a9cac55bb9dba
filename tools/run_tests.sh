#!/usr/bin/env bash
# The README's test command: builds the environment if needed, then runs the
# test suite (benchmarks excluded). Extra arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
exec "${MMQGN_VENV:-$ROOT/.venv}/bin/python" -m pytest -m "not benchmark" "$@"
