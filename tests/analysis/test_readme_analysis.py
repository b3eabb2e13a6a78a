"""The README's "Analysing runs" section stays true: its sweep file is the one the tests build, and its Python block
runs on that sweep."""

import pathlib
import re
import shutil

import yaml

README = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()
SECTION = README.split("## Analysing runs", 1)[1].split("\n## ", 1)[0]


def test_the_sweep_file_is_the_fixture(study_settings):
    schedules, fixed = study_settings
    sweep = yaml.safe_load(re.search(r"```yaml\n(.*?)```", SECTION, re.S).group(1))
    assert sweep["base"] == "quickstart" and sweep["seeds"] == [1, 2]
    assert sweep["grid"]["fl.schedule"] == [yaml.safe_load(s) for s in schedules]
    assert [f"{k}={v}" for k, v in sweep["set"].items()] == fixed[1::2]


def test_python_block_runs(study_sweep, tmp_path, monkeypatch, capsys):
    shutil.copytree(study_sweep, tmp_path / "sweeps" / "qs")
    monkeypatch.chdir(tmp_path)
    snippet = re.search(r"```python\n(.*?)```", SECTION, re.S).group(1)
    exec(compile(snippet, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "fewer bytes than constant" in out and "reciprocal" in out
    assert (tmp_path / "accuracy_per_round.png").stat().st_size > 10_000
