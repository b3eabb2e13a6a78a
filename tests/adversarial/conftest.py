"""Helpers of the hostile-input suite: run the CLI in a subprocess under a memory cap and a timeout."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MEMORY_CAP = int(1.5 * 2**30)  # address space: python + torch import need ~1 GB of it, the bound is 1 GB RSS
TIME_CAP_S = 10.0


@dataclass
class Result:
    rc: int
    out: str
    err: str
    wall_s: float

    @property
    def one_line(self) -> bool:
        """Exactly one line on stderr (the refusal), nothing else."""
        return self.err.count("\n") == 1 and self.err.endswith("\n") and self.err.startswith("error: ")


def _cap() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def cli(*args: str, cwd: Path | None = None, timeout: float = TIME_CAP_S, stdin: str | None = None,
        env: dict | None = None, cap_memory: bool = True) -> Result:
    """``python -m twin.<args>`` under RLIMIT_AS = 1.5 GB and a wall-clock cap; fails the test on a timeout."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", *args], cwd=cwd or ROOT, capture_output=True, text=True,
                              timeout=timeout, input=stdin, env=full_env, preexec_fn=_cap if cap_memory else None)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(args)}: still running after {timeout} s")
    return Result(proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - t0)


def refused(*args: str, match: str = "", **kw) -> Result:
    """Run a CLI that must refuse its input: exit 2, exactly one line on stderr naming ``match``."""
    r = cli(*args, **kw)
    assert r.rc == 2, f"exit {r.rc}, stderr: {r.err[-2000:]}"
    assert r.one_line, f"not one line: {r.err!r}"
    assert match in r.err, r.err
    assert "Traceback" not in r.err
    return r
