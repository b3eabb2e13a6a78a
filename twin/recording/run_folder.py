"""Writing and checking run folders. Writes are atomic: everything goes into a hidden temporary folder beside the
target, which is renamed into place only when complete, so a crash never leaves a half folder that looks whole.

A run folder is complete when it holds every file of :data:`RUN_FILES` and ``summary.json`` parses.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

RUN_FILES = ("timeline.parquet", "rounds.parquet", "samples.parquet", "clients.parquet", "scenario.resolved.yaml",
             "summary.json")


LOG_FILE = "run.log"  # always written; not part of RUN_FILES so run folders of older versions stay complete


class RunFolderExists(FileExistsError):
    pass


def check_target(out_dir: Path, *, overwrite: bool) -> None:
    """Refuse to write over an existing non-empty folder unless ``overwrite``; refuse a file in the way always."""
    if out_dir.exists() and not out_dir.is_dir():
        raise RunFolderExists(f"{out_dir}: exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise RunFolderExists(f"{out_dir}: folder exists and is not empty (use --overwrite to replace it)")


def write_run_folder(out_dir: Path, tables: Mapping[str, pd.DataFrame], resolved_yaml: str,
                     summary: Mapping[str, Any], *, overwrite: bool = False, log: str = "") -> Path:
    """Write the run folder atomically. ``tables`` maps 'timeline' / 'rounds' / 'samples' to DataFrames; ``log`` is
    the run's log (``run.log``, written in every run folder, empty when nothing was logged)."""
    out_dir = Path(out_dir)
    check_target(out_dir, overwrite=overwrite)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        for name, df in tables.items():
            df.to_parquet(tmp / f"{name}.parquet", index=False)
        (tmp / "scenario.resolved.yaml").write_text(resolved_yaml, encoding="utf-8")
        (tmp / LOG_FILE).write_text(log, encoding="utf-8")
        # summary.json last: its presence marks the folder complete.
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, default=_json_default) + "\n",
                                          encoding="utf-8")
        _fsync_dir(tmp)
        if out_dir.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
            os.rename(out_dir, trash / "old")
            os.rename(tmp, out_dir)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def is_complete(run_dir: Path) -> bool:
    run_dir = Path(run_dir)
    if not all((run_dir / f).is_file() for f in RUN_FILES):
        return False
    try:
        json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def _fsync_dir(path: Path) -> None:
    for f in path.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")
