#!/usr/bin/env bash
# Headless Chromium for the report-page tests (tests/integration/test_report_page.py):
# Debian's `chromium` package, installed when it is missing (needs root or sudo).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
echo "memtr: installing Debian's chromium for the report-page tests" >&2
sudo_=""
if [[ "$(id -u)" != "0" ]]; then sudo_="sudo"; fi
$sudo_ apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -q --no-install-recommends chromium >/dev/null
command -v chromium
