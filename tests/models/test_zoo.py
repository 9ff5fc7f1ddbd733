"""The zoo (models/zoo.py): registry, committed ONNX files and models/zoo/zoo.json agree, and each
PyTorch definition takes its trained weights back from its ONNX file (what the SpikingJelly peer needs)."""

import json

import numpy as np
import onnx
import pytest

from benchmarks.peers.spikingjelly_ann2snn import load_onnx_weights
from models.zoo import HALVES, ZOO, ZOO_DIR, zoo_names, zoo_path

RECORD = json.loads((ZOO_DIR / "zoo.json").read_text())
#: Nets whose fixed activation bounds (ReLU6) load_onnx_weights takes for trained thresholds it has nowhere to put.
NOT_LOADABLE = {"mobile_relu6"}
INPUT_SHAPES = {"mnist5k": (1, 28, 28), "digits": (64,)}


def test_halves_are_non_empty_disjoint_and_cover_the_zoo():
    dev, heldout = (set(zoo_names(half)) for half in HALVES)
    assert dev and heldout and not dev & heldout
    assert dev | heldout == set(zoo_names()) == set(ZOO)
    with pytest.raises(ValueError, match="half must be"):
        zoo_names("test")


def test_record_and_files_match_the_registry():
    assert list(RECORD) == list(ZOO)
    assert sorted(p.stem for p in ZOO_DIR.glob("*.onnx")) == sorted(ZOO)
    for name, net in ZOO.items():
        assert (RECORD[name]["half"], RECORD[name]["dataset"]) == (net.half, net.dataset), name
        assert zoo_path(name).stat().st_size == RECORD[name]["onnx_bytes"], name


@pytest.mark.parametrize("name", list(ZOO))
def test_committed_onnx_is_valid_and_matches_record(name):
    model = onnx.load(str(zoo_path(name)))
    onnx.checker.check_model(model)
    assert sorted({n.op_type for n in model.graph.node}) == RECORD[name]["nodes"]
    assert sum(n.op_type in ("Relu", "Clip") for n in model.graph.node) == RECORD[name]["relu_sites"]


@pytest.mark.parametrize("name", [name for name, net in ZOO.items() if net.build is not None])
def test_torch_definition_reproduces_the_onnx_logits(name):
    net = ZOO[name]
    x = np.random.default_rng(0).random((4, *INPUT_SHAPES[net.dataset]), dtype=np.float32)
    if name in NOT_LOADABLE:
        with pytest.raises(ValueError, match="thresholds"):
            load_onnx_weights(net.build(), zoo_path(name), x)
    else:
        load_onnx_weights(net.build(), zoo_path(name), x)
