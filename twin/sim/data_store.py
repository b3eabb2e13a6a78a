"""Loaded data sets kept on disk across processes, so that a run does not decompress and convert its data set again.

Reading Fashion-MNIST (four gzip idx files, 31 MB) and scaling its pixels to float32 takes about 1-2 s, 30-40 % of a
short study run; a run of the same data set in a new process (``python -m twin.run`` after another, a sweep's worker)
maps the arrays of an earlier load instead (``.npy`` files, memory-mapped copy-on-write: milliseconds).

An entry is a folder under the cache directory named by a SHA-256 key over:

- the data section as the loader receives it (kind and every field, paths resolved);
- the SHA-256 of the content of every file the loader reads (a changed or replaced file is a new key). Hashing
  Fashion-MNIST's 31 MB takes 30-50 ms, so each file's digest is remembered in ``digests/`` next to the cache
  directory, named by the file's path, device, inode, size, modification and change times (nanoseconds), as git's
  index does; a file changed in any way has another name there and is hashed again. Only files whose times are
  :data:`SETTLED_NS` old are remembered (a file rewritten within the clock's granularity could keep its times);
- the source of the loader's code (``twin/fl/data/idx.py``, ``base.py``) and :data:`FORMAT`, so a change to how the
  data is read never meets an entry written by the old code.

The cache directory: ``$TWIN_CACHE_DIR/data`` when that is set (``TWIN_CACHE_DIR=off``, ``none``, ``0`` or empty turns
the cache off), else ``$XDG_CACHE_HOME/twin/data``, else ``~/.cache/twin/data``. It can be deleted at any time. Nothing
is ever downloaded; entries are written atomically (a temporary folder renamed into place), an entry that cannot be
read is rebuilt from the source files, and a cache that cannot be written only costs the speed-up. A hit gives arrays
equal, bit for bit, to a fresh load. Only the idx loaders (``fashion_mnist``, ``idx``) use it: the others are embedded,
generated or small.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from twin.fl.data.base import FederatedDataset

log = logging.getLogger(__name__)

FORMAT = 1
CACHE_ENV = "TWIN_CACHE_DIR"
_OFF = ("", "0", "off", "none", "false", "no")
_ARRAYS = ("x_train", "y_train", "x_test", "y_test")
_CODE = [Path(__file__).resolve().parents[1] / "fl" / "data" / name for name in ("idx.py", "base.py")]
SETTLED_NS = 2_000_000_000  # a file's digest is remembered once its times are this old (2 s)

stats = {"hits": 0, "writes": 0}


def cache_dir() -> Path | None:
    """Where entries live (None: the cache is off)."""
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        return None if value.strip().lower() in _OFF else Path(value).expanduser() / "data"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "twin" / "data"


def source_files(kind: str, fields: dict[str, Any]) -> list[Path] | None:
    """The files a loader of ``kind`` reads with ``fields``, or None when it is not cached (another kind, a file
    missing: the loader then reports it)."""
    if kind not in ("fashion_mnist", "idx"):
        return None
    from twin.fl.data.idx import idx_files

    name = "fashion_mnist" if kind == "fashion_mnist" else fields.get("name", "idx")
    return idx_files(name=name, path=fields.get("path"), prefix=fields.get("prefix") or "")


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _remembered_digest(path: Path, memo: Path | None) -> str:
    """:func:`_digest` of ``path``, from ``memo`` (a folder) when this very file was hashed before: same path,
    device, inode, size, modification and change times. A newly hashed settled file is remembered there; a memo that
    cannot be read or written only costs the hashing."""
    if memo is None:
        return _digest(path)
    st = os.stat(path)
    stamp = f"{Path(path).resolve()}\0{st.st_dev}\0{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}"
    note = memo / hashlib.sha256(stamp.encode()).hexdigest()[:32]
    try:
        known = note.read_text(encoding="ascii")
        if len(known) == 64 and all(c in "0123456789abcdef" for c in known):
            return known
    except (OSError, ValueError):
        pass
    digest = _digest(path)
    if max(st.st_mtime_ns, st.st_ctime_ns) < time.time_ns() - SETTLED_NS:
        try:
            memo.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{note.name}-", dir=memo)
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(digest)
            os.replace(tmp, note)  # atomic: a reader sees the whole digest or no note
        except OSError as exc:
            log.debug("digest of %s not remembered (%s)", path, exc)
    return digest


def entry_key(kind: str, fields: dict[str, Any], files: list[Path], memo: Path | None = None) -> str:
    """The entry's name: a hash of the data section, the files' content and the loader's code (``memo``: the folder
    of remembered digests, see the module docstring; None hashes every file)."""
    doc = {"format": FORMAT, "kind": kind, "fields": fields,
           "files": [[p.name, _remembered_digest(p, memo)] for p in files],
           "code": [_remembered_digest(p, memo) for p in _CODE]}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:32]


def load(kind: str, fields: dict[str, Any], make: Callable[[], FederatedDataset]) -> tuple[FederatedDataset, bool]:
    """The data set ``make()`` would give, from the disk cache when an entry exists (else made and stored there);
    returns it and whether it came from the cache."""
    root = cache_dir()
    files = source_files(kind, fields) if root is not None else None
    if files is None:
        return make(), False
    try:
        entry = root / entry_key(kind, fields, files, memo=root.parent / "digests")
    except OSError:  # a file unreadable: the loader says which
        return make(), False
    if entry.is_dir():
        try:
            data = _read(entry)
            stats["hits"] += 1
            log.debug("data set %s read from the disk cache %s", data.name, entry)
            return data, True
        except Exception as exc:  # a damaged or partial entry: rebuilt below
            log.warning("data cache entry %s unreadable (%s); loading %s again", entry, exc, kind)
            shutil.rmtree(entry, ignore_errors=True)
    data = make()
    if data.client_indices is None and data.val_indices is None:
        try:
            _write(entry, data)
            stats["writes"] += 1
        except OSError as exc:
            log.debug("data cache not written (%s): %s", entry, exc)
    return data, False


def _read(entry: Path) -> FederatedDataset:
    meta = json.loads((entry / "meta.json").read_text(encoding="utf-8"))
    arrays = {}
    for name in _ARRAYS:
        arr = np.load(entry / f"{name}.npy", mmap_mode="c", allow_pickle=False)  # private pages: writable, no copy
        if list(arr.shape) != meta["shapes"][name] or str(arr.dtype) != meta["dtypes"][name]:
            raise ValueError(f"{name}.npy has shape {arr.shape} {arr.dtype}, meta.json says otherwise")
        arrays[name] = arr
    return FederatedDataset(name=meta["name"], n_classes=int(meta["n_classes"]), **arrays)


def _write(entry: Path, data: FederatedDataset) -> None:
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=entry.parent))
    try:
        arrays = {name: np.ascontiguousarray(getattr(data, name)) for name in _ARRAYS}
        for name, arr in arrays.items():
            np.save(tmp / f"{name}.npy", arr, allow_pickle=False)
        meta = {"name": data.name, "n_classes": int(data.n_classes),
                "shapes": {n: list(a.shape) for n, a in arrays.items()},
                "dtypes": {n: str(a.dtype) for n, a in arrays.items()}}
        (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")  # written last: the entry is complete
        try:
            os.rename(tmp, entry)
        except OSError:  # another process stored the same entry first
            if not entry.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
