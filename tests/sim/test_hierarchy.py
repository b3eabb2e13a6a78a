"""Hierarchical FL (fl.hierarchy): the exact equivalence with flat FedAvg, edges, bytes per tier, bad input."""

import subprocess
import sys

import pytest
import torch
import yaml

from twin.errors import InputError
from twin.scenario.loading import validate
from twin.sim.build import build
from twin.sim.runner import simulate


def one_site(n_clients=6, extra_fl=None, sites=1):
    """A server, ``sites`` site nodes under it, clients spread over the sites (explicit topology)."""
    nodes = [{"name": "server", "role": "server"}]
    links = []
    for s in range(sites):
        nodes.append({"name": f"site.{s}", "role": "site"})
        links.append({"a": "server", "b": f"site.{s}", "bandwidth_bps": "50 Mbit/s", "latency_s": "5 ms"})
    for i in range(n_clients):
        nodes.append({"name": f"client.{i}", "role": "client"})
        links.append({"a": f"site.{i % sites}", "b": f"client.{i}", "bandwidth_bps": "20 Mbit/s", "latency_s": "1 ms"})
    fl = {"rounds": 4, "schedule": {"kind": "constant", "start": 4}, "partition": {"kind": "dirichlet", "alpha": 0.5},
          "local": {"epochs": 1}, **(extra_fl or {})}
    data = {"name": "hier", "seed": 3, "topology": {"kind": "explicit", "nodes": nodes, "links": links},
            "clients": {"device": {"flops_per_s": "1 GFLOP/s", "heterogeneity": {"kind": "lognormal", "sigma": 0.5}}},
            "fl": fl}
    return validate(data)


def test_one_edge_with_edge_rounds_1_is_flat_fedavg_bit_for_bit():
    torch.set_num_threads(1)
    flat = simulate(one_site())
    hier = simulate(one_site(extra_fl={"hierarchy": {"edge": "site", "edge_rounds": 1}}))
    a, b = flat.tables["rounds"], hier.tables["rounds"]
    assert a["accuracy"].notna().all()
    assert a["accuracy"].tolist() == b["accuracy"].tolist()
    assert a["loss"].tolist() == b["loss"].tolist()
    assert a["train_loss"].tolist() == b["train_loss"].tolist()
    assert torch.equal(flat.env.workload.global_flat, hier.env.workload.inner.global_flat)
    # the same clients took part; only the timing differs (the edge sends one model over the core per round)
    sel = lambda r: r.tables["timeline"].query("kind == 'select'")[["round", "client"]].values.tolist()  # noqa: E731
    assert sel(flat) == sel(hier)
    assert (b["synced"] == 1).all() and (b["n_edges"] == 1).all()


def test_edges_cut_core_bytes_and_sync_every_edge_rounds():
    flat = simulate(one_site(8, sites=2))
    hier = simulate(one_site(8, extra_fl={"hierarchy": {"edge": "site", "edge_rounds": 2}}, sites=2))
    rounds = hier.tables["rounds"]
    assert rounds["synced"].tolist() == [0, 1, 0, 1]
    # between synchronisations the cloud model (and so the test accuracy) stands still
    acc = rounds["accuracy"].tolist()
    assert acc[2] == acc[1] and acc[1] != acc[0]
    model = hier.summary["fl"]["update_bytes"]
    assert rounds["bytes_sync_up"].tolist() == [0, 2 * model, 0, 2 * model]
    assert rounds["bytes_sync_down"].tolist() == [0, 2 * hier.summary["fl"]["broadcast_bytes"], 0,
                                                  2 * hier.summary["fl"]["broadcast_bytes"]]
    core_flat, core_hier = flat.summary["bytes_by_tier"]["core"], hier.summary["bytes_by_tier"]["core"]
    air_flat, air_hier = flat.summary["bytes_by_tier"]["air"], hier.summary["bytes_by_tier"]["air"]
    assert air_hier == pytest.approx(air_flat)  # every client still exchanges the model with its aggregator
    assert core_hier < core_flat / 2  # the core carries 2 edge models every 2 rounds instead of 8 client transfers
    assert rounds[["bytes_air", "bytes_backhaul", "bytes_core"]].sum().sum() == pytest.approx(
        sum(hier.summary["bytes_by_tier"].values()))
    tl = hier.tables["timeline"]
    assert set(tl.loc[tl["kind"] == "edge_aggregate", "edge"]) == {"site.0", "site.1"}
    assert (tl["kind"] == "cloud_sync").sum() == 2


def test_a_hierarchy_of_sites_needs_sites():
    nodes = [{"name": "server", "role": "server"}, {"name": "r", "role": "router"}, {"name": "client.0", "role": "client"}]
    links = [{"a": "server", "b": "r", "bandwidth_bps": 1e8}, {"a": "r", "b": "client.0", "bandwidth_bps": 1e8}]
    cfg = validate({"topology": {"kind": "explicit", "nodes": nodes, "links": links},
                    "fl": {"model": {"kind": "fixed"}, "schedule": {"kind": "constant", "start": 1},
                           "hierarchy": {"edge": "site"}}})
    with pytest.raises(InputError, match=r"^fl.hierarchy.edge: site: the topology has no node of role 'site'"):
        build(cfg)
    cfg = validate({"topology": {"kind": "explicit", "nodes": nodes, "links": links},
                    "fl": {"model": {"kind": "fixed"}, "schedule": {"kind": "constant", "start": 1},
                           "hierarchy": {"edge": "cell"}}})
    with pytest.raises(InputError, match=r"^fl.hierarchy.edge: cell needs base stations"):
        build(cfg)


def test_cli_names_the_missing_sites_in_one_line(tmp_path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump({"topology": {"kind": "star", "n_clients": 2, "client_link": {"bandwidth_bps": 1e7},
                                                     "server_link": {"bandwidth_bps": 1e8}},
                                        "fl": {"model": {"kind": "fixed"}, "schedule": {"kind": "constant", "start": 1},
                                               "hierarchy": {"edge": "site"}}}))
    out = subprocess.run([sys.executable, "-m", "twin.run", str(scenario), "--out", str(tmp_path / "run")],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "fl.hierarchy.edge: site" in out.stderr


CITY = "scenarios/city_grid.yaml"  # 34 cells under 4 sites, 60 clients on vehicles, 20 a round, 20 MB model
CITY_OVER = ["fl.rounds=2", "output.sample_period_s=0"]


def _city(*over):
    from twin.scenario.loading import load_scenario

    return simulate(load_scenario(CITY, [*CITY_OVER, *over]))


def test_city_edges_at_cells_and_sites_and_the_bytes_per_tier():
    flat, cell, site = _city(), _city("fl.hierarchy={edge: cell}"), _city("fl.hierarchy={edge: site}")
    model = 20e6
    # flat: every client transfer crosses air, backhaul and core
    assert flat.summary["bytes_by_tier"] == pytest.approx({"air": 80 * model, "backhaul": 80 * model,
                                                           "core": 80 * model})
    for run, n_edges in ((cell, 34), (site, 4)):
        rounds = run.tables["rounds"]
        assert (rounds["bytes_air"] == 40 * model).all()  # 20 downloads + 20 uploads a round, all on the air
        assert (rounds["bytes_sync_down"] == n_edges * model).all()  # the cloud model to every edge
        assert (rounds["bytes_sync_up"] == rounds["n_edges"] * model).all()
        tl = run.tables["timeline"]
        ups = tl[(tl["kind"] == "flow_end") & tl["flow"].str.startswith("up.")]
        downs = tl[(tl["kind"] == "flow_end") & tl["flow"].str.startswith("down.")]
        prefix = "bs." if n_edges == 34 else "site."
        assert ups["dst"].str.startswith(prefix).all() and downs["src"].str.startswith(prefix).all()
    # edges at the sites: the core carries a few edge models instead of every client's transfers
    assert site.summary["bytes_by_tier"]["core"] < flat.summary["bytes_by_tier"]["core"] / 4
    # edges at the cells: client transfers never leave the cell (no backhaul but the synchronisation's)
    rounds = cell.tables["rounds"]
    assert (rounds["bytes_backhaul"] == rounds["bytes_sync_up"] + rounds["bytes_sync_down"]).all()


def test_a_vehicle_changing_edge_mid_round_forwards_or_is_lost():
    forward, drop = _city("fl.hierarchy={edge: cell}"), _city("fl.hierarchy={edge: cell, handover: drop}")
    assert "edge_handover" not in forward.summary["drop_causes"]
    lost = drop.tables["timeline"].query("kind == 'client_dropped'")
    assert len(lost) > 0 and set(lost["cause"]) == {"edge_handover"}
    assert drop.tables["rounds"]["n_dropped"].sum() == len(lost)
    assert forward.tables["rounds"]["n_completed"].sum() > drop.tables["rounds"]["n_completed"].sum()


def test_coverage_aware_selection_on_the_city():
    # with buildings and rooftop macros nearly every street point of city_grid has 1 Mbit/s: ask for 100 Mbit/s so that
    # some vehicles are predicted to leave good coverage within the horizon
    run = _city("fl.selection={kind: coverage_aware, horizon_s: 30, step_s: 2, min_rate_bps: 100e6}", "fl.rounds=3")
    tl = run.tables["timeline"]
    skips = tl[tl["kind"] == "skip"]
    assert len(skips) > 0 and set(skips["reason"]) == {"coverage"}
    for r, group in skips.groupby("round"):
        chosen = set(tl.loc[(tl["kind"] == "select") & (tl["round"] == r), "client"])
        assert not chosen & set(group["client"])
    assert (run.tables["rounds"]["n_skipped"] == skips.groupby("round").size().reindex([1, 2, 3], fill_value=0)
            .to_numpy()).all()
