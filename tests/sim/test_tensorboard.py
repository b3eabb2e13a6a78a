"""output.tensorboard: the rounds' scalars as a TensorBoard event file in the run folder."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from twin.run import main


def test_off_by_default_and_absent_from_the_resolved_scenario(tmp_path):
    assert main(["wired_star", "--out", str(tmp_path / "r"), "--quiet"]) == 0
    assert not list((tmp_path / "r").glob("events.out.tfevents.*"))
    assert "tensorboard" not in (tmp_path / "r" / "scenario.resolved.yaml").read_text()


def test_event_file_holds_every_round(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "r"
    assert main(["quickstart", "--out", str(out), "--quiet", "--set", "output.tensorboard=true"]) == 0
    events = list(out.glob("events.out.tfevents.*"))
    assert len(events) == 1
    manifest = json.loads((out / "manifest.json").read_text())
    assert events[0].name in manifest["files"]  # part of the verified run folder
    rounds = pd.read_parquet(out / "rounds.parquet")
    acc = EventAccumulator(str(out))
    acc.Reload()
    scalars = acc.Scalars("fl/accuracy")
    assert [s.step for s in scalars] == rounds["round"].tolist()
    assert [s.value for s in scalars] == pytest.approx(rounds["accuracy"].tolist(), rel=1e-6)
    # the wall time of each point is the round's end in simulated seconds
    assert [s.wall_time for s in scalars] == pytest.approx(rounds["t_end"].tolist(), rel=1e-9)
    assert [s.value for s in acc.Scalars("bytes/up")] == pytest.approx(rounds["bytes_up"].tolist())


def test_missing_package_is_one_line(tmp_path, monkeypatch, capsys):
    import builtins

    real = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    assert main(["wired_star", "--out", str(tmp_path / "r"), "--set", "output.tensorboard=true"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "output.tensorboard" in err[0] and "twin[tensorboard]" in err[0]
    assert not (tmp_path / "r").exists()
