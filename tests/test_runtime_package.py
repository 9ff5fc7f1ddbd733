"""snnrt is a distribution of its own: installed alone (runtime/pyproject.toml) into a fresh virtual environment,
it runs an SNN file without the converter or any of the converter's dependencies."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from onnx2snn.convert import convert
from onnx2snn.data.datasets import digits
from onnx2snn.load.bundled import bundled_model
from snnrt.simulate import SpikingNetwork

RUNTIME = Path(__file__).resolve().parent.parent / "runtime"
# Run in the fresh environment: the converter and its other dependencies are made unimportable first.
SCRIPT = """
import sys
for name in ("onnx2snn", "onnxruntime", "onnx_graphsurgeon", "onnxoptimizer", "matplotlib", "sklearn", "mlxtend",
             "nir", "click", "tqdm", "PIL"):
    sys.modules[name] = None
import numpy as np
import snnrt
from snnrt.simulate import SpikingNetwork
assert snnrt.__file__.startswith(sys.prefix), snnrt.__file__
np.save(sys.argv[3], SpikingNetwork(sys.argv[1], "cpu").run(np.load(sys.argv[2]), 8).outputs[-1].numpy())
"""


def test_snnrt_installs_alone_and_runs_an_snn_file(tmp_path):
    snn_path = tmp_path / "mlp.snn.onnx"
    snn = convert(bundled_model("digits_mlp"), digits("train")[0][:200], recipe="bu2022", output=snn_path)
    x = digits("test")[0][:32]
    np.save(tmp_path / "x.npy", x)
    source = shutil.copytree(RUNTIME, tmp_path / "runtime", ignore=shutil.ignore_patterns("__pycache__", "build",
                                                                                            "*.egg-info"))
    venv = tmp_path / "venv"
    # system site packages: torch, onnx and numpy come from this environment instead of a download
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--no-build-isolation",
                    str(source)], check=True, env=env, cwd=tmp_path)
    installed = subprocess.run([python, "-m", "pip", "show", "snnrt"], capture_output=True, text=True, env=env,
                               check=True).stdout
    assert "Requires: numpy, onnx, torch" in installed
    script = tmp_path / "run_snn.py"
    script.write_text(SCRIPT)
    subprocess.run([python, str(script), str(snn_path), str(tmp_path / "x.npy"), str(tmp_path / "out.npy")],
                   check=True, env=env, cwd=tmp_path)
    expected = SpikingNetwork(snn.model, "cpu").run(x, 8).outputs[-1].numpy()
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, atol=1e-6)
