"""`onnx2snn export`: its own errors (format, ANN given, paths, T) and, through the exporters of
onnx2snn.export.standard_onnx and onnx2snn.export.nir_graph, files that other tools run."""

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from snnrt.simulate import SpikingNetwork

from onnx2snn.data.datasets import digits
from onnx2snn.errors import Onnx2SnnError
from onnx2snn.export import export_model

from tests.test_cli import MLP, _error, _invoke


def test_export_errors(snn, tmp_path):
    out = tmp_path / "out.onnx"
    _error(_invoke("export", snn, "--format", "pdf", "-o", out), "--format", "pdf")
    _error(_invoke("export", MLP, "--format", "onnx", "-o", out), "digits_mlp.onnx", "it is an ANN",
           "convert it first with onnx2snn convert")
    _error(_invoke("export", tmp_path / "missing.snn.onnx", "--format", "onnx", "-o", out), "no such file")
    _error(_invoke("export", snn, "--format", "onnx", "-o", tmp_path / "no_dir" / "a.onnx"), "does not exist")
    _error(_invoke("export", snn, "--format", "nir", "-o", tmp_path), "is a directory")
    _error(_invoke("export", snn, "--format", "onnx", "-T", 0, "-o", out), "-T")
    _error(_invoke("export", snn, "--format", "nir", "-T", 8, "-o", out), "no fixed T")
    (tmp_path / "half.snn.onnx").write_bytes(Path(snn).read_bytes()[:500])
    _error(_invoke("export", tmp_path / "half.snn.onnx", "--format", "nir", "-o", out), "half.snn.onnx")
    _error(_invoke("export", snn, "-o", out), "--format")
    assert not out.exists() and not (tmp_path / "no_dir").exists()


def test_an_snn_whose_declared_output_type_is_wrong_is_named_not_a_crash(snn, tmp_path):
    # found by the fuzz suite's long profile: a mutated file that declares an integer output where the graph
    # computes floats loads and runs, but the exported graph fails ONNX's shape inference
    model = onnx.load(snn)
    model.graph.output[0].type.tensor_type.elem_type = onnx.TensorProto.UINT8
    edited, out = tmp_path / "edited.snn.onnx", tmp_path / "out.onnx"
    onnx.save(model, edited)
    _error(_invoke("export", edited, "--format", "onnx", "-T", 4, "-o", out), "edited.snn.onnx",
           "do not match what its graph computes")
    assert not out.exists()


def test_export_model_checks_its_arguments(snn, tmp_path):
    with pytest.raises(Onnx2SnnError, match="unknown export format 'pdf'"):
        export_model(snn, "pdf", tmp_path / "a")
    with pytest.raises(Onnx2SnnError, match="at least one time step"):
        export_model(snn, "onnx", tmp_path / "a", timesteps=0)
    with pytest.raises(Onnx2SnnError, match="convert it first"):
        export_model(onnx.load(MLP), "onnx", tmp_path / "a")


# The tests below need onnx2snn/export/standard_onnx.py and onnx2snn/export/nir_graph.py (issue 5).

def test_export_standard_onnx_runs_in_onnxruntime_like_the_snn(snn, tmp_path):
    out = tmp_path / "mlp_t8.onnx"
    result = _invoke("export", snn, "--format", "onnx", "-T", 8, "--per-step", "-o", out)
    assert result.exit_code == 0, result.output
    assert f"wrote {out} (standard ONNX, T=8)" in result.output
    model = onnx.load(out)
    assert all(n.domain in ("", "ai.onnx") for n in model.graph.node)
    x = digits("test")[0][:100]
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {session.get_inputs()[0].name: x})
    reference = SpikingNetwork(onnx.load(snn), "cpu").run(x, 8).outputs.numpy()
    assert outputs[1].shape == (8, 100, 10)
    np.testing.assert_allclose(outputs[0], reference[-1], atol=1e-3)
    np.testing.assert_allclose(outputs[1], reference, atol=1e-3)


def test_export_nir_writes_a_graph_that_nir_reads(snn, tmp_path):
    import nir

    out = tmp_path / "mlp.nir"
    result = _invoke("export", snn, "--format", "nir", "-o", out)
    assert result.exit_code == 0, result.output
    assert f"wrote {out} (NIR)" in result.stdout
    graph = nir.read(str(out))
    kinds = {type(node).__name__ for node in graph.nodes.values()}
    assert {"Input", "Output", "IF"} <= kinds
    assert not list(tmp_path.glob(".mlp.nir.*"))
