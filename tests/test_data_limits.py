"""Data that cannot be used is refused for eval and run alike: exit 2, one line naming the file (and the sample
or the option), before the SNN runs."""

import os

import numpy as np
import pytest

from tests.refusals import invoke, refused


def _array(value, index, dtype=np.float32):
    x = np.zeros((3, 64), dtype)
    x[index, 5] = value
    return x


def _encrypted_npz(path):
    """An .npz whose member 'x' says it is encrypted: zip flag bit 0 set in its local and central headers."""
    np.savez(path, x=np.zeros((2, 64), np.float32), y=np.zeros(2, np.int64))
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        data[data.index(signature) + offset] |= 0x1
    path.write_bytes(bytes(data))


WRITERS = {
    "not_zip.npz": lambda p: p.write_bytes(b"hello, not a zip archive"),
    "object_x.npz": lambda p: np.savez(p, x=np.array([[1, 2], [3]], dtype=object), y=np.array([0, 1])),
    "object_y.npz": lambda p: np.savez(p, x=np.zeros((2, 64), np.float32), y=np.array([0, "a"], dtype=object)),
    "garbage.npy": lambda p: p.write_bytes(bytes(range(256)) * 4),
    "nan.npz": lambda p: np.savez(p, x=_array(np.nan, 1), y=np.array([0, 1, 2])),
    "inf.npy": lambda p: np.save(p, _array(np.inf, 2)),
    "overflow.npy": lambda p: np.save(p, _array(1e300, 0, np.float64)),
    "fifo.npy": os.mkfifo,
    "encrypted.npz": _encrypted_npz,
}
WORDS = {
    "not_zip.npz": ("not an .npz file", "zip archive"),
    "object_x.npz": ("array 'x'", "not Python objects"),
    "object_y.npz": ("array 'y'", "not Python objects"),
    "garbage.npy": ("not a NumPy .npy file",),
    "nan.npz": ("sample 1", "NaN or inf"),
    "inf.npy": ("sample 2", "NaN or inf"),
    "overflow.npy": ("sample 0", "NaN or inf in float32"),
    "fifo.npy": ("FIFO", "not a regular file"),
    "encrypted.npz": ("array 'x'", "encrypted"),
}


@pytest.mark.parametrize("command", ["eval", "run"])
@pytest.mark.parametrize("name", WRITERS)
def test_unusable_data_is_refused_naming_the_file(tmp_path, snn, command, name):
    path = tmp_path / name
    WRITERS[name](path)
    option = "--data" if command == "eval" else "--input"
    words = WORDS[name]
    if command == "eval" and name in ("inf.npy", "overflow.npy"):  # inputs read as they run: labels are checked first
        words = ("evaluation needs labels",)
    refused(invoke(command, snn, option, path), str(path), *words)


def test_a_cifar_batch_that_declares_more_than_memory_holds_says_so(tmp_path, snn):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "test_batch").write_bytes(b"\x80\x04\x95" + (1 << 40).to_bytes(8, "little") + b"}")
    line = refused(invoke("run", snn, "--input", folder), "test_batch", "MemoryError")
    assert not line.endswith("()")


@pytest.mark.parametrize("args, option", [
    (("run", "{snn}", "--input", "digits", "--seed", 2**70), "--seed"),
    (("convert", "{mlp}", "-o", "{out}", "--calib", "digits", "--spread", "nan"), "--spread"),
    (("run", "{snn}", "--input", "{images}", "--std", "nan"), "--std"),
    (("run", "{snn}", "--input", "{images}", "--mean", "0.5,inf"), "--mean"),
])
def test_an_option_out_of_its_range_is_refused_naming_it(tmp_path, snn, args, option):
    from onnx2snn.load.bundled import bundled_model

    names = {"snn": snn, "mlp": bundled_model("digits_mlp"), "out": tmp_path / "o.onnx", "images": tmp_path}
    refused(invoke(*(str(a).format(**names) for a in args)), option)
    assert not (tmp_path / "o.onnx").exists()
