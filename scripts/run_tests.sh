#!/usr/bin/env bash
# The test suite, as CI runs it (.ci/run calls exactly this): install the pinned environment
# (first time only) and headless Chromium for the report-page tests where it can be installed,
# lint, run pytest. Extra arguments go to pytest (e.g. tests/unit for the fast tier).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
start=$SECONDS
bash scripts/setup_env.sh
if ! bash scripts/setup_browser.sh; then
  echo "memtr: no headless Chromium here (Debian's chromium needs apt and root or sudo): the report-page tests will be skipped" >&2
fi
if [[ -n "${CI:-}" ]]; then
  export MEMTR_REQUIRE_BROWSER=1  # in CI a missing browser fails those tests, never skips them
fi
echo "memtr: environment ready in $((SECONDS - start)) s"
# shellcheck disable=SC1091
source .venv/bin/activate
start=$SECONDS
status=0
{ ruff check . && ruff format --check . && python -m pytest --durations=10 "$@"; } || status=$?
echo "memtr: lint and test suite took $((SECONDS - start)) s (exit status $status)"
exit "$status"
