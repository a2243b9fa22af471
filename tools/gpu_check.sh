#!/usr/bin/env bash
# The checks of the speed-at-scale work that need a CUDA device, as one run:
#   1. the CUDA tests (method agreement with the CPU, shot statistics, engine and layer on CUDA);
#   2. forward / backprop / adjoint at 16-22 qubits x batch 16 on the GPU, in passes over the
#      state per gate against the device's own copy bandwidth (benchmarks/scale.py);
#   3. the engine's limit: 26 qubits, batch 1, forward and adjoint gradient of 4 layers.
#
# Usage (from the repository root; PennyLane is not needed):
#   tools/gpu_check.sh [OUT_DIR]          # default: $OUT, else gpu-check/
# Results: OUT_DIR/cuda-tests.txt, scale-cuda.json, scale-cuda-26.json (and the printed rows).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-gpu-check}}"
mkdir -p "$out"
export PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}"
python -c "import torch, sys; torch.cuda.is_available() or sys.exit('tools/gpu_check.sh: no CUDA device'); print(torch.__version__, torch.cuda.get_device_name())"
python -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/test_layer.py tests/test_engine.py -k cuda \
    2>&1 | tee "$out/cuda-tests.txt"
python benchmarks/scale.py --device cuda --qubits 16 18 20 22 --batch 16 --repeat 5 \
    --json "$out/scale-cuda.json"
python benchmarks/scale.py --device cuda --qubits 26 --batch 1 --repeat 3 --cases forward adjoint \
    --json "$out/scale-cuda-26.json"
echo "wrote $out/cuda-tests.txt $out/scale-cuda.json $out/scale-cuda-26.json"
