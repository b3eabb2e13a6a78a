"""Every code block of README.md and docs/*.md runs, in the order a reader meets it, so the docs stay true.

Per document, in a fresh folder (with ``scenarios/`` linked from the repository): ``yaml`` blocks are parsed and
validated (a sweep file with ``load_sweep`` + ``make_plan``, anything else as a scenario; a block whose first line is
``# NAME.yaml`` is also written to NAME.yaml for the commands after it), ``bash`` blocks run line by line, ``python``
blocks run in one namespace per document. Blocks without a language are output or diagrams, not code.

A block that cannot run here says so where the reader sees it: its first line is ``# docs-test: skip - REASON`` (a
line of a ``bash`` block may end with it). ``pip install`` commands are not run (``test_readme.py`` holds them to
``.ci/run``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
SKIP = "docs-test: skip"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def blocks(doc: str) -> list[tuple[int, str, str]]:
    """(line, language, body) of every fenced block of ``doc``."""
    text = (ROOT / doc).read_text(encoding="utf-8")
    return [(text[: m.start()].count("\n") + 1, m.group(1), m.group(2)) for m in BLOCK.finditer(text)]


def _yaml(body: str, where: str, cwd: Path) -> None:
    from twin.scenario.loading import validate
    from twin.sweeps import load_sweep, make_plan

    first = body.splitlines()[0].strip()
    data = yaml.safe_load(body)
    assert isinstance(data, dict), f"{where}: not a YAML mapping"
    shown = re.match(r"#\s*([\w./-]+\.ya?ml)\b", first)
    if shown and (ROOT / shown.group(1)).is_file():  # a file of the repository, shown: it must be that file
        assert yaml.safe_load((ROOT / shown.group(1)).read_text(encoding="utf-8")) == data, \
            f"{where}: differs from {shown.group(1)}"
        if "grid" in data or "zip" in data:
            make_plan(load_sweep(ROOT / shown.group(1)))
        return
    m = re.fullmatch(r"#\s*([\w.-]+\.ya?ml)", first)
    if m:
        (cwd / m.group(1)).write_text(body, encoding="utf-8")
    if "grid" in data or "zip" in data or "base" in data:
        # a sweep file shown on its own sits where the repository keeps them: scenarios/sweeps/, base ../NAME.yaml
        layout = cwd / ".layout"
        if not layout.exists():
            (layout / "sweeps").mkdir(parents=True)
            for scenario in (ROOT / "scenarios").glob("*.yaml"):
                (layout / scenario.name).symlink_to(scenario)
        path = cwd / m.group(1) if m else layout / "sweeps" / "block.yaml"
        path.write_text(body, encoding="utf-8")
        make_plan(load_sweep(path))
    else:
        validate(data, where)


def _bash(body: str, where: str, cwd: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
           "OMP_NUM_THREADS": "1"}
    for line in body.splitlines():
        command = line.strip()
        if not command or command.startswith("#") or SKIP in command or "pip install" in command:
            continue
        command = command.replace("python -m", f"{sys.executable} -m", 1) if command.startswith("python ") else command
        done = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"{where}: {line}\n{done.stderr[-2000:]}"


@pytest.mark.parametrize("doc", DOCS)
def test_every_block_runs(doc, tmp_path, monkeypatch):
    found = blocks(doc)
    (tmp_path / "scenarios").symlink_to(ROOT / "scenarios")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    for line, language, body in found:
        where = f"{doc}:{line}"
        if language not in ("python", "bash", "yaml") or body.lstrip().startswith(f"# {SKIP}"):
            continue
        if language == "yaml":
            _yaml(body, where, tmp_path)
        elif language == "bash":
            _bash(body, where, tmp_path)
        else:
            exec(compile(body, where, "exec"), namespace)  # noqa: S102 - the documentation's own examples


def test_skip_markers_say_why():
    """A skipped block is visible to the reader and gives its reason."""
    for doc in DOCS:
        for line, _, body in blocks(doc):
            for text in body.splitlines():
                if SKIP in text:
                    assert re.search(r"docs-test: skip - \S.{5,}", text), f"{doc}:{line}: a skip needs a reason"


def test_docs_stand_alone():
    """User docs never point outside the repository (the project's shared notes are not shipped)."""
    for doc in DOCS:
        text = (ROOT / doc).read_text(encoding="utf-8")
        assert not re.search(r"(\.\./)?shared/(reference|DESIGN)", text), f"{doc} points outside the repository"
