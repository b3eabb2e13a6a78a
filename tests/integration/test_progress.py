"""Progress a researcher sees: a log line per round as it happens (stderr when it is not a terminal, always run.log),
a progress bar in a terminal that ends at the stop round, --log-level."""

import logging
import re
import subprocess
import sys

from twin.logs import Console
from twin.run import main, run_scenario
from twin.scenario.loading import load_scenario
from twin.sim.runlog import round_line

LINE = re.compile(r"^round (\d+)/(\d+) t=[0-9.]+s selected=\d+ completed=\d+ dropped=\d+( \([a-z_]+ \d+(, [a-z_]+ \d+)*\))?"
                  r" acc=(-|[0-9.]+) loss=(-|[0-9.]+) bytes=[0-9.]+[kMGT]?B$")


def test_round_line_form():
    row = {"t_end": 12.5, "n_selected": 10, "n_completed": 7, "n_dropped": 3, "accuracy": float("nan"),
           "loss": float("nan"), "bytes_down": 1e6, "bytes_up": 5e5}
    line = round_line(4, 30, row, {"deadline": 1, "coverage": 2})
    assert line == "round 4/30 t=12.500s selected=10 completed=7 dropped=3 (coverage 2, deadline 1) acc=- loss=- bytes=1.5MB"
    assert LINE.match(line)


def test_async_step_line_form():
    """An asynchronous run logs server steps, with their mean staleness, not rounds."""
    row = {"t_end": 3.25, "n_selected": 12, "n_completed": 10, "n_dropped": 0, "bytes_down": 1e6, "bytes_up": 5e5,
           "accuracy": 0.5, "loss": 1.25, "staleness_mean": 1.5}
    line = round_line(7, 200, row, {}, unit="step")
    assert line == "step 7/200 t=3.250s selected=12 completed=10 dropped=0 staleness=1.50 acc=0.5000 loss=1.2500 bytes=1.5MB"


def test_line_reaches_stderr_before_the_round_ends(tmp_path, capsys):
    """Not a TTY (pytest captures stderr): each round's line is on stderr before the run goes on."""
    config = load_scenario("quickstart", ["fl.rounds=3", "fl.train=false"])
    seen = []
    with Console(name=config.name, total_rounds=3, tty=False) as console:
        def on_round(round_, row):
            console.on_round(round_, row)
            seen.append(capsys.readouterr().err)

        run_scenario(config, tmp_path / "r", base_dir=tmp_path, on_round=on_round)
    for i, err in enumerate(seen, start=1):
        lines = [ln for ln in err.splitlines() if ln.startswith("round ")]
        assert len(lines) == 1 and lines[0].startswith(f"round {i}/3 ") and LINE.match(lines[0]), err
    log = (tmp_path / "r" / "run.log").read_text()
    assert [int(m) for m in re.findall(r"INFO twin.run: round (\d+)/3 ", log)] == [1, 2, 3]


def test_redirected_run_shows_every_round(tmp_path):
    out = tmp_path / "r"
    proc = subprocess.run([sys.executable, "-m", "twin.run", "quickstart", "--out", str(out)], capture_output=True,
                          text=True, check=True)
    rounds = [ln for ln in proc.stderr.splitlines() if ln.startswith("round ")]
    assert len(rounds) == 12 and all(LINE.match(ln) for ln in rounds)  # stops at 12 of 30 (target accuracy)
    assert rounds[-1].startswith("round 12/30 ")
    assert "round 12/30" in (out / "run.log").read_text()


def test_log_level_warning_hides_round_lines(tmp_path, capsys):
    assert main(["quickstart", "--out", str(tmp_path / "r"), "--log-level", "warning", "--set", "fl.rounds=2"]) == 0
    assert "round 1/" not in capsys.readouterr().err
    assert "round " not in (tmp_path / "r" / "run.log").read_text()


def test_bar_ends_at_the_stop_round(capsys):
    with Console(name="x", total_rounds=30, tty=True) as console:
        for r in range(1, 13):
            console.on_round(r, {"t_end": r * 0.1, "accuracy": 0.5})
        bar = console.bar
    assert bar.n == bar.total == 12
    err = capsys.readouterr().err
    assert "12/12" in err and "acc=0.5000" in err and "sim_t=1.2s" in err
    assert logging.getLogger("twin").handlers == []
