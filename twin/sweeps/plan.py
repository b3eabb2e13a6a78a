"""From a sweep to validated runs: load the base scenario once, apply each run's overrides, validate every run's
scenario before anything runs, and fix what identifies a run on disk (its id, folder and resolved-scenario hash)."""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin.errors import InputError
from twin.scenario.loading import (
    ScenarioError,
    parse_yaml,
    read_scenario_text,
    resolved_yaml,
    set_field,
    validate,
    with_location,
    without_derived,
)
from twin.sweeps.spec import RunPoint, Sweep, SweepError, flow


@dataclass(frozen=True)
class PlannedRun:
    point: RunPoint
    resolved_yaml: str              # the run's scenario with every default filled in (what the worker runs)
    hash: str                       # sha256 hex of resolved_yaml
    seed: int                       # the scenario's seed (from seeds:, set:, or the base)

    @property
    def run_id(self) -> str:
        return self.point.run_id

    @property
    def path(self) -> str:
        """The run folder relative to the sweep folder."""
        return f"runs/{self.point.run_id}"


@dataclass(frozen=True)
class Plan:
    sweep: Sweep
    base_ref: str                   # absolute path of the base scenario file, or a built-in name
    base_dir: Path                  # where the scenario's relative paths start
    runs: list[PlannedRun]


def scenario_hash(text: str) -> str:
    """sha256 of a resolved scenario without its ``derived:`` block: derived values never make a finished run stale."""
    return hashlib.sha256(without_derived(text).encode("utf-8")).hexdigest()


def _field_path(dotted: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in dotted.split("."))


def make_plan(sweep: Sweep) -> Plan:
    """Expand and validate every run. The first bad run raises a one-line :class:`SweepError`."""
    base_ref = sweep.base_ref()
    try:
        text, source, default_name = read_scenario_text(base_ref)
        base, lines = parse_yaml(text, source)
    except ScenarioError as exc:
        raise SweepError(f"{sweep.line_of('base')}: base: {exc}") from None
    base.setdefault("name", default_name)
    base_dir = Path(base_ref).parent if Path(base_ref).is_file() else sweep.path.resolve().parent
    runs = []
    for point in sweep.expand():
        config = _validated(sweep, point, base, source, lines)
        _preflight(sweep, point, config, base_dir)
        text = resolved_yaml(config)
        runs.append(PlannedRun(point, text, scenario_hash(text), config.seed))
    return Plan(sweep, base_ref, base_dir, runs)


def _preflight(sweep: Sweep, point: RunPoint, config, base_dir: Path) -> None:
    """Resource limits and named files of one run, before anything runs (a missing data folder is refused here, not
    found by every worker)."""
    from twin.sim.preflight import check, check_files

    try:
        check(config)
        check_files(config, base_dir)
    except InputError as exc:
        raise SweepError(_explain(sweep, point, point.all_overrides(), with_location(config, str(exc)))) from None


def _where(sweep: Sweep, point: RunPoint, key: str) -> str:
    """``file:line`` of the sweep entry an override comes from."""
    if key == "seed" and point.seed is not None:
        return sweep.line_of("seeds")
    if key in sweep.spec.grid:
        return sweep.line_of("grid", key)
    for i, group in enumerate(sweep.spec.zip):
        if key in group:
            return sweep.line_of("zip", i, key)
    return sweep.line_of("set", key)


def _validated(sweep: Sweep, point: RunPoint, base: dict, source: str, lines: dict):
    data = copy.deepcopy(base)
    overrides = point.all_overrides()
    for key, value in overrides:
        try:
            set_field(data, key, copy.deepcopy(value))
        except ScenarioError as exc:
            problem = str(exc).split(": ", 1)[-1]
            raise SweepError(f"{_where(sweep, point, key)}: run {point.run_id}: override {key}={flow(value)}: "
                             f"{problem}") from None
    paths = [_field_path(key) for key, _ in overrides]
    try:
        return validate(data, source, lines, overridden=paths)
    except ScenarioError as exc:
        raise SweepError(_explain(sweep, point, overrides, str(exc))) from None


def _explain(sweep: Sweep, point: RunPoint, overrides: list[tuple[str, Any]], message: str) -> str:
    """Turn a scenario validation error into one line naming the sweep file, the override and the field."""
    if message.startswith("--set: "):
        problem = message[len("--set: "):]
        field = _field_path(problem.split(": ", 1)[0])
        culprits = [(k, v) for k, v in overrides if field[: len(_field_path(k))] == _field_path(k)]
        if culprits:
            key, value = max(culprits, key=lambda kv: len(_field_path(kv[0])))
            return f"{_where(sweep, point, key)}: run {point.run_id}: override {key}={flow(value)}: {problem}"
    shown = flow(point.overrides) if point.overrides else "no overrides"
    return f"{sweep.path}: run {point.run_id} ({shown}): {message}"


def dry_build(plan: Plan) -> tuple[int, float]:
    """Build every distinct scenario of the plan (runs that differ only in their seed are built once) without
    simulating, as ``python -m twin.run --validate`` does: files, topology, routes, vehicles, data sets, models.
    Raises the first failure as a one-line :class:`SweepError` naming the run and its overrides; returns (scenarios
    built, seconds)."""
    import time

    import yaml

    from twin.errors import InputError
    from twin.scenario.schema import ScenarioConfig
    from twin.sim.runner import dry_build as build_one

    wall0 = time.perf_counter()
    seen: set[str] = set()
    for run in plan.runs:
        data = yaml.safe_load(without_derived(run.resolved_yaml))
        data.pop("seed", None)
        key = hashlib.sha256(yaml.safe_dump(data, sort_keys=True).encode()).hexdigest()
        if key in seen:
            continue
        seen.add(key)
        config = ScenarioConfig.model_validate(yaml.safe_load(without_derived(run.resolved_yaml)))
        try:
            build_one(config, base_dir=plan.base_dir)
        except InputError as exc:
            where = flow(run.point.overrides) if run.point.overrides else "the base scenario"
            raise SweepError(f"run {run.run_id} ({where}): {exc}") from None
    return len(seen), time.perf_counter() - wall0
