#!/usr/bin/env bash
# Idempotent set-up: .venv with pinned dependencies, model bundles (sha256-verified), generated code, rendered
# sets, INT8 artifacts (OCR_INT8=now; by default the server builds them in the background). Each step is skipped
# when its inputs are unchanged, so re-running it is cheap: about a minute on a fresh clone with a warm pip cache.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), "edge-ocr needs Python 3.11, found " + sys.version.split()[0]'

if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$PY" -m venv .venv
fi
VPY="$ROOT/.venv/bin/python"

stamp=.venv/.requirements.sha256
want=$(cat requirements.txt requirements-dev.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "== installing pinned dependencies"
  "$VPY" -m pip install -q --upgrade pip
  "$VPY" -m pip install -q -r requirements-dev.txt
  "$VPY" -m pip install -q --no-deps -e .
  echo "$want" > "$stamp"
fi

# ---- OCRmyPDF plugin (docs/ocrmypdf.md): Ghostscript from Debian, for `ocrmypdf --output-type pdfa` ------------
# The only program it needs: the plugin replaces Tesseract, pypdfium2 rasterises, jbig2/pngquant/unpaper are options.
if ! command -v gs >/dev/null 2>&1; then
  echo "== ghostscript (Debian package; OCRmyPDF's PDF/A conversion)"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo -n"; fi
  if ! { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
      && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ghostscript >/dev/null; }
  then
    echo "== ghostscript could not be installed (needs root and the Debian archive): its tests will be skipped"
  fi
fi

echo "== model bundles"
"$VPY" -m models fetch --all

# ---- gRPC contract and clients (server/, clients/): generated code, Node client deps (incl. buf) -------------
echo "== generated gRPC code (clients/ocr_client/gen, from proto/)"
"$VPY" -m clients.ocr_client.codegen
if command -v npm >/dev/null 2>&1; then
  node_want=$(sha256sum clients/node/package-lock.json | cut -d' ' -f1)
  if [ "$(cat clients/node/node_modules/.edge-ocr-stamp 2>/dev/null)" != "$node_want" ]; then
    echo "== node client dependencies (npm ci in clients/node)"
    (cd clients/node && npm ci --no-audit --no-fund --loglevel=error)
    echo "$node_want" > clients/node/node_modules/.edge-ocr-stamp
  fi
else
  echo "== npm not found: the Node client test and buf lint will be skipped"
fi

# ---- project data and INT8 artifacts (quantize/): default bundle, both backends; reused when unchanged --------
# Calibration and the accuracy gate use the project's own rendered labelled sets, so every clone builds INT8.
# Serve first: by default the server builds and gates them in the background and swaps them in without a restart
# (server/optimizer.py); OCR_INT8=now builds them here (scripts/test.sh, whose tests need them), skip: never.
echo "== labelled sets rendered by the project (edge_runtime.evaluation.synth)"
"$VPY" -m edge_runtime.evaluation.synth
"$VPY" -m edge_runtime.evaluation.synth.samples samples  # the files the README's examples name
case "${OCR_INT8:-background}" in
  now)
    echo "== INT8 artifacts (python -m quantize: build + accuracy gate, or reuse; a build takes" \
      "$("$VPY" -m quantize --backend all --estimate))"
    "$VPY" -m quantize --backend all
    ;;
  skip)
    echo "== INT8 artifacts: skipped (OCR_INT8=skip); precision auto serves FP32 or the last gate's choice"
    ;;
  *)
    echo "== INT8/BF16: python -m server serves at once (FP32, or the last gate's choice), then builds and gates them" \
      "in the background and swaps them in without a restart:" \
      "$("$VPY" -m quantize --backend openvino --threads 1 --estimate) (OCR_INT8=now: build them here)"
    ;;
esac
