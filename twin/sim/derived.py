"""Values the build computes from a scenario, written under ``derived:`` in scenario.resolved.yaml.

A pure function of the validated config (no SimPy, no environment): the schedule's shape as it runs (start, end,
horizon, and the shape parameters computed from the horizon when unset) and the clients of every round; per radio tier
the sensitivity floor (``min_rx_dbm`` when unset), the range limit (``max_range_m``: the preset's, else none) and the
preset's fields after the tier's overrides. Loading ignores the block and the sweep's hash leaves it out
(:func:`twin.scenario.loading.without_derived`), so it informs and never decides: ``--set fl.rounds=9`` on a resolved
file derives again.
"""

from __future__ import annotations

import dataclasses

from twin.errors import InputError
from twin.fl.schedules import clients_per_round, resolved_shape
from twin.scenario import schema as S


def derive(config: S.ScenarioConfig) -> dict:
    """The ``derived:`` block of ``config`` (plain YAML types). Errors the schema cannot see raise InputError."""
    out: dict = {"fl": schedule_values(config.fl)} if config.fl is not None else {}
    if isinstance(config.radio, S.CellularRadio):
        out["radio"] = {"tiers": [tier_values(t, f"radio.tiers[{i}]") for i, t in enumerate(config.radio.tiers)]}
    return out


def schedule_values(cfg: S.FLConfig) -> dict:
    params = cfg.schedule.model_dump(exclude={"kind"}, exclude_none=True)
    try:
        shape = resolved_shape(cfg.schedule.kind, cfg.rounds, **params)
        counts = clients_per_round(cfg.schedule.kind, cfg.rounds, **params)
    except ValueError as exc:
        raise InputError(f"fl.schedule: {exc}") from None
    return {"schedule": {k: v for k, v in shape.items() if v is not None}, "clients_per_round": counts.tolist()}


def tier_preset(spec: S.CellTier, where: str):
    """A tier's preset after its overrides (``twin.scenario.access.PRESET_OVERRIDES``), its sensitivity floor (dBm)
    and its range (m): the one place that resolves them, for the build and for the derived block alike. InputError
    naming an override the preset lacks (``ul_p0_dbm`` / ``ul_alpha`` on a DRIVE preset: no uplink power control)."""
    import twin.radio as radio
    from twin.scenario.access import PRESET_OVERRIDES

    try:
        preset = radio.get_preset(spec.preset)
    except ValueError:
        raise InputError(f"{where}.preset: unknown preset {spec.preset!r}; expected one of "
                         f"{', '.join(radio.PRESETS)}") from None
    overrides = spec.model_dump(include=set(PRESET_OVERRIDES), exclude_none=True)
    fields = {f.name for f in dataclasses.fields(preset)}
    for k in PRESET_OVERRIDES:  # in the schema's order: the first missing one is named
        if k in overrides and k not in fields:
            raise InputError(f"{where}.{k}: preset {spec.preset!r} has no such setting (DRIVE presets send at a fixed "
                             "power with no uplink power control)")
    try:
        preset = preset.replace(**overrides)
    except ValueError as e:
        raise InputError(f"{where}: {e}") from None
    floor = spec.min_rx_dbm if spec.min_rx_dbm is not None else preset.sensitivity_floor_dbm()
    reach = spec.max_range_m if spec.max_range_m is not None else preset.max_range_m
    return preset, float(floor), float(reach)


def tier_values(spec: S.CellTier, where: str) -> dict:
    """What the derived block says of a tier: its preset after overrides, its sensitivity floor and range."""
    preset, floor, reach = tier_preset(spec, where)
    fields = {f.name: getattr(preset, f.name) for f in dataclasses.fields(preset)
              if isinstance(getattr(preset, f.name), (int, float, str))}
    return {"name": spec.name, "min_rx_dbm": float(floor), "max_range_m": float(reach), "preset": fields}
