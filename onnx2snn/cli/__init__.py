"""The onnx2snn command line."""
