"""The command line through click's CliRunner: every command on the bundled digits MLP and on data of
every accepted form, and every bad input with its message and exit code (2 for user errors)."""

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from click.testing import CliRunner
from onnx import helper
from PIL import Image

from onnx2snn import __version__
from onnx2snn.cli.commands import main
from onnx2snn.data.datasets import digits
from onnx2snn.defaults import TUNE_SPREADS
from onnx2snn.load.bundled import bundled_model
from tests.conftest import make_model
from tests.test_data_loaders import CIFAR10, write_cifar

MLP = str(bundled_model("digits_mlp"))


def _invoke(*args):
    return CliRunner().invoke(main, ["--quiet", *map(str, args)])


@pytest.fixture(scope="module")
def digits_png(tmp_path_factory):
    """The digits test split as 8-bit PNGs, one folder per class."""
    root = tmp_path_factory.mktemp("png") / "digits"
    x, y = digits("test")
    for i, (image, label) in enumerate(zip(x, y)):
        (root / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.round(image.reshape(8, 8) * 255).astype(np.uint8)).save(root / str(label) / f"{i}.png")
    return root


def _cnn(channels=3, size=32, classes=10):
    """Conv-Relu-GlobalAveragePool-Flatten-Gemm on (N, channels, size, size), seeded weights."""
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["input", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("GlobalAveragePool", ["r"], ["p"], name="pool"),
             helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "fc", "b"], ["out"], name="fc", transB=1)]
    weights = {"w": rng.normal(0, 0.3, (4, channels, 3, 3)).astype(np.float32),
               "fc": rng.normal(0, 1, (classes, 4)).astype(np.float32), "b": np.zeros(classes, np.float32)}
    return make_model(nodes, [("input", ["N", channels, size, size])], [("out", ["N", classes])], weights)


def test_convert_prints_the_layer_summary_and_writes_a_checked_file(tmp_path):
    out = tmp_path / "mlp.snn.onnx"
    result = _invoke("convert", MLP, "-o", out, "--calib", "digits:train", "--calib-samples", 300,
                     "--threshold", "percentile:99.9", "--per-layer", "--init", "zero", "--batch-size", 64,
                     "--no-layerwise")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["site", "kind", "replaced", "threshold", "source", "spread", "start", "threshold"]
    assert lines[1].split()[:5] == ["/1/Relu", "IF", "Relu", "percentile", "99.9"] and "wrote" in lines[-1]
    assert lines[1][lines[0].index("spread"):].split()[:2] == ["0", "0"]
    model = onnx.load(out)
    onnx.checker.check_model(model)
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["onnx2snn.calibration_samples"] == "300" and float(meta["onnx2snn.v_init_fraction"]) == 0.0


@pytest.mark.parametrize("option, spread", [((), "0.75"), (("--spread", "0.2"), "0.2"),
                                            (("--init", "zero"), "0.0")])
def test_convert_spreads_potentials_by_default_with_the_half_start(tmp_path, option, spread):
    out = tmp_path / "mlp.snn.onnx"
    result = _invoke("convert", MLP, "-o", out, "--calib", "digits:train", "--calib-samples", 50, *option)
    assert result.exit_code == 0, result.output
    assert {p.key: p.value for p in onnx.load(out).metadata_props}["onnx2snn.spread"] == spread


@pytest.mark.parametrize("option, start", [(("--init", "0.3"), "0.3"), (("--per-layer",), "0.5")])
def test_convert_and_inspect_show_the_start_as_a_fraction_of_theta(tmp_path, option, start):
    out = tmp_path / "mlp.snn.onnx"
    result = _invoke("convert", MLP, "-o", out, "--calib", "digits:train", "--calib-samples", 50, "--no-layerwise",
                     *option)
    lines = result.output.splitlines()
    column = lines[0].index("start")
    starts = [line[column:].split()[0] for line in lines if line.startswith("/")]
    assert starts == [start, start]  # one value: float32 rounding of 0.3 * theta aside
    inspected = [line for line in _invoke("inspect", out).output.splitlines() if "IFNeuron" in line]
    assert all(f"v_init {start} theta" in line for line in inspected) and len(inspected) == 2
    assert ("per channel" in inspected[0]) == (option != ("--per-layer",))


def _if_thresholds(path):
    return [list(a.floats) for n in onnx.load(path).graph.node for a in n.attribute if a.name == "v_threshold"]


def test_convert_tunes_thresholds_on_request(tmp_path):
    plain, tuned = tmp_path / "plain.snn.onnx", tmp_path / "tuned.snn.onnx"
    common = ("--calib", "digits:train", "--calib-samples", 100, "--no-layerwise")
    assert _invoke("convert", MLP, "-o", plain, *common).exit_code == 0
    result = _invoke("convert", MLP, "-o", tuned, *common, "--tune", "--tune-timesteps", "1,2,4", "--tune-samples", 64)
    assert result.exit_code == 0, result.output
    rows = [line.split()[:1] + line.split()[2:] for line in result.output.splitlines() if line.startswith("/")]
    assert len(rows) == 2 and all(row[6] == "(tuned)" and float(row[7]) in TUNE_SPREADS for row in rows)
    spreads = [next((a.f for a in n.attribute if a.name == "v_spread"), 0.0) for n in onnx.load(tuned).graph.node
               if n.op_type == "IFNeuron"]
    assert [float(row[7]) for row in rows] == spreads
    for row, node in zip(rows, [n for n in onnx.load(tuned).graph.node if n.op_type == "IFNeuron"]):
        attrs = {a.name: np.array(a.floats) for a in node.attribute if a.name in ("v_threshold", "v_init")}
        fractions = attrs["v_init"] / attrs["v_threshold"]  # calibrated per channel, or theta/2 where not kept
        assert row[8] == ("0.5" if np.allclose(fractions, 0.5) else f"{fractions.min():.2f}..{fractions.max():.2f}")
    assert any(".." in row[8] for row in rows)  # on this MLP the starts of a layer are kept
    inspected = [line for line in _invoke("inspect", tuned).output.splitlines() if "IFNeuron" in line]
    assert [line.split("v_init ")[1].split()[0] for line in inspected] == [row[8] for row in rows]
    for row, before, after in zip(rows, _if_thresholds(plain), _if_thresholds(tuned)):
        np.testing.assert_allclose(after, np.float32(before) * np.float32(row[5][1:]), rtol=1e-6)
    tuning = next(line for line in result.output.splitlines() if line.startswith("tuning: "))
    assert "64 calibration samples, T=1,2,4" in tuning
    assert {p.key: p.value for p in onnx.load(tuned).metadata_props}["onnx2snn.threshold_tuning"] == tuning[8:]


@pytest.mark.parametrize("options, name", [(("--tune", "--tune-timesteps", "0,4"), "--tune-timesteps"),
                                           (("--tune-samples", 32), "--tune-samples")])
def test_convert_rejects_bad_tuning_options(tmp_path, options, name):
    result = _invoke("convert", MLP, "-o", tmp_path / "x.onnx", "--calib", "digits:train", *options)
    assert result.exit_code == 2 and name in result.output


def test_convert_rejects_a_spread_outside_zero_to_one(tmp_path):
    result = _invoke("convert", MLP, "-o", tmp_path / "x.onnx", "--calib", "digits:train", "--spread", "1.5")
    assert result.exit_code == 2 and "--spread" in result.output
    assert not (tmp_path / "x.onnx").exists()


def test_eval_json_plot_and_seeded_poisson(snn, tmp_path):
    result = _invoke("eval", snn, "--data", "digits", "--timesteps", "1,4,16", "--ann", MLP, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["timesteps"] == [1, 4, 16] and report["samples"] == 400
    assert set(report["snn_accuracy"]) == {"1", "4", "16"} and report["ann_accuracy"] > 0.95
    assert report["snn_accuracy"]["16"] > 0.9 and set(report["firing_rates"]) == {"/1/Relu_if", "/3/Relu_if"}
    for t, versus in report["versus_ann"].items():  # the sample-by-sample counts make up the accuracy gap
        gap = (report["snn_accuracy"][t] - report["ann_accuracy"]) * 400
        assert versus["only_snn"] - versus["only_ann"] == round(gap) and 0 < versus["p"] <= 1
    assert report["versus_ann"]["1"]["only_ann"] > 0

    ann = json.loads(_invoke("eval", MLP, "--data", "digits", "--timesteps", "1,2", "--ann", MLP, "--json").output)
    assert ann["snn_accuracy"] == {"1": ann["ann_accuracy"], "2": ann["ann_accuracy"]}  # an ANN file runs as is
    assert ann["versus_ann"] == {t: {"only_snn": 0, "only_ann": 0, "p": 1.0} for t in ("1", "2")}
    text = _invoke("eval", snn, "--data", "digits", "--timesteps", "1,4", "--ann", MLP).output
    assert "SNN vs ANN" in text.splitlines()[0]
    line = next(row for row in text.splitlines() if row.split()[:1] == ["1"])
    assert line.endswith(f"+{report['versus_ann']['1']['only_snn']} −{report['versus_ann']['1']['only_ann']} "
                         f"(p {report['versus_ann']['1']['p']:.2g})")
    alone = json.loads(_invoke("eval", snn, "--data", "digits", "--timesteps", "1", "--json").output)
    assert alone["versus_ann"] is None and alone["ann_accuracy"] is None

    plot = tmp_path / "acc.png"
    result = _invoke("eval", snn, "--data", "digits", "--timesteps", "1,2", "--samples", 50, "--plot", plot)
    assert result.exit_code == 0 and f"wrote {plot}" in result.output
    assert Image.open(plot).size[0] > 1000 and "SNN acc" in result.output

    runs = [json.loads(_invoke("eval", snn, "--data", "digits", "--samples", 60, "--timesteps", "8",
                               "--encoding", "poisson", "--seed", seed, "--json").output) for seed in (3, 3, 4)]
    assert runs[0] == runs[1] and runs[0]["sops"] != runs[2]["sops"] and runs[0]["samples"] == 60


def test_eval_orders_give_the_same_report(snn):
    reports = {order: json.loads(_invoke("eval", snn, "--data", "digits", "--samples", 100, "--timesteps", "1,3,9",
                                         "--order", order, "--json").output) for order in ("step", "layer")}
    assert reports["step"] == reports["layer"]
    _error(_invoke("eval", snn, "--data", "digits", "--order", "sideways"), "--order", "sideways")
    _error(_invoke("run", snn, "--input", "digits", "--seed", -1), "--seed")


def test_eval_compares_with_the_scores_of_an_ann_that_outputs_labels_first(snn, tmp_path):
    """Classifier exports such as skl2onnx's put an int64 label output before the float scores."""
    ann = onnx.load(MLP)
    scores = ann.graph.output[0].name
    ann.graph.node.append(helper.make_node("ArgMax", [scores], ["label"], name="argmax", axis=1, keepdims=0))
    ann.graph.output.insert(0, helper.make_tensor_value_info("label", onnx.TensorProto.INT64, ["N"]))
    onnx.save(ann, tmp_path / "labelled.onnx")
    reports = [json.loads(_invoke("eval", snn, "--data", "digits", "--ann", a, "--timesteps", "1", "--json").output)
               for a in (MLP, tmp_path / "labelled.onnx")]
    assert reports[0]["ann_accuracy"] == reports[1]["ann_accuracy"] > 0.95


def test_eval_reads_an_image_folder_like_the_arrays_it_was_written_from(snn, digits_png):
    from_folder = json.loads(_invoke("eval", snn, "--data", digits_png, "--ann", MLP, "--timesteps", "16",
                                     "--json").output)
    from_arrays = json.loads(_invoke("eval", snn, "--data", "digits", "--ann", MLP, "--timesteps", "16",
                                     "--json").output)
    assert from_folder["samples"] == 400
    # 8-bit PNGs round the 0..16 grey levels; accuracy moves by at most a few images
    assert abs(from_folder["ann_accuracy"] - from_arrays["ann_accuracy"]) <= 0.01
    assert abs(from_folder["snn_accuracy"]["16"] - from_arrays["snn_accuracy"]["16"]) <= 0.02


def test_convert_and_eval_on_a_cifar_folder_with_preprocessing(tmp_path):
    write_cifar(tmp_path / "cifar-10-batches-py", CIFAR10, per_batch=6)
    folder = tmp_path / "cifar-10-batches-py"
    onnx.save(_cnn(), tmp_path / "cnn.onnx")
    result = _invoke("convert", tmp_path / "cnn.onnx", "-o", tmp_path / "cnn.snn.onnx", "--calib", f"{folder}:train",
                     "--mean", "0.49,0.48,0.45", "--std", "0.25")
    assert result.exit_code == 0, result.output
    result = _invoke("eval", tmp_path / "cnn.snn.onnx", "--data", folder, "--ann", tmp_path / "cnn.onnx",
                     "--timesteps", "1,64", "--json", "--mean", "0.49,0.48,0.45", "--std", "0.25")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["samples"] == 6 and 0 <= report["snn_accuracy"]["64"] <= 1

    onnx.save(_cnn(channels=1, size=16), tmp_path / "gray.onnx")
    result = _invoke("run", tmp_path / "gray.onnx", "--input", folder, "--resize", 16, "-T", 2, "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)["predictions"]) == 6


def test_run_prints_predictions_labels_and_spike_statistics(snn, digits_png):
    result = _invoke("run", snn, "--input", "digits", "--samples", 5, "-T", 8, "--stats")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "sample\tprediction\tlabel" and len(lines[1].split("\t")) == 3
    assert lines[6].startswith("accuracy at T=8:") and "/1/Relu_if" in result.output

    result = _invoke("run", snn, "--input", digits_png, "--samples", 4, "-T", 16, "--json", "--stats")
    report = json.loads(result.output)
    assert len(report["predictions"]) == 4 and report["inputs"][0].endswith(".png")
    assert report["spike_counts"]["/1/Relu_if"] > 0 and 0 < report["firing_rates"]["/1/Relu_if"] < 1
    assert [int(name.split("/")[0]) for name in report["inputs"]] == report["labels"]

    x = digits("test")[0][:3]
    np.save(digits_png.parent / "three.npy", x)
    result = _invoke("run", snn, "--input", digits_png.parent / "three.npy", "--json", "--batch-size", 2)
    assert json.loads(result.output)["labels"] is None and len(json.loads(result.output)["predictions"]) == 3


def test_inspect_ann_and_snn(snn):
    result = _invoke("inspect", MLP)
    assert result.exit_code == 0
    assert "activations that become IF neurons: 2" in result.output and "blocking conversion: none" in result.output
    assert "MACs per sample: 6,464" in result.output and "input: input (" in result.output
    result = _invoke("inspect", snn)
    assert result.exit_code == 0 and "IFNeuron" in result.output and "SNN" in result.output


def test_demo_with_small_sizes():
    result = _invoke("demo", "--timesteps", "1,4", "--samples", 40, "--calib-samples", 200)
    assert result.exit_code == 0, result.output
    assert "with 200 calibration images" in result.output and "evaluating on 40 held-out" in result.output
    rows = [line.split() for line in result.output.splitlines() if line.strip().split()[:1] in (["1"], ["4"])]
    assert [r[0] for r in rows] == ["1", "4"] and all(0 <= float(r[1]) <= 1 for r in rows)
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("this SNN reaches the ANN within 1 point at T=") and last.endswith("x the ANN's energy") \
        or last == "this SNN does not come within 1 point of the ANN by T=4"


def test_version_and_help_texts_with_examples():
    assert _invoke("--version").output.strip() == f"onnx2snn, version {__version__}"
    for command in ("convert", "eval", "diagnose", "inspect", "run", "export", "demo"):
        result = _invoke(command, "--help")
        assert result.exit_code == 0 and "Example:" in result.output and f"onnx2snn {command}" in result.output


def _error(result, *fragments):
    """A user error: exit code 2, one message on stderr, no traceback."""
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_bad_model_files(tmp_path):
    _error(_invoke("convert", tmp_path / "missing.onnx", "-o", tmp_path / "x.onnx"), "missing.onnx: no such file")
    (tmp_path / "noise.onnx").write_bytes(np.random.default_rng(0).bytes(300))
    _error(_invoke("inspect", tmp_path / "noise.onnx"), "noise.onnx", "not an ONNX model")
    data = Path(MLP).read_bytes()
    (tmp_path / "half.onnx").write_bytes(data[: len(data) // 2])
    _error(_invoke("convert", tmp_path / "half.onnx", "-o", tmp_path / "x.onnx", "--calib", "digits"),
           "half.onnx", "truncated")
    assert not (tmp_path / "x.onnx").exists()


def test_unconvertible_op_lists_the_node(tmp_path):
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("MatMul", ["input", "w1"], ["h"], name="fc1"),
             helper.make_node("Sigmoid", ["h"], ["s"], name="gate"),
             helper.make_node("MatMul", ["s", "w2"], ["out"], name="fc2")]
    model = make_model(nodes, [("input", ["N", 64])], [("out", ["N", 10])],
                       {"w1": rng.normal(size=(64, 8)).astype(np.float32),
                        "w2": rng.normal(size=(8, 10)).astype(np.float32)})
    onnx.save(model, tmp_path / "sigmoid.onnx")
    out = tmp_path / "sigmoid.snn.onnx"
    _error(_invoke("convert", tmp_path / "sigmoid.onnx", "-o", out, "--calib", "digits", "--spiking-only"), "'gate'",
           "Sigmoid")
    assert not out.exists()
    text = _invoke("inspect", tmp_path / "sigmoid.onnx").output
    assert "compensation units (not spiking): 1\n  gate_ec: Sigmoid" in text
    assert "behind signed IF neurons: 1\n  s_signed: s -> fc2" in text and "blocking conversion: none" in text


def test_bad_data(snn, tmp_path):
    np.savez(tmp_path / "shape.npz", x=np.zeros((4, 63), np.float32), y=np.zeros(4, np.int64))
    _error(_invoke("eval", snn, "--data", tmp_path / "shape.npz"), "shape.npz", "(63,)", "(64,)")
    x = digits("train")[0][:50].copy()
    x[7, 3] = np.nan
    np.save(tmp_path / "nan.npy", x)
    out = tmp_path / "nan.snn.onnx"
    _error(_invoke("convert", MLP, "-o", out, "--calib", tmp_path / "nan.npy"), "sample 7", "NaN")
    assert not out.exists()
    np.savez(tmp_path / "count.npz", x=np.zeros((4, 64), np.float32), y=np.zeros(3, np.int64))
    _error(_invoke("eval", snn, "--data", tmp_path / "count.npz"), "count.npz", "4 inputs but 'y' has 3 labels")
    np.savez(tmp_path / "range.npz", x=np.zeros((2, 64), np.float32), y=np.array([3, 10]))
    _error(_invoke("eval", snn, "--data", tmp_path / "range.npz"), "range.npz", "model has 10 outputs")
    np.savez(tmp_path / "dtype.npz", x=np.zeros((2, 64), np.float32), y=np.array([0.0, 1.0]))
    _error(_invoke("eval", snn, "--data", tmp_path / "dtype.npz"), "dtype.npz", "integer labels", "float64")
    np.save(tmp_path / "unlabelled.npy", np.zeros((2, 64), np.float32))
    _error(_invoke("eval", snn, "--data", tmp_path / "unlabelled.npy"), "needs labels")
    (tmp_path / "empty").mkdir()
    _error(_invoke("eval", snn, "--data", tmp_path / "empty"), str(tmp_path / "empty"), "no images found")
    np.save(tmp_path / "wide.npy", np.full((2, 64), 2.0, np.float32))
    _error(_invoke("run", snn, "--input", tmp_path / "wide.npy", "--encoding", "poisson"), "inputs in [0, 1]")
    _error(_invoke("run", snn, "--input", "digits", "--resize", "8,8"), "apply to image folders")
    _error(_invoke("eval", snn, "--data", "digits:valid"), "split must be one of")


def test_cifar100_labels_against_a_ten_class_model(tmp_path):
    write_cifar(tmp_path / "c100", ["train", "test"], per_batch=40, label_key=b"fine_labels", classes=100)
    onnx.save(_cnn(), tmp_path / "cnn.onnx")
    _error(_invoke("eval", tmp_path / "cnn.onnx", "--data", tmp_path / "c100"), "c100", "model has 10 outputs")


def test_bad_options_and_output_paths(snn, tmp_path):
    out = tmp_path / "no_dir" / "x.onnx"
    _error(_invoke("convert", MLP, "-o", out, "--calib", "digits"), "does not exist")
    assert not out.exists()
    _error(_invoke("convert", MLP, "-o", tmp_path, "--calib", "digits"), "is a directory")
    _error(_invoke("eval", snn, "--data", "digits", "--plot", tmp_path / "nope" / "a.png"), "does not exist")
    _error(_invoke("convert", MLP, "-o", tmp_path / "y.onnx", "--threshold", "median"), "--threshold")
    _error(_invoke("convert", MLP, "-o", tmp_path / "y.onnx", "--init", "1.5"), "--init", "[0, 1]")
    assert not (tmp_path / "y.onnx").exists()
    _error(_invoke("eval", snn, "--data", "digits", "--timesteps", "0,4"), "--timesteps", "positive")
    _error(_invoke("eval", snn, "--data", "digits", "--timesteps", "a,b"), "--timesteps", "comma-separated")
    _error(_invoke("run", snn, "--input", "digits", "-T", 0), "-T")
    _error(_invoke("eval", snn, "--data", "digits", "--device", "tpu"), "--device", "tpu")
    _error(_invoke("eval", snn, "--data", "digits", "--resize", "8,x"), "--resize")
    _error(_invoke("eval", snn, "--data", "digits", "--mean", "a"), "--mean")
    _error(_invoke("eval", snn), "--data")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_a_user_error(snn):
    _error(_invoke("run", snn, "--input", "digits", "--device", "cuda"), "no CUDA device", "--device cpu")


def test_internal_errors_exit_1_and_debug_shows_the_traceback(monkeypatch):
    import onnx2snn.report.inspect_model

    def broken(path):
        raise RuntimeError("an internal fault")

    monkeypatch.setattr(onnx2snn.report.inspect_model, "describe", broken)
    result = _invoke("inspect", MLP)
    assert result.exit_code == 1 and "internal error" in result.stderr and "an internal fault" in result.stderr
    result = CliRunner().invoke(main, ["--debug", "inspect", MLP])
    assert isinstance(result.exception, RuntimeError)
