"""Load an SNN (or ANN) file into the runtime, checked as the converter's loader checks it."""

from snnrt.simulate import SpikingNetwork

from .model import load_model


def load(source, device="auto", order="auto"):
    """A runtime SpikingNetwork of an SNN file that onnx2snn wrote (path, bytes or ModelProto), or of a plain ANN.

    ``device``: 'auto' (CUDA when torch sees it), 'cpu' or 'cuda'; ``order``: 'auto', 'step' or 'layer' (see
    snnrt.simulate). ``run(x, T)`` returns the anytime outputs, the prediction after every step.

    Example::

        import onnx2snn
        x_test, _ = onnx2snn.mnist5k("test")
        net = onnx2snn.load("cnn.snn.onnx")
        result = net.run(x_test[:64], 16)
        print(result.predictions()[-1])   # the predictions after 16 steps
    """
    return SpikingNetwork(load_model(source), device, order)
