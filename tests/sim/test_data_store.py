"""The disk cache of loaded data sets (twin.sim.data_store): bit-identical hits, keyed by content, safe when damaged."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import twin.fl.data as data_sets
from twin.fl.data import load_dataset, write_idx
from twin.scenario.loading import load_scenario
from twin.sim import data_cache, data_store
from twin.sim.runner import simulate

ROOT = Path(__file__).resolve().parents[2]


def _idx_folder(folder: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (300, 8, 8), dtype=np.uint8))
    write_idx(folder / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, 300, dtype=np.uint8))
    write_idx(folder / "t10k-images-idx3-ubyte", rng.integers(0, 256, (50, 8, 8), dtype=np.uint8))
    write_idx(folder / "t10k-labels-idx1-ubyte", np.arange(50, dtype=np.uint8) % 10)
    return folder


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TWIN_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "data"


def _load(folder: Path):
    fields = {"path": str(folder), "name": "idx"}
    return data_store.load("idx", fields, lambda: load_dataset("idx", **fields))


def _same(a, b):
    for name in ("x_train", "y_train", "x_test", "y_test"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y)
        assert x.tobytes() == y.tobytes()
    assert (a.name, a.n_classes) == (b.name, b.n_classes)


def test_a_second_load_reads_the_entry_bit_for_bit(tmp_path, cache):
    folder = _idx_folder(tmp_path / "idx")
    first, hit = _load(folder)
    assert not hit and len(list(cache.iterdir())) == 1
    second, hit = _load(folder)
    assert hit
    _same(first, second)
    assert second.x_train.flags.writeable and second.x_train.flags.c_contiguous  # private copy-on-write pages


def test_changed_file_content_is_a_new_entry(tmp_path, cache):
    folder = _idx_folder(tmp_path / "idx")
    _load(folder)
    _idx_folder(folder, seed=1)  # same names and sizes, other pixels
    data, hit = _load(folder)
    assert not hit and len(list(cache.iterdir())) == 2
    _same(data, load_dataset("idx", path=str(folder), name="idx"))


def test_a_damaged_entry_is_rebuilt(tmp_path, cache):
    folder = _idx_folder(tmp_path / "idx")
    first, _ = _load(folder)
    entry = next(cache.iterdir())
    (entry / "x_train.npy").write_bytes(b"not numpy")
    again, hit = _load(folder)
    assert not hit
    _same(first, again)
    _same(first, _load(folder)[0])


def test_the_cache_can_be_turned_off_and_other_kinds_are_not_cached(tmp_path, monkeypatch):
    folder = _idx_folder(tmp_path / "idx")
    for off in ("off", "", "0"):
        monkeypatch.setenv("TWIN_CACHE_DIR", off)
        assert data_store.cache_dir() is None
        assert _load(folder)[1] is False
    monkeypatch.setenv("TWIN_CACHE_DIR", str(tmp_path / "c"))
    assert data_store.source_files("digits", {}) is None
    assert data_store.source_files("idx", {"path": str(tmp_path / "nowhere")}) is None  # the loader says it is missing
    assert not (tmp_path / "c").exists()


def test_an_unwritable_cache_only_costs_the_speed_up(tmp_path, monkeypatch):
    folder = _idx_folder(tmp_path / "idx")
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("TWIN_CACHE_DIR", str(blocker))  # a file where the folder should be
    data, hit = _load(folder)
    assert not hit
    _same(data, load_dataset("idx", path=str(folder), name="idx"))


def test_a_run_from_the_disk_cache_has_the_same_tables(tmp_path, cache, monkeypatch):
    folder = _idx_folder(tmp_path / "idx")
    calls = []
    real = data_sets.DATASETS["idx"]

    @functools.wraps(real)
    def loader(**fields):
        calls.append(fields)
        return real(**fields)

    monkeypatch.setitem(data_sets.DATASETS, "idx", loader)
    sets = ["fl.rounds=2", f"fl.data={{kind: idx, path: {folder}}}", "fl.model={kind: softmax_regression}"]
    out = []
    for _ in range(2):
        data_cache.clear()  # a new process: nothing in memory
        result = simulate(load_scenario("quickstart", sets), base_dir=ROOT)
        assert result.summary["status"] == "ok"
        out.append(result)
    data_cache.clear()
    assert len(calls) == 1
    assert [r.summary["fl"]["data_reused"] for r in out] == [None, "disk cache"]
    for name in ("rounds", "timeline", "clients"):
        pd.testing.assert_frame_equal(out[0].tables[name], out[1].tables[name], check_exact=True)


def test_file_digests_are_remembered_by_identity_and_times(tmp_path, cache, monkeypatch):
    """A settled file is hashed once; a file changed in any way (here: rewritten, its times moved) is hashed again;
    the entry key is the one the full hashing gives."""
    folder = _idx_folder(tmp_path / "idx")
    files = data_store.source_files("idx", {"path": str(folder), "name": "idx"})
    memo = tmp_path / "memo"
    hashed = []
    real = data_store._digest
    monkeypatch.setattr(data_store, "_digest", lambda p: hashed.append(Path(p).name) or real(p))
    fresh = data_store.entry_key("idx", {}, files, memo=memo)
    assert len(hashed) == len(files) + 2 and len(list(memo.iterdir())) == 2  # only the (settled) loader code noted
    assert fresh == data_store.entry_key("idx", {}, files)  # the key of full hashing
    hashed.clear()
    assert data_store.entry_key("idx", {}, files, memo=memo) == fresh
    assert sorted(hashed) == sorted(f.name for f in files)  # just written: hashed every time, never remembered
    monkeypatch.setattr(data_store, "SETTLED_NS", -10**12)  # every file counts as settled
    hashed.clear()
    assert data_store.entry_key("idx", {}, files, memo=memo) == fresh
    assert len(hashed) == len(files) and len(list(memo.iterdir())) == len(files) + 2  # now remembered
    hashed.clear()
    assert data_store.entry_key("idx", {}, files, memo=memo) == fresh
    assert hashed == []  # from the memo
    _idx_folder(folder, seed=1)  # same names and sizes, other pixels
    stamp = files[0].stat().st_mtime_ns + 5_000_000_000
    for f in files:
        os.utime(f, ns=(stamp, stamp))
    changed = data_store.entry_key("idx", {}, files, memo=memo)
    assert sorted(hashed) == sorted(f.name for f in files)  # only the changed files were hashed again
    assert changed != fresh and changed == data_store.entry_key("idx", {}, files)
    next(memo.iterdir()).write_text("garbage")  # a damaged note is ignored
    assert data_store.entry_key("idx", {}, files, memo=memo) == changed
