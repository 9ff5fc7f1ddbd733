"""Allocation sizes that come from the input are bounded: image sizes, values computed from constants, the
anytime outputs of long runs and the exported time loop. What exceeds a budget is refused up front (exit 2, one
line naming the figure and the limit); the refusals run under a 2.5 GiB data limit, so an allocation before
the refusal would fail them."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import helper, numpy_helper
from PIL import Image
from snnrt.simulate import SpikingNetwork

from tests.conftest import make_model, tiny_snn
from tests.refusals import invoke, refused

ROOT = Path(__file__).resolve().parents[1]
LIMITED = """
import resource, sys
resource.setrlimit(resource.RLIMIT_DATA, (2_500 << 20, 2_500 << 20))
from onnx2snn.cli.commands import main
main(["--quiet", *sys.argv[1:]])
"""


def _limited(*args):
    """The CLI in a subprocess whose heap may not pass 2.5 GiB: (exit code, stderr lines)."""
    env = {"PYTHONPATH": f"{ROOT}:{ROOT / 'runtime'}", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", LIMITED, *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=env)
    return done.returncode, [line for line in done.stderr.splitlines() if line.strip()]


def _constant_of_shape_model(elements):
    """A 1 KB MLP whose output adds the sum of a ConstantOfShape of ``elements`` floats."""
    nodes = [helper.make_node("ConstantOfShape", ["shape"], ["big"], name="big",
                              value=numpy_helper.from_array(np.array([1.0], np.float32))),
             helper.make_node("MatMul", ["input", "w"], ["h"], name="mm"),
             helper.make_node("Relu", ["h"], ["r"], name="relu"),
             helper.make_node("ReduceSum", ["big"], ["total"], keepdims=0),
             helper.make_node("Add", ["r", "total"], ["out"], name="add")]
    return make_model(nodes, [("input", ["N", 4])], [("out", ["N", 3])],
                      {"w": np.ones((4, 3), np.float32), "shape": np.array([elements], np.int64)})


def test_a_constant_of_4_gib_is_refused_before_it_is_computed(tmp_path):
    path = tmp_path / "cos.onnx"
    onnx.save(_constant_of_shape_model(1 << 30), path)
    np.savez(tmp_path / "c.npz", x=np.ones((4, 4), np.float32))
    code, lines = _limited("convert", path, "-o", tmp_path / "o.onnx", "--calib", tmp_path / "c.npz")
    assert code == 2 and len(lines) == 1, lines
    assert all(w in lines[0] for w in (str(path), "'big' (ConstantOfShape)", "4 GiB", "1 GiB")), lines
    assert not (tmp_path / "o.onnx").exists()


def test_a_resize_beyond_the_pixel_limit_is_refused_before_decoding(tmp_path, snn):
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "a.png")
    code, lines = _limited("eval", snn, "--data", folder, "--resize", 100000)
    assert code == 2 and len(lines) == 1, lines
    assert all(w in lines[0] for w in ("--resize", "10,000,000,000 pixels", "67,108,864")), lines


def test_a_batch_of_images_beyond_the_data_budget_is_refused_before_decoding(tmp_path):
    from onnx2snn.data.sources import load_data
    from onnx2snn.errors import DataError
    from onnx2snn.data.images import Preprocess

    folder = tmp_path / "images"
    (folder / "0").mkdir(parents=True)
    for i in range(40):
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "0" / f"{i}.png")
    x = load_data(str(folder), preprocess=Preprocess(resize=(8000, 8000))).x  # lazy: nothing decoded yet
    assert x.shape == (40, 1, 8000, 8000)
    with pytest.raises(DataError) as info:
        x[:40]
    assert all(w in str(info.value) for w in (str(folder), "40 images of 1x8000x8000", "9.54 GiB", "budget of 4 GiB",
                                              "--batch-size")), info.value


def test_an_export_with_more_steps_than_the_time_loop_takes_is_refused(tmp_path, snn):
    out = tmp_path / "o.onnx"
    code, lines = _limited("export", snn, "--format", "onnx", "-T", 10**9, "-o", out)
    assert code == 2 and len(lines) == 1 and "1,048,576" in lines[0] and "-T 1000000000" in lines[0], lines
    assert not out.exists()


def test_an_evaluation_longer_than_the_counted_steps_is_refused_with_the_figure(snn):
    refused(invoke("eval", snn, "--data", "digits", "--samples", 2, "--timesteps", 10**9), "T=1,000,000,000",
            "1,048,576")


def test_a_run_keeps_the_anytime_outputs_asked_for_only():
    network = SpikingNetwork(tiny_snn([helper.make_node("Identity", ["s"], ["output"])]), "cpu")
    x = torch.full((3, 4), 0.3)
    every = network.run(x, 40)
    kept = network.run(x, 40, keep=[40, 8])
    assert every.outputs.shape[0] == 40 and every.steps == list(range(1, 41))
    assert kept.outputs.shape[0] == 2 and kept.steps == [8, 40]
    assert torch.equal(kept.outputs, every.outputs[[7, 39]])


@pytest.mark.parametrize("order", ["step", "layer"])
def test_the_memory_of_a_long_run_does_not_grow_with_t(order):
    """The run command keeps the last anytime output only: 20,000 steps hold one (N, C) tensor."""
    network = SpikingNetwork(tiny_snn([helper.make_node("Identity", ["s"], ["output"])]), "cpu", order)
    result = network.run(torch.full((2, 4), 0.3), 20_000, keep=[20_000])
    assert result.outputs.shape == (1, 2, 4) and result.steps == [20_000]
