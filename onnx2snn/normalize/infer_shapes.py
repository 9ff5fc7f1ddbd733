"""Annotate every value with its inferred type and shape."""

import onnx


def infer_shapes(model):
    """ONNX shape inference with data propagation (shape chains yield known dims where they can)."""
    return onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
