#!/usr/bin/env bash
# The main job: install the pinned environment (first time only) and run the pipeline of
# params.yaml with DVC. Extra arguments go to `dvc repro` (e.g. a stage name, --force).
# Offline machines: MEMTR_DATA_MIRROR=/path/to/mirror bash scripts/run_pipeline.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup_env.sh
# shellcheck disable=SC1091
source .venv/bin/activate
dvc repro "$@"
name=$(python -c 'import yaml; print(yaml.safe_load(open("params.yaml"))["experiment"]["name"])')
echo "memtr: tables in results/$name/ (results.md, claims.md, runs.csv), runs in runs/$name/"
