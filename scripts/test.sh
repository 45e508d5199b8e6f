#!/usr/bin/env bash
# The README's test command: set up (idempotent), lint, then run the three test tiers.
#   bash scripts/test.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
bash scripts/lint.sh
echo "[test] pytest"
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
# pytest exits 5 when it collected nothing: that is a failure of the test command too.
exit $rc
