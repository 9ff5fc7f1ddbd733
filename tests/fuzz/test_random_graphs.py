"""Random small MLPs and CNNs from the supported op set: each converts, and the runtime then computes the ANN
as ONNX Runtime does and runs the SNN, or the conversion fails with exit 2 and one line."""

import numpy as np
import onnx
import torch
from hypothesis import given
from hypothesis import strategies as st
from onnx import helper
from snnrt.graph import GraphModule
from snnrt.simulate import SpikingNetwork

from tests.conftest import make_model, ort_run
from tests.fuzz.cli_outcome import outcome

ACTIVATIONS = ["Relu", "Relu", "Clip", "LeakyRelu", "Sigmoid"]


class Builder:
    def __init__(self, rng):
        self.rng, self.nodes, self.weights = rng, [], {}

    def weight(self, name, shape, scale=0.5):
        self.weights[name] = self.rng.normal(0, scale, shape).astype(np.float32)
        return name

    def node(self, op, inputs, **attrs):
        out = f"v{len(self.nodes)}"
        self.nodes.append(helper.make_node(op, inputs, [out], name=f"{op.lower()}{len(self.nodes)}", **attrs))
        return out

    def activation(self, kind, x):
        if kind == "Clip":
            return self.node("Clip", [x, self.const(0.0), self.const(6.0)])
        return self.node(kind, [x])

    def const(self, value):
        name = f"c{len(self.weights)}"
        self.weights[name] = np.asarray(value, np.float32)
        return name

    def dense(self, x, fan_in, fan_out, gemm):
        w = self.weight(f"w{len(self.nodes)}", (fan_out, fan_in) if gemm else (fan_in, fan_out))
        b = self.weight(f"b{len(self.nodes)}", (fan_out,), 0.1)
        if gemm:
            return self.node("Gemm", [x, w, b], transB=1)
        return self.node("Add", [self.node("MatMul", [x, w]), b])


@st.composite
def mlps(draw):
    features, classes = draw(st.integers(2, 12)), draw(st.integers(2, 6))
    b = Builder(np.random.default_rng(draw(st.integers(0, 2**16))))
    x, width = "input", features
    for _ in range(draw(st.integers(1, 3))):
        out = draw(st.integers(2, 12))
        x = b.activation(draw(st.sampled_from(ACTIVATIONS)), b.dense(x, width, out, draw(st.booleans())))
        width = out
    b.dense(x, width, classes, draw(st.booleans()))
    return b, [("input", ["N", features])], classes, (features,)


@st.composite
def cnns(draw):
    channels, start, classes = draw(st.sampled_from([1, 3])), draw(st.integers(4, 10)), draw(st.integers(2, 6))
    size = start
    b = Builder(np.random.default_rng(draw(st.integers(0, 2**16))))
    x, width = "input", channels
    for _ in range(draw(st.integers(1, 2))):
        out, kernel = draw(st.integers(1, 6)), draw(st.sampled_from([1, 3]))
        pad = kernel // 2 if draw(st.booleans()) else 0
        x = b.node("Conv", [x, b.weight(f"k{len(b.nodes)}", (out, width, kernel, kernel))], pads=[pad] * 4)
        size = size - kernel + 1 + 2 * pad
        if draw(st.booleans()):
            params = [b.weight(f"bn{len(b.nodes)}_{i}", (out,), 0.1) for i in range(3)]
            x = b.node("BatchNormalization", [x, params[0], params[1], params[2], b.const(np.ones(out))])
        x = b.activation(draw(st.sampled_from(ACTIVATIONS)), x)
        pool = draw(st.sampled_from(["none", "MaxPool", "AveragePool"]))
        if pool != "none" and size >= 2:
            x = b.node(pool, [x], kernel_shape=[2, 2], strides=[2, 2])
            size //= 2
        width = out
    if draw(st.booleans()):
        x, flat = b.node("GlobalAveragePool", [x]), width
    else:
        flat = width * size * size
    b.dense(b.node("Flatten", [x]), flat, classes, True)
    return b, [("input", ["N", channels, start, start])], classes, (channels, start, start)


@given(case=st.one_of(mlps(), cnns()))
def test_a_random_graph_converts_and_matches_onnx_runtime_or_fails_with_one_line(tmp_path_factory, case):
    _check(tmp_path_factory.mktemp("graph"), *case)


def _check(folder, b, inputs, classes, sample_shape):
    b.nodes[-1].output[0] = "out"
    model = make_model(b.nodes, inputs, [("out", ["N", classes])], b.weights)
    path = folder / "ann.onnx"
    onnx.save(model, path)
    x = np.random.default_rng(1).random((8, *sample_shape), np.float32)
    np.savez(folder / "calib.npz", x=x)
    result = outcome("convert", path, "-o", folder / "snn.onnx", "--calib", folder / "calib.npz")
    if result.exit_code:
        return
    expected = ort_run(model, x)[0]
    np.testing.assert_allclose(GraphModule(model)(torch.from_numpy(x)).numpy(), expected, rtol=1e-4, atol=1e-5)
    outputs = SpikingNetwork(onnx.load(folder / "snn.onnx"), "cpu").run(torch.from_numpy(x), 4).outputs
    assert outputs.shape == (4, len(x), classes) and torch.isfinite(outputs).all()
