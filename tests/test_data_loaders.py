"""Data loaders for --calib/--data/--input on small files written here: image folders, CIFAR batch folders,
.npz/.npy, and the one-sentence errors for data of the wrong form."""

import pickle

import numpy as np
import pytest
from PIL import Image

from onnx2snn.data.images import Preprocess
from onnx2snn.data.sources import (
    check_labels,
    fit_to_model,
    load_data,
    sample_indices,
    split_spec,
)
from onnx2snn.errors import DataError


def write_image_folder(root, classes=("cat", "dog"), per_class=3, size=(5, 4), mode="RGB"):
    """root/<class>/<i>.png with known pixels: value = 10*class + i in every channel, plus the channel index."""
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.full((size[0], size[1], 3), 10 * c + i, np.uint8) + np.arange(3, dtype=np.uint8)
            image = Image.fromarray(pixels) if mode == "RGB" else Image.fromarray(pixels[..., 0])
            image.save(root / name / f"{i}.png")
    return root


def write_cifar(root, batches, per_batch=4, label_key=b"labels", classes=10, seed=0):
    """A CIFAR python-batches folder with the real dict structure and random content."""
    rng = np.random.default_rng(seed)
    root.mkdir()
    content = {}
    for name in batches:
        batch = {b"batch_label": name.encode(), label_key: rng.integers(0, classes, per_batch).tolist(),
                 b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 b"filenames": [f"{name}_{i}.png".encode() for i in range(per_batch)]}
        with open(root / name, "wb") as f:
            pickle.dump(batch, f)
        content[name] = batch
    return content


CIFAR10 = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def test_image_folder_labels_follow_sorted_class_names_and_pixels_scale_to_unit_range(tmp_path):
    root = write_image_folder(tmp_path / "imgs", classes=("b_dog", "a_cat"))
    data = load_data(str(root))
    assert data.x.shape == (6, 3, 5, 4) and data.x.dtype == np.float32
    assert data.y.tolist() == [0, 0, 0, 1, 1, 1]  # a_cat first
    assert data.names[0] == "a_cat/0.png"
    # a_cat/1.png was written as class index 1 of the original order (value 10 + 1), channel c adds c
    np.testing.assert_allclose(data.x[1, :, 0, 0], (np.array([11, 12, 13]) / 255).astype(np.float32))


def test_image_folder_preprocessing_resize_mean_std_layout(tmp_path):
    root = write_image_folder(tmp_path / "imgs")
    pre = Preprocess(resize=(8, 6), mean=(0.5,), std=(0.25, 0.5, 1.0), layout="nhwc")
    data = load_data(str(root), preprocess=pre)
    assert data.x.shape == (6, 8, 6, 3)
    raw = np.array([0, 1, 2]) / 255  # cat/0.png is uniform per channel, so resizing keeps it
    np.testing.assert_allclose(data.x[0, 3, 2], (raw - 0.5) / np.array([0.25, 0.5, 1.0]), rtol=1e-5)


def test_image_folder_channels_follow_the_model(tmp_path):
    rgb = write_image_folder(tmp_path / "rgb")
    gray = write_image_folder(tmp_path / "gray", mode="L")
    assert load_data(str(gray)).x.shape[1] == 1
    assert load_data(str(gray), preprocess=Preprocess(channels=3)).x.shape[1] == 3
    as_gray = load_data(str(rgb), preprocess=Preprocess(channels=1)).x
    assert as_gray.shape == (6, 1, 5, 4)
    expected = Image.fromarray(np.full((5, 4, 3), [0, 1, 2], np.uint8)).convert("L").getpixel((0, 0)) / 255
    assert as_gray[0, 0, 0, 0] == pytest.approx(expected)


def test_flat_folder_gives_inputs_without_labels(tmp_path):
    root = write_image_folder(tmp_path / "imgs")
    flat = tmp_path / "flat"
    flat.mkdir()
    for p in sorted((root / "dog").iterdir()):
        p.rename(flat / p.name)
    data = load_data(str(flat))
    assert data.y is None and data.x.shape == (3, 3, 5, 4) and data.names == ["0.png", "1.png", "2.png"]


def test_samples_are_drawn_with_the_seed(tmp_path):
    root = write_image_folder(tmp_path / "imgs", per_class=5)
    a = load_data(str(root), samples=4, seed=1)
    b = load_data(str(root), samples=4, seed=1)
    c = load_data(str(root), samples=4, seed=2)
    assert len(a.x) == 4 and a.index.tolist() == b.index.tolist() != c.index.tolist()
    assert list(a.index) == sorted(a.index)
    assert sample_indices(10, None).tolist() == list(range(10)) == sample_indices(10, 50).tolist()


@pytest.mark.parametrize("layout, message", [
    ("empty", "no images found"),
    ("empty_class", "class folder with no images"),
    ("mixed", "both class subfolders and loose images"),
    ("sizes", "give --resize H,W"),
    ("not_an_image", "cannot read it as an image"),
    ("sixteen_bit", "16-bit or float"),
])
def test_image_folder_errors_name_the_file_and_the_form(tmp_path, layout, message):
    root = tmp_path / "imgs"
    if layout == "empty":
        root.mkdir()
        (root / "notes.txt").write_text("no images here")
        culprit = root
    else:
        write_image_folder(root)
        culprit = {"empty_class": root / "emu", "mixed": root, "sizes": root / "dog" / "9.png",
                   "not_an_image": root / "dog" / "9.png", "sixteen_bit": root / "dog" / "9.png"}[layout]
        if layout == "empty_class":
            culprit.mkdir()
        elif layout == "mixed":
            Image.fromarray(np.zeros((5, 4, 3), np.uint8)).save(root / "loose.png")
        elif layout == "sizes":
            Image.fromarray(np.zeros((7, 4, 3), np.uint8)).save(culprit)
        elif layout == "not_an_image":
            culprit.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
        else:
            Image.fromarray(np.zeros((5, 4), np.uint16)).save(culprit)
    with pytest.raises(DataError, match=message) as info:
        load_data(str(root)).x[:]  # a fault inside an image shows when its batch is read
    assert str(culprit) in str(info.value)


def test_mean_std_must_match_the_channels(tmp_path):
    root = write_image_folder(tmp_path / "imgs")
    with pytest.raises(DataError, match="--mean has 2 values but the images have 3 channel"):
        load_data(str(root), preprocess=Preprocess(mean=(0.5, 0.5)))
    with pytest.raises(DataError, match="--std values must be positive"):
        load_data(str(root), preprocess=Preprocess(std=(0.0,)))


def test_cifar10_splits_and_pixel_layout(tmp_path):
    content = write_cifar(tmp_path / "cifar-10-batches-py", CIFAR10)
    folder = str(tmp_path / "cifar-10-batches-py")
    test = load_data(folder)
    assert test.x.shape == (4, 3, 32, 32) and test.y.tolist() == content["test_batch"][b"labels"]
    first = content["test_batch"][b"data"][0]
    np.testing.assert_allclose(test.x[0, 1, 0, :5], first[1024:1029] / 255, rtol=1e-6)  # green plane, row 0
    train = load_data(folder + ":train")
    assert len(train.x) == 20 and train.y[4:8].tolist() == content["data_batch_2"][b"labels"]
    assert len(load_data(folder, default_split="train").x) == 20
    assert len(load_data(folder + ":all").x) == 24
    nhwc = load_data(folder, preprocess=Preprocess(layout="nhwc", resize=(16, 16)))
    assert nhwc.x.shape == (4, 16, 16, 3)


def test_cifar100_uses_fine_labels(tmp_path):
    content = write_cifar(tmp_path / "cifar-100-python", ["train", "test"], label_key=b"fine_labels", classes=100)
    data = load_data(str(tmp_path / "cifar-100-python") + ":test")
    assert data.y.tolist() == content["test"][b"fine_labels"]


def _write_batch(path, obj):
    with open(path, "wb") as f:
        pickle.dump(obj, f)


class _Huge:
    def __reduce__(self):
        return (np.ndarray, ((2**44,), np.uint8))


class _Callable:
    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.parametrize("fault, message", [
    ("missing", "test_batch not found"),
    ("not_dict", "expected a CIFAR python batch"),
    ("dtype", "must be uint8 of shape \\(N, 3072\\)"),
    ("width", "must be uint8 of shape \\(N, 3072\\)"),
    ("label_count", "must hold 4 integer labels"),
    ("label_range", "labels must be in 0..9"),
    ("global", "refers to builtins.print"),
    ("truncated", "cannot read it as a CIFAR python batch"),
    ("huge", "cannot read it as a CIFAR python batch"),
])
def test_cifar_errors_name_the_file_and_the_form(tmp_path, fault, message, capsys):
    root = tmp_path / "cifar"
    write_cifar(root, CIFAR10)
    path = root / "test_batch"
    good = {b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1, 2, 3]}
    if fault == "missing":
        path.unlink()
        (root / "data_batch_1").touch()
    elif fault == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    elif fault == "huge":  # an allowed array constructor asked for 16 TiB
        _write_batch(path, _Huge())
    else:
        bad = {"not_dict": [1, 2], "dtype": {**good, b"data": np.zeros((4, 3072), np.float32)},
               "width": {**good, b"data": np.zeros((4, 1024), np.uint8)},
               "label_count": {**good, b"labels": [0, 1, 2]}, "label_range": {**good, b"labels": [0, 1, 2, 10]},
               "global": {**good, b"labels": _Callable()}}[fault]
        _write_batch(path, bad)
    with pytest.raises(DataError, match=message) as info:
        load_data(str(root))
    assert str(path) in str(info.value)
    assert "this must never run" not in capsys.readouterr().out


def test_npz_and_npy_errors(tmp_path):
    np.savez(tmp_path / "counts.npz", x=np.zeros((4, 3), np.float32), y=np.zeros(3, np.int64))
    with pytest.raises(DataError, match="'x' has 4 inputs but 'y' has 3 labels"):
        load_data(str(tmp_path / "counts.npz"))
    np.savez(tmp_path / "float_labels.npz", x=np.zeros((2, 3), np.float32), y=np.zeros(2, np.float32))
    with pytest.raises(DataError, match="integer labels"):
        load_data(str(tmp_path / "float_labels.npz"))
    np.savez(tmp_path / "no_x.npz", inputs=np.zeros((2, 3)))
    with pytest.raises(DataError, match="it needs 'x'"):
        load_data(str(tmp_path / "no_x.npz"))
    np.save(tmp_path / "strings.npy", np.array([["a", "b"]]))
    with pytest.raises(DataError, match="must be real numbers"):
        load_data(str(tmp_path / "strings.npy"))
    np.save(tmp_path / "flat.npy", np.zeros(5, np.float32))
    with pytest.raises(DataError, match="shape \\(N, ...\\)"):
        load_data(str(tmp_path / "flat.npy"))
    (tmp_path / "data.csv").write_text("1,2\n")
    with pytest.raises(DataError, match="unknown data format"):
        load_data(str(tmp_path / "data.csv"))
    with pytest.raises(DataError, match="no such file or folder"):
        load_data(str(tmp_path / "missing.npz"))


def test_arrays_and_builtins_refuse_image_preprocessing(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 3), np.float32))
    with pytest.raises(DataError, match="apply to image folders and CIFAR folders"):
        load_data(str(tmp_path / "x.npy"), preprocess=Preprocess(resize=(2, 2)))
    with pytest.raises(DataError, match="apply to image folders"):
        load_data("digits", preprocess=Preprocess(layout="nhwc"))


def test_split_suffix():
    assert split_spec("digits:train") == ("digits", "train")
    assert split_spec("some/folder") == ("some/folder", None)
    with pytest.raises(DataError, match="split must be one of train, test, all"):
        split_spec("digits:validation")
    with pytest.raises(DataError, match="applies to built-in datasets and CIFAR folders only"):
        load_data("some_folder:test")
    assert len(load_data("digits:train").x) == 1397 and len(load_data("digits").x) == 400


def test_fit_to_model_and_label_range():
    x = np.zeros((2, 64), np.float32)
    assert fit_to_model(x, ["N", 1, 8, 8], "d").shape == (2, 1, 8, 8)
    assert fit_to_model(x, ["N", 64], "d") is x
    with pytest.raises(DataError, match="--resize H,W"):
        fit_to_model(np.zeros((2, 3, 30, 30), np.float32), ["N", 3, 32, 32], "imgs")
    with pytest.raises(DataError, match="--layout nchw\\|nhwc"):  # same size, other axis order: no reshape
        fit_to_model(np.zeros((2, 3, 4, 4), np.float32), ["N", 4, 4, 3], "imgs")
    assert fit_to_model(np.zeros((2, 28, 28), np.float32), ["N", 1, 28, 28], "d").shape == (2, 1, 28, 28)
    check_labels(np.array([0, 9]), 10, "d")
    check_labels(np.array([0, 12]), None, "d")
    with pytest.raises(DataError, match="labels run 0..10 but the model has 10 outputs"):
        check_labels(np.array([0, 10]), 10, "d")
