"""Byte-level mutations of a valid model, SNN and .npz file: every command that reads one ends in exit 0 or
exit 2 with one line, never an internal error, a traceback or a hang, and never changes the file it read."""

import numpy as np
import onnx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from onnx import helper

from tests.conftest import make_model
from tests.fuzz.cli_outcome import outcome

FEATURES, CLASSES = 8, 3


def _mlp():
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Gemm", ["input", "w1", "b1"], ["h"], name="fc1", transB=1),
             helper.make_node("Relu", ["h"], ["r"], name="relu"),
             helper.make_node("Gemm", ["r", "w2", "b2"], ["out"], name="fc2", transB=1)]
    weights = {"w1": rng.normal(0, 0.5, (6, FEATURES)).astype(np.float32), "b1": np.zeros(6, np.float32),
               "w2": rng.normal(0, 0.5, (CLASSES, 6)).astype(np.float32), "b2": np.zeros(CLASSES, np.float32)}
    return make_model(nodes, [("input", ["N", FEATURES])], [("out", ["N", CLASSES])], weights)


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    """{kind: bytes} of a valid ANN, its SNN and an .npz of inputs and labels, and the folder they lie in."""
    from onnx2snn.convert import convert

    root = tmp_path_factory.mktemp("valid")
    rng = np.random.default_rng(0)
    x = rng.random((16, FEATURES), np.float32)
    np.savez(root / "data.npz", x=x, y=np.arange(16) % CLASSES)
    onnx.save(_mlp(), root / "ann.onnx")
    convert(root / "ann.onnx", x, output=root / "snn.onnx")
    return root, {kind: (root / name).read_bytes() for kind, name in
                  (("model", "ann.onnx"), ("snn", "snn.onnx"), ("npz", "data.npz"))}


@st.composite
def mutated(draw, data):
    """``data`` with a few byte-level edits: flips, overwrites, insertions, deletions, a truncation."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, max(0, len(out) - 1)))
        if kind == "flip" and out:
            out[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and out:
            out[at] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, draw(st.integers(0, 255))]))
        elif kind == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del out[at : at + draw(st.integers(1, 16))]
        elif kind == "truncate":
            del out[at:]
    return bytes(out)


COMMANDS = {
    "model": [("inspect", "{file}"), ("convert", "{file}", "-o", "{out}", "--calib", "{npz}")],
    "snn": [("inspect", "{file}"), ("run", "{file}", "--input", "{npz}", "-T", 4),
            ("export", "{file}", "--format", "onnx", "-T", 4, "-o", "{out}")],
    "npz": [("run", "{snn}", "--input", "{file}", "-T", 4), ("eval", "{snn}", "--data", "{file}", "--timesteps", 4)],
}
SUFFIX = {"model": ".onnx", "snn": ".snn.onnx", "npz": ".npz"}


def _check(valid, tmp_path, kind, data):
    root, _ = valid
    path = tmp_path / f"mutated{SUFFIX[kind]}"
    path.write_bytes(data)
    names = {"file": path, "out": tmp_path / "out.onnx", "npz": root / "data.npz", "snn": root / "snn.onnx"}
    for command in COMMANDS[kind]:
        outcome(*(str(a).format(**names) for a in command))
        assert path.read_bytes() == data, f"{command[0]} changed its input"


@pytest.mark.parametrize("kind", list(COMMANDS))
def test_a_mutated_file_gives_exit_0_or_a_one_line_error_and_stays_as_it_was(valid, tmp_path_factory, kind):
    @given(data=mutated(valid[1][kind]))
    def check(data):
        _check(valid, tmp_path_factory.mktemp("case"), kind, data)

    check()
