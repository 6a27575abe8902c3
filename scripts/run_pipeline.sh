#!/usr/bin/env bash
# The main job: install the pinned environment (first time only) and run the pipeline of
# params.yaml with DVC. Extra arguments go to `dvc repro` (e.g. a stage name, --force).
# Offline machines: MEMTR_DATA_MIRROR=/path/to/mirror bash scripts/run_pipeline.sh
#
# It changes no file that git tracks: the demo's outputs go to the git-ignored results/demo/,
# metrics/demo/ and runs/demo/, and DVC's lock of the runs (dvc.lock, which DVC refuses to
# write when git ignores it) is kept between runs as runs/main-job.dvc.lock: put back before
# `dvc repro`, so finished stages are not run again, and moved there after it, so the
# checkout stays clean. A dvc.lock of your own (from running `dvc repro` yourself) is used
# and left where it is.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup_env.sh
# shellcheck disable=SC1091
source .venv/bin/activate
# The check stage's script first: DVC resolves the keys dvc.yaml interpolates (data.dataset,
# experiment.name/variants/seeds, attention.seeds/num_sentences, pretrain.name) before any
# stage runs, and fails on a malformed one in its own words; this gives the one line instead.
python workflow/scripts/check_params.py --quiet --params params.yaml --out build/params.ok
kept=runs/main-job.dvc.lock
if [[ ! -e dvc.lock ]]; then
  if [[ -f "$kept" ]]; then cp "$kept" dvc.lock; fi
  park() { if [[ -f dvc.lock ]]; then mkdir -p runs && mv dvc.lock "$kept"; fi; }
  trap park EXIT
fi
dvc repro "$@"
name=$(python -c 'import yaml; print(yaml.safe_load(open("params.yaml"))["experiment"]["name"])')
echo "memtr: tables in results/$name/ (results.md, claims.md, runs.csv), runs in runs/$name/"
