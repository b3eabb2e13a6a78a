"""The manifest of a run folder: every file with its size and sha256, written last (after summary.json), so that a
reader can tell a folder exactly as the run left it from one damaged afterwards (a page overwritten, a file truncated
or replaced).

``manifest.json``: ``{"version": 1, "algorithm": "sha256", "files": {name: {"size": bytes, "sha256": hex}}}``.
:func:`verify_manifest` re-hashes every listed file; run folders written before manifests existed have none and are
reported as unverified (the analysis accepts them with a warning, see docs/reliability.md).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

MANIFEST = "manifest.json"
VERSION = 1
_CHUNK = 1 << 20


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(folder: Path) -> Path:
    """List every regular file now in ``folder`` (the manifest itself excepted) into ``folder/manifest.json``."""
    folder = Path(folder)
    files = {p.name: {"size": p.stat().st_size, "sha256": file_digest(p)}
             for p in sorted(folder.iterdir()) if p.is_file() and p.name != MANIFEST}
    path = folder / MANIFEST
    path.write_text(json.dumps({"version": VERSION, "algorithm": "sha256", "files": files}, indent=1) + "\n",
                    encoding="utf-8")
    return path


def verify_manifest(folder: Path, required: tuple[str, ...] = ()) -> str | None:
    """``None`` when ``folder`` has no manifest (an older run folder); ``""`` when every listed file is there with its
    size and checksum and every ``required`` file is listed; otherwise one line saying what is damaged."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        files = doc["files"]
        if doc.get("version") != VERSION or not isinstance(files, dict):
            raise ValueError(f"unknown manifest version {doc.get('version')!r}")
        entries = {str(k): (int(v["size"]), str(v["sha256"])) for k, v in files.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        return f"{MANIFEST} unreadable ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
    unlisted = [name for name in required if name not in entries]
    if unlisted:
        return f"{', '.join(unlisted)} not in {MANIFEST}"
    for name, (size, digest) in entries.items():
        if "/" in name or name in ("", ".", ".."):
            return f"{MANIFEST} lists {name!r}, not a file of the folder"
        target = Path(folder) / name
        try:
            if not target.is_file():
                return f"{name} listed in {MANIFEST} but missing"
            if target.stat().st_size != size:
                return f"{name} has {target.stat().st_size} bytes, {MANIFEST} says {size} (damaged after the run)"
            if file_digest(target) != digest:
                return f"{name} checksum differs from {MANIFEST} (damaged after the run)"
        except OSError as exc:
            return f"{name} unreadable ({exc.strerror})"
    return ""
