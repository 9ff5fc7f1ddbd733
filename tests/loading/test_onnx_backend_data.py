"""The model and data cases that ship inside the onnx package (backend/test/data): every CNN/MLP-shaped one loads,
normalizes and, run by snnrt, gives its stored outputs.

CNN/MLP-shaped: every input the test data feeds is a float tensor and snnrt registers every op of the graph
(the others are sequence, string, gradient and integer-input graphs, or ops that no CNN/MLP needs).
"""

import glob
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from onnx2snn.load.model import load_model
from onnx2snn.normalize import normalize
from snnrt.graph import GraphModule
from snnrt.registry import REGISTRY

DATA = Path(onnx.__file__).parent / "backend" / "test" / "data"
SUITES = ("pytorch-converted", "pytorch-operator", "simple")


def _tensors(folder, kind):
    return [numpy_helper.to_array(onnx.load_tensor(p)) for p in sorted(glob.glob(str(folder / f"{kind}_*.pb")))]


def _cnn_mlp_shaped(case):
    model = onnx.load(case / "model.onnx")
    inputs = _tensors(case / "test_data_set_0", "input")
    known = set(REGISTRY.op_types())
    return inputs and all(x.dtype.kind == "f" for x in inputs) and all(
        n.domain in ("", "ai.onnx") and n.op_type in known for n in model.graph.node)


CASES = sorted(case for suite in SUITES for case in (DATA / suite).iterdir() if _cnn_mlp_shaped(case))


def test_the_onnx_package_ships_cases():
    assert len(CASES) >= 90, f"only {len(CASES)} CNN/MLP-shaped cases found under {DATA}"


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case.parent.name}/{case.name}")
def test_loads_normalizes_and_matches_stored_outputs(case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the IR-3 files that list weights outside the graph inputs warn
        clean, _ = normalize(load_model(case / "model.onnx"))
    module = GraphModule(clean)
    for data in sorted(case.glob("test_data_set_*")):
        with torch.no_grad():
            outputs, _ = module.run(*[torch.from_numpy(np.array(x)) for x in _tensors(data, "input")])
        expected = _tensors(data, "output")
        assert len(outputs) == len(expected)
        for got, want in zip(outputs, expected):
            np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-5, equal_nan=True)
