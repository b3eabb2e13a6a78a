"""numba's cache for twin's kernels: keyed by the kernel modules' sources, so a change in a kernel that another one
compiles into itself cannot leave a stale copy behind (twin/compiled.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from twin import compiled

pytestmark = pytest.mark.skipif(not compiled.AVAILABLE, reason="needs numba")


def test_every_module_with_a_kernel_is_in_the_digest():
    found = {p.relative_to(compiled.PACKAGE).as_posix() for p in compiled.PACKAGE.rglob("*.py")
             if "@njit(" in p.read_text() and p.name != "compiled.py"}
    assert found == set(compiled.KERNEL_MODULES)


def test_the_cache_folder_changes_with_any_kernel_source(tmp_path):
    for name in compiled.KERNEL_MODULES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(compiled.PACKAGE / name, tmp_path / name)
    first = compiled.kernel_digest(tmp_path)
    assert first == compiled.kernel_digest()
    star = tmp_path / "net" / "star.py"  # a kernel that completion.complete compiles into itself
    star.write_text(star.read_text() + "\n# changed\n")
    assert compiled.kernel_digest(tmp_path) != first


def _numba_cache_dir(env: dict) -> str:
    code = "import twin.net.filling, numba.core.config as c; print(c.CACHE_DIR)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_numba_uses_the_keyed_folder_unless_told_otherwise(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    assert _numba_cache_dir(env) == str(tmp_path / "xdg" / "twin" / "numba" / compiled.kernel_digest())
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "mine")
    assert _numba_cache_dir(env) == str(tmp_path / "mine")
