"""LEAF-format JSON (FEMNIST and friends): per-writer data, hence a natural client partition.

One LEAF file is ``{"users": [id, ...], "num_samples": [n, ...], "user_data": {id: {"x": [[...], ...], "y": [...]}}}``.
LEAF writes a folder ``train/`` and a folder ``test/`` of such files (``all_data_0_niid_0_keep_0_train_9.json`` ...).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from twin.fl.data.base import FederatedDataset
from twin.fl.errors import DataFileNotFoundError, DataFormatError, FLConfigError, check_fraction

_HOW = "point path at a LEAF data folder (with train/ and test/ sub-folders of .json files) or at one .json file"


def _json_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix == ".json" and p.is_file())


def read_leaf_file(path: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Read one LEAF JSON file into ``[(user, x float32 (n, F), y int64 (n,)), ...]`` in the file's user order.

    Raises DataFormatError naming the file and user when the counts or the structure do not match.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise DataFormatError(f"{path}: JSON nested too deeply for a LEAF file") from None
    except (UnicodeDecodeError, ValueError) as exc:  # not UTF-8, or a number Python will not parse
        raise DataFormatError(f"{path}: not valid JSON ({str(exc).splitlines()[0]})") from None
    except OSError as exc:
        raise DataFileNotFoundError(f"{path}: cannot read LEAF file ({exc.strerror}); {_HOW}") from None
    if not isinstance(doc, dict):
        raise DataFormatError(f"{path}: a LEAF file must be a JSON object with users, num_samples and user_data")
    for key in ("users", "num_samples", "user_data"):
        if key not in doc:
            raise DataFormatError(f"{path}: missing key {key!r}; a LEAF file has users, num_samples and user_data")
    users, counts, data = doc["users"], doc["num_samples"], doc["user_data"]
    if not isinstance(users, list) or not isinstance(counts, list) or not isinstance(data, dict):
        raise DataFormatError(f"{path}: users and num_samples must be lists and user_data an object")
    if len(users) != len(counts):
        raise DataFormatError(f"{path}: {len(users)} users but {len(counts)} num_samples entries; "
                              "the two lists must have one entry per user")
    out = []
    for user, count in zip(users, counts, strict=True):
        key = str(user)
        if key not in data:
            raise DataFormatError(f"{path}: user {key!r} is listed in users but has no entry in user_data")
        entry = data[key]
        if not isinstance(entry, dict) or "x" not in entry or "y" not in entry:
            raise DataFormatError(f"{path}: user_data[{key!r}] must be an object with 'x' and 'y' lists")
        n_x, n_y = len(entry["x"]), len(entry["y"])
        if not (n_x == n_y == count):
            raise DataFormatError(f"{path}: user {key!r}: num_samples says {count} but user_data has {n_x} x and "
                                  f"{n_y} y entries; fix the file so the three counts agree")
        try:
            x = np.asarray(entry["x"], dtype=np.float32)
            y = np.asarray(entry["y"], dtype=np.int64)
        except (ValueError, TypeError):
            raise DataFormatError(f"{path}: user {key!r}: x must be a list of equal-length number lists and y a "
                                  "list of integer labels") from None
        if count and x.ndim != 2:
            raise DataFormatError(f"{path}: user {key!r}: x must be a list of equal-length number lists, got shape "
                                  f"{x.shape}")
        out.append((key, x.reshape(count, -1) if count else x.reshape(0, 0), y.reshape(-1)))
    return out


def _read_split(files: list[Path]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    users: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for path in files:
        for user, x, y in read_leaf_file(path):
            if user in users:
                raise DataFormatError(f"{path}: user {user!r} appears in more than one file of the same split")
            users[user] = (x, y)
    return users


def _sample_shape(n_features: int) -> tuple[int, ...]:
    side = int(round(n_features ** 0.5))
    return (1, side, side) if side * side == n_features else (n_features,)


def load_leaf_dataset(*, path: str | Path, name: str = "femnist", only_digits: bool = False, min_samples: int = 1,
                      test_fraction: float = 0.1, invert: bool = False, seed: int = 0) -> FederatedDataset:
    """Load LEAF JSON data with its natural per-writer partition of the train rows.

    ``path`` is a folder with ``train/`` and ``test/`` sub-folders (the test files are pooled into one test set, as the
    study did), a folder of .json files, or one .json file; without a test folder each writer's samples are split, a
    ``test_fraction`` of them (chosen by ``seed``) going to the pooled test set. ``only_digits`` keeps labels 0-9 (the
    study's FEMNIST digits); writers with fewer than ``min_samples`` train samples are dropped. ``invert`` maps x to
    1 - x. Samples of 784 values get shape (1, 28, 28); other square sizes likewise, the rest stay flat.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise DataFileNotFoundError(f"{name}: {root} does not exist; {_HOW}")
    if root.is_file():
        train_files, test_files = [root], []
    elif (root / "train").is_dir():
        train_files = _json_files(root / "train")
        test_files = _json_files(root / "test") if (root / "test").is_dir() else []
    else:
        train_files, test_files = _json_files(root), []
    if not train_files:
        raise DataFileNotFoundError(f"{name}: no .json files in {root / 'train' if (root / 'train').is_dir() else root}; "
                                    f"{_HOW}")
    if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 0:
        raise FLConfigError(f"min_samples must be a non-negative integer, got {min_samples!r}")
    test_fraction = check_fraction("test_fraction", test_fraction)
    train = _read_split(train_files)
    test = _read_split(test_files) if test_files else {}

    rng = np.random.default_rng(seed)
    widths = {x.shape[1] for x, _ in list(train.values()) + list(test.values()) if x.shape[0]}
    if len(widths) > 1:
        raise DataFormatError(f"{name}: samples of different lengths {sorted(widths)} in {root}")
    if not widths:
        raise DataFormatError(f"{name}: {root} holds no samples")
    n_features = widths.pop()

    def keep(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if only_digits:
            mask = (y >= 0) & (y < 10)
            return x[mask], y[mask]
        return x, y

    names, xs, ys, test_x, test_y = [], [], [], [], []
    for user, (x, y) in train.items():
        x, y = keep(x, y)
        if not test_files and len(y):
            order = rng.permutation(len(y))
            n_test = int(round(test_fraction * len(y)))
            test_x.append(x[order[:n_test]])
            test_y.append(y[order[:n_test]])
            x, y = x[np.sort(order[n_test:])], y[np.sort(order[n_test:])]
        if len(y) < max(min_samples, 1):
            continue
        names.append(user)
        xs.append(x)
        ys.append(y)
    for x, y in test.values():
        x, y = keep(x, y)
        test_x.append(x)
        test_y.append(y)
    if not names:
        raise DataFormatError(f"{name}: no writer in {root} has at least {max(min_samples, 1)} train samples")
    sizes = np.array([len(y) for y in ys], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    shape = _sample_shape(n_features)
    x_train = np.concatenate(xs).reshape((-1, *shape))
    y_train = np.concatenate(ys)
    x_test = (np.concatenate(test_x) if test_x else np.zeros((0, n_features), np.float32)).reshape((-1, *shape))
    y_test = np.concatenate(test_y) if test_y else np.zeros(0, np.int64)
    if invert:
        x_train = 1.0 - x_train
        x_test = 1.0 - x_test
    if y_train.min() < 0 or (len(y_test) and y_test.min() < 0):
        raise DataFormatError(f"{name}: negative labels in {root}")
    n_classes = 10 if only_digits else int(max(y_train.max(), y_test.max(initial=0)) + 1)
    clients = [np.arange(s, s + n, dtype=np.int64) for s, n in zip(starts, sizes, strict=True)]
    return FederatedDataset(name=name, x_train=np.ascontiguousarray(x_train, dtype=np.float32), y_train=y_train,
                            x_test=np.ascontiguousarray(x_test, dtype=np.float32), y_test=y_test,
                            n_classes=n_classes, client_indices=clients, client_names=names)
