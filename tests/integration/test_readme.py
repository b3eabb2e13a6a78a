"""The README's examples stay true: its pandas snippet runs on a real run folder, its commands match .ci/run."""

import pathlib
import re

from twin.run import main

ROOT = pathlib.Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_readme_starts_with_the_two_commands_and_ci_runs_the_second():
    block = re.search(r"```bash\n(.*?)```", README, re.S).group(1).strip().splitlines()
    assert len(block) == 2
    assert "python -m twin.run" in block[0]
    assert block[1].endswith("python -m pytest")
    ci = (ROOT / ".ci" / "run").read_text()
    install, test = block[1].split(" && ")
    assert install in ci and f"{test} 2>&1" in ci


def test_pandas_snippet_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["wired_star", "--out", "runs/ws", "--quiet"]) == 0
    snippet = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    exec(compile(snippet, "README.md", "exec"), {})
    assert "duration_s" in capsys.readouterr().out
