"""Real federated training inside the twin: accuracy, determinism, exact bytes, dropped clients, bad input."""

import json

import numpy as np
import pandas as pd
import pytest

from twin.errors import InputError
from twin.fl.codecs import make_codec
from twin.run import main
from twin.scenario.loading import load_scenario
from twin.sim.runner import simulate

SMALL = ["fl.rounds=4", "fl.stop.target_accuracy=null", "topology.n_clients=8", "fl.schedule.start=4"]


def test_quickstart_reaches_90_percent_and_is_deterministic():
    a = simulate(load_scenario("quickstart"))
    b = simulate(load_scenario("quickstart"))
    assert a.summary["final_accuracy"] >= 0.9
    pd.testing.assert_frame_equal(a.tables["rounds"], b.tables["rounds"])
    pd.testing.assert_frame_equal(a.tables["timeline"], b.tables["timeline"])


def test_other_seed_gives_other_results():
    a = simulate(load_scenario("quickstart", SMALL))
    c = simulate(load_scenario("quickstart", SMALL, seed=2))
    assert not a.tables["rounds"]["accuracy"].equals(c.tables["rounds"]["accuracy"])


def test_communication_only_mode_keeps_selection_bytes_and_timing():
    trained = simulate(load_scenario("quickstart", SMALL)).tables
    comm = simulate(load_scenario("quickstart", [*SMALL, "fl.train=false"])).tables
    cols = ["round", "n_selected", "bytes_down", "bytes_up", "duration_s", "t_end"]
    pd.testing.assert_frame_equal(trained["rounds"][cols], comm["rounds"][cols])
    assert comm["rounds"]["accuracy"].isna().all()
    sel = lambda t: t["timeline"][t["timeline"]["kind"] == "select"]["client"].tolist()  # noqa: E731
    assert sel(trained) == sel(comm)


def test_upload_bytes_are_the_encoded_payload():
    res = simulate(load_scenario("quickstart", [*SMALL, "fl.upload_codec={kind: topk, fraction: 0.1}"]))
    numel = res.summary["fl"]["model_params"]
    expected = make_codec("topk", fraction=0.1).nbytes(numel)
    rounds = res.tables["rounds"]
    assert (rounds["bytes_up"] == rounds["n_completed"] * expected).all()
    assert (rounds["bytes_down"] == rounds["n_completed"] * 4 * numel).all()
    plain = simulate(load_scenario("quickstart", SMALL)).tables["rounds"]
    assert (rounds["duration_s"] < plain["duration_s"]).all()  # the 5 Mbit/s uplink dominates


def test_int8_broadcast_shrinks_the_download_four_times():
    res = simulate(load_scenario("quickstart", [*SMALL, "fl.broadcast_codec={kind: int8}"]))
    numel = res.summary["fl"]["model_params"]
    per_client = res.tables["rounds"]["bytes_down"] / res.tables["rounds"]["n_completed"]
    assert (per_client == numel + 4).all()
    assert res.summary["final_accuracy"] > 0.5


def test_dropped_clients_are_left_out_of_the_average():
    over = [*SMALL, "fl.deadline_s=1.0", "clients.device.heterogeneity={kind: uniform, low: 0.0005, high: 0.05}"]
    res = simulate(load_scenario("quickstart", over))
    rounds = res.tables["rounds"]
    assert rounds["n_dropped"].sum() > 0
    assert np.isfinite(rounds["accuracy"]).all()
    assert (rounds["n_completed"] + rounds["n_dropped"] == rounds["n_selected"]).all()


def test_sampling_with_replacement_trains_repeated_clients():
    res = simulate(load_scenario("quickstart", [*SMALL, "fl.replacement=true", "fl.schedule.start=16"]))
    rounds = res.tables["rounds"]
    assert (rounds["n_selected"] == 16).all() and (rounds["n_unique"] <= 8).all()


def test_clients_table_has_the_partition():
    clients = simulate(load_scenario("quickstart", SMALL)).tables["clients"]
    assert len(clients) == 8
    labels = clients[[f"label_{k}" for k in range(10)]].sum(axis=1)
    assert (labels == clients["n_samples"]).all()
    assert clients["n_samples"].sum() == 1438


def test_natural_partition_from_a_leaf_folder(tmp_path):
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        (tmp_path / split).mkdir()
        users, data = [], {}
        for u, n in (("w0", 30), ("w1", 20), ("w2", 25)):
            users.append(u)
            m = n if split == "train" else 5
            data[u] = {"x": rng.random((m, 16)).round(3).tolist(), "y": rng.integers(0, 4, m).tolist()}
        doc = {"users": users, "num_samples": [len(data[u]["y"]) for u in users], "user_data": data}
        (tmp_path / split / "all_data_0.json").write_text(json.dumps(doc))
    over = ["fl.rounds=2", "fl.stop.target_accuracy=null", "topology.n_clients=2", "fl.schedule.start=2",
            f"fl.data={{kind: leaf, path: {tmp_path}}}", "fl.partition={kind: natural}",
            "fl.model={kind: softmax_regression}"]
    res = simulate(load_scenario("quickstart", over))
    assert res.tables["clients"]["n_samples"].tolist() == [30, 20]
    with pytest.raises(InputError, match="3 natural clients but the scenario has 5"):
        simulate(load_scenario("quickstart", [*over, "topology.n_clients=5"]))


def test_synthetic_population_sized_by_the_topology():
    over = ["fl.rounds=2", "fl.stop.target_accuracy=null", "topology.n_clients=12", "fl.schedule.start=3",
            "fl.data={kind: synthetic, alpha: 0.5, beta: 0.5}", "fl.partition={kind: natural}",
            "fl.model={kind: softmax_regression}"]
    res = simulate(load_scenario("quickstart", over))
    assert len(res.tables["clients"]) == 12 and res.summary["fl"]["n_classes"] == 10


@pytest.mark.parametrize(("over", "needle"), [
    (["fl.data={kind: mnist}"], "fl.data.kind"),
    (["fl.local.batch_size=0"], "fl.local.batch_size"),
    (["fl.data={kind: fashion_mnist, path: /nonexistent/fmnist}"], "/nonexistent/fmnist"),
    (["fl.upload_codec={kind: topk, fraction: 2}"], "fl.upload_codec.fraction"),
    (["fl.schedule={kind: linear, start: 5, end: 50}"], "above start"),
    (["fl.model={kind: cnn}", "fl.data={kind: synthetic}", "fl.partition={kind: natural}"], "'cnn' needs image"),
])
def test_bad_fl_input_is_one_line_exit_2(tmp_path, capsys, over, needle):
    args = ["quickstart", "--out", str(tmp_path / "o")]
    for o in over:
        args += ["--set", o]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err, err
    assert not (tmp_path / "o").exists()


def test_leaf_file_with_mismatched_counts_is_exit_2(tmp_path, capsys):
    for split in ("train", "test"):
        (tmp_path / split).mkdir()
        doc = {"users": ["a"], "num_samples": [3], "user_data": {"a": {"x": [[0.0] * 4] * 2, "y": [0, 1]}}}
        (tmp_path / split / "d.json").write_text(json.dumps(doc))
    code = main(["quickstart", "--out", str(tmp_path / "o"), "--set", f"fl.data={{kind: leaf, path: {tmp_path}}}",
                 "--set", "fl.partition={kind: natural}", "--set", "topology.n_clients=1"])
    err = capsys.readouterr().err
    assert code == 2 and "d.json" in err and err.count("\n") == 1, err


def test_missing_fashion_mnist_says_how_to_get_it(tmp_path, monkeypatch, capsys):
    import twin.fl.data.idx as idx

    monkeypatch.setattr(idx, "FASHION_MNIST_DIR", tmp_path / "not-installed")
    assert main(["quickstart", "--out", str(tmp_path / "o"), "--set", "fl.data={kind: fashion_mnist}"]) == 2
    err = capsys.readouterr().err
    assert "apt-get install dataset-fashion-mnist" in err and err.count("\n") == 1, err
