"""benchmarks/dev_sweep.py's --set: a default changed for the process reaches the modules that imported it."""

import importlib.util
import sys
from pathlib import Path

import pytest

import onnx2snn.calibrate.thresholds as thresholds
import onnx2snn.defaults as defaults

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "dev_sweep.py"


@pytest.fixture
def dev_sweep():
    spec = importlib.util.spec_from_file_location("dev_sweep", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_set_reaches_defaults_and_the_modules_that_imported_the_name(dev_sweep, monkeypatch):
    for module in [m for key, m in sys.modules.items() if key.startswith("onnx2snn") and m is not None]:
        if hasattr(module, "CAP_PERCENTILE"):
            monkeypatch.setattr(module, "CAP_PERCENTILE", module.CAP_PERCENTILE)  # restored after the test
    dev_sweep.set_default("CAP_PERCENTILE=99.0")
    assert defaults.CAP_PERCENTILE == 99.0
    assert thresholds.CAP_PERCENTILE == 99.0


@pytest.mark.parametrize("argument, message", [("NOT_A_DEFAULT=1", "has no 'NOT_A_DEFAULT'"),
                                               ("SPREAD=(", "Python literal")])
def test_bad_assignments_are_named(dev_sweep, argument, message):
    with pytest.raises(SystemExit, match=message):
        dev_sweep.set_default(argument)
