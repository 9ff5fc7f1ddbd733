"""Products of two time-varying values (onnx2snn.sites.compensate): a squeeze-excitation gate x * g(conv(relu(conv(
gap(x))))), whose factors share no value that does not pass through a weight layer, becomes a compensation unit of two
inputs; the SNN approaches its ANN as T grows, convert, inspect and the metadata name the unit's inputs, the
standard-ONNX export runs it as the runtime does, and NIR refuses it by node name."""

import functools

import numpy as np
import onnx
import pytest

from onnx2snn.calibrate.signed_thresholds import SignedSpec
from onnx2snn.convert import convert
from onnx2snn.errors import UnsupportedModelError
from onnx2snn.export.nir_graph import export_nir
from onnx2snn.export.standard_onnx import export_standard_onnx
from onnx2snn.load.model import load_model
from onnx2snn.normalize import normalize
from onnx2snn.report.inspect_model import describe
from onnx2snn.sites.find_sites import find_sites
from snnrt import contract
from tests import modern_models
from tests.conftest import ort_run
from tests.test_cli import _error, _invoke

SAMPLES = 8


@functools.cache
def _se_block():
    """tests.modern_models' MobileNetV3 block: HardSwish, then x * hardsigmoid(conv(relu(conv(gap(x))))), and its
    inputs."""
    return modern_models.export("mobilenetv3"), modern_models.example("mobilenetv3", SAMPLES).numpy()


@functools.cache
def _exact_snn():
    """The block converted so that nothing clips on its calibration inputs (max thresholds, no layer-wise fit), so
    that its SNN converges to the ANN on them."""
    ann, x = _se_block()
    return convert(ann, x, threshold="max", layerwise=False, signed_spec=SignedSpec(100, 4, True))


def test_the_gate_becomes_a_unit_of_two_inputs():
    ann, _ = _se_block()
    clean = normalize(load_model(ann, float_input=False))[0]
    report = find_sites(clean)
    assert not report.problems and len(report.sites) == 1  # the gate's ReLU
    units = {unit.computes: unit for unit in report.compensated}
    assert sorted(units) == ["HardSigmoid", "HardSwish", "Mul"]
    assert units["Mul"].inputs == [units["HardSwish"].output, units["HardSigmoid"].output]
    assert sorted(reader for site in report.signed for reader in site.readers) == ["/excite/excite.1/Conv",
                                                                                   "/head/head.2/Gemm"]


def test_the_snn_approaches_the_ann_in_both_orders():
    ann, x = _se_block()
    reference = ort_run(ann, x)[0]
    error = {}
    for order in ("step", "layer"):
        outputs = _exact_snn().network("cpu", order).run(x, 64, keep=(4, 64)).outputs.numpy()
        error[order] = [float(np.abs(out - reference).mean() / np.abs(reference).mean()) for out in outputs]
    np.testing.assert_allclose(error["step"], error["layer"], rtol=1e-4)
    assert error["step"][1] < min(0.002, error["step"][0] / 4), error  # measured 0.0066 and 0.0006


def test_convert_inspect_and_the_metadata_name_the_inputs(tmp_path):
    ann, x = _se_block()
    snn = convert(ann, x, output=tmp_path / "se.snn.onnx")
    unit = next(u for u in snn.compensated if u.computes == "Mul")
    metadata = {p.key: p.value for p in snn.model.metadata_props}
    assert f"{unit.name}: Mul ({unit.inputs[0]}, {unit.inputs[1]} -> {unit.output})" in metadata[
        contract.META_COMPENSATED]
    node = next(n for n in snn.model.graph.node if n.name == unit.name)
    assert list(node.input) == unit.inputs
    text = describe(str(tmp_path / "se.snn.onnx"))
    assert f"{unit.name}: {contract.COMPENSATION_OP} (not spiking) of Mul" in text


@pytest.mark.parametrize("time_loop", ["unrolled", "scan"])
def test_the_standard_onnx_export_runs_the_units_as_the_runtime_does(time_loop):
    ann, x = _se_block()
    snn = _exact_snn()
    exported = export_standard_onnx(snn.model, 12, per_step_outputs=True, spike_counts=True, time_loop=time_loop)
    assert all(n.domain in ("", "ai.onnx") for n in exported.graph.node)
    outputs = ort_run(exported, x)
    result = snn.network("cpu", "layer").run(x, 12)
    np.testing.assert_allclose(outputs[1], result.outputs.numpy(), rtol=1e-5, atol=1e-6)
    counts = {o.name.removeprefix("spike_count/"): int(c) for o, c in zip(exported.graph.output[2:], outputs[2:])}
    assert counts == result.spike_counts  # the spiking layers only: compensation units are not counted


def test_nir_refuses_the_unit_and_a_body_at_another_opset_is_refused_by_name(tmp_path):
    snn = _exact_snn()
    name = next(u.name for u in snn.compensated if u.computes == "Mul")
    with pytest.raises(UnsupportedModelError, match=f"node '{name}'"):
        export_nir(snn.model)
    model = onnx.ModelProto()
    model.CopyFrom(snn.model)
    node = next(n for n in model.graph.node if n.name == name)
    next(a for a in node.attribute if a.name == contract.ATTR_BODY_OPSET).i = 18
    with pytest.raises(UnsupportedModelError, match=f"node '{name}' .*body at opset 18 and the model is at opset 17"):
        export_standard_onnx(model, 4)
    path = tmp_path / "se.snn.onnx"
    onnx.save(model, path)
    _error(_invoke("export", path, "--format", "onnx", "-T", 4, "-o", tmp_path / "se_t4.onnx"), name, "opset 18")
