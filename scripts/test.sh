#!/usr/bin/env bash
# The whole test suite on a fresh clone: set-up (a no-op when done) then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -q "$@"
