"""snnrt: onnx2snn's PyTorch runtime for ANN and SNN ONNX graphs (CPU or CUDA).

Depends on onnx, numpy and torch only; it never imports the converter.
"""

__version__ = "0.1.0"
