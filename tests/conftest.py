"""Shared fixtures: small ONNX graphs built with onnx.helper, and ONNX Runtime as the reference."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from snnrt import contract


def ort_run(model, x):
    """Outputs of ONNX Runtime (CPU) for a single-input model."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})


def make_model(nodes, inputs, outputs, initializers=(), opset=17):
    """A checked model from helper nodes, (name, shape) inputs/outputs and {name: array} initializers."""
    graph = helper.make_graph(
        nodes,
        "test",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in dict(initializers).items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def tiny_snn(nodes, initializers=(), opset=17, output_shape=None, spikes="s"):
    """An SNN: input (N, 4) -> nodes -> output, where an IFNeuron 'if' (θ = 1, v_init = 0.5) turns 'input'
    into ``spikes``."""
    spiking = helper.make_node(contract.IF_OP, ["input"], [spikes], "if", domain=contract.DOMAIN,
                               v_threshold=[1.0], v_init=[0.5], reset="subtract", channel_axis=1)
    graph = helper.make_graph(
        [spiking, *nodes], "tiny", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, output_shape)],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in dict(initializers).items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset),
                                                   helper.make_opsetid(contract.DOMAIN, 1)])


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def snn(tmp_path_factory):
    """Path of the bundled digits MLP converted with 400 training images (for the CLI tests)."""
    from onnx2snn.load.bundled import bundled_model
    from onnx2snn.convert import convert
    from onnx2snn.data.datasets import digits

    path = tmp_path_factory.mktemp("snn") / "mlp.snn.onnx"
    convert(bundled_model("digits_mlp"), digits("train")[0][:400], output=path)
    return str(path)
