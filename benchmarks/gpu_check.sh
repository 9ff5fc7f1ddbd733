#!/usr/bin/env bash
# The GPU checks in one command, for a machine with an NVIDIA GPU and no network (the device tool's):
# install the wheels that benchmarks/gpu_wheels.sh fetched, time every method on CUDA with
# benchmarks/speed.py, then run the test suite with CUDA visible (the runtime's default device).
#
#   here:    bash benchmarks/gpu_wheels.sh
#   there:   bash benchmarks/gpu_check.sh        (device run, carry [".wheels"]; not yet run on a GPU: with
#                                                 DEVICE=cpu it took 4 minutes on 2 cores)
#
# Writes gpu.txt, speed_cuda.txt, speed_cuda.json and tests.txt under $OUT (default /tmp/gpu_check).
# The image lists onnxruntime, not onnxruntime-gpu, whose wheel is too large to carry: where onnxruntime has no
# CUDAExecutionProvider, speed.py's ONNX Runtime row says n/a and why.
# DEVICE=cpu runs the same steps on the CPU (to try the script on a machine without a GPU).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_check}
DEVICE=${DEVICE:-cuda}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps .wheels/*.whl || exit 1
if ! python3 -m pip install -q --no-deps --no-build-isolation -e .; then
    echo "editable install failed: importing from the source tree instead"
    export PYTHONPATH="$PWD:$PWD/runtime${PYTHONPATH:+:$PYTHONPATH}"
fi
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
  python3 -c "import torch; print('torch', torch.__version__, 'sees CUDA:', torch.cuda.is_available())"
} 2>&1 | tee "$OUT/gpu.txt"
timeout 300 python3 benchmarks/speed.py --device "$DEVICE" --json "$OUT/speed_$DEVICE.json" 2>&1 \
    | tee "$OUT/speed_$DEVICE.txt"
timeout 240 python3 -m pytest -q -p no:cacheprovider 2>&1 | tee "$OUT/tests.txt"
