"""Data loaders: digits, idx files, LEAF JSON, Synthetic; bad inputs give one clear line."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from twin.fl.data import (
    FederatedDataset,
    load_dataset,
    load_digits_dataset,
    load_idx_dataset,
    load_leaf_dataset,
    make_synthetic_dataset,
    read_idx,
    write_idx,
)
from twin.fl.errors import DataFileNotFoundError, DataFormatError, FLConfigError


def test_digits_scaled_split_and_deterministic():
    d = load_digits_dataset(test_fraction=0.2, seed=3)
    assert d.input_shape == (1, 8, 8) and d.n_features == 64 and d.n_classes == 10
    assert d.n_train + d.n_test == 1797
    assert 0.18 < d.n_test / 1797 < 0.22
    assert d.x_train.dtype == np.float32 and d.x_train.min() >= 0 and d.x_train.max() == 1.0
    assert set(np.unique(d.y_test)) == set(range(10))
    again = load_digits_dataset(test_fraction=0.2, seed=3)
    np.testing.assert_array_equal(d.y_test, again.y_test)
    assert d.client_indices is None


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_roundtrip(tmp_path, suffix):
    for dtype in (np.uint8, np.int16, np.int32, np.float32, np.float64):
        arr = (np.arange(24).reshape(2, 3, 4) % 7).astype(dtype)
        write_idx(tmp_path / f"a{suffix}", arr)
        out = read_idx(tmp_path / f"a{suffix}")
        assert out.dtype == np.dtype(dtype) and out.dtype.isnative
        np.testing.assert_array_equal(out, arr)


def test_idx_bad_files(tmp_path):
    with pytest.raises(DataFileNotFoundError, match="no such idx file"):
        read_idx(tmp_path / "missing")
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01")
    with pytest.raises(DataFormatError, match="bad magic"):
        read_idx(tmp_path / "bad")
    raw = bytes([0, 0, 8, 1]) + np.array([5], dtype=">u4").tobytes() + b"\x00\x01"
    (tmp_path / "short").write_bytes(raw)
    with pytest.raises(DataFormatError, match=r"shape \(5,\).*2 bytes"):
        read_idx(tmp_path / "short")


def _write_mnist_like(folder, n_train=12, n_test=5, test_name="t10k", prefix="", gz=True):
    rng = np.random.default_rng(0)
    ext = ".gz" if gz else ""
    for split, n in (("train", n_train), (test_name, n_test)):
        write_idx(folder / f"{prefix}{split}-images-idx3-ubyte{ext}", rng.integers(0, 256, (n, 6, 5), dtype=np.uint8))
        write_idx(folder / f"{prefix}{split}-labels-idx1-ubyte{ext}", (np.arange(n) % 10).astype(np.uint8))


def test_idx_dataset_loads_and_scales(tmp_path):
    _write_mnist_like(tmp_path)
    d = load_dataset("idx", path=str(tmp_path), name="mnist")
    assert d.x_train.shape == (12, 1, 6, 5) and d.x_test.shape == (5, 1, 6, 5)
    assert d.x_train.dtype == np.float32 and 0 <= d.x_train.min() and d.x_train.max() <= 1
    assert d.n_classes == 10
    raw = read_idx(tmp_path / "train-images-idx3-ubyte.gz")
    np.testing.assert_allclose(d.x_train[:, 0], raw / 255.0, rtol=1e-6)


def test_idx_emnist_prefix_transposes(tmp_path):
    _write_mnist_like(tmp_path, test_name="test", prefix="emnist-digits-", gz=False)
    d = load_idx_dataset(name="emnist", path=tmp_path, prefix="emnist-digits-")
    raw = read_idx(tmp_path / "emnist-digits-train-images-idx3-ubyte")
    assert d.x_train.shape == (12, 1, 5, 6)
    np.testing.assert_allclose(d.x_train[3, 0], raw[3].T / 255.0, rtol=1e-6)


def test_idx_missing_files_say_how_to_get_them(tmp_path, monkeypatch):
    import twin.fl.data.idx as idx_module

    monkeypatch.setattr(idx_module, "FASHION_MNIST_DIR", tmp_path / "nowhere")
    with pytest.raises(DataFileNotFoundError, match="apt-get install dataset-fashion-mnist") as err:
        load_dataset("fashion_mnist")
    assert "\n" not in str(err.value) and "nowhere" in str(err.value)
    _write_mnist_like(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataFileNotFoundError, match="t10k-labels-idx1-ubyte"):
        load_idx_dataset(name="mnist", path=tmp_path)
    with pytest.raises(DataFileNotFoundError, match="set path"):
        load_idx_dataset(name="mnist")


def test_idx_label_count_mismatch(tmp_path):
    _write_mnist_like(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(11, dtype=np.uint8))
    with pytest.raises(DataFormatError, match="11 labels for 12 images"):
        load_idx_dataset(name="mnist", path=tmp_path)


def _leaf_doc(users):
    return {"users": [u for u, _ in users], "num_samples": [len(y) for _, (_, y) in users],
            "user_data": {u: {"x": x, "y": y} for u, (x, y) in users}}


def _write_leaf(folder, rng, writers=(("f0", 5), ("f1", 3), ("f2", 7)), n_features=16, n_labels=12):
    for split in ("train", "test"):
        (folder / split).mkdir(parents=True, exist_ok=True)
        users = []
        for u, n in writers:
            n_split = n if split == "train" else 2
            x = rng.random((n_split, n_features)).round(3).tolist()
            y = rng.integers(0, n_labels, n_split).tolist()
            users.append((u, (x, y)))
        (folder / split / "all_data_0.json").write_text(json.dumps(_leaf_doc(users)))


def test_leaf_natural_partition(tmp_path):
    _write_leaf(tmp_path, np.random.default_rng(1))
    d = load_dataset("femnist", path=str(tmp_path))
    assert d.client_names == ["f0", "f1", "f2"]
    assert [len(ix) for ix in d.client_indices] == [5, 3, 7]
    assert d.x_train.shape == (15, 1, 4, 4) and d.x_test.shape == (6, 1, 4, 4)
    doc = json.loads((tmp_path / "train" / "all_data_0.json").read_text())
    np.testing.assert_allclose(d.x_train[d.client_indices[1]].reshape(3, -1), doc["user_data"]["f1"]["x"], rtol=1e-6)
    np.testing.assert_array_equal(d.y_train[d.client_indices[2]], doc["user_data"]["f2"]["y"])
    digits = load_leaf_dataset(path=tmp_path, only_digits=True)
    assert digits.n_classes == 10 and digits.y_train.max() < 10 and digits.y_test.max(initial=0) < 10


def test_leaf_single_file_holds_out_test(tmp_path):
    _write_leaf(tmp_path, np.random.default_rng(2), writers=(("a", 10), ("b", 20)))
    d = load_leaf_dataset(path=tmp_path / "train" / "all_data_0.json", test_fraction=0.2, seed=0)
    assert [len(ix) for ix in d.client_indices] == [8, 16] and d.n_test == 6


def test_leaf_mismatched_counts_is_one_clear_line(tmp_path):
    _write_leaf(tmp_path, np.random.default_rng(3))
    path = tmp_path / "train" / "all_data_0.json"
    doc = json.loads(path.read_text())
    doc["num_samples"][1] = 4
    path.write_text(json.dumps(doc))
    with pytest.raises(DataFormatError) as err:
        load_leaf_dataset(path=tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and "all_data_0.json" in msg and "'f1'" in msg and "num_samples says 4" in msg
    doc["num_samples"] = doc["num_samples"][:2]
    path.write_text(json.dumps(doc))
    with pytest.raises(DataFormatError, match="3 users but 2 num_samples"):
        load_leaf_dataset(path=tmp_path)
    path.write_text("{not json")
    with pytest.raises(DataFormatError, match="not valid JSON"):
        load_leaf_dataset(path=tmp_path)
    with pytest.raises(DataFileNotFoundError, match="does not exist"):
        load_leaf_dataset(path=tmp_path / "nope")


def test_synthetic_shapes_and_determinism():
    d = make_synthetic_dataset(n_clients=20, alpha=1.0, beta=1.0, seed=5)
    assert d.input_shape == (60,) and d.n_classes == 10 and d.n_clients == 20
    sizes = d.client_sizes()
    assert sizes.min() >= 45  # int(0.9 * >= 50)
    assert sizes.sum() == d.n_train and d.n_test > 0
    assert d.y_train.min() >= 0 and d.y_train.max() < 10
    again = make_synthetic_dataset(n_clients=20, alpha=1.0, beta=1.0, seed=5)
    np.testing.assert_array_equal(d.x_train, again.x_train)
    other = make_synthetic_dataset(n_clients=20, alpha=1.0, beta=1.0, seed=6)
    assert not np.array_equal(d.client_sizes(), other.client_sizes())
    iid = make_synthetic_dataset(n_clients=5, alpha=0.0, beta=0.0, iid=True, max_samples=80, seed=1)
    assert iid.client_sizes().max() <= 72 and iid.name == "synthetic_iid"


def test_registry_errors_are_clear():
    with pytest.raises(FLConfigError, match="unknown data set 'cifar'.*digits"):
        load_dataset("cifar")
    with pytest.raises(FLConfigError, match=r"data\.alpah: not a field"):
        load_dataset("synthetic", n_clients=3, alpah=1)
    with pytest.raises(FLConfigError, match=r"data\.n_clients: required"):
        load_dataset("synthetic")
    with pytest.raises(FLConfigError, match="n_clients must be a positive integer"):
        make_synthetic_dataset(n_clients=0)


def test_dataset_validates_shapes():
    x = np.zeros((3, 2), np.float32)
    with pytest.raises(FLConfigError, match="x_train has 3 rows but y_train has 2"):
        FederatedDataset(name="t", x_train=x, y_train=np.zeros(2, np.int64), x_test=x, y_test=np.zeros(3, np.int64),
                         n_classes=2)
    d = FederatedDataset(name="t", x_train=x, y_train=np.zeros(3, np.int64), x_test=x, y_test=np.zeros(3, np.int64),
                         n_classes=2)
    with pytest.raises(FLConfigError, match="outside"):
        d.with_clients([np.array([0, 5])])


def test_gz_reader_handles_truncated_gzip(tmp_path):
    path = tmp_path / "x.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(b"\x00\x00\x08\x01" + b"\x00" * 100)
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(DataFormatError):
        read_idx(path)
