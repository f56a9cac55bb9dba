#!/usr/bin/env bash
# Create (or reuse) the project virtual environment and install the pinned
# OpenMMLab stack.  Idempotent: a stamp file keyed on requirements.txt and this
# script makes a second call return at once.
#
#   bash tools/setup_env.sh            # creates ./.venv
#   MMQGN_VENV=/path/venv bash tools/setup_env.sh
#
# Traps handled here (see README "Set-up notes"):
#   * pip configs that add a find-links folder holding a CPU-only torch wheel:
#     torchvision from the registry does not load against it, so torch and
#     torchvision are installed with find-links disabled and then checked.
#   * setuptools>=81 removes pkg_resources, which mmcv's build and mmengine's
#     `mmdet::` config scope resolution need: pinned below 81.
#   * mmcv 2.1.0 has no wheel for torch 2.13: built from source with its ops.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MMQGN_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
log() { printf '[setup_env] %s\n' "$*" >&2; }

key=$(cat "$ROOT/requirements.txt" "$ROOT/tools/setup_env.sh" | sha1sum | cut -c1-12)
stamp="$VENV/.mmqgn-stack-$key"
if [[ -f "$stamp" ]]; then
    exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating virtual environment $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip)
export PIP_DISABLE_PIP_VERSION_CHECK=1

log "build tools (setuptools<81 keeps pkg_resources)"
"${PIP[@]}" install -q --upgrade pip 'setuptools>=64,<81' wheel ninja

log "torch 2.13.0 + torchvision 0.28.0 (pip find-links pointed at an empty folder)"
nofl="$(mktemp -d)"; trap 'rm -rf "$nofl"' EXIT
PIP_FIND_LINKS="$nofl" "${PIP[@]}" install -q 'torch==2.13.0' 'torchvision==0.28.0'
if ! "$VENV/bin/python" -c 'import torch, torchvision.ops as o; o.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)'; then
    log "torchvision does not load against the installed torch (a CPU-only local wheel?); reinstalling torch"
    PIP_FIND_LINKS="$nofl" "${PIP[@]}" install -q --force-reinstall --no-deps 'torch==2.13.0'
fi

if ! "$VENV/bin/python" -c 'import mmcv.ops' 2>/dev/null; then
    log "mmcv 2.1.0 from source with ops (about 17 min on 2 cores the first time; cached afterwards)"
    MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
        "${PIP[@]}" install -q --no-build-isolation 'mmcv==2.1.0'
fi

log "remaining requirements"
"${PIP[@]}" install -q -r "$ROOT/requirements.txt"
"${PIP[@]}" install -q --no-build-isolation --no-deps -e "$ROOT"

"$VENV/bin/python" - <<'PY'
import torch, torchvision, mmcv, mmcv.ops, mmengine, mmdet, mmpretrain.models, pkg_resources  # noqa
print(f'[setup_env] torch {torch.__version__}, torchvision {torchvision.__version__}, '
      f'mmcv {mmcv.__version__}, mmengine {mmengine.__version__}, '
      f'mmdet {mmdet.__version__}, mmpretrain {mmpretrain.__version__}')
PY
touch "$stamp"
