"""torchrun with two gloo processes on the CPU: conversion and evaluation give one process's thresholds and figures
exactly, and only rank 0 prints and writes."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from onnx2snn.calibrate.histogram import StreamingHistogram
from onnx2snn.data.datasets import digits
from onnx2snn.load.bundled import bundled_model
from snnrt import contract

ROOT = Path(__file__).resolve().parent.parent
MLP = bundled_model("digits_mlp")
SCRIPT = """
import json, sys
from onnx2snn.calibrate.histogram import StreamingHistogram
from onnx2snn.cli.commands import main
from onnx2snn.distributed import rank_and_size
from snnrt.simulate import SpikingNetwork

# the command lines as torchrun runs them, counting the batches that this rank calibrates on and simulates
seen = {"calibrated": 0, "simulated": 0}
update, run = StreamingHistogram.update, SpikingNetwork.run
StreamingHistogram.update = lambda self, *a: seen.__setitem__("calibrated", seen["calibrated"] + 1) or update(self, *a)
SpikingNetwork.run = lambda self, *a, **k: seen.__setitem__("simulated", seen["simulated"] + 1) or run(self, *a, **k)
for command in json.loads(sys.argv[2]):
    assert main(command, prog_name="onnx2snn", standalone_mode=False) in (None, 0), command
    print("--- end of command")
with open(sys.argv[1] + f".rank{rank_and_size()[0]}", "w") as f:
    json.dump({"rank_and_size": rank_and_size(), **seen}, f)
"""


def _free_port():
    """A loopback port no one listens on now (the OS picks it), for torchrun's rendezvous."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _torchrun(tmp_path, *commands):
    """The stdout of each command line of ``commands`` under ``torchrun --nproc-per-node 2`` (one after the other,
    in the same two processes), and what each rank saw."""
    script = tmp_path / "ranks.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "runtime"),
                                                        os.environ.get("PYTHONPATH", "")]), OMP_NUM_THREADS="1")
    commands = json.dumps([[str(a) for a in command] for command in commands])
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port",
                          str(_free_port()), str(script), str(tmp_path / "seen"), commands],
                         capture_output=True, text=True, env=env, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"seen.rank{r}").read_text()) for r in (0, 1)]
    return out.stdout.split("--- end of command\n")[:-1], ranks


def _thresholds(path):
    model = onnx.load(str(path))
    return {node.name: [(a.name, onnx.helper.get_attribute_value(a)) for a in node.attribute]
            for node in model.graph.node if node.op_type == contract.IF_OP}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    x, y = digits("train")
    np.save(folder / "calib.npy", x[:150])
    xt, yt = digits("test")
    np.savez(folder / "test.npz", x=xt[:90], y=yt[:90])
    return folder


def test_two_processes_convert_and_evaluate_as_one(tmp_path, data):
    from click.testing import CliRunner

    from onnx2snn.cli.commands import main

    one = tmp_path / "one.onnx"
    convert = ["convert", MLP, "--calib", data / "calib.npy", "--batch-size", 16, "--no-layerwise"]
    result = CliRunner().invoke(main, [*map(str, convert), "-o", str(one)])
    assert result.exit_code == 0, result.output
    evaluation = ["eval", one, "--data", data / "test.npz", "--timesteps", "1,4,8", "--batch-size", 16, "--json",
                  "--ann", MLP]
    single = CliRunner().invoke(main, list(map(str, evaluation)))
    assert single.exit_code == 0, single.output

    two = tmp_path / "two.onnx"
    (converted, evaluated), ranks = _torchrun(tmp_path, [*convert, "-o", two], [*evaluation[:1], two, *evaluation[2:]])
    assert [r["rank_and_size"] for r in ranks] == [[0, 2], [1, 2]]
    # 150 calibration samples are 10 batches, 5 a rank (the MLP's 2 sites each); 90 test samples 6 batches, 3 a rank
    assert [(r["calibrated"], r["simulated"]) for r in ranks] == [(10, 3), (10, 3)]
    assert converted.count("wrote") == 1  # rank 0 prints, rank 1 does not
    assert _thresholds(two) == _thresholds(one)
    assert json.loads(evaluated) == json.loads(single.output)


def test_histograms_started_at_one_range_merge_exactly():
    rng = np.random.default_rng(0)
    batches = [rng.exponential(scale, (3, 200)) for scale in (1.0, 0.5, 4.0, 2.0, 9.0)]
    whole = StreamingHistogram(3)
    for batch in batches:
        whole.update(batch)
    parts = [StreamingHistogram(3) for _ in range(2)]
    for part in parts:
        part.start_range(batches[0])
    for i, batch in enumerate(batches):
        parts[i % 2].update(batch)
    low, high = sorted(parts, key=lambda h: h.hi)
    while low.hi < high.hi:
        low.double_range()
    np.testing.assert_array_equal(low.counts + high.counts, whole.counts)
    assert high.hi == whole.hi
