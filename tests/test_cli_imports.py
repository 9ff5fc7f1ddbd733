"""A short command line call imports only what it uses: the libraries that only some commands need (ONNX Runtime,
scikit-learn, mlxtend, matplotlib, NIR) load where those commands run, and numba where a process's IF work repays
loading it; each in a fresh process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from onnx2snn.convert import convert
from onnx2snn.data.datasets import digits
from onnx2snn.load.bundled import bundled_model

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("onnxruntime", "sklearn", "mlxtend", "matplotlib", "nir", "numba", "scipy")


def _loaded(code):
    """The HEAVY modules that a fresh Python process holds after running ``code``."""
    script = f"import sys\n{code}\nprint(__import__('json').dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "runtime"),
                                                        os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_cli_and_the_evaluation_api_loads_none_of_the_optional_libraries():
    code = ("import onnx2snn.cli.commands, onnx2snn.calibrate.thresholds, onnx2snn.report.evaluate, "
            "onnx2snn.data.sources, snnrt.simulate")
    assert _loaded(code) == []


def test_run_and_eval_of_a_small_net_load_none_of_them(tmp_path):
    x, y = digits("test")
    np.savez(tmp_path / "d.npz", x=x[:16], y=y[:16])
    snn = tmp_path / "snn.onnx"
    convert(bundled_model("digits_mlp"), x[:100], output=snn)
    for command in (["run", str(snn), "--input", str(tmp_path / "d.npz"), "-T", "4", "--json"],
                    ["eval", str(snn), "--data", str(tmp_path / "d.npz"), "--timesteps", "4", "--json"]):
        code = (f"from click.testing import CliRunner\nfrom onnx2snn.cli.commands import main\n"
                f"result = CliRunner().invoke(main, {command!r})\nassert result.exit_code == 0, result.output")
        assert _loaded(code) == []  # numba's kernel would take longer to load than it saves (snnrt.cpu_fused.pays)
