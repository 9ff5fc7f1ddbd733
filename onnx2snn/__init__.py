"""onnx2snn: trained ANN in ONNX -> low-latency spiking neural network."""

__version__ = "0.1.0"
