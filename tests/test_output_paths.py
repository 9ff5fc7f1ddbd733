"""Outputs never replace inputs and are written only to regular files or new paths, with the user's umask."""

import os
import shutil
import stat

import numpy as np
import pytest

from onnx2snn.load.bundled import bundled_model
from onnx2snn.save import atomic_write
from tests.refusals import invoke as _invoke
from tests.refusals import refused as _refused


@pytest.fixture
def files(tmp_path, snn):
    """Copies of the digits MLP (m.onnx), its SNN (s.onnx) and a small .npz (c.npz) in tmp_path."""
    shutil.copy(bundled_model("digits_mlp"), tmp_path / "m.onnx")
    shutil.copy(snn, tmp_path / "s.onnx")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "c.npz", x=rng.random((8, 64), np.float32), y=np.arange(8))
    return tmp_path


@pytest.mark.parametrize("args, output, words", [
    (("convert", "m.onnx", "-o", "m.onnx", "--calib", "digits"), "m.onnx", ("-o", "model")),
    (("convert", "m.onnx", "-o", "c.npz", "--calib", "c.npz"), "c.npz", ("-o", "--calib")),
    (("export", "s.onnx", "--format", "onnx", "-o", "s.onnx"), "s.onnx", ("-o", "model")),
    (("export", "s.onnx", "--format", "nir", "-o", "s.onnx"), "s.onnx", ("-o", "model")),
    (("eval", "s.onnx", "--data", "c.npz", "--plot", "s.onnx"), "s.onnx", ("--plot", "model")),
    (("eval", "s.onnx", "--data", "c.npz", "--ann", "m.onnx", "--plot", "m.onnx"), "m.onnx", ("--plot", "--ann")),
    (("eval", "s.onnx", "--data", "c.npz", "--plot", "c.npz"), "c.npz", ("--plot", "--data")),
])
def test_an_output_that_is_an_input_is_refused_and_the_input_kept(files, monkeypatch, args, output, words):
    monkeypatch.chdir(files)
    before = (files / output).read_bytes()
    _refused(_invoke(*args), "replace an input", *words)
    assert (files / output).read_bytes() == before


@pytest.mark.parametrize("link", [os.symlink, os.link])
def test_an_output_linked_to_an_input_is_refused(files, link):
    link(files / "m.onnx", files / "alias.onnx")
    before = (files / "m.onnx").read_bytes()
    _refused(_invoke("convert", files / "m.onnx", "-o", files / "alias.onnx", "--calib", "digits"), "alias.onnx")
    assert (files / "m.onnx").read_bytes() == before


def test_an_output_inside_an_input_folder_is_refused(files):
    folder = files / "images"
    folder.mkdir()
    _refused(_invoke("eval", files / "s.onnx", "--data", folder, "--plot", folder / "acc.png"), "inside", "--data")
    assert not (folder / "acc.png").exists()


@pytest.mark.parametrize("kind", ["character device", "FIFO"])
def test_an_output_that_is_not_a_regular_file_is_left_alone(files, kind):
    if kind == "FIFO":
        target = files / "pipe"
        os.mkfifo(target)
    else:
        target = "/dev/null"
    result = _invoke("export", files / "s.onnx", "--format", "onnx", "-o", target)
    _refused(result, str(target), kind, "not a regular file")
    mode = os.stat(target).st_mode
    assert stat.S_ISFIFO(mode) if kind == "FIFO" else stat.S_ISCHR(mode)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_get_the_mode_of_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        atomic_write(tmp_path / "out.bin", lambda tmp: open(tmp, "wb").write(b"x"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "out.bin").st_mode) == mode
