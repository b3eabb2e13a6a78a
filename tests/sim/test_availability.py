"""Client availability (fl.availability): trace files, FedScale traces, generators, and what a round does with them."""

import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from twin.errors import InputError
from twin.scenario.loading import load_scenario
from twin.sim.availability import diurnal, random_on_off, read_fedscale, read_intervals
from twin.sim.runner import simulate

NAMES = [f"client.{i}" for i in range(4)]
STAR = "scenarios/wired_star.yaml"  # 4 clients, every round 2.6949 s: download 0.847 s, compute 1 s, upload 0.847 s


def test_interval_file_reads_and_answers(tmp_path):
    f = tmp_path / "on.csv"
    f.write_text("client,start_s,end_s\nclient.1,10,20\nclient.1,0,5\nclient.2,3,4\n")
    av = read_intervals(f, NAMES)
    assert av.available_at(0.0).tolist() == [True, True, False, True]  # unlisted clients are always on
    assert av.available_at(7.0).tolist() == [True, False, False, True]
    assert av.next_off(1, 12.0) == 20.0 and av.next_off(0, 12.0) == np.inf
    pq = tmp_path / "on.parquet"
    pd.read_csv(f).to_parquet(pq)
    assert read_intervals(pq, NAMES).available_at(7.0).tolist() == [True, False, False, True]


@pytest.mark.parametrize("text, message", [
    ("client,start_s,end_s\nclient.9,0,5\n", r"unknown client 'client.9'"),
    ("client,start_s,end_s\nclient.1,0,5\nclient.1,4,8\n", r"client 'client.1' has overlapping intervals 0.0..5.0 and 4.0..8.0"),
    ("client,start,end_s\nclient.1,0,5\n", r"missing column 'start_s'"),
    ("client,start_s,end_s\nclient.1,5,5\n", r"row 2: need 0 <= start_s < end_s"),
])
def test_bad_interval_files_are_one_line_errors(tmp_path, text, message):
    f = tmp_path / "on.csv"
    f.write_text(text)
    with pytest.raises(InputError, match=message) as err:
        read_intervals(f, NAMES)
    assert str(err.value).startswith(f"fl.availability.path: {f}") and "\n" not in str(err.value)


def test_cli_refuses_an_overlapping_trace_in_one_line(tmp_path):
    (tmp_path / "on.csv").write_text("client,start_s,end_s\nclient.1,0,5\nclient.1,4,8\n")
    base = yaml.safe_load(open(STAR))
    base["fl"]["availability"] = {"kind": "trace", "path": "on.csv"}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(base))
    out = subprocess.run([sys.executable, "-m", "twin.run", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "r")],
                         capture_output=True, text=True)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().count("\n") == 0 and "overlapping intervals" in out.stderr


def test_fedscale_trace_cycles_and_maps_ids_in_order(tmp_path):
    f = tmp_path / "client_behave_trace"
    trace = {2: {"active": [0, 50], "inactive": [10, 60], "finish_time": 100, "duration": 100},
             1: {"active": [20], "inactive": [30], "finish_time": 40, "duration": 40}}
    f.write_bytes(pickle.dumps(trace))
    av = read_fedscale(f, 3, horizon_s=200.0)
    # client 0 <- id 1 (on 20..30 every 40 s), client 1 <- id 2, client 2 <- id 1 again (FedScale wraps)
    assert [av.is_on(0, t) for t in (25, 35, 65, 105)] == [True, False, True, True]
    assert [av.is_on(1, t) for t in (5, 55, 105, 155, 175)] == [True, True, True, True, False]
    assert av.is_on(2, 65)


def test_fedscale_reader_runs_no_code(tmp_path):
    f = tmp_path / "evil"
    f.write_bytes(pickle.dumps({1: {"active": [0], "inactive": [1], "finish_time": pd.Timestamp(0)}}))
    with pytest.raises(InputError, match="not a FedScale client_behave_trace pickle"):
        read_fedscale(f, 2, horizon_s=10.0)


def test_generators_are_seeded_and_match_their_parameters():
    a = random_on_off(400, 100.0, 300.0, 20000.0, np.random.default_rng(1))
    b = random_on_off(400, 100.0, 300.0, 20000.0, np.random.default_rng(1))
    assert all(np.array_equal(x, y) for x, y in zip(a.starts, b.starts, strict=True))
    assert a.on_share(20000.0) == pytest.approx(0.25, abs=0.02)  # mean_on / (mean_on + mean_off)
    d = diurnal(500, 86400.0, 0.25, 43200.0, 1800.0, 2 * 86400.0, np.random.default_rng(2))
    assert d.on_share(2 * 86400.0) == pytest.approx(0.25, abs=0.01)
    assert d.available_at(43200.0).mean() > 0.95 and d.available_at(0.0).mean() == 0.0


def test_a_client_going_off_mid_round_drops_with_cause_offline_and_is_not_selected_again(tmp_path):
    (tmp_path / "on.csv").write_text("client,start_s,end_s\nclient.1,0,1.2\n")  # off while training in round 1
    cfg = load_scenario(STAR, [f"fl.availability={{kind: trace, path: {tmp_path / 'on.csv'}}}"])
    result = simulate(cfg)
    rounds, tl = result.tables["rounds"], result.tables["timeline"]
    assert rounds["n_available"].tolist() == [4, 3, 3]
    assert rounds["n_dropped"].tolist() == [1, 0, 0] and rounds["n_selected"].tolist() == [4, 3, 3]
    drop = tl[tl["kind"] == "client_dropped"].iloc[0]
    assert (drop["client"], drop["cause"], drop["phase"], drop["t"]) == ("client.1", "offline", "compute", 1.2)
    assert "client.1" not in set(tl.loc[(tl["kind"] == "select") & (tl["round"] > 1), "client"])
    assert result.summary["drop_causes"] == {"offline": 1}


def test_when_nobody_is_on_the_server_waits_for_the_next_client(tmp_path):
    rows = "".join(f"client.{i},{10 * i + 5},{10 * i + 9}\n" for i in range(4))  # one on after another
    (tmp_path / "on.csv").write_text("client,start_s,end_s\n" + rows)
    cfg = load_scenario(STAR, [f"fl.availability={{kind: trace, path: {tmp_path / 'on.csv'}}}", "fl.rounds=3"])
    rounds = simulate(cfg).tables["rounds"]
    # round 1 waits for client.0 (on at 5 s), done at 7.69 s; round 2 takes it again (on till 9 s: dropped, offline);
    # round 3 waits for client.1 (on at 15 s)
    assert rounds["t_start"].tolist() == pytest.approx([5.0, 5.0 + 2.694928, 15.0], abs=1e-6)
    assert rounds["t_end"].iloc[1] == 9.0
    assert rounds["n_selected"].tolist() == [1, 1, 1] and rounds["n_completed"].tolist() == [1, 0, 1]
