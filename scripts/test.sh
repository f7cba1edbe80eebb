#!/usr/bin/env bash
# The whole test suite on a fresh clone: set-up (a no-op when done) then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
OCR_INT8=now bash scripts/setup.sh  # the tests of INT8 and of the gate need its artifacts built before they start
exec .venv/bin/python -m pytest -q "$@"
