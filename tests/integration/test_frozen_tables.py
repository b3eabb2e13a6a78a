"""Every shipped scenario CI can run gives the same tables as when they were frozen (see frozen_tables.py)."""

from __future__ import annotations

import json

import pytest

from tests.integration.frozen_tables import FROZEN, SCENARIOS, available, scenario_hashes

FROZEN_HASHES = json.loads(FROZEN.read_text())


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_tables_unchanged(name):
    if not available(SCENARIOS[name][1]):
        pytest.skip(f"{SCENARIOS[name][1]} not available on this machine")
    assert name in FROZEN_HASHES, f"{name}: no frozen hashes; run python tests/integration/frozen_tables.py --record"
    got = scenario_hashes(name)
    want = FROZEN_HASHES[name]
    changed = sorted(t for t in set(got) | set(want) if got.get(t) != want.get(t))
    assert not changed, (f"{name}: tables changed: {', '.join(changed)}; if the change is meant, re-record with "
                         f"python tests/integration/frozen_tables.py --record {name} and say why")


def test_every_shipped_scenario_is_frozen():
    """A new scenario file under scenarios/ (not a sweep file) must join SCENARIOS."""
    from tests.integration.frozen_tables import ROOT

    shipped = set()
    for path in ROOT.joinpath("scenarios").rglob("*.yaml"):
        text = path.read_text()
        if "\nbase:" in text or text.startswith("base:"):
            continue  # a sweep file
        rel = path.relative_to(ROOT / "scenarios").with_suffix("").as_posix()
        shipped.add(rel)
    assert shipped <= set(SCENARIOS), f"not frozen: {sorted(shipped - set(SCENARIOS))}"
