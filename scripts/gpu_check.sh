#!/usr/bin/env bash
# The GPU readiness check (benchmarks/gpu_check.py): bf16/fp16 training of every layout and
# the memory LM, half-precision decoding, incremental decoding, the benchmark at the paper's
# base size with its MFU, the pipeline on the GPU. Writes results/gpu_check/ and exits 1 on a
# failed check. Uses the local data mirror when MEMTR_DATA_MIRROR is set (or ../shared/data).
#   bash scripts/gpu_check.sh [--device auto|cuda|cpu] [--updates 300] [--out DIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup_env.sh
# shellcheck disable=SC1091
source .venv/bin/activate
if [[ -z "${MEMTR_DATA_MIRROR:-}" && -d ../shared/data ]]; then
    export MEMTR_DATA_MIRROR="$root/../shared/data"
fi
exec python benchmarks/gpu_check.py "$@"
