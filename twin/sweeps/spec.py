"""The sweep file: schema, loading, and expansion into runs (no scenario is touched here; see ``plan.py``).

```yaml
name: schedules_wired                 # default: the file's stem
base: ../wired_star.yaml              # a scenario file (relative to this file) or a built-in name
set: {fl.rounds: 80}                  # fixed overrides for every run
grid:                                 # cartesian product, first key varies slowest
  fl.schedule: [{kind: constant, preset: seed}, {kind: linear, preset: seed}]
zip:                                  # groups of equal-length lists, taken element by element
  - {fl.local.epochs: [1, 5], fl.local.optimizer.lr: [0.1, 0.02]}
seeds: [1, 2]                         # repeats (innermost): sets the scenario's seed
```

Values are any YAML value, exactly as ``--set FIELD=VALUE`` takes them.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from twin.errors import InputError
from twin.scenario.loading import ScenarioError, parse_yaml

# Index columns a swept field may not shadow (CONTRACT with twin.analysis: see docs/sweeps.md).
RESERVED = ("run_id", "path", "status", "hash", "seed", "overrides", "error", "rounds", "stop_reason",
            "final_accuracy", "best_accuracy", "sim_time_s", "bytes_down", "bytes_up", "participations",
            "time_to_target_s", "time_to_target_round", "wall_s")


class SweepError(InputError):
    """A sweep file (or its expansion) that cannot be used. ``str(error)`` is one line for the user."""


class SweepSpec(BaseModel):
    """A sweep file. See the module docstring and docs/sweeps.md."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(default=None, min_length=1, pattern=r"^[A-Za-z0-9_.+-]+$")
    description: str = ""
    base: str = Field(min_length=1)
    set: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    zip: list[dict[str, list[Any]]] = Field(default_factory=list)
    seeds: list[int] | None = None

    @field_validator("zip", mode="before")
    @classmethod
    def _one_group(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value  # `zip: {a: [..], b: [..]}` is one group

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, value: list[int] | None) -> list[int] | None:
        if value is not None:
            if not value:
                raise ValueError("empty list: give at least one seed, or leave seeds out")
            if any(s < 0 for s in value):
                raise ValueError("seeds must be >= 0")
            if len(set(value)) != len(value):
                raise ValueError("a seed is listed twice")
        return value

    @model_validator(mode="after")
    def _shape(self) -> SweepSpec:
        for key, values in self.grid.items():
            if not values:
                raise ValueError(f"grid.{key}: empty list (the grid would have no runs)")
        for i, group in enumerate(self.zip):
            if not group:
                raise ValueError(f"zip.{i}: empty group")
            lengths = {key: len(values) for key, values in group.items()}
            if len(set(lengths.values())) > 1:
                raise ValueError(f"zip.{i}: lists of different lengths ("
                                 + ", ".join(f"{k}: {n}" for k, n in lengths.items()) + ")")
            if 0 in lengths.values():
                raise ValueError(f"zip.{i}: empty lists (the sweep would have no runs)")
        if not self.grid and not self.zip and not self.seeds:
            raise ValueError("empty grid: give grid, zip or seeds (a sweep needs something to vary)")
        swept = list(self.grid) + [k for group in self.zip for k in group]
        for key in swept + list(self.set):
            if not key or any(part == "" for part in key.split(".")):
                raise ValueError(f"{key!r}: not a field path like fl.local.epochs")
        seen: set[str] = set()
        for key in swept:
            if key in seen:
                raise ValueError(f"{key}: swept twice (in grid and zip, or in two zip groups)")
            seen.add(key)
            if key in self.set:
                raise ValueError(f"{key}: both swept and fixed under set")
            if key in RESERVED:
                raise ValueError(f"{key}: cannot be swept by name ({'use seeds: [...]' if key == 'seed' else 'it clashes with an index column'})")
        return self

    @property
    def swept(self) -> list[str]:
        """The swept field paths in column order: grid keys, then zip keys."""
        return list(self.grid) + [k for group in self.zip for k in group]


@dataclass(frozen=True)
class RunPoint:
    """One expanded run: its index, id and the overrides that make it (fixed ones first, then swept, then seed)."""

    index: int
    run_id: str
    swept: dict[str, Any]           # swept field -> value (grid and zip keys)
    seed: int | None                # from seeds:, else None (the scenario's own seed)
    fixed: dict[str, Any] = field(default_factory=dict)

    @property
    def overrides(self) -> dict[str, Any]:
        """What varies across the sweep (the index's ``overrides`` column): swept fields, then the seed."""
        out = dict(self.swept)
        if self.seed is not None:
            out["seed"] = self.seed
        return out

    def all_overrides(self) -> list[tuple[str, Any]]:
        """Every override in the order it is applied: ``set``, then the swept fields, then the seed."""
        return list(self.fixed.items()) + list(self.overrides.items())


@dataclass(frozen=True)
class Sweep:
    spec: SweepSpec
    path: Path                      # the sweep file
    lines: dict                     # YAML key path -> line, for error messages
    name: str

    @property
    def source(self) -> str:
        return str(self.path)

    def line_of(self, *key: str | int) -> str:
        """``file:line`` for a key path in the sweep file (``file`` when unknown)."""
        for n in range(len(key), 0, -1):
            if key[:n] in self.lines:
                return f"{self.path}:{self.lines[key[:n]]}"
        return str(self.path)

    def base_ref(self) -> str:
        """The base scenario as ``load`` takes it: a file path (resolved against the sweep file) or a built-in name."""
        candidate = Path(self.spec.base)
        if not candidate.is_absolute():
            candidate = (self.path.resolve().parent / candidate).resolve()
        if candidate.is_file():
            return str(candidate)
        looks_like_name = Path(self.spec.base).suffix == "" and "/" not in self.spec.base and "\\" not in self.spec.base
        if looks_like_name:
            return self.spec.base
        raise SweepError(f"{self.line_of('base')}: base: scenario file not found: {candidate}")

    def count(self) -> int:
        """How many runs the sweep expands to, without expanding it."""
        n = math.prod(len(values) for values in self.spec.grid.values())
        for group in self.spec.zip:
            n *= min((len(values) for values in group.values()), default=1)
        return n * (len(self.spec.seeds) if self.spec.seeds else 1)

    def expand(self) -> list[RunPoint]:
        """Every run of the sweep in a fixed order (grid product, then zip groups, then seeds innermost)."""
        n = self.count()
        if n > MAX_RUNS:
            raise SweepError(f"{self.line_of('grid') if self.spec.grid else self.path}: the sweep expands to {n:,} "
                             f"runs, over the limit of {MAX_RUNS:,} per sweep (split it into several sweeps)")
        axes: list[list[dict[str, Any]]] = [[{key: v} for v in values] for key, values in self.spec.grid.items()]
        for group in self.spec.zip:
            keys = list(group)
            axes.append([dict(zip(keys, vals, strict=True)) for vals in zip(*group.values(), strict=True)])
        combos = [dict(item for part in combo for item in part.items()) for combo in itertools.product(*axes)]
        seeds: list[int | None] = list(self.spec.seeds) if self.spec.seeds else [None]
        n = len(combos) * len(seeds)
        if n == 0:
            raise SweepError(f"{self.path}: empty grid: the sweep expands to no runs")
        width = max(3, len(str(n - 1)))
        points = []
        for i, (swept, seed) in enumerate(itertools.product(combos, seeds)):
            partial = RunPoint(i, "", swept, seed)
            digest = hashlib.sha256(flow(partial.overrides).encode()).hexdigest()[:6]
            points.append(RunPoint(i, f"{i:0{width}d}-{digest}", swept, seed, dict(self.spec.set)))
        return points

    def resolved(self, base_ref: str) -> dict:
        """The sweep as it ran (``DIR/sweep.yaml``): every field filled in, the base as an absolute path or a name."""
        data = self.spec.model_dump(mode="json")
        data["name"] = self.name
        data["base"] = base_ref
        return data


MAX_RUNS = 10_000  # every run is validated before anything runs: a sweep stays within seconds of planning


def flow(value: Any) -> str:
    """A value in YAML flow style on one line: ``{fl.schedule: {kind: linear, preset: seed}, seed: 2}``."""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=math.inf).strip()
    return text[:-4].rstrip() if text.endswith("\n...") else text


def load_sweep(path: str | Path) -> Sweep:
    """Read and validate a sweep file. Errors are one-line :class:`SweepError` naming the file, line and key."""
    path = Path(path)
    if not path.is_file():
        raise SweepError(f"{path}: sweep file not found" if not path.exists() else f"{path}: not a file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SweepError(f"{path}: cannot read sweep file: {exc}") from None
    try:
        data, lines = parse_yaml(text, str(path))
    except ScenarioError as exc:
        raise SweepError(str(exc).replace("a scenario must be a mapping of sections (name, topology, fl, ...)",
                                          "a sweep file must be a mapping (name, base, grid, ...)")) from None
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as exc:
        raise SweepError(_format_error(exc, path, lines)) from None
    return Sweep(spec=spec, path=path, lines=lines, name=spec.name or _safe_stem(path))


def _safe_stem(path: Path) -> str:
    return "".join(ch if ch.isalnum() or ch in "_.+-" else "_" for ch in path.stem) or "sweep"


def _format_error(exc: ValidationError, path: Path, lines: dict) -> str:
    first = exc.errors(include_url=False)[0]
    loc = tuple(first["loc"])
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown field (a sweep file has name, description, base, set, grid, zip, seeds)"
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    keys = [loc]
    if not loc:  # a whole-file check: its message starts with the key it is about
        head = msg.split(": ", 1)[0]
        if head.startswith("zip.") and head[4:].isdigit():
            keys = [("zip", int(head[4:]))]
        else:
            keys = [("grid", head.removeprefix("grid.")), ("set", head), ("zip",), ("grid",), ("seeds",)]
    line = next((lines[key[:n]] for key in keys for n in range(len(key), 0, -1) if key[:n] in lines), None)
    where = f"{path}:{line}" if line is not None else str(path)
    dotted = ".".join(str(p) for p in loc)
    value = first.get("input")
    shown = "" if first["type"] in ("extra_forbidden", "missing") or isinstance(value, (dict, list)) else \
        f" (got {value!r})"
    return f"{where}: {dotted + ': ' if dotted else ''}{msg}{shown}"
