"""NIR export: graph structure, file round trip, agreement with snnTorch (and Norse) running the file,
unsupported ops and atomic writes."""

import functools
import os
import warnings

import nir
import numpy as np
import onnx
import pytest
import torch
from onnx import helper, numpy_helper

from onnx2snn.convert import convert
from onnx2snn.data.datasets import load_builtin
from onnx2snn.errors import OutputPathError, UnsupportedModelError
from onnx2snn.export.nir_graph import NirSemanticsWarning, export_nir, write_nir
from onnx2snn.load.bundled import bundled_model
from snnrt import contract
from snnrt.simulate import SpikingNetwork
from tests.conftest import make_model


@pytest.fixture(autouse=True, scope="module")
def _without_layerwise():
    """These tests compare the export with starts and thresholds as the statistics give them: convert() without layer-wise calibration here (tests/test_layerwise.py tests it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("onnx2snn.defaults.LAYERWISE", False)
        yield


@functools.cache
def images(dataset, split):
    return load_builtin(dataset, split)[0]


def quiet_export(snn, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NirSemanticsWarning)
        return export_nir(snn, **options)


def initializer(model, name):
    return next(numpy_helper.to_array(i) for i in model.graph.initializer if i.name == name)


def if_nodes(model):
    return [n for n in model.graph.node if n.op_type == "IFNeuron"]


def attribute(node, name, default=None):
    return next((helper.get_attribute_value(a) for a in node.attribute if a.name == name), default)


def shift_fraction(node, shape):
    """What the runtime adds to each neuron's membrane after the first step, as a fraction of theta."""
    return attribute(node, contract.ATTR_SPREAD, 0.0) * contract.spread_offsets(shape)


@pytest.fixture(scope="module")
def cnn():
    return convert(bundled_model("mnist_cnn_relu"), images("mnist5k", "train")[:64])


@pytest.fixture(scope="module")
def mlp():
    return convert(bundled_model("digits_mlp"), images("digits", "train")[:256])


@pytest.fixture(scope="module")
def mlp_reset_zero():
    """NIR's own IF: reset to 0, starting at 0."""
    return convert(bundled_model("digits_mlp"), images("digits", "train")[:256], v_init="zero", reset="zero")


def residual_concat_model():
    """Conv-ReLU, a residual block with a spike skip (Add), a Concat of two spike tensors, 1x1 Conv,
    average pooling, Flatten, Gemm; seeded weights, input (N, 1, 8, 8)."""
    rng = np.random.default_rng(0)

    def weight(*shape):
        return (rng.normal(size=shape) / np.sqrt(np.prod(shape[1:]))).astype(np.float32)

    conv = dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", **conv),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2", **conv),
        helper.make_node("Add", ["c2", "r1"], ["s"], name="add"),
        helper.make_node("Relu", ["s"], ["r2"], name="relu2"),
        helper.make_node("Concat", ["r1", "r2"], ["cat"], name="concat", axis=1),
        helper.make_node("Conv", ["cat", "w3", "b3"], ["c3"], name="conv3", kernel_shape=[1, 1]),
        helper.make_node("Relu", ["c3"], ["r3"], name="relu3"),
        helper.make_node("AveragePool", ["r3"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "w4", "b4"], ["y"], name="fc", transB=1),
    ]
    inits = {"w1": weight(4, 1, 3, 3), "b1": rng.normal(size=4).astype(np.float32) * 0.1,
             "w2": weight(4, 4, 3, 3), "b2": np.zeros(4, np.float32), "w3": weight(6, 8, 1, 1),
             "b3": np.full(6, 0.1, np.float32), "w4": weight(10, 96), "b4": np.zeros(10, np.float32)}
    return make_model(nodes, [("x", ["N", 1, 8, 8])], [("y", ["N", 10])], inits)


def digit_images(split):
    return images("digits", split).reshape(-1, 1, 8, 8)


def snntorch_run(graph, x, steps, honour_v_init=True):
    """The graph in snnTorch: its NIR importer's modules, IF as snn.Leaky(beta=1) with its default
    (delayed) subtraction reset, which is onnx2snn's IF, started at metadata v_init and shifted by
    v_shift_after_first_step after the first step; returns the anytime means, (steps, N, ...).

    snnTorch 1.0.0 maps nir.IF to Leaky(beta=0.9, init_hidden=False) (fixed upstream in #395/#452)."""
    import nirtorch
    import snntorch as snn
    from snntorch import import_nir

    class ShiftedLeaky(snn.Leaky):
        """Leaky that adds ``shift`` to its second input: the membrane after step 1's reset, shifted."""

        def __init__(self, shift, **options):
            super().__init__(**options)
            self.shift, self.calls = shift, 0

        def forward(self, current):
            self.calls += 1
            return super().forward(current + self.shift if self.calls == 2 else current)

    def if_node(node):
        (threshold,) = np.unique(node.v_threshold)
        shift = node.metadata.get("v_shift_after_first_step") if honour_v_init else None
        shift = torch.zeros(()) if shift is None else torch.from_numpy(np.asarray(shift, np.float32))
        return ShiftedLeaky(shift, beta=1.0, threshold=float(threshold), init_hidden=True)

    node_map = {kind: (lambda n: import_nir._nir_to_snntorch_module(n, init_hidden=True))
                for kind in (nir.Affine, nir.Conv2d, nir.Flatten)}
    node_map[nir.IF] = if_node
    net = nirtorch.nir_to_torch(graph, node_map)
    x = torch.from_numpy(x)
    for name, layer in net.named_modules():
        if isinstance(layer, snn.Leaky):
            v0 = torch.from_numpy(np.asarray(graph.nodes[name].metadata["v_init"], np.float32))
            layer.mem = v0.expand(len(x), *v0.shape).clone() if honour_v_init else torch.zeros(0)
    outputs, state = [], None
    with torch.no_grad():
        for _ in range(steps):
            out, state = net(x) if state is None else net(x, state)
            outputs.append(out)
    per_step = torch.stack(outputs)
    return per_step.cumsum(0) / torch.arange(1, steps + 1).reshape(-1, 1, 1)


def assert_same_run(consumer, ours, atol=1e-4):
    """Same predictions and outputs within atol, up to rare spikes at exact ties: a membrane that reaches a
    multiple of the threshold exactly (rate k/n after n steps) fires or not by float rounding, and the
    consumer's arithmetic (weights divided by theta, other summation order) rounds differently."""
    assert consumer.shape == ours.shape
    same_prediction = (consumer.argmax(-1) == ours.argmax(-1)).float().mean().item()
    off = ((consumer - ours).abs() > atol).float().mean().item()
    assert same_prediction >= 0.995 and off <= 1e-3, (same_prediction, off, (consumer - ours).abs().max())


def test_cnn_graph_structure(cnn):
    with pytest.warns(NirSemanticsWarning, match="initial membrane potential"):
        graph = export_nir(cnn)
    kinds = {name: type(node).__name__ for name, node in graph.nodes.items()}
    chain = ["input", "conv_0", "if_0", "conv_1", "if_1", "avgpool_0", "conv_2", "if_2", "avgpool_1",
             "flatten_0", "affine_0", "if_3", "affine_1", "output"]
    assert sorted(graph.edges) == sorted(zip(chain, chain[1:]))
    assert [kinds[n] for n in chain] == ["Input", "Conv2d", "IF", "Conv2d", "IF", "AvgPool2d", "Conv2d", "IF",
                                         "AvgPool2d", "Flatten", "Affine", "IF", "Affine", "Output"]
    ifs = if_nodes(cnn.model)
    theta = [np.asarray(attribute(n, "v_threshold")) for n in ifs]
    for name, node in zip(["if_0", "if_1", "if_2", "if_3"], ifs):
        layer = graph.nodes[name]
        assert layer.metadata["onnx_node"] == node.name and layer.metadata["reset"] == "subtract"
        assert np.all(layer.v_threshold == 1) and np.all(layer.r == 1) and np.all(layer.v_reset == 0)
        start = contract.start_fractions(attribute(node, "v_threshold"), attribute(node, "v_init"))
        expected = np.broadcast_to(start.reshape(-1, *[1] * (layer.v_threshold.ndim - 1)), layer.v_threshold.shape)
        np.testing.assert_allclose(layer.metadata["v_init"], expected, rtol=1e-5)
        shift = layer.metadata.get("v_shift_after_first_step", np.zeros(layer.v_threshold.shape))
        np.testing.assert_allclose(shift, shift_fraction(node, layer.v_threshold.shape), rtol=1e-6)
    conv0, conv1 = [n for n in cnn.model.graph.node if n.op_type == "Conv"][:2]
    # unit thresholds: conv_0 divided by theta_0 per output channel, conv_1 also times theta_0 per input
    w0, w1 = initializer(cnn.model, conv0.input[1]), initializer(cnn.model, conv1.input[1])
    np.testing.assert_allclose(graph.nodes["conv_0"].weight, w0 / theta[0][:, None, None, None], rtol=1e-6)
    np.testing.assert_allclose(graph.nodes["conv_1"].weight,
                               w1 * theta[0][None, :, None, None] / theta[1][:, None, None, None], rtol=1e-6)
    assert tuple(graph.nodes["flatten_0"].output_type["output"]) == (64 * 7 * 7,)
    assert tuple(graph.nodes["output"].input_type["input"]) == (10,)


def test_native_thresholds_stay_per_channel(cnn):
    graph = quiet_export(cnn, unit_threshold=False)
    theta = np.asarray(attribute(if_nodes(cnn.model)[0], "v_threshold"), np.float32)
    layer = graph.nodes["if_0"]
    assert layer.v_threshold.shape == (16, 28, 28)
    np.testing.assert_array_equal(layer.v_threshold, np.broadcast_to(theta[:, None, None], (16, 28, 28)))
    np.testing.assert_allclose(layer.metadata["v_init"][:, 0, 0], theta / 2, rtol=1e-6)
    np.testing.assert_allclose(layer.metadata["v_shift_after_first_step"], layer.v_threshold * shift_fraction(
        if_nodes(cnn.model)[0], layer.v_threshold.shape), rtol=1e-6)
    conv1 = [n for n in cnn.model.graph.node if n.op_type == "Conv"][1]
    np.testing.assert_array_equal(graph.nodes["conv_1"].weight,
                                  initializer(cnn.model, conv1.input[1]) * theta[None, :, None, None])


def test_file_round_trip(cnn, tmp_path):
    graph = quiet_export(cnn)
    path = tmp_path / "cnn.nir"
    write_nir(graph, path)
    loaded = nir.read(path)
    assert set(loaded.edges) == set(graph.edges)
    assert {k: type(v) for k, v in loaded.nodes.items()} == {k: type(v) for k, v in graph.nodes.items()}
    for name in ("conv_2", "affine_0"):
        np.testing.assert_array_equal(loaded.nodes[name].weight, graph.nodes[name].weight)
        np.testing.assert_array_equal(loaded.nodes[name].bias, graph.nodes[name].bias)
    np.testing.assert_array_equal(loaded.nodes["if_2"].metadata["v_init"], graph.nodes["if_2"].metadata["v_init"])
    assert loaded.nodes["if_2"].metadata["reset"] == "subtract"
    assert "v_init" in loaded.metadata["caveats"] and "mean over the T steps" in loaded.metadata["output"]


def test_reset_to_zero_from_zero_needs_no_caveat(mlp_reset_zero):
    with warnings.catch_warnings():
        warnings.simplefilter("error", NirSemanticsWarning)
        graph = export_nir(mlp_reset_zero)
    assert "caveats" not in graph.metadata
    assert graph.nodes["if_0"].metadata["reset"] == "zero" and not graph.nodes["if_0"].metadata["v_init"].any()


def test_snntorch_runs_the_mlp_like_the_runtime(mlp, tmp_path):
    pytest.importorskip("snntorch")
    path = tmp_path / "mlp.nir"
    write_nir(quiet_export(mlp), path)
    x = images("digits", "test")
    ours = SpikingNetwork(mlp.model, "cpu").run(x, 16).outputs
    assert_same_run(snntorch_run(nir.read(path), x, 16), ours)
    # a consumer that ignores metadata['v_init'] computes the v0 = 0 conversion
    from_zero = convert(bundled_model("digits_mlp"), images("digits", "train")[:256], v_init="zero")
    ours_zero = SpikingNetwork(from_zero.model, "cpu").run(x, 16).outputs
    assert_same_run(snntorch_run(nir.read(path), x, 16, honour_v_init=False), ours_zero)
    assert not torch.equal(ours.argmax(-1), ours_zero.argmax(-1))


def test_snntorch_runs_the_cnn_like_the_runtime(cnn):
    pytest.importorskip("snntorch")
    x = images("mnist5k", "test")[:32]
    ours = SpikingNetwork(cnn.model, "cpu").run(x, 4).outputs
    assert_same_run(snntorch_run(quiet_export(cnn), x, 4), ours)


def test_residual_add_and_concat_become_edges():
    snn = convert(residual_concat_model(), digit_images("train")[:256])
    graph = quiet_export(snn)
    into = {name: sorted(a for a, b in graph.edges if b == name) for name in graph.nodes}
    # Add(conv2, spikes of relu1): two edges into relu2's IF, the spikes rescaled to its units
    assert into["if_1"] == ["conv_1", "rescale_0"] and into["rescale_0"] == ["if_0"]
    # Concat(relu1, relu2) -> conv3: each spike tensor placed in its channels by a 1x1 Conv
    assert into["conv_2"] == ["rescale_1", "rescale_2"]
    assert into["rescale_1"] == ["if_0"] and into["rescale_2"] == ["if_1"]
    placement = graph.nodes["rescale_2"].weight[:, :, 0, 0]
    theta_2 = np.asarray(attribute(if_nodes(snn.model)[1], "v_threshold"))
    np.testing.assert_allclose(placement[4:], np.diag(np.broadcast_to(theta_2, 4)), rtol=1e-6)
    assert not placement[:4].any()


def test_snntorch_runs_residual_and_concat_like_the_runtime():
    pytest.importorskip("snntorch")
    snn = convert(residual_concat_model(), digit_images("train")[:256])
    x = digit_images("test")[:100]
    ours = SpikingNetwork(snn.model, "cpu").run(x, 8).outputs
    assert_same_run(snntorch_run(quiet_export(snn), x, 8), ours)


def test_gemm_alpha_beta_and_untransposed_weight():
    rng = np.random.default_rng(1)
    w1, w2 = rng.normal(size=(64, 16)).astype(np.float32) / 8, rng.normal(size=(16, 10)).astype(np.float32) / 4
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1", alpha=0.5, beta=2.0),
             helper.make_node("Relu", ["h"], ["r"], name="relu"),
             helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], name="fc2")]
    model = make_model(nodes, [("x", ["N", 64])], [("y", ["N", 10])],
                       {"w1": w1, "b1": np.full((1, 16), 0.05, np.float32), "w2": w2, "b2": np.zeros(10, np.float32)})
    snn = convert(model, images("digits", "train")[:256], threshold="max")
    graph = quiet_export(snn, unit_threshold=False)
    np.testing.assert_allclose(graph.nodes["affine_0"].weight, 0.5 * w1.T, rtol=1e-6)
    np.testing.assert_allclose(graph.nodes["affine_0"].bias, np.full(16, 0.1), rtol=1e-6)
    x = images("digits", "test")[:100]
    ours = SpikingNetwork(snn.model, "cpu").run(x, 8).outputs
    pytest.importorskip("snntorch")
    assert_same_run(snntorch_run(quiet_export(snn), x, 8), ours)


def test_norse_runs_reset_to_zero_neurons_like_the_runtime(mlp_reset_zero):
    norse = pytest.importorskip("norse.torch")
    x = images("digits", "test")
    ours = SpikingNetwork(mlp_reset_zero.model, "cpu").run(x, 16).outputs
    outputs, state = [], None
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # nirtorch.load, which Norse calls
        net = norse.from_nir(export_nir(mlp_reset_zero))
        for _ in range(16):
            out, state = net(torch.from_numpy(x), state)
            outputs.append(out)
    theirs = torch.stack(outputs).cumsum(0) / torch.arange(1, 17).reshape(-1, 1, 1)
    assert_same_run(theirs, ours)


def test_max_pooling_is_refused_by_name():
    snn = convert(bundled_model("mnist_cnn_maxpool"), images("mnist5k", "train")[:16])
    with pytest.raises(UnsupportedModelError) as error:
        export_nir(snn)
    message = str(error.value)
    assert "2 node(s)" in message and "'/6/MaxPool' (SpikeMaxPool)" in message and "'/10/MaxPool'" in message
    assert "retrain the ANN with average pooling" in message


def test_asymmetric_padding_is_refused_by_name():
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="odd_pad", kernel_shape=[2, 2], pads=[0, 0, 1, 1]),
             helper.make_node("Relu", ["c"], ["y"], name="relu")]
    model = make_model(nodes, [("x", ["N", 1, 8, 8])], [("y", ["N", 2, 8, 8])],
                       {"w": np.ones((2, 1, 2, 2), np.float32)})
    snn = convert(model, digit_images("train")[:32])
    with pytest.raises(UnsupportedModelError, match="'odd_pad' \\(Conv\\).*pads \\[0, 0, 1, 1\\]"):
        quiet_export(snn)


def test_write_is_atomic(mlp, tmp_path):
    graph = quiet_export(mlp)
    missing = tmp_path / "no_such_folder" / "mlp.nir"
    with pytest.raises(OutputPathError, match="no_such_folder"):
        write_nir(graph, missing)
    with pytest.raises(OutputPathError, match="is a folder"):
        write_nir(graph, tmp_path)
    target = tmp_path / "mlp.nir"
    target.write_bytes(b"previous file")
    graph.nodes["if_0"].metadata["unstorable"] = object()
    with pytest.raises(TypeError):
        write_nir(graph, target)
    assert target.read_bytes() == b"previous file" and os.listdir(tmp_path) == ["mlp.nir"]
    del graph.nodes["if_0"].metadata["unstorable"]
    write_nir(graph, target)
    assert set(nir.read(target).nodes) == set(graph.nodes)


def test_model_proto_and_snn_model_give_the_same_graph(mlp):
    from_proto = quiet_export(onnx.load_from_string(mlp.model.SerializeToString()))
    assert sorted(from_proto.edges) == sorted(quiet_export(mlp).edges)
