"""The command line through click's CliRunner and through the installed console script."""

import json
import subprocess

import numpy as np
import onnx
from click.testing import CliRunner

from onnx2snn import __version__
from onnx2snn.bundled import bundled_model
from onnx2snn.cli import main

MLP = str(bundled_model("digits_mlp"))


def _invoke(*args):
    return CliRunner().invoke(main, ["--quiet", *args])


def test_convert_eval_inspect_run_on_the_bundled_mlp(tmp_path):
    out = tmp_path / "mlp.snn.onnx"
    result = _invoke("convert", MLP, "-o", str(out), "--calib", "digits:train")
    assert result.exit_code == 0, result.output
    assert "/1/Relu" in result.output and "wrote" in result.output
    onnx.checker.check_model(onnx.load(out))

    result = _invoke("eval", str(out), "--data", "digits", "--timesteps", "1,4,16", "--ann", MLP, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["timesteps"] == [1, 4, 16] and report["samples"] == 400
    assert set(report["snn_accuracy"]) == {"1", "4", "16"} and report["ann_accuracy"] > 0.95
    assert report["snn_accuracy"]["16"] > 0.9

    plot = tmp_path / "acc.png"
    result = _invoke("eval", str(out), "--data", "digits", "--timesteps", "1,2", "--plot", str(plot))
    assert result.exit_code == 0 and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    result = _invoke("inspect", str(out))
    assert result.exit_code == 0 and "IFNeuron" in result.output and "SNN" in result.output

    np.savez(tmp_path / "few.npz", x=np.random.default_rng(0).random((3, 64)).astype(np.float32))
    result = _invoke("run", str(out), "--input", str(tmp_path / "few.npz"), "-T", "8", "--json")
    assert result.exit_code == 0 and len(json.loads(result.output)["predictions"]) == 3


def test_inspect_ann_lists_sites():
    result = _invoke("inspect", MLP)
    assert result.exit_code == 0
    assert "activations that become IF neurons: 2" in result.output and "blocking conversion: none" in result.output


def test_user_errors_are_one_line_with_exit_code_2(tmp_path):
    result = _invoke("convert", str(tmp_path / "missing.onnx"), "-o", str(tmp_path / "x.onnx"))
    assert result.exit_code == 2 and result.output.strip().startswith("error:")
    assert "missing.onnx: no such file" in result.output and "Traceback" not in result.output

    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((4, 63), np.float32), y=np.zeros(4, np.int64))
    result = _invoke("eval", MLP, "--data", str(bad))
    assert result.exit_code == 2 and "(63,)" in result.output and "(64,)" in result.output

    out = tmp_path / "no_dir" / "x.onnx"
    result = _invoke("convert", MLP, "-o", str(out), "--calib", "digits")
    assert result.exit_code == 2 and "does not exist" in result.output and not out.exists()

    result = _invoke("convert", MLP, "-o", str(tmp_path / "y.onnx"), "--threshold", "median")
    assert result.exit_code == 2 and "threshold" in result.output and not (tmp_path / "y.onnx").exists()


def test_installed_console_script():
    completed = subprocess.run(["onnx2snn", "--version"], capture_output=True, text=True, check=False)
    assert completed.returncode == 0 and __version__ in completed.stdout
    completed = subprocess.run(["onnx2snn", "inspect", "/nonexistent/model.onnx"], capture_output=True,
                               text=True, check=False)
    assert completed.returncode == 2 and "no such file" in completed.stderr
