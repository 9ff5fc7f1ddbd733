"""Load: ONNX models from a path, bytes or ModelProto, checked; the bundled models; SNN files into the runtime."""
