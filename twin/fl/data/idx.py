"""idx files (MNIST, Fashion-MNIST, EMNIST), read with numpy only.

The idx format (LeCun): two zero bytes, a type byte, a byte with the number of dimensions, then one big-endian uint32 per
dimension, then the values in big-endian row-major order. Files may be gzip-compressed (``.gz``).
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from twin.fl.data.base import FederatedDataset
from twin.fl.errors import DataFileNotFoundError, DataFormatError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
MAX_IDX_BYTES = 2 * 10**9  # the data of one idx file (EMNIST ByClass, the largest in use, is ~550 MB)

_IDX_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: str | Path) -> np.ndarray:
    """Read one idx file (plain or ``.gz``) into a numpy array in native byte order.

    Raises DataFileNotFoundError if the file is missing, DataFormatError if the header or length is wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileNotFoundError(f"{path}: no such idx file")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            # header first: the data's size is known before any of it is decompressed (a gzip bomb is never inflated)
            head = _read_exactly(fh, 4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_TYPES:
                raise DataFormatError(f"{path}: not an idx file (bad magic number {head.hex() or 'empty'}); "
                                      "expected 00 00 <type> <ndim>")
            dtype, ndim = _IDX_TYPES[head[2]], head[3]
            dims = _read_exactly(fh, 4 * ndim)
            if len(dims) < 4 * ndim:
                raise DataFormatError(f"{path}: idx header announces {ndim} dimensions but the file ends after "
                                      f"{4 + len(dims)} bytes")
            shape = tuple(int(d) for d in np.frombuffer(dims, dtype=">u4", count=ndim))
            expected = math.prod(shape) * dtype.itemsize
            if expected > MAX_IDX_BYTES:
                raise DataFormatError(f"{path}: idx header announces shape {shape} ({expected:,} bytes of data), over "
                                      f"the limit of {MAX_IDX_BYTES:,} bytes")
            data_bytes = _read_exactly(fh, expected + 1)  # one byte more tells a file that is too long
    except (OSError, EOFError, zlib.error) as exc:
        raise DataFormatError(f"{path}: cannot read idx file: {exc}") from None
    header = 0
    raw = data_bytes
    if len(raw) != expected:
        raise DataFormatError(f"{path}: idx header announces shape {shape} ({expected} bytes of data) but the file has "
                              f"{'more' if len(raw) > expected else len(raw)} bytes of data")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def _read_exactly(fh, n: int) -> bytes:
    """Up to ``n`` bytes (fewer only at the end of the file), read in chunks: never more than asked is inflated."""
    parts, left = [], n
    while left > 0:
        chunk = fh.read(min(left, 1 << 24))
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write ``array`` as an idx file (gzip-compressed if ``path`` ends in ``.gz``). Used by tests and tools."""
    array = np.asarray(array)
    codes = {np.dtype(v).newbyteorder("="): k for k, v in _IDX_TYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise DataFormatError(f"{path}: idx cannot store dtype {array.dtype}")
    code = codes[native]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + array.astype(_IDX_TYPES[code]).tobytes()
    path = Path(path)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as fh:
            fh.write(payload)
    else:
        path.write_bytes(payload)


def _find(folder: Path, prefix: str, split_names: tuple[str, ...], what: str, rank: int) -> Path | None:
    for split in split_names:
        for sep in ("-", "."):
            stem = f"{prefix}{split}-{what}{sep}idx{rank}-ubyte"
            for name in (stem, stem + ".gz"):
                if (folder / name).is_file():
                    return folder / name
    return None


def idx_files(*, name: str = "fashion_mnist", path: str | Path | None = None, prefix: str = "") -> list[Path] | None:
    """The four files :func:`load_idx_dataset` would read with these arguments (train images and labels, test images
    and labels), or None if one is missing (the loader then says which)."""
    folder = FASHION_MNIST_DIR if path is None and name == "fashion_mnist" else \
        Path(path).expanduser() if path is not None else None
    if folder is None or not folder.is_dir():
        return None
    found = [_find(folder, prefix, split_names, what, rank) for split_names in (("train",), ("t10k", "test"))
             for what, rank in (("images", 3), ("labels", 1))]
    return None if any(f is None for f in found) else found


def load_idx_dataset(*, name: str = "fashion_mnist", path: str | Path | None = None, prefix: str = "",
                     transpose: bool | None = None) -> FederatedDataset:
    """Load a train/test pair of idx image and label files from a folder.

    Looks for ``{prefix}train-images-idx3-ubyte[.gz]``, ``{prefix}train-labels-idx1-ubyte[.gz]`` and the test pair named
    ``t10k-...`` or ``test-...``. ``name`` only labels the data set and picks the default folder: for "fashion_mnist" the
    Debian package path /usr/share/datasets/fashion-mnist; other names need ``path``. EMNIST files (``prefix`` like
    "emnist-digits-") store images transposed: ``transpose`` defaults to True when the prefix contains "emnist".
    Pixels are scaled to [0, 1]; samples have shape (1, H, W).
    """
    if path is None:
        if name != "fashion_mnist":
            raise DataFileNotFoundError(f"{name}: no default folder for idx data set {name!r}; set path to a folder "
                                        "holding its train-/t10k- idx files")
        folder = FASHION_MNIST_DIR
    else:
        folder = Path(path).expanduser()
    how = ("install it with `apt-get install dataset-fashion-mnist`" if name == "fashion_mnist" and path is None
           else "set path to the folder holding the idx files")
    if not folder.is_dir():
        raise DataFileNotFoundError(f"{name}: folder {folder} does not exist; {how}")
    files = {}
    for split, split_names in (("train", ("train",)), ("test", ("t10k", "test"))):
        for what, rank in (("images", 3), ("labels", 1)):
            found = _find(folder, prefix, split_names, what, rank)
            if found is None:
                raise DataFileNotFoundError(f"{name}: no {prefix}{split_names[0]}-{what}-idx{rank}-ubyte[.gz] in "
                                            f"{folder}; {how}")
            files[split, what] = found
    if transpose is None:
        transpose = "emnist" in prefix.lower()
    arrays = {}
    for split in ("train", "test"):
        images = read_idx(files[split, "images"])
        labels = read_idx(files[split, "labels"])
        if images.ndim != 3:
            raise DataFormatError(f"{files[split, 'images']}: expected 3-D images (n, rows, cols), got shape "
                                  f"{images.shape}")
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise DataFormatError(f"{files[split, 'labels']}: {labels.shape[0] if labels.ndim else 0} labels for "
                                  f"{images.shape[0]} images in {files[split, 'images'].name}")
        if transpose:
            images = images.transpose(0, 2, 1)
        x = images.astype(np.float32)
        if images.dtype == np.uint8:
            x /= np.float32(255.0)
        arrays[split] = (np.ascontiguousarray(x[:, None, :, :]), labels.astype(np.int64))
    y_all_max = int(max(arrays["train"][1].max(initial=0), arrays["test"][1].max(initial=0)))
    if min(arrays["train"][1].min(initial=0), arrays["test"][1].min(initial=0)) < 0:
        raise DataFormatError(f"{files['train', 'labels']}: negative labels")
    return FederatedDataset(name=name, x_train=arrays["train"][0], y_train=arrays["train"][1],
                            x_test=arrays["test"][0], y_test=arrays["test"][1], n_classes=y_all_max + 1)
