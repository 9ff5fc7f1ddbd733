"""Every command through the installed `onnx2snn` console script in a subprocess, as a shell or a
pipeline runs it: exit codes, stdout that parses, errors on stderr, progress bars only at a terminal."""

import fcntl
import json
import os
import pty
import struct
import subprocess
import termios

import numpy as np
import onnx
import pytest

from onnx2snn import __version__
from onnx2snn.load.bundled import bundled_model

MLP = str(bundled_model("digits_mlp"))


def onnx2snn(*args, check=True):
    completed = subprocess.run(["onnx2snn", *map(str, args)], capture_output=True, text=True, timeout=300,
                               check=False)
    if check:
        assert completed.returncode == 0, completed.stderr
    return completed


@pytest.fixture(scope="module")
def snn(tmp_path_factory):
    """The digits MLP converted by the console script."""
    path = tmp_path_factory.mktemp("script") / "mlp.snn.onnx"
    completed = onnx2snn("convert", MLP, "-o", path, "--calib", "digits:train", "--calib-samples", 300)
    assert "/1/Relu" in completed.stdout and f"wrote {path}" in completed.stdout
    onnx.checker.check_model(onnx.load(path))
    return path


def test_version_and_a_user_error():
    assert onnx2snn("--version").stdout.strip() == f"onnx2snn, version {__version__}"
    completed = onnx2snn("inspect", "/nonexistent/model.onnx", check=False)
    assert completed.returncode == 2 and completed.stdout == ""
    assert completed.stderr.startswith("error: /nonexistent/model.onnx: no such file") and "Traceback" not in completed.stderr


def test_eval_json_is_the_whole_stdout(snn):
    completed = onnx2snn("eval", snn, "--data", "digits", "--timesteps", "1,8", "--samples", 100, "--json")
    report = json.loads(completed.stdout)
    assert report["samples"] == 100 and set(report["snn_accuracy"]) == {"1", "8"} and report["ann_accuracy"] is None
    assert "evaluating" not in completed.stderr  # no progress bar into a pipe


def test_diagnose_json_is_the_whole_stdout_and_a_missing_ann_is_exit_2(snn):
    completed = onnx2snn("diagnose", snn, "--ann", MLP, "--data", "digits", "--timesteps", "2,8", "--samples", 60,
                         "--json")
    report = json.loads(completed.stdout)
    assert [layer["name"] for layer in report["layers"]] == ["/1/Relu_if", "/3/Relu_if"]
    assert set(report["layers"][1]["by_t"]) == {"2", "8"} and "diagnosing" not in completed.stderr
    missing = onnx2snn("diagnose", snn, "--data", "digits", check=False)
    assert missing.returncode == 2 and missing.stdout == "" and "Missing option '--ann'" in missing.stderr


def test_inspect_run_export(snn, tmp_path):
    assert "kind: SNN (onnx2snn)" in onnx2snn("inspect", snn).stdout
    completed = onnx2snn("run", snn, "--input", "digits", "--samples", 6, "-T", 8, "--json", "--stats")
    report = json.loads(completed.stdout)
    assert len(report["predictions"]) == 6 == len(report["labels"]) and "/3/Relu_if" in report["spike_counts"]
    out = tmp_path / "mlp_t4.onnx"
    assert f"wrote {out}" in onnx2snn("export", snn, "--format", "onnx", "-T", 4, "-o", out).stdout
    onnx.checker.check_model(onnx.load(out))


def test_demo():
    completed = onnx2snn("demo", "--timesteps", "2", "--samples", 20, "--calib-samples", 100)
    assert "evaluating on 20 held-out MNIST images" in completed.stdout
    row = next(line.split() for line in completed.stdout.splitlines() if line.split()[:1] == ["2"])
    assert 0 <= float(row[1]) <= 1 and 0.5 < float(row[2]) <= 1


def _at_terminal(*args):
    """Output of the console script with stdout and stderr on a pseudo-terminal."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 100-column terminal
    process = subprocess.Popen(["onnx2snn", *map(str, args)], stdout=terminal, stderr=terminal, close_fds=True)
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the terminal closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    assert process.wait(timeout=300) == 0
    return b"".join(chunks).decode(errors="replace")


def test_progress_bars_show_at_a_terminal_unless_quiet(snn, tmp_path):
    x = np.random.default_rng(0).random((600, 64), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    args = ["run", snn, "--input", tmp_path / "x.npy", "-T", 2, "--batch-size", 100]
    assert "running" in _at_terminal(*args)
    assert "running" not in _at_terminal("--quiet", *args)
