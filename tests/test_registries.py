"""Every registry of pluggable parts has a schema class per kind with the same parameter names and defaults.

The schema (``twin.scenario``) is where a user's values are checked; the implementations (``twin.fl``,
``twin.mobility``, ``twin.sim``) are called with the validated fields as keyword arguments. This test keeps the two
sides one fact: same kinds, same names, and where an implementation declares a default, the schema's default equals
it (an implementation may leave a parameter without default: the schema then is its only home). A new registry is
one more entry in ``REGISTRIES``.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import re
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

import twin.radio as radio
from twin.radio.pathloss import PATHLOSS_MODELS
from twin.radio.presets import PRESETS, get_preset
from twin.scenario import access as A
from twin.scenario import fl as F
from twin.scenario.access import PRESET_OVERRIDES, CellTier
from twin.scenario.plugins import kind_tags


def _union_members(annotation) -> list[type[BaseModel]]:
    out = []
    for arg in typing.get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            out.append(arg)
        else:
            out.extend(_union_members(arg))
    return out


def _schema_by_kind(union) -> dict[str, type[BaseModel]]:
    return {tag: cls for cls in _union_members(union) for tag in kind_tags(cls)}


def _codecs():
    from twin.fl.codecs import CODECS

    return CODECS


def _strategies():
    from twin.fl.strategies import STRATEGIES

    return STRATEGIES


def _schedules():
    from twin.fl.schedules import SCHEDULES

    return SCHEDULES


def _partitions():
    from twin.fl.partition import PARTITIONERS

    return {**PARTITIONERS, "natural": lambda labels, *, n_clients, rng: None}  # the loader's own clients: no fields


def _models():
    from twin.fl.models import MODELS
    from twin.sim.workload import FixedWorkload

    return {**MODELS, "fixed": FixedWorkload}


def _placements():
    from twin.mobility import PLACEMENTS

    return PLACEMENTS


# name -> (implementation registry, schema union, arguments the implementation gets from the build, not the scenario)
REGISTRIES = {
    "codecs": (_codecs, F.Codec, set()),
    "strategies": (_strategies, F.Strategy, set()),
    "schedules": (_schedules, F.Schedule, {"rounds"}),
    "partitions": (_partitions, F.Partition, {"labels", "n_clients", "rng"}),
    "models": (_models, F.Model, {"input_shape", "n_classes"}),
    "placements": (_placements, A.Placement, {"network", "los_of", "buildings", "rng"}),
}


def _parameters(impl) -> dict[str, inspect.Parameter]:
    target = impl.__init__ if isinstance(impl, type) else impl
    return {name: p for name, p in inspect.signature(target).parameters.items()
            if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}


def mismatches(registry: dict, union, context: set[str]) -> list[str]:
    """Every way ``registry`` (kind -> class or function) and the schema ``union`` disagree, one line each."""
    schema = _schema_by_kind(union)
    problems = [f"kind {k!r}: only in the implementation" for k in registry if k not in schema]
    problems += [f"kind {k!r}: only in the schema" for k in schema if k not in registry]
    for kind in registry.keys() & schema.keys():
        params = {k: p for k, p in _parameters(registry[kind]).items() if k not in context}
        fields = {k: f for k, f in schema[kind].model_fields.items() if k != "kind"}
        if set(params) != set(fields):
            problems.append(f"{kind!r}: implementation takes {sorted(params)}, schema has {sorted(fields)}")
            continue
        for field, info in fields.items():
            declared = params[field].default
            if declared is inspect.Parameter.empty:
                continue  # the schema is this parameter's only home
            default = None if info.default is PydanticUndefined else info.default
            if isinstance(default, BaseModel):  # a nested section (a staleness function): its fields as a mapping
                default = default.model_dump()
            if declared != default or isinstance(declared, bool) != isinstance(default, bool):
                problems.append(f"{kind!r}.{field}: implementation default {declared!r}, schema {default!r}")
    return problems


@pytest.mark.parametrize("name", list(REGISTRIES))
def test_same_parameter_names_and_defaults(name):
    make, union, context = REGISTRIES[name]
    problems = mismatches(make(), union, context)
    assert not problems, f"{name}:\n" + "\n".join(problems)


def test_the_check_fails_on_a_mismatch():
    """The comparison can fail: a default, a name and a kind that differ are each reported."""
    from typing import Literal

    from twin.scenario.plugins import tagged_union
    from twin.scenario.strategies import StrategySpec

    class Skewed(StrategySpec):
        kind: Literal["fedadam"]
        beta1: float = 0.9
        beta2: float = 0.99
        tau: float = 1e-2  # the implementation says 1e-3
        server_lr: float = 0.1

    class Renamed(StrategySpec):
        kind: Literal["fedavgm"]
        beta: float = 0.9  # the implementation calls it momentum

    class Extra(StrategySpec):
        kind: Literal["fedprox"]

    problems = mismatches(_strategies(), tagged_union((Skewed, Renamed, Extra)), set())
    assert any("'fedadam'.tau" in p for p in problems)
    assert any("'fedavgm': implementation takes" in p for p in problems)
    assert any("'fedprox': only in the schema" in p for p in problems)
    assert any("'fedavg': only in the implementation" in p for p in problems)


# ------------------------------------------------------------- radio: presets and path-loss models (not a union)
# The scenario names a tier's preset (``radio.tiers[].preset``, a string checked at build time) and overrides some of
# its fields; it names no path-loss model (presets do), so these registries have no schema union to compare with:
# the tests below check the preset registry against CellTier, and every path-loss model against the docs.


def _override_fields() -> list[str]:
    """CellTier fields that replace a preset field (the others configure the tier itself)."""
    tier_only = {"name", "preset", "placement", "min_rx_dbm", "max_range_m", "bias_db", "backhaul", "power_policy",
                 "antenna_height"}
    return [f for f in CellTier.model_fields if f not in tier_only]


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_matches_the_tier_schema(name):
    """The scenario names presets (``radio.tiers[].preset``), not path-loss models: every preset must accept the
    tier's overrides under the same names and types, give the derived defaults the tier documents (sensitivity floor
    for ``min_rx_dbm``, range for ``max_range_m``) and use registered path-loss / LOS models only."""
    preset = get_preset(name)
    assert isinstance(preset, radio.Preset)
    fields = {f.name: f for f in dataclasses.fields(preset)}
    hints = typing.get_type_hints(type(preset))
    assert _override_fields() == ["p_tx_dbm", "g_bs_dbi", "g_ue_dbi", "h_bs_m", "ul_p0_dbm", "ul_alpha"], (
        "CellTier's fields changed: a field that configures the tier itself goes into tier_only in _override_fields, "
        "one that overrides a preset field must exist (same name, float) in every preset (ul_*: every preset with "
        "uplink power control)")
    assert list(PRESET_OVERRIDES) == _override_fields()
    for field in _override_fields():
        if field.startswith("ul_") and preset.uplink is None:  # fixed UE power: the build refuses the override
            assert field not in fields
            continue
        assert field in fields, f"{name}: the tier override {field} is not a preset field"
        assert hints[field] is float
        value = {"ul_p0_dbm": -70.0, "ul_alpha": 0.7}.get(field, 7.0)
        tier = CellTier(name="t", preset=name, **{field: value})
        assert getattr(preset.replace(**{field: getattr(tier, field)}), field) == value
    assert math.isfinite(preset.sensitivity_floor_dbm()) and preset.max_range_m > 0
    d = preset.describe()
    assert d["name"] == name and {"sensitivity_floor_dbm", "max_range_m", "los_model"} <= set(d)
    models = {getattr(preset, f) for f in ("pathloss_model", "pathloss_los", "pathloss_nlos") if f in fields}
    assert models and models <= set(PATHLOSS_MODELS) and preset.shadowing_model in PATHLOSS_MODELS
    assert preset.los_model in radio.LOS_PROBABILITY_MODELS


def test_schema_and_docs_list_the_registered_presets_and_models():
    doc_names = re.findall(r"``([a-z0-9-]+)``", CellTier.__doc__.split(")")[0])
    assert doc_names == list(PRESETS)
    scenarios_md = (Path(__file__).resolve().parents[1] / "docs" / "scenarios.md").read_text()
    radio_md = (Path(__file__).resolve().parents[1] / "docs" / "radio.md").read_text()
    for name in PRESETS:
        assert f"`{name}`" in scenarios_md and f"`{name}`" in radio_md
    for name, rec in PATHLOSS_MODELS.items():
        assert f"`{name}`" in radio_md, f"docs/radio.md does not list path-loss model {name}"
        for param in rec.params:
            assert f"`{param}`" in radio_md, f"docs/radio.md does not document {name}'s parameter {param}"
