"""The compiled round path (twin.sim.fast_round, twin.net.chains) against the SimPy processes it replaces: every table
(hashed: columns, dtypes, values, row order) and the summary's network figures must be the same to the bit."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.net.kernels import AVAILABLE
from twin.scenario.loading import load_scenario
from twin.sim import fast_round
from twin.sim.runner import simulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from frozen_tables import table_hash  # noqa: E402

pytestmark = pytest.mark.skipif(not AVAILABLE, reason="the compiled round path needs numba")

FIXED = "fl.model={kind: fixed, size_bytes: 300 kB, train_flops: 0.5 GFLOP}"
TREE = ("topology={kind: tree, fanout: [2, 3], level_links: [{bandwidth_bps: 40 Mbit/s, latency_s: 2 ms}, "
        "{bandwidth_bps: 20 Mbit/s, latency_s: 5 ms, reverse_bandwidth_bps: 4 Mbit/s}], "
        "server_link: {bandwidth_bps: 60 Mbit/s, latency_s: 1 ms}}")
RING = ("topology={kind: ring, n_sites: 4, clients_per_site: 3, ring_link: {bandwidth_bps: 30 Mbit/s, latency_s: 3 ms}, "
        "access_link: {bandwidth_bps: 10 Mbit/s, latency_s: 4 ms}}")


def _run(scenario: str, sets: list[str], enabled: bool, monkeypatch) -> tuple[dict, dict, int]:
    calls = []
    run = fast_round.FastRounds.run

    def counted(self, *args, **kwargs):
        t_end = run(self, *args, **kwargs)
        calls.append(t_end is not None)
        return t_end

    monkeypatch.setattr(fast_round, "ENABLED", enabled)
    monkeypatch.setattr(fast_round.FastRounds, "run", counted)
    result = simulate(load_scenario(scenario, sets))
    assert result.summary["status"] == "ok", result.summary.get("traceback")
    s = result.summary
    figures = {key: s[key] for key in ("rounds", "sim_time_s", "bytes_down", "bytes_up", "participations",
                                       "final_accuracy", "engine", "bytes_by_tier")}
    return {name: table_hash(df) for name, df in result.tables.items()}, figures, sum(calls)


def assert_same(scenario: str, sets: list[str], monkeypatch, *, min_fast: int = 1) -> None:
    fast_hashes, fast_figures, n_fast = _run(scenario, sets, True, monkeypatch)
    slow_hashes, slow_figures, n_slow = _run(scenario, sets, False, monkeypatch)
    assert n_slow == 0
    assert n_fast >= min_fast, "the compiled path was not used"
    assert fast_figures == slow_figures
    assert fast_hashes == slow_hashes


@pytest.mark.parametrize("sets", [
    [],  # digits, an MLP, heterogeneous devices
    ["fl.replacement=true", "fl.schedule={kind: constant, start: 30}"],  # clients drawn twice: stars with shared leaves
    ["fl.upload_codec={kind: qsgd}"],
])
def test_quickstart_rounds_are_the_same(sets, monkeypatch):
    assert_same("quickstart", ["output.sample_period_s=0", "fl.rounds=4", "fl.stop.target_accuracy=null", *sets],
                monkeypatch, min_fast=3)


@pytest.mark.parametrize("topology", [TREE, RING])
def test_shared_links_are_the_same(topology, monkeypatch):
    """Routes of several hops that share links: the general lazy recomputation, not the star filling. (A round
    whose routes are longer than any before it runs as processes: the engine widens its arrays as the flow comes.)"""
    assert_same("wired_star", [topology, "output.sample_period_s=0", "fl.rounds=4", FIXED,
                               "clients.device={flops_per_s: 2 GFLOP/s, heterogeneity: {kind: lognormal, sigma: 0.7}}",
                               "fl.schedule={kind: constant, start: 5}", "fl.replacement=true"], monkeypatch,
                min_fast=2)


def test_ties_are_ordered_as_simpy_orders_them(monkeypatch):
    """Identical clients: every download ends at one instant and every upload starts at one instant."""
    assert_same("wired_star", ["output.sample_period_s=0", "fl.rounds=3"], monkeypatch, min_fast=2)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(2, 12), k=st.integers(1, 16), sigma=st.sampled_from([0.0, 0.3, 1.0]),
       server=st.sampled_from(["5 Mbit/s", "50 Mbit/s", "1 Gbit/s"]), latency=st.sampled_from(["0 s", "3 ms"]),
       size=st.sampled_from(["1 B", "40 kB", "1 MB"]), seed=st.integers(0, 50))
def test_random_stars_are_the_same(n, k, sigma, server, latency, size, seed, monkeypatch):
    het = "{kind: none}" if sigma == 0 else f"{{kind: lognormal, sigma: {sigma}}}"
    assert_same("wired_star", [
        f"seed={seed}", f"topology={{kind: star, n_clients: {n}, client_link: {{bandwidth_bps: 10 Mbit/s, "
        f"latency_s: {latency}, reverse_bandwidth_bps: 3 Mbit/s}}, server_link: {{bandwidth_bps: {server}, "
        "latency_s: 1 ms}}",
        f"clients.device={{flops_per_s: 2 GFLOP/s, heterogeneity: {het}}}", "output.sample_period_s=0",
        "fl.rounds=3", f"fl.model={{kind: fixed, size_bytes: {size}, train_flops: 0.2 GFLOP}}",
        f"fl.schedule={{kind: constant, start: {k}}}", "fl.replacement=true"], monkeypatch, min_fast=2)


@pytest.mark.parametrize("sets", [
    ["output.sample_period_s=0.5"],  # a probe reads the network mid-round
    ["output.sample_period_s=0", "fl.deadline_s=1.0"],  # late clients are interrupted
    ["output.sample_period_s=0", "transport.slow_start={enabled: true}"],
    ["output.sample_period_s=0", "transport.sharing=tcp"],
])
def test_rounds_it_cannot_time_use_the_processes(sets, monkeypatch):
    _, _, n_fast = _run("wired_star", [*sets, "fl.rounds=2"], True, monkeypatch)
    assert n_fast == 0


def test_first_round_grows_the_slots_with_the_processes(monkeypatch):
    """Round 1 finds no slots yet (the engine grows its arrays as flows come), so it runs as processes; the rest
    run compiled."""
    _, figures, n_fast = _run("wired_star", ["output.sample_period_s=0", "fl.rounds=3"], True, monkeypatch)
    assert figures["rounds"] == 3 and n_fast == 2



def test_timeout_at_fires_at_the_exact_time():
    """A time that no delay added to the clock reaches (the sum falls between two floats and rounds to even)."""
    from twin.sim.env import TwinEnv

    now, t = 10.97603314917127, 29.201421731123386
    assert all(now + d != t for d in (t - now, *np.nextafter(t - now, [0.0, np.inf])))
    env = TwinEnv(load_scenario("wired_star"))
    fired = []
    env.process(_at(env, now, t, fired))
    env.run()
    assert fired == [t]
    with pytest.raises(ValueError, match="before now"):
        env.timeout_at(t - 1)


def _at(env, now, t, fired):
    yield env.timeout(now)
    yield env.timeout_at(t)
    fired.append(env.now)
