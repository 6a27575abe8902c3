#!/usr/bin/env bash
# Create .venv/ at the repository root with every pinned version of requirements.lock.
# Idempotent: a venv whose stamp matches the lock is reused as is.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
lock="$root/requirements.lock"
stamp="$venv/.memtr-lock.sha256"
want="$(sha256sum "$lock" | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
echo "memtr: installing the pinned environment into .venv/ (first time: ~8 min)" >&2
python3.11 -m venv "$venv"
# fairseq-fixed compiles against torch: the constraint makes its isolated build see the
# same pinned torch (torch==2.13.0: the ordinary build of that version on a user's machine).
PIP_CONSTRAINT="$lock" "$venv/bin/pip" install --disable-pip-version-check -q -r "$lock"
PIP_CONSTRAINT="$lock" "$venv/bin/pip" install --disable-pip-version-check -q --no-deps --no-build-isolation -e "$root"
echo "$want" > "$stamp"
