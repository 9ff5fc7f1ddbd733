#!/usr/bin/env bash
# Fetch the wheels that the GPU machine's image lacks into .wheels/ (git-ignored, about 4 MB), on a machine
# that reaches PyPI, for benchmarks/gpu_check.sh to install there without a network. The device tool's image
# runs Python 3.12 on x86-64 with torch, onnx, onnxruntime, click, tqdm, matplotlib and pytest already in it;
# PYTHON_VERSION=3.11 fetches for another interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
pip download --no-deps --only-binary=:all: --python-version "${PYTHON_VERSION:-3.12}" \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
    -d .wheels onnx-graphsurgeon onnxoptimizer mlxtend "nir>=1.0.8" spikingjelly==2.0.0 loguru \
    skl2onnx snntorch "nirtorch>=2.6"
