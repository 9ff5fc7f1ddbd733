"""Models that break a limit (opsets, outputs, dimensions, custom ops, Reshape targets, external data) are
refused before any work: exit 2, one line naming the file and the fault, no output written."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.conftest import make_model
from tests.refusals import invoke, refused

W = np.ones((4, 3), np.float32)


def _graph_model(nodes, outputs=(("out", ["N", 3]),), initializers=(), domains=()):
    """A model on input (N, 4), not checked (some are meant to break a limit the checker allows)."""
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs],
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in dict(initializers).items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    *(helper.make_opsetid(d, 1) for d in domains)])
    model.ir_version = 8
    return model


def _mlp(last="Relu", domain=""):
    return [helper.make_node("MatMul", ["input", "w"], ["h"], name="mm"),
            helper.make_node(last, ["h"], ["out"], name=last.lower(), domain=domain)]


def _opset(version):
    model = _graph_model(_mlp(), initializers={"w": W})
    model.opset_import[0].version = version
    return model


def _reshape(shape):
    nodes = [helper.make_node("Reshape", ["input", "s"], ["r"], name="rs"), helper.make_node("Relu", ["r"], ["out"])]
    return _graph_model(nodes, [("out", [f"d{i}" for i in range(len(shape))])], {"s": np.array(shape, np.int64)})


def _custom_beside():
    nodes = [*_mlp()[:1], helper.make_node("Relu", ["h"], ["r"], name="relu"),
             helper.make_node("Weird", ["r"], ["out"], name="weird", domain="my.dom")]
    return _graph_model(nodes, initializers={"w": W}, domains=["my.dom"])


def _external(offset="0", location="w.bin"):
    model = make_model(_mlp(), [("input", ["N", 4])], [("out", ["N", 3])], {"w": W})
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", offset), ("length", "48")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return model


def _external_in_if():
    """An If whose then-branch Constant points to external data outside the model's folder."""
    outside = numpy_helper.from_array(W, "wt")
    outside.ClearField("raw_data")
    outside.data_location = TensorProto.EXTERNAL
    entry = outside.external_data.add()
    entry.key, entry.value = "location", "../secret.bin"

    def branch(name, tensor):
        return helper.make_graph([helper.make_node("Constant", [], [name], value=tensor)], name, [],
                                 [helper.make_tensor_value_info(name, TensorProto.FLOAT, [4, 3])])

    nodes = [helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(np.array(True))),
             helper.make_node("If", ["c"], ["w"], name="if", then_branch=branch("wt", outside),
                              else_branch=branch("we", numpy_helper.from_array(W, "we"))), *_mlp()]
    return _graph_model(nodes)


def _raw_data_of_another_type():
    model = make_model(_mlp(), [("input", ["N", 4])], [("out", ["N", 3])], {"w": W})
    model.graph.initializer[0].data_type = TensorProto.INT8
    return model


def _not_utf8():
    """The node name 'relu' with its first byte replaced by 0xff, which no UTF-8 text holds."""
    data = make_model(_mlp(), [("input", ["N", 4])], [("out", ["N", 3])], {"w": W}).SerializeToString()
    return data.replace(b"\x04relu", b"\x04\xffelu")


def _conv_window(size):
    nodes = [helper.make_node("Conv", ["input", "k"], ["c"], name="conv"), helper.make_node("Relu", ["c"], ["out"])]
    return make_model(nodes, [("input", ["N", 1, size, size])], [("out", ["N", 2, "h", "w"])],
                      {"k": np.ones((2, 1, 3, 3), np.float32)})


def _unknown_data_type():
    model = make_model(_mlp(), [("input", ["N", 4])], [("out", ["N", 3])], {"w": W})
    model.graph.initializer[0].data_type = 33
    return model


CASES = {
    "opset99": (lambda: _opset(99), ("opset 99", "outside 1..")),
    "no_outputs": (lambda: _graph_model(_mlp()[:1], outputs=(), initializers={"w": W}), ("no outputs",)),
    "zero_dim": (lambda: make_model(_mlp(), [("input", [0, 4])], [("out", [0, 3])], {"w": W}),
                 ("'input'", "dimension of size 0")),
    "reshape_cube": (lambda: _reshape([2**31] * 3), ("'rs' (Reshape)", "2147483648", "17,179,869,184 elements")),
    "reshape_wide": (lambda: _reshape([-1, 2**40]), ("'rs' (Reshape)", "1099511627776", "elements")),
    "custom_beside": (_custom_beside, ("'weird' (my.dom::Weird)", "custom domain")),
    "custom_instead": (lambda: _graph_model(_mlp("MyRelu", "my.dom"), initializers={"w": W}, domains=["my.dom"]),
                       ("'myrelu' (my.dom::MyRelu)", "custom domain")),
    "shapes_misfit": (lambda: make_model(_mlp(), [("input", ["N", 5])], [("out", ["N", 3])], {"w": W}),
                      ("shapes or types do not fit together",)),
    "raw_data_size": (_raw_data_of_another_type, ("tensor 'w'", "48 bytes of data for dims [4, 3] of INT8")),
    "not_utf8": (_not_utf8, ("not UTF-8",)),
    "conv_window_2": (lambda: _conv_window(2), ("'conv' (Conv)", "['N', 2, 0, 0]", "window is larger")),
    "conv_window_1": (lambda: _conv_window(1), ("'conv' (Conv)", "['N', 2, -1, -1]", "window is larger")),
    "unknown_data_type": (_unknown_data_type, ("tensor 'w'", "data type 33")),
    "offset_text": (lambda: _external(offset="abc"), ("tensor 'w'", "external data", "'abc'")),
    "offset_negative": (lambda: _external(offset="-5"), ("tensor 'w'", "external data", "-5")),
    "location_nul": (lambda: _external(location="w\0.bin"), ("tensor 'w'", "not a file name")),
    "outside_in_if": (_external_in_if, ("tensor 'wt'", "'../secret.bin'", "outside the model's folder")),
}


@pytest.mark.parametrize("command", ["convert", "inspect"])
@pytest.mark.parametrize("case", CASES)
def test_a_model_beyond_a_limit_is_refused_naming_the_file(tmp_path, case, command):
    build, words = CASES[case]
    path = tmp_path / f"{case}.onnx"
    model = build()
    path.write_bytes(model if isinstance(model, bytes) else model.SerializeToString())
    (tmp_path / "w.bin").write_bytes(W.tobytes())
    np.savez(tmp_path / "c.npz", x=np.ones((4, 4), np.float32))
    out = tmp_path / "out.onnx"
    args = ("-o", out, "--calib", tmp_path / "c.npz") if command == "convert" else ()
    refused(invoke(command, path, *args), str(path), *words)
    assert not out.exists()


@pytest.mark.parametrize("path, words", [("/dev/zero", ("character device", "not a regular file")),
                                         ("fifo.onnx", ("FIFO", "not a regular file"))])
def test_a_model_path_that_is_no_regular_file_is_refused_without_reading_it(tmp_path, monkeypatch, path, words):
    monkeypatch.chdir(tmp_path)
    if path == "fifo.onnx":
        import os

        os.mkfifo(path)
    refused(invoke("inspect", path), path, *words)
