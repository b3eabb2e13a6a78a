"""Claiming the folder a run will write, before the run: no finished run is ever lost or silently replaced.

:func:`check_target` is the cheap check the CLI makes first; :func:`claim` (``with claim(out, ...) as c:``) makes it
real before the simulation starts:

* the target's parent is created if missing and must be a writable folder: a temporary folder
  ``.<name>.tmp-<pid>-<random>`` is created there at once, so EACCES / EROFS / "parent is a file" are found before the
  simulation, not after it; the free space on that file system must exceed the run's estimated output size;
* an exclusive ``flock`` on ``.<name>.lock`` beside the target is held for the whole run: a second run into the same
  folder is refused (one line) before it simulates. The lock dies with its process, so a stale one never blocks a run;
* ``overwrite`` replaces only an empty folder or a twin run folder (one holding ``summary.json``, or only files a run
  writes); anything else,
  the working directory (or a folder holding it) and a mount point are refused;
* :meth:`Claim.commit` checks the lock and the target again and renames the temporary folder into place;
* the temporary (``.tmp-``) and trash (``.old-``) folders of processes that are no longer alive are deleted by the
  next claim in the same parent.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import secrets
import shutil
from pathlib import Path

from twin.errors import InputError

MIN_FREE_BYTES = 1 << 20  # never start a run on a file system with less than this free, whatever the estimate
_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.(?:tmp|old)-(?P<pid>\d+)-[0-9a-f]+$")


class RunFolderExists(InputError, FileExistsError):
    """The target folder cannot be claimed: it holds something, another run writes it, it cannot be written."""


_RUN_NAMES = {"summary.json", "scenario.resolved.yaml", "manifest.json", "run.log"}


def run_marker(folder: Path) -> bool:
    """Whether ``folder`` is a twin run folder (the only kind ``overwrite`` may replace): it holds summary.json, or
    only files a run writes (``*.parquet``, scenario.resolved.yaml, manifest.json, run.log: a damaged run)."""
    if (folder / "summary.json").is_file():
        return True
    entries = list(folder.iterdir())
    return bool(entries) and all(p.is_file() and not p.is_symlink() and (p.name in _RUN_NAMES or p.suffix == ".parquet")
                                 for p in entries)


def check_target(out_dir: Path, *, overwrite: bool) -> Path:
    """Refuse a target that a run may not write; return it as an absolute path (``.`` has no name to rename)."""
    out = Path(os.path.abspath(out_dir))
    if out.parent == out:
        raise RunFolderExists(f"{out_dir}: the file system root cannot be a run folder")
    if out.is_symlink() and not out.exists():
        raise RunFolderExists(f"{out_dir}: a dangling symbolic link is in the way")
    if out.exists() and not out.is_dir():
        raise RunFolderExists(f"{out_dir}: exists and is not a folder")
    if out.is_dir():
        if os.path.ismount(out):
            raise RunFolderExists(f"{out_dir}: is a mount point, which cannot be replaced atomically "
                                  "(give a folder inside it)")
        try:
            entries = [p.name for p in out.iterdir()]
        except OSError as exc:
            raise RunFolderExists(f"{out_dir}: cannot list the folder ({exc.strerror})") from None
        if entries and not overwrite:
            raise RunFolderExists(f"{out_dir}: folder exists and is not empty (use --overwrite to replace it)")
        if entries and not run_marker(out):
            raise RunFolderExists(f"{out_dir}: --overwrite replaces only a twin run folder (with summary.json), "
                                  "and this folder is not one; nothing was deleted")
        cwd = Path(os.path.abspath(os.getcwd()))
        if cwd == out or out in cwd.parents:
            raise RunFolderExists(f"{out_dir}: is the working directory (or holds it) and cannot be replaced; "
                                  "give another --out")
    parent = _existing_ancestor(out.parent)
    if not parent.is_dir():
        raise RunFolderExists(f"{out_dir}: cannot create the folder: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise RunFolderExists(f"{out_dir}: cannot create the folder: {parent} is not writable")
    return out


class Claim:
    """The right to write one run folder: a held lock and a temporary folder beside the target."""

    def __init__(self, out: Path, *, overwrite: bool):
        self.out = out
        self.overwrite = overwrite
        self.tmp: Path | None = None
        self._lock_fd: int | None = None
        self._lock_path = out.parent / f".{out.name}.lock"

    def acquire(self, need_bytes: int = 0) -> Claim:
        out = self.out
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunFolderExists(f"{out}: cannot create its parent folder ({_why(exc)})") from None
        self._lock()
        try:
            check_target(out, overwrite=self.overwrite)  # again, now that no other twin run can change it
            clean_leftovers(out.parent)
            self._check_space(need_bytes)
            self.tmp = out.parent / f".{out.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
            try:
                self.tmp.mkdir()
            except OSError as exc:
                self.tmp = None
                raise RunFolderExists(f"{out}: cannot write in {out.parent} ({_why(exc)})") from None
        except BaseException:
            self.release()
            raise
        return self

    def commit(self) -> Path:
        """Move the finished temporary folder into place (replacing an old run folder when ``overwrite``)."""
        assert self.tmp is not None, "commit() without acquire()"
        out = self.out
        if not self._still_locked():
            raise RunFolderExists(f"{out}: the lock {self._lock_path.name} was removed while the run was writing; "
                                  "not replacing the folder")
        check_target(out, overwrite=self.overwrite)
        _fsync(self.tmp)
        if out.exists() and any(out.iterdir()):
            trash = out.parent / f".{out.name}.old-{os.getpid()}-{secrets.token_hex(4)}"
            os.rename(out, trash)
            try:
                os.rename(self.tmp, out)
            except BaseException:
                os.rename(trash, out)  # put the old run back
                raise
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.rename(self.tmp, out)  # onto nothing, or onto an empty folder (rename(2) allows that)
        self.tmp = None
        _fsync_path(out.parent)
        return out

    def release(self) -> None:
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                if self._still_locked():
                    os.unlink(self._lock_path)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    # ------------------------------------------------------------------------------------------------ internals

    def _lock(self) -> None:
        for _ in range(20):  # retry only when the file we locked was unlinked under us by its previous owner
            try:
                fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise RunFolderExists(f"{self.out}: cannot write in {self.out.parent} ({_why(exc)})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _read_pid(fd)
                os.close(fd)
                raise RunFolderExists(f"{self.out}: another run is writing this folder"
                                      f"{f' (pid {holder})' if holder else ''}; wait for it or choose another --out"
                                      ) from None
            self._lock_fd = fd
            if self._still_locked():
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                return
            os.close(fd)
            self._lock_fd = None
        raise RunFolderExists(f"{self.out}: cannot take the lock {self._lock_path.name} (it keeps changing)")

    def _still_locked(self) -> bool:
        if self._lock_fd is None:
            return False
        try:
            return os.fstat(self._lock_fd).st_ino == os.stat(self._lock_path).st_ino
        except OSError:
            return False

    def _check_space(self, need_bytes: int) -> None:
        try:
            free = shutil.disk_usage(self.out.parent).free
        except OSError:
            return
        need = max(int(need_bytes), MIN_FREE_BYTES)
        if free < need:
            raise RunFolderExists(f"{self.out}: not enough free space in {self.out.parent} "
                                  f"({free / 1e6:.1f} MB free, the run needs about {need / 1e6:.1f} MB)")


def claim(out_dir: Path, *, overwrite: bool = False, need_bytes: int = 0) -> Claim:
    """Check and claim ``out_dir`` for one run (see the module doc). Raises :class:`RunFolderExists` (one line)."""
    return Claim(check_target(out_dir, overwrite=overwrite), overwrite=overwrite).acquire(need_bytes)


def clean_leftovers(parent: Path) -> list[Path]:
    """Delete the ``.<name>.tmp-<pid>-*`` / ``.<name>.old-<pid>-*`` folders in ``parent`` whose process is gone."""
    removed = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    for entry in entries:
        m = _LEFTOVER.match(entry.name)
        if m is None or not entry.is_dir(follow_symlinks=False) or _alive(int(m["pid"])):
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(Path(entry.path))
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    except OverflowError:
        return False
    return True


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        if path.is_symlink():
            return path
        path = path.parent
    return path


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        return int(text) if text.isdigit() else None
    except OSError:
        return None


def _why(exc: OSError) -> str:
    return exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))


def _fsync(folder: Path) -> None:
    for f in folder.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    _fsync_path(folder)


def _fsync_path(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
