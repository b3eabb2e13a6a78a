"""Small run folders and sweep folders for the analysis tests, built with ``twin.run`` in-process.

The sweep folders follow twin.sweep's contract (docs/sweeps.md): ``sweep.json``, ``sweep.yaml``, ``runs/<id>/`` and
the index ``runs.parquet``; the index is written here, so these tests do not depend on the sweep runner.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from twin.run import main

QUICK = ["--set", "fl.rounds=8", "--set", "fl.stop.target_accuracy=0.7", "--set", "output.sample_period_s=0.2"]
SCHEDULES = ["{kind: constant, start: 10}", "{kind: linear, start: 10, end: 2}", "{kind: reciprocal, start: 10, end: 2}"]


def _flow(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=math.inf).strip().removesuffix("\n...")


def make_sweep(root: Path, base: str, swept: dict[str, list], seeds: list[int], fixed: list[str],
               pending: int = 0) -> Path:
    """Run the cartesian product of ``swept`` x ``seeds`` into ``root/runs/<id>`` and write the sweep files.
    The last ``pending`` runs are left unrun (status pending), as in a sweep still going."""
    import itertools

    root.mkdir(parents=True)
    keys = list(swept)
    points = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*swept.values())]
    rows = []
    n = len(points) * len(seeds)
    for i, (point, seed) in enumerate(itertools.product(points, seeds)):
        run_id = f"{i:03d}-{abs(hash(_flow(point))) % 10**6:06d}"
        values = {k: yaml.safe_load(v) if isinstance(v, str) else v for k, v in point.items()}
        row = {"run_id": run_id, "path": f"runs/{run_id}", "status": "pending", "hash": f"h{i}", "seed": seed,
               "overrides": _flow({**values, "seed": seed}), **point, "error": ""}
        if i < n - pending:
            sets = [a for k, v in point.items() for a in ("--set", f"{k}={v}")]
            assert main([base, "--quiet", "--seed", str(seed), "--out", str(root / row["path"]), *fixed, *sets]) == 0
            summary = json.loads((root / row["path"] / "summary.json").read_text())
            hit = summary.get("time_to_target") or {}
            row.update(status="ok", rounds=summary["rounds"], stop_reason=summary["stop_reason"],
                       final_accuracy=summary.get("final_accuracy"), best_accuracy=summary.get("best_accuracy"),
                       sim_time_s=summary["sim_time_s"], bytes_down=summary["bytes_down"],
                       bytes_up=summary["bytes_up"], participations=summary["participations"],
                       time_to_target_s=hit.get("sim_time_s"), time_to_target_round=hit.get("round"),
                       wall_s=summary["runtime_s"]["total"])
        rows.append(row)
    pd.DataFrame(rows).to_parquet(root / "runs.parquet", index=False)
    (root / "sweep.json").write_text(json.dumps({"name": root.name, "n_runs": n, "base": base,
                                                 "created": "2025-01-01T00:00:00"}))
    (root / "sweep.yaml").write_text(yaml.safe_dump({"name": root.name, "base": base, "grid": swept, "seeds": seeds}))
    return root


@pytest.fixture(scope="session")
def study_sweep(tmp_path_factory) -> Path:
    """Three schedules (constant / linear / reciprocal, 10 -> 2 clients) x two seeds of quickstart, 8 rounds."""
    root = tmp_path_factory.mktemp("sweeps") / "schedules"
    return make_sweep(root, "quickstart", {"fl.schedule": SCHEDULES}, [1, 2], QUICK)


@pytest.fixture(scope="session")
def clients_sweep(tmp_path_factory) -> Path:
    """Fixed 2 / 5 / 10 clients per round, NUM_EXAMPLES vs UNIFORM weighting, one seed."""
    root = tmp_path_factory.mktemp("sweeps") / "clients"
    return make_sweep(root, "quickstart", {"fl.schedule.start": [2, 5, 10],
                                           "fl.strategy.weighting": ["num_examples", "uniform"]}, [1], QUICK)


@pytest.fixture(scope="session")
def wired_runs(tmp_path_factory) -> Path:
    """A folder of three wired_star runs (no accuracy): constant 4, linear 4 -> 1, and one with a 2 s deadline."""
    root = tmp_path_factory.mktemp("wired")
    for name, extra in (("constant", []), ("linear", ["--set", "fl.schedule={kind: linear, start: 4, end: 1}"]),
                        ("deadline", ["--set", "fl.deadline_s=2.2", "--set",
                                      "clients.device.heterogeneity={kind: lognormal, sigma: 0.5}"])):
        assert main(["wired_star", "--quiet", "--out", str(root / name), "--set", "fl.rounds=6", *extra]) == 0
    return root


@pytest.fixture(scope="session")
def radio_run(tmp_path_factory) -> Path:
    """city_grid (5G cells, vehicles) for one round: per-cell load samples and the map tables."""
    out = tmp_path_factory.mktemp("radio") / "city"
    assert main(["city_grid", "--quiet", "--out", str(out), "--set", "fl.rounds=1"]) == 0
    return out


@pytest.fixture(scope="session")
def wired_sweep(tmp_path_factory) -> Path:
    """A communication-only sweep (no accuracy): constant 4 / linear 4 -> 1 on wired_star, two seeds."""
    root = tmp_path_factory.mktemp("sweeps") / "wired"
    return make_sweep(root, "wired_star", {"fl.schedule": ["{kind: constant, start: 4}",
                                                           "{kind: linear, start: 4, end: 1}"]}, [1, 2],
                      ["--set", "fl.rounds=5", "--set", "fl.replacement=true"])


@pytest.fixture
def sweep_maker():
    """``make_sweep`` for tests that build their own sweep folder."""
    return make_sweep


@pytest.fixture
def study_settings() -> tuple[list[str], list[str]]:
    """(schedules, fixed --set arguments) of ``study_sweep``."""
    return SCHEDULES, QUICK
