#!/usr/bin/env bash
# The README's main command: builds the environment if needed, generates the
# synthetic dataset (both raw layouts), converts it to the standardized format
# and prints its statistics. Everything lands in one output folder, named at
# the end (default: outputs/quickstart).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/outputs/quickstart}"
bash "$ROOT/tools/setup_env.sh"
PY="${MMQGN_VENV:-$ROOT/.venv}/bin/python"
cd "$ROOT"
mkdir -p "$OUT"
LOG="$OUT/quickstart.log"
{
    echo "== 1/2 synthetic dataset (raw CUHK-SYSU and PRW layouts) -> $OUT/data"
    "$PY" tools/misc/make_synthetic_dataset.py --out-dir "$OUT/data"
    echo "== 2/2 conversion to the standardized format"
    "$PY" tools/dataset_converters/cuhk_sysu.py "$OUT/data/CUHK-SYSU"
    "$PY" tools/dataset_converters/prw.py "$OUT/data/PRW"
} 2>&1 | tee "$LOG"
echo "Done. Output folder: $OUT (log: $LOG)"
