"""Loading from path, bytes and ModelProto, and the errors for every kind of bad file."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnx2snn.errors import ModelLoadError
from onnx2snn.load.model import load_model
from tests.conftest import make_model


def _model():
    nodes = [helper.make_node("Gemm", ["input", "w"], ["h"], transB=1), helper.make_node("Relu", ["h"], ["out"])]
    return make_model(nodes, [("input", ["N", 4])], [("out", ["N", 3])], {"w": np.ones((3, 4), np.float32)})


def test_loads_from_path_bytes_and_proto(tmp_path):
    model = _model()
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    for source in (path, str(path), path.read_bytes(), model):
        loaded = load_model(source)
        assert [n.op_type for n in loaded.graph.node] == ["Gemm", "Relu"]
    assert load_model(model) is not model


def test_missing_file(tmp_path):
    with pytest.raises(ModelLoadError, match=r"nope\.onnx: no such file"):
        load_model(tmp_path / "nope.onnx")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    with pytest.raises(ModelLoadError, match="empty.onnx: the file is empty"):
        load_model(path)


def test_truncated_file(tmp_path):
    path = tmp_path / "cut.onnx"
    data = _model().SerializeToString()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="cut.onnx: not an ONNX model or the file is truncated"):
        load_model(path)


def test_not_onnx(tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_text("this is a text file, not a network\n" * 20)
    with pytest.raises(ModelLoadError, match="notes.onnx: not an ONNX model"):
        load_model(path)


def test_bytes_that_only_the_checkers_parser_refuses_are_a_load_error(tmp_path, monkeypatch):
    # the fuzz suite's long profile found a mutated file that Python's protobuf parses and onnx.checker's C++
    # parser refuses with a ValueError; that is the user's file, not a bug in onnx2snn
    def refuse(model):
        raise ValueError("Unable to parse proto from the given bytes: data is malformed")

    path = tmp_path / "odd.onnx"
    onnx.save(_model(), path)
    monkeypatch.setattr(onnx.checker, "check_model", refuse)
    with pytest.raises(ModelLoadError, match="odd.onnx: not a valid ONNX model"):
        load_model(path)


def _external(tmp_path, location):
    model = _model()
    tensor = model.graph.initializer[0]
    onnx.external_data_helper.set_external_data(tensor, location=location)
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    path = tmp_path / "ext.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def test_external_data_next_to_model(tmp_path):
    model = _model()
    path = tmp_path / "big.onnx"
    onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True, location="big.data",
              size_threshold=0)
    assert (tmp_path / "big.data").exists()
    loaded = load_model(path)
    np.testing.assert_array_equal(numpy_helper.to_array(loaded.graph.initializer[0]), np.ones((3, 4)))


def test_missing_external_data(tmp_path):
    path = _external(tmp_path, "weights.bin")
    with pytest.raises(ModelLoadError, match=r"ext\.onnx: tensor 'w' needs the external data file 'weights\.bin'"):
        load_model(path)


def test_external_data_outside_model_folder(tmp_path):
    (tmp_path / "secret.bin").write_bytes(b"\0" * 48)
    inner = tmp_path / "inner"
    inner.mkdir()
    path = _external(inner, "../secret.bin")
    with pytest.raises(ModelLoadError, match="outside the model's folder"):
        load_model(path)


def test_external_data_from_bytes_is_refused(tmp_path):
    path = _external(tmp_path, "weights.bin")
    with pytest.raises(ModelLoadError, match="load it from its path"):
        load_model(path.read_bytes())


def test_no_float_input():
    graph = helper.make_graph([helper.make_node("Cast", ["ids"], ["out"], to=TensorProto.FLOAT)], "g",
                              [helper.make_tensor_value_info("ids", TensorProto.INT64, ["N"])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(ModelLoadError, match=r"no floating-point input \(ids: INT64\)"):
        load_model(model)


def test_checker_failure_is_reported(tmp_path):
    model = _model()
    model.graph.node[1].input[0] = "undefined_tensor"
    path = tmp_path / "broken.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(ModelLoadError, match="broken.onnx: the graph fails the ONNX checker"):
        load_model(path)


@pytest.mark.parametrize("command", ["inspect", "convert"])
def test_a_model_that_cannot_be_upgraded_is_named_by_its_file(tmp_path, monkeypatch, command):
    from onnx import version_converter

    from tests.refusals import invoke, refused

    def fails(model, target):
        raise RuntimeError("No adapter for op Foo")

    monkeypatch.setattr(version_converter, "convert_version", fails)
    nodes = [helper.make_node("Gemm", ["input", "w"], ["h"], transB=1), helper.make_node("Relu", ["h"], ["out"])]
    model = make_model(nodes, [("input", ["N", 64])], [("out", ["N", 3])], {"w": np.ones((3, 64), np.float32)})
    model.opset_import[0].version = 11
    path = tmp_path / "old.onnx"
    onnx.save(model, path)
    extra = ["-o", tmp_path / "out.onnx", "--calib", "digits"] if command == "convert" else []
    refused(invoke(command, path, *extra), str(path), "cannot upgrade the model from opset 11", "No adapter")
    assert not (tmp_path / "out.onnx").exists()
