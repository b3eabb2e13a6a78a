"""Writing and checking run folders. Writes are atomic: everything goes into a hidden temporary folder beside the
target, which is renamed into place only when complete, so a crash never leaves a half folder that looks whole. The
target is claimed (checked and locked, :mod:`twin.recording.target`) before the run starts; when writing still fails
after the run, :func:`save_elsewhere` keeps the results in a fallback folder.

A run folder is complete when it holds every file of :data:`RUN_FILES` and ``summary.json`` parses; its
``manifest.json`` (:mod:`twin.recording.manifest`, written last) lists every file with its size and sha256.
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

from twin.recording.manifest import write_manifest
from twin.recording.target import Claim, RunFolderExists, check_target, claim  # noqa: F401 - re-exported

RUN_FILES = ("timeline.parquet", "rounds.parquet", "samples.parquet", "clients.parquet", "scenario.resolved.yaml",
             "summary.json")


LOG_FILE = "run.log"  # always written; not part of RUN_FILES so run folders of older versions stay complete


class RunNotWritten(OSError):
    """The run finished but its folder could not be written. ``str(error)`` is one line: why, and where the results
    went instead (``saved_to``, or None when the fallback failed too)."""

    def __init__(self, message: str, saved_to: Path | None):
        super().__init__(message)
        self.saved_to = saved_to


def write_or_save(target: Claim, tables: Mapping[str, pd.DataFrame], resolved_yaml: str,
                  summary: Mapping[str, Any], *, log: str = "", files: Mapping[str, bytes] | None = None) -> Path:
    """:func:`write_run_folder` into a claim; on failure save the results to a fallback folder and raise
    :class:`RunNotWritten` naming it."""
    try:
        return write_run_folder(target.out, tables, resolved_yaml, summary, target=target, log=log, files=files)
    except OSError as exc:
        why = exc.strerror or str(exc)
        saved = save_elsewhere(target.out.name, tables, resolved_yaml, summary, log=log, files=files)
        where = f"the results were saved to {saved}" if saved else "saving them elsewhere failed too; they are lost"
        raise RunNotWritten(f"{target.out}: the run finished but its folder could not be written ({why}); {where}",
                            saved) from exc


def write_run_folder(out_dir: Path, tables: Mapping[str, pd.DataFrame], resolved_yaml: str,
                     summary: Mapping[str, Any], *, overwrite: bool = False, target: Claim | None = None,
                     log: str = "", files: Mapping[str, bytes] | None = None) -> Path:
    """Write the run folder atomically. ``tables`` maps 'timeline' / 'rounds' / 'samples' to DataFrames; ``log`` is
    the run's log (``run.log``, written in every run folder, empty when nothing was logged); ``files`` more files by
    name (e.g. the TensorBoard event file of ``output.tensorboard``).

    ``target``: the :class:`~twin.recording.target.Claim` taken before the run (``twin.run`` claims the folder before
    simulating); without one, the folder is claimed here.
    """
    if target is None:
        with claim(Path(out_dir), overwrite=overwrite) as own:
            return write_run_folder(out_dir, tables, resolved_yaml, summary, target=own, log=log, files=files)
    assert target.tmp is not None, "the claim was released"
    write_files(target.tmp, tables, resolved_yaml, summary, log=log, files=files)
    write_manifest(target.tmp)  # last: over every file there (tables, summary, and whatever else the run wrote)
    return target.commit()


def write_files(folder: Path, tables: Mapping[str, pd.DataFrame], resolved_yaml: str,
                summary: Mapping[str, Any], *, log: str = "", files: Mapping[str, bytes] | None = None) -> None:
    """The files of a run folder, into ``folder`` (which exists): tables, resolved scenario, run.log, extra ``files``
    (plain names only), summary.json last."""
    for name, df in tables.items():
        df.to_parquet(folder / f"{name}.parquet", index=False)
    (folder / "scenario.resolved.yaml").write_text(resolved_yaml, encoding="utf-8")
    (folder / LOG_FILE).write_text(log, encoding="utf-8")
    for name, data in (files or {}).items():
        if Path(name).name != name or name.startswith("."):
            raise ValueError(f"run-folder file names are plain names, got {name!r}")
        (folder / name).write_bytes(data)
    # summary.json last: its presence marks the folder complete.
    (folder / "summary.json").write_text(json.dumps(summary, indent=2, default=_json_default) + "\n",
                                         encoding="utf-8")


def save_elsewhere(name: str, tables: Mapping[str, pd.DataFrame], resolved_yaml: str,
                   summary: Mapping[str, Any], *, log: str = "", files: Mapping[str, bytes] | None = None
                   ) -> Path | None:
    """Write a run whose folder could not be written into a fallback folder; its path, or None if that failed too.

    Tried in order: ``$TWIN_FALLBACK_DIR``, ``~/.cache/twin/unsaved``, the system's temporary folder.
    """
    candidates = [os.environ.get("TWIN_FALLBACK_DIR"), Path.home() / ".cache" / "twin" / "unsaved",
                  tempfile.gettempdir()]
    for base in candidates:
        if not base:
            continue
        try:
            Path(base).mkdir(parents=True, exist_ok=True)
            folder = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=base))
        except OSError:
            continue
        try:
            write_files(folder, tables, resolved_yaml, summary, log=log, files=files)
            write_manifest(folder)
            return folder
        except OSError:
            shutil.rmtree(folder, ignore_errors=True)
    return None


def is_complete(run_dir: Path) -> bool:
    run_dir = Path(run_dir)
    if not all((run_dir / f).is_file() for f in RUN_FILES):
        return False
    try:
        json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")
