"""MatMul of a 2-D input by a constant matrix, plus a constant bias, becomes one Gemm."""

import onnxoptimizer


def canonicalize_gemm(model):
    """onnxoptimizer's fuse_matmul_add_bias_into_gemm (needs the shapes from infer_shapes)."""
    return onnxoptimizer.optimize(model, ["fuse_matmul_add_bias_into_gemm"])
