"""twin.report: a self-contained HTML file (images embedded, nothing fetched) for a run and for a sweep."""

import re

from twin.analysis import write_report
from twin.report import main


def _external(html: str) -> list[str]:
    return re.findall(r"(?:src|href)=\"(?!data:)[^\"]+\"", html) + re.findall(r"url\((?!data:)[^)]+\)", html)


def test_run_report(radio_run, tmp_path):
    out = write_report(radio_run, tmp_path / "run.html")
    html = out.read_text()
    assert html.count("data:image/png;base64,") >= 4  # gantt, link_load, cell_load, map, clients per round
    assert "Resolved scenario" in html and "radio:" in html and "simulated time" in html
    assert "accuracy_vs_time" in html and "record none" in html  # not drawn, and says why
    assert not _external(html)


def test_sweep_report_cli(study_sweep, capsys):
    assert main([str(study_sweep)]) == 0
    out = study_sweep / "report.html"
    assert capsys.readouterr().out.strip() == str(out)
    html = out.read_text()
    assert "CHOSEN" in html and "Criterion: least bytes" in html and "class=\"chosen\"" in html
    assert html.count("data:image/png;base64,") >= 5
    for run_id in ("000-", "005-"):
        assert run_id in html
    assert not _external(html)


def test_report_bad_input(tmp_path, capsys):
    assert main([str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
