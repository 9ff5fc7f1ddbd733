"""Data read batch by batch: .npy memory-mapped, .npz from its archive, image folders decoded only where a batch
needs them, and the Python API on DataLoaders and generators, with the same results as on arrays."""

import zipfile

import numpy as np
import pytest
import torch
from PIL import Image
from snnrt import contract
from torch.utils.data import DataLoader, TensorDataset

from onnx2snn.calibrate.thresholds import calibrate
from onnx2snn.convert import convert
from onnx2snn.data.batches import EvenSample, iter_batches
from onnx2snn.data.datasets import digits
from onnx2snn.data.images import FolderReader
from onnx2snn.data.lazy_inputs import LazyInputs, Rows
from onnx2snn.data.sources import load_data, sample_indices
from onnx2snn.errors import DataError
from onnx2snn.load.bundled import bundled_model
from onnx2snn.load.model import load_model
from onnx2snn.normalize import normalize
from onnx2snn.report.evaluate import evaluate
from onnx2snn.sites.find_sites import find_sites

MLP = bundled_model("digits_mlp")


@pytest.fixture(scope="module")
def digits_data():
    x, y = digits("test")
    return x[:60], y[:60]


@pytest.fixture(scope="module")
def snn(digits_data):
    return convert(MLP, digits("train")[0][:200]).model


def test_npy_is_memory_mapped_and_read_by_batch(tmp_path, digits_data):
    x, _ = digits_data
    np.save(tmp_path / "x.npy", x.astype(np.float64))
    data = load_data(str(tmp_path / "x.npy"), samples=20, seed=3)
    assert isinstance(data.x, LazyInputs) and data.x.shape == (20, 64) and data.x.dtype == np.float32
    np.testing.assert_array_equal(data.x[:], x[data.index])
    np.testing.assert_array_equal(data.x[5:9], x[data.index[5:9]])
    np.testing.assert_array_equal(data.x[[7, 2, 7]], x[data.index[[7, 2, 7]]])
    assert data.x[3, 10] == x[data.index[3], 10]


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_npz_rows_are_read_from_the_archive(tmp_path, digits_data, compression):
    x, y = digits_data
    path = tmp_path / "d.npz"
    (np.savez if compression == zipfile.ZIP_STORED else np.savez_compressed)(path, x=x.reshape(-1, 1, 8, 8), y=y)
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo("x.npy").compress_type == compression
    data = load_data(str(path))
    assert isinstance(data.x, LazyInputs)
    for rows in ([0, 1, 2], [59], [40, 3, 41, 42], slice(10, 50, 7)):  # runs, backwards, a step
        np.testing.assert_array_equal(data.x[rows], x.reshape(-1, 1, 8, 8)[rows])
    np.testing.assert_array_equal(data.y, y)


def test_a_nan_is_named_when_its_batch_is_read(tmp_path, digits_data):
    x, _ = digits_data
    x = x.copy()
    x[33, 2] = np.nan
    np.save(tmp_path / "x.npy", x)
    data = load_data(str(tmp_path / "x.npy"))
    assert data.x[:32].shape == (32, 64)  # the batches before it are fine
    with pytest.raises(DataError, match="sample 33 holds NaN or inf"):
        data.x[32:64]


def _image_folder(root, classes=3, per_class=4, size=(6, 5)):
    rng = np.random.default_rng(0)
    for c in range(classes):
        (root / f"class{c}").mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, size, dtype=np.uint8)).save(root / f"class{c}" / f"{i}.png")
    return root


def test_an_image_folder_decodes_only_the_images_of_a_batch(tmp_path, monkeypatch):
    root = _image_folder(tmp_path / "imgs")
    decoded = []
    original = FolderReader._decode
    monkeypatch.setattr(FolderReader, "_decode", lambda self, position: decoded.append(position) or
                        original(self, position))
    data = load_data(str(root))
    assert data.x.shape == (12, 1, 6, 5) and decoded == []  # the first file's header only
    batch = data.x[4:7]
    assert sorted(decoded) == [4, 5, 6]
    expected = np.asarray(Image.open(root / "class1" / "1.png"), np.float32) / 255
    np.testing.assert_array_equal(batch[1, 0], expected)
    assert data.y.tolist() == [0] * 4 + [1] * 4 + [2] * 4


def test_evaluate_on_a_dataloader_equals_evaluate_on_arrays(snn, digits_data):
    x, y = digits_data
    on_arrays = evaluate(snn, x, y, (1, 4, 8), ann=MLP, batch_size=16, device="cpu").as_dict()
    loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=7)
    assert evaluate(snn, loader, None, (1, 4, 8), ann=MLP, batch_size=16, device="cpu").as_dict() == on_arrays
    pairs = ((x[i : i + 25], y[i : i + 25]) for i in range(0, len(x), 25))
    assert evaluate(snn, pairs, None, (1, 4, 8), ann=MLP, batch_size=16, device="cpu").as_dict() == on_arrays


def test_evaluate_on_an_image_folder_file(tmp_path, snn, digits_data):
    x, y = digits_data
    root = tmp_path / "png"
    for i, (image, label) in enumerate(zip(x, y)):
        (root / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.round(image.reshape(8, 8) * 255).astype(np.uint8)).save(root / str(label) / f"{i:02}.png")
    data = load_data(str(root))
    lazy = evaluate(snn, data.x.reshape((len(data.x), 64)), data.y, (4,), batch_size=8, device="cpu")
    eager = evaluate(snn, data.x[:].reshape(-1, 64), data.y, (4,), batch_size=8, device="cpu")
    assert lazy.as_dict() == eager.as_dict() and lazy.samples == 60


def test_evaluate_without_labels_in_the_batches_is_refused(snn, digits_data):
    with pytest.raises(DataError, match="needs labels"):
        evaluate(snn, iter([digits_data[0]]), None, (1,), device="cpu")
    with pytest.raises(ValueError, match="labels come with the batches"):
        list(iter_batches(iter([digits_data[0]]), 8, digits_data[1]))


def test_calibration_on_a_dataloader_gives_the_thresholds_of_the_array():
    x = digits("train")[0][:150]
    ann, _ = normalize(load_model(MLP))
    sites = find_sites(ann).sites
    on_array = calibrate(ann, sites, x, batch_size=32)
    on_loader = calibrate(ann, sites, DataLoader(TensorDataset(torch.from_numpy(x)), batch_size=10), batch_size=32)
    assert on_array.keys() == on_loader.keys()
    for name in on_array:
        np.testing.assert_array_equal(on_loader[name].values, on_array[name].values)


def test_convert_takes_a_generator_of_batches_read_once():
    x = digits("train")[0][:150]
    reads = []

    def batches():
        for i in range(0, len(x), 40):
            reads.append(i)
            yield torch.from_numpy(x[i : i + 40])

    streamed = convert(MLP, batches(), layerwise_samples=64)
    assert reads == [0, 40, 80, 120]
    on_array = convert(MLP, x, layerwise=False)
    assert [layer.source for layer in streamed.layers] == [layer.source + ", fitted layer-wise"
                                                          for layer in on_array.layers]
    assert "on 64 calibration samples" in streamed.layerwise
    metadata = {p.key: p.value for p in streamed.model.metadata_props}
    assert metadata[contract.META_CALIBRATION_SAMPLES] == "150"


def test_even_sample_keeps_evenly_spaced_samples_in_bounded_memory():
    sample = EvenSample(10)
    for start in range(0, 1000, 64):
        sample.add(np.arange(start, min(start + 64, 1000), dtype=np.float32)[:, None])
    kept = sample.samples()[:, 0]
    assert sample.seen == 1000 and 10 <= len(kept) <= 20
    assert np.all(np.diff(kept) == sample.step) and kept[0] == 0


def _npz_header_only(path, shape):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("x.npy", "w") as member:
        np.lib.format.write_array_header_2_0(member, {"descr": "<f4", "fortran_order": False, "shape": shape})


def test_a_source_of_a_trillion_rows_costs_no_index_until_a_batch_is_read():
    import tracemalloc

    count = 1 << 40
    tracemalloc.start()
    try:
        source = LazyInputs(lambda positions: (positions % 1000)[:, None].astype(np.float32), Rows(count), (1,),
                            "synthetic")
        index = sample_indices(count)
        x = source.subset(index)
        head, tail = x[:3], x[-2:]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(x) == len(index) == count
    assert head.ravel().tolist() == [0, 1, 2] and tail.ravel().tolist() == [(count - 2) % 1000, (count - 1) % 1000]
    assert peak < 1 << 20, peak


@pytest.mark.parametrize("key", [3, -1, slice(2, 9, 3), slice(None, None, -4), [5, 0, -2], np.arange(10) % 3 == 0])
def test_rows_index_as_an_arange_does(key):
    expected = np.arange(10)[key]
    got = Rows(10)[key]
    assert np.array_equal(np.asarray(got), expected) and np.asarray(got).dtype.kind == "i"


@pytest.mark.parametrize("key", [10, -11, [3, 10], np.ones(9, bool)])
def test_rows_refuse_what_an_arange_refuses(key):
    with pytest.raises(IndexError):
        np.arange(10)[key]
    with pytest.raises(IndexError):
        Rows(10)[key]


def test_an_npz_that_declares_more_than_it_holds_is_refused_before_anything_is_sized(tmp_path):
    path = tmp_path / "liar.npz"
    _npz_header_only(path, (1 << 40, 1))  # 4 TiB declared, 128 bytes held
    with pytest.raises(DataError, match="liar.npz: array 'x' of the .npz declares shape"):
        load_data(str(path))


def test_a_highly_compressed_npz_is_read_a_batch_at_a_time(tmp_path):
    """A 1 GiB array of zeros deflated to about 1 MB (a zip bomb): reading one batch decompresses that batch's
    rows, and the 4 million rows take no index, so memory stays at the batch and the archive's buffers."""
    import tracemalloc

    rows, width = 1 << 22, 64
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("x.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_2_0(member, {"descr": "<f4", "fortran_order": False,
                                                          "shape": (rows, width)})
            block = bytes(16 << 20)
            for _ in range(rows * width * 4 // len(block)):
                member.write(block)
    assert path.stat().st_size < 8 << 20
    tracemalloc.start()
    try:
        data = load_data(str(path))
        batch = data.x[:128]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(data.x) == rows and batch.shape == (128, width) and not batch.any()
    assert peak < 4 << 20, peak  # 4 MiB against the array's 1 GiB (an index of the rows alone would take 32 MiB)
