"""onnx2snn diagnose: the streaming figures against the whole tensors, a deliberately broken threshold found,
and the command line (table, JSON, plot, bad input)."""

import inspect
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from onnx import helper

from onnx2snn import defaults
from onnx2snn.cli.commands import main
from onnx2snn.convert import convert
from onnx2snn.data.datasets import digits
from onnx2snn.errors import DataError
from onnx2snn.load.bundled import bundled_model
from onnx2snn.report.diagnose import diagnose
from onnx2snn.report.diagnose_repair import repair_timesteps
from onnx2snn.report.diagnose_sites import scaled_threshold
from onnx2snn.report.diagnose_sums import RateSums
from snnrt import contract
from tests.conftest import make_model
from tests.test_convert import W1, W2, _qcfs_mlp

MLP = str(bundled_model("digits_mlp"))
FIGURES = {"error", "own_error", "growth", "cosine", "bias", "firing_rate", "silent"}


def _invoke(*args):
    return CliRunner().invoke(main, ["--quiet", *map(str, args)])


def test_rate_sums_in_chunks_equal_the_figures_of_the_whole_tensors():
    rng = np.random.default_rng(0)
    theta = np.array([1.0, 0.5, 2.0, 1.5], np.float32)
    steps, samples = 9, 10
    fired = rng.random((steps, samples, 4)) < np.array([0.3, 0.0, 0.6, 0.1])
    fired[:, :, 3] &= np.arange(steps)[:, None] >= 5  # channel 3 fires only from step 6 on
    values = torch.from_numpy((fired * theta).astype(np.float32))
    ann = torch.from_numpy(rng.uniform(0, 1.5, (samples, 4)).astype(np.float32))
    sums = RateSums([1, 3, 4, 9], torch.from_numpy(theta))
    for first_sample, count in ((0, 6), (6, 4)):  # chunks of samples, each in chunks of steps
        for first_step, length in ((0, 2), (2, 3), (5, 4)):
            part = slice(first_sample, first_sample + count)
            sums.add(values[first_step : first_step + length, part], first_step, ann[part])
    for t in (1, 3, 4, 9):
        rate = values[:t].double().mean(0).numpy()
        a = ann.double().numpy()
        expected = {"error": np.linalg.norm(rate - a) / np.linalg.norm(a),
                    "cosine": (rate * a).sum() / np.linalg.norm(rate) / np.linalg.norm(a),
                    "bias": (rate - a).mean(), "firing_rate": fired[:t].mean(),
                    "silent": 1 - fired[:t].any((0, 1)).mean()}
        assert sums.figures(t) == pytest.approx(expected, rel=1e-5, abs=1e-7)
    assert sums.figures(4)["silent"] == 0.5 and sums.figures(9)["silent"] == 0.25
    assert sums.dead_channels(torch.ones(4, dtype=torch.bool)) == (1, 4)
    assert sums.dead_channels(torch.tensor([True, False, True, True])) == (0, 3)


@pytest.fixture(scope="module")
def mlp_snn(tmp_path_factory):
    """The digits MLP converted with 400 training images, as a ModelProto."""
    return convert(MLP, digits("train")[0][:400], layerwise=False).model


@pytest.mark.parametrize("broken", ["/1/Relu_if", "/3/Relu_if"])
def test_a_threshold_broken_by_hand_is_the_layer_named(mlp_snn, broken):
    x = digits("test")[0][:150]
    healthy = diagnose(mlp_snn, MLP, x, (4, 32))
    result = diagnose(scaled_threshold(mlp_snn, broken, 0.2), MLP, x, (4, 32))
    assert [layer.name for layer in result.layers] == ["/1/Relu_if", "/3/Relu_if"]
    assert result.worst.name == broken
    layer = next(layer for layer in result.layers if layer.name == broken)
    assert layer.clipped > 0.3 and any(v.startswith("clips") and "threshold too low" in v for v in layer.verdicts)
    before = next(layer for layer in healthy.layers if layer.name == broken)
    assert layer.by_t[32]["own_error"] > 2 * before.by_t[32]["own_error"]
    first = result.layers[0]
    assert first.by_t[32]["own_error"] == pytest.approx(first.by_t[32]["error"], rel=1e-5)  # its input is exact
    with pytest.raises(ValueError, match="no IF node 'nope'"):
        scaled_threshold(mlp_snn, "nope", 2.0)
    if broken == "/1/Relu_if":  # the error it sends on reaches the second layer, whose own error stays small
        second = result.layers[1]
        assert second.by_t[32]["error"] > 2 * second.by_t[32]["own_error"]


@pytest.mark.parametrize("broken", ["/1/Relu_if", "/3/Relu_if"])
def test_a_threshold_halved_by_hand_is_the_best_repair_and_raising_it_is_the_repair(mlp_snn, broken):
    result = diagnose(scaled_threshold(mlp_snn, broken, 0.5), MLP, digits("test")[0][:150], (1, 2, 4, 8, 16, 32),
                      repair_samples=64)
    assert result.best_repair.name == broken and result.best_repair.repair[0] == 1.25
    assert result.repair_samples == 64 and result.repair_timesteps == [1, 2, 4, 8, 16]
    assert any(v.startswith("repair here first: thresholds x1.25") for v in result.best_repair.verdicts)


def test_no_repair_is_tried_by_default_and_trials_score_the_asked_t_up_to_16(mlp_snn):
    result = diagnose(mlp_snn, MLP, digits("test")[0][:40], (2, 32))
    assert result.best_repair is None and result.repair_samples == 0 and result.repair_timesteps == []
    assert all(layer.repair == (None, 0.0) for layer in result.layers)
    assert repair_timesteps([1, 4, 16, 32, 64]) == [1, 4, 16] and repair_timesteps([32, 64]) == [32]


def test_repair_trials_need_class_scores_and_say_so():
    """An ANN whose output is one score per input (N,) has no predicted class for the trials to agree with."""
    nodes = [helper.make_node("Gemm", ["input", "w1"], ["h"], transB=1), helper.make_node("Relu", ["h"], ["a"]),
             helper.make_node("Gemm", ["a", "w2"], ["logits"], transB=1),
             helper.make_node("ReduceSum", ["logits", "axes"], ["score"], keepdims=0)]
    ann = make_model(nodes, [("input", ["N", 6])], [("score", ["N"])], {"w1": W1, "w2": W2, "axes": np.array([1])})
    x = np.random.default_rng(1).normal(size=(32, 6)).astype(np.float32)
    snn = convert(ann, x, layerwise=False).model
    assert diagnose(snn, ann, x, (1, 4)).best_repair is None
    with pytest.raises(DataError, match="not \\(N, classes\\); diagnose without --repair-samples"):
        diagnose(snn, ann, x, (1, 4), repair_samples=8)


def test_an_if_input_that_only_the_snn_computes_is_computed_from_the_ann():
    """QCFS with its scales folded: the IF node reads alpha * h + beta, through Mul/Add nodes the ANN lacks; the
    SNN equals the ANN at T = levels, so every error there is 0."""
    ann = _qcfs_mlp(1.5, 4)
    snn = convert(ann).model
    currents = [n.input[0] for n in snn.graph.node if n.op_type == contract.IF_OP]
    assert not set(currents) & {name for node in ann.graph.node for name in node.output}
    result = diagnose(snn, ann, np.random.default_rng(0).normal(size=(64, 6)).astype(np.float32), (1, 4))
    figures = result.layers[0].by_t[4]
    assert figures["error"] < 1e-5 and figures["own_error"] < 1e-5 and result.layers[0].by_t[1]["error"] > 0.1


def test_diagnose_prints_a_table_and_verdicts_and_writes_a_heatmap(snn, tmp_path):
    plot = tmp_path / "error.png"
    result = _invoke("diagnose", snn, "--ann", MLP, "--data", "digits", "--samples", 100, "--timesteps", "2,8",
                     "--plot", plot)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].split() == ["IF", "layer", "T=2", "T=8"]
    assert lines[2].split()[0] == "/1/Relu_if" and lines[3].split()[0] == "/3/Relu_if"
    assert any("adds the most error itself" in line for line in lines)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"wrote {plot}" in result.output


def test_diagnose_json_has_one_entry_per_layer_with_figures_by_t(snn):
    result = _invoke("diagnose", snn, "--ann", MLP, "--data", "digits", "--samples", 50, "--timesteps", "1,4",
                     "--json", "--repair-samples", 64)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["samples"] == 50 and report["timesteps"] == [1, 4]
    assert [layer["name"] for layer in report["layers"]] == ["/1/Relu_if", "/3/Relu_if"]
    assert report["worst"] in {"/1/Relu_if", "/3/Relu_if"}
    assert report["best_repair"] in {"/1/Relu_if", "/3/Relu_if", None}
    assert report["repair_samples"] == 50 and report["repair_timesteps"] == [1, 4]
    for layer in report["layers"]:
        assert isinstance(layer["site"], str) and isinstance(layer["neurons"], int)
        assert 0 <= layer["clipped"] <= 1 and isinstance(layer["verdicts"], list)
        assert isinstance(layer["dead_channels"], int) and isinstance(layer["active_channels"], int)
        assert layer["threshold"]["min"] <= layer["threshold"]["max"]
        assert set(layer["repair"]) == {"factor", "gain"} and isinstance(layer["repair"]["gain"], float)
        gained = layer["repair"]["gain"] > 0
        assert layer["repair"]["factor"] in (0.8, 1.25) if gained else layer["repair"]["factor"] is None
        assert set(layer["by_t"]) == {"1", "4"}
        for figures in layer["by_t"].values():
            assert set(figures) == FIGURES
            assert all(isinstance(v, float) for k, v in figures.items() if k != "growth")
    assert report["layers"][0]["by_t"]["4"]["growth"] is None
    assert isinstance(report["layers"][1]["by_t"]["4"]["growth"], float)


def test_diagnose_bad_input_is_one_line_and_exit_2(snn, tmp_path):
    cnn = bundled_model("mnist_cnn_relu")
    cases = [(["--data", "digits"], "Missing option '--ann'"),
             (["--ann", cnn, "--data", "digits"], "which the ANN does not compute"),
             (["--ann", snn, "--data", "digits"], "has IF nodes"),
             (["--ann", MLP, "--data", "digits", "--encoding", "poisson"], "--encoding direct only")]
    for options, message in cases:
        result = _invoke("diagnose", snn, *options)
        assert result.exit_code == 2 and message in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1 and result.output.startswith("error: ")
    result = _invoke("diagnose", MLP, "--ann", MLP, "--data", "digits")
    assert result.exit_code == 2 and "the SNN has no IF nodes" in result.output
    with pytest.raises(DataError, match="at least one input"):
        diagnose(snn, MLP, np.zeros((0, 64), np.float32))


def test_diagnose_batches_default_to_diagnose_batch_size_and_eval_keeps_128():
    """diagnose holds the ANN's values at every IF site for a batch: its batch is smaller than the other commands'."""
    def batch_default(command):
        option = next(p for p in main.commands[command].params if p.name == "batch_size")
        return option.default

    assert batch_default("diagnose") == defaults.DIAGNOSE_BATCH_SIZE == 32
    assert batch_default("eval") == 128
    assert inspect.signature(diagnose).parameters["batch_size"].default == defaults.DIAGNOSE_BATCH_SIZE
