"""Head to head with Flower's simulation engine: the same FedAvg job in Flower (Ray backend) and in the twin.

The job (issue 16): Fashion-MNIST, 3,383 clients with log-normal quantity skew, softmax regression from zero, SGD lr
0.02, batch 20, 5 local epochs, 34 clients per round without replacement, 20 rounds, centralised evaluation on the
test set after every round. It is scenarios/study/fashion_star.yaml with the constant schedule at 34, no replacement,
20 rounds and no stop rule.

Both engines train exactly the same clients on exactly the same batches:

1. ``--make-plan`` (untimed) runs the job in the twin once, in process, and records the partition (each client's
   train rows), the clients selected in every round and the shuffling seed each got: ``plan.npz``.
2. Flower: stock ``flwr.serverapp.strategy.FedAvg`` (``fraction_evaluate=0``, ``min_train_nodes=34``,
   ``min_available_nodes=3383``) with its own random node sampling, one ClientApp per client (3,383 virtual
   SuperNodes), Ray backend, centralised ``evaluate_fn``. Flower's node ids are random; a thin wrapper around the
   Grid maps the j-th node that FedAvg sampled in round r to the j-th client the twin selected in round r (and its
   seed) in that node's train message, so the ClientApp loads that partition. The ClientApp is a plain PyTorch loop
   (``torch.optim.SGD``) over the batches the seed gives (the twin's ``make_plan``: a seeded permutation per epoch).
3. The twin: ``python -m twin.run`` on the scenario (its vectorised cohort training, the network timed as well).

The two run alternately (twin, Flower, twin, Flower ...), each as a fresh process; for each: whole-process wall time,
the first round's and the steady-state (median of rounds 2..N) per-round wall time (twin: from run.log's
timestamps; Flower: between its centralised evaluations, the first counted from the evaluation of the initial model),
and the peak memory of the whole process tree (Ray's GCS, raylet, workers ... included), sampled every 0.1 s as the
sum of PSS (proportional set size: shared pages counted once) and of RSS. Then the accuracies of every round are
compared (must agree within 1e-4) and the ratios printed. Last line:
``wall_ratio=<flower/twin> round_ratio=<steady-state flower/twin> memory_ratio=<peak PSS flower/twin> max_acc_diff=``.

Flower lives in its own virtual environment (it pins Ray, protobuf and grpc versions of its own)::

    python -m venv /work/venvs/flower
    /work/venvs/flower/bin/pip install torch==2.13.0 && /work/venvs/flower/bin/pip install -e '.[flower]'
    python tools/bench_vs_flower.py [--repeats 2] [--flower-python /work/venvs/flower/bin/python]

Needs Fashion-MNIST (apt-get install dataset-fashion-mnist).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "study" / "fashion_star.yaml"
ROUNDS, PER_ROUND, N_CLIENTS = 20, 34, 3383
JOB = ["fl.schedule={kind: constant, start: 34}", "fl.replacement=false", "fl.stop.target_accuracy=null",
       "fl.stop.floor_decimals=null"]
LR, BATCH, EPOCHS = 0.02, 20, 5
THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


# ------------------------------------------------------------------------------------------------------ the plan


def make_plan(path: Path) -> None:
    """Run the job in the twin in this process and record partition, selection and seeds (see the docstring)."""
    import twin.fl.training as training
    from twin.run import scenario_base_dir
    from twin.scenario.loading import load_scenario
    from twin.sim import federation
    from twin.sim.runner import simulate

    selected, seeds = [], []
    draw, begin = training.client_seeds, federation.FederatedWorkload.begin_round

    def record_seeds(rng, n):
        out = draw(rng, n)
        seeds.append(out.copy())
        return out

    def record_selection(self, round_, chosen):
        selected.append([p.client for p in chosen])
        return begin(self, round_, chosen)

    training.client_seeds = record_seeds
    federation.FederatedWorkload.begin_round = record_selection
    config = load_scenario(str(SCENARIO), [*JOB, f"fl.rounds={ROUNDS}"])
    result = simulate(config, base_dir=scenario_base_dir(str(SCENARIO)))
    assert result.summary["status"] == "ok", result.summary.get("exception")
    clients = result.env.workload.data.client_indices
    np.savez(path, rows=np.concatenate(clients), offsets=np.cumsum([0, *map(len, clients)]),
             selected=np.array(selected, dtype=np.int64), seeds=np.array(seeds, dtype=np.int64),
             accuracy=result.tables["rounds"]["accuracy"].to_numpy())


# --------------------------------------------------------------------------------------------- the Flower child

def _data(plan_path: str) -> dict:
    """Fashion-MNIST and the plan, loaded once per process (each Ray worker loads them on its first ClientApp). Kept
    on the ``sys`` module: Ray unpickles the ClientApp's functions (defined in ``__main__``) anew for every call, so a
    global of this file would start empty every time."""
    _DATA = sys.__dict__.setdefault("_bench_vs_flower_data", {})
    if not _DATA:
        import torch

        from twin.fl.data import load_dataset

        torch.set_num_threads(1)
        data = load_dataset("fashion_mnist")
        plan = dict(np.load(plan_path))
        _DATA.update(x=torch.from_numpy(data.x_train.reshape(len(data.x_train), -1)),
                     y=torch.from_numpy(data.y_train), x_test=torch.from_numpy(data.x_test.reshape(
                         len(data.x_test), -1)), y_test=torch.from_numpy(data.y_test), **plan)
    return _DATA


def _model():
    import torch
    from torch import nn

    model = nn.Linear(784, 10)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.zero_()
    return model


def flower_child(plan_path: str, out_path: str) -> None:
    """Run the job in Flower's simulation engine (this process is the one whose tree is measured)."""
    import torch
    import torch.nn.functional as F
    from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp
    from flwr.serverapp import Grid, ServerApp
    from flwr.serverapp.strategy import FedAvg
    from flwr.simulation import run_simulation

    from twin.fl.batching import make_plan as batch_plan

    client_app = ClientApp()

    @client_app.train()
    def train(msg: Message, context: Context) -> Message:
        d = _data(plan_path)
        cfg = msg.content["config"]
        c, seed = int(cfg["twin-client"]), int(cfg["twin-seed"])
        rows = d["rows"][d["offsets"][c]:d["offsets"][c + 1]]
        model = _model()
        model.load_state_dict(msg.content["arrays"].to_torch_state_dict())
        opt = torch.optim.SGD(model.parameters(), lr=LR)
        plan = batch_plan([rows], [seed], local_epochs=EPOCHS, batch_size=BATCH, shuffle=True)
        batches, counts = torch.from_numpy(plan.rows[0]), plan.counts[0]
        for s in range(int(plan.steps[0])):
            idx = batches[s, :counts[s]]
            loss = F.cross_entropy(model(d["x"][idx]), d["y"][idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        reply = RecordDict({"arrays": ArrayRecord(model.state_dict()),
                            "metrics": MetricRecord({"num-examples": len(rows)})})
        return Message(content=reply, reply_to=msg)

    class TwinMappedGrid:
        """The Grid as FedAvg sees it, except that each train message names the twin's client for its node."""

        def __init__(self, grid: Grid, plan: dict) -> None:
            self.grid, self.plan = grid, plan

        def __getattr__(self, name):
            return getattr(self.grid, name)

        def send_and_receive(self, messages, *, timeout=None):
            messages = list(messages)
            if messages and messages[0].metadata.message_type == "train":
                r = int(messages[0].content["config"]["server-round"]) - 1
                mapped = []
                for j, m in enumerate(messages):
                    config = ConfigRecord({**dict(m.content["config"]), "twin-client": int(self.plan["selected"][r, j]),
                                           "twin-seed": int(self.plan["seeds"][r, j])})
                    content = RecordDict({"arrays": m.content["arrays"], "config": config})
                    mapped.append(Message(content=content, dst_node_id=m.metadata.dst_node_id,
                                          message_type=m.metadata.message_type))
                messages = mapped
            return self.grid.send_and_receive(messages, timeout=timeout)

    evals: list[dict] = []

    def central_eval(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        d = _data(plan_path)
        model = _model()
        model.load_state_dict(arrays.to_torch_state_dict())
        with torch.no_grad():
            logits = model(d["x_test"])
            acc = float((logits.argmax(1) == d["y_test"]).double().mean())
            loss = float(F.cross_entropy(logits, d["y_test"]))
        evals.append({"round": server_round, "t": time.time(), "accuracy": acc, "loss": loss})
        Path(out_path).write_text(json.dumps(evals))
        return MetricRecord({"accuracy": acc, "loss": loss})

    server_app = ServerApp()

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        plan = _data(plan_path)
        strategy = FedAvg(fraction_train=1e-9, min_train_nodes=PER_ROUND, fraction_evaluate=0.0,
                          min_available_nodes=N_CLIENTS)
        strategy.start(grid=TwinMappedGrid(grid, plan), initial_arrays=ArrayRecord(_model().state_dict()),
                       num_rounds=ROUNDS, evaluate_fn=central_eval)

    run_simulation(server_app=server_app, client_app=client_app, num_supernodes=N_CLIENTS,
                   backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0}})


# ---------------------------------------------------------------------------------------------- measuring


def _tree_memory(root: int) -> tuple[float, float]:
    """(PSS, RSS) in MB summed over ``root`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    pss = rss = 0.0
    todo = [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1]) / 1024
                elif line.startswith("Rss:"):
                    rss += int(line.split()[1]) / 1024
        except OSError:
            continue
    return pss, rss


def run_measured(args: list[str], env: dict, log_path: Path) -> dict:
    peak = [0.0, 0.0]
    with open(log_path, "w") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                pss, rss = _tree_memory(proc.pid)
                peak[0], peak[1] = max(peak[0], pss), max(peak[1], rss)
                done.wait(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        rc = proc.wait()
        wall = time.perf_counter() - t0
        done.set()
        sampler.join()
    if rc != 0:
        raise SystemExit(f"{args[:3]} failed (exit {rc}); see {log_path}:\n{log_path.read_text()[-3000:]}")
    return {"wall_s": wall, "peak_pss_mb": peak[0], "peak_rss_mb": peak[1]}


_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ twin\.run: (built in|round (\d+)/)")


def twin_rounds(run_dir: Path) -> list[float]:
    """Per-round wall times of a twin run from run.log (round 1 counted from the end of the build)."""
    stamps = []
    for line in (run_dir / "run.log").read_text().splitlines():
        m = _STAMP.match(line)
        if m:
            stamps.append(datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp())
    return list(np.diff(stamps))


def run_twin(work: Path, i: int) -> tuple[dict, list[float], np.ndarray]:
    import pandas as pd

    out = work / f"twin{i}"
    args = [sys.executable, "-m", "twin.run", str(SCENARIO), "--out", str(out), "--quiet", "--overwrite",
            "--threads", "1", "--set", "fl.device=cpu"]
    for item in [*JOB, f"fl.rounds={ROUNDS}"]:
        args += ["--set", item]
    env = {**os.environ, **THREAD_ENV, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                                                     os.environ.get("PYTHONPATH")]))}
    m = run_measured(args, env, work / f"twin{i}.log")
    return m, twin_rounds(out), pd.read_parquet(out / "rounds.parquet")["accuracy"].to_numpy()


def run_flower(work: Path, i: int, python: str, plan: Path) -> tuple[dict, list[float], np.ndarray]:
    out = work / f"flower{i}.json"
    env = {**os.environ, **THREAD_ENV}
    env.pop("PYTHONPATH", None)  # the venv's own packages (twin installed there from this checkout)
    m = run_measured([python, str(Path(__file__).resolve()), "--rounds", str(ROUNDS), "--flower-child", str(plan),
                      str(out)], env,
                     work / f"flower{i}.log")
    evals = json.loads(out.read_text())
    t = [e["t"] for e in evals]
    return m, list(np.diff(t)), np.array([e["accuracy"] for e in evals[1:]])


def main() -> None:
    global ROUNDS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="(a shorter job, to try the setup)")
    parser.add_argument("--flower-python", default=os.environ.get("FLOWER_PYTHON", "/work/venvs/flower/bin/python"))
    parser.add_argument("--make-plan", metavar="PATH", help=argparse.SUPPRESS)
    parser.add_argument("--flower-child", nargs=2, metavar=("PLAN", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--work", help="keep logs, plan and run folders here (default: a temporary folder)")
    args = parser.parse_args()
    ROUNDS = args.rounds
    if args.make_plan:
        return make_plan(Path(args.make_plan))
    if args.flower_child:
        return flower_child(*args.flower_child)
    check = subprocess.run([args.flower_python, "-c", "import flwr, ray, torch; print(flwr.__version__, "
                            "ray.__version__, torch.__version__)"], capture_output=True, text=True)
    if check.returncode != 0:
        raise SystemExit(f"{args.flower_python}: no Flower there; make its venv as this file's docstring says")
    versions = check.stdout.split()
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_vs_flower-"))
    work.mkdir(parents=True, exist_ok=True)
    plan = work / "plan.npz"
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "--rounds", str(ROUNDS), "--make-plan", str(plan)],
                   check=True,
                   env={**os.environ, **THREAD_ENV})
    planned = np.load(plan)["accuracy"]
    print(f"flwr {versions[0]}, ray {versions[1]}, torch {versions[2]} (Flower venv); python "
          f"{sys.version.split()[0]}; {os.cpu_count()} cores; load before "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    res: dict[str, list] = {"twin": [], "flower": []}
    for i in range(args.repeats):
        for engine in ("twin", "flower"):
            m, rounds, acc = run_twin(work, i) if engine == "twin" else run_flower(work, i, args.flower_python, plan)
            m.update(first_round_s=rounds[0], steady_round_s=statistics.median(rounds[1:]), accuracy=acc)
            res[engine].append(m)
            print(f"  {engine:6s} run {i + 1}: wall {m['wall_s']:7.2f} s, first round {m['first_round_s']:.3f} s, "
                  f"steady round {m['steady_round_s']:.4f} s, peak PSS {m['peak_pss_mb']:7.0f} MB (RSS "
                  f"{m['peak_rss_mb']:.0f} MB), final accuracy {acc[-1]:.4f}", flush=True)
    print(f"load after {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    med = {e: {k: statistics.median(r[k] for r in runs) for k in ("wall_s", "first_round_s", "steady_round_s",
                                                                  "peak_pss_mb", "peak_rss_mb")}
           for e, runs in res.items()}
    diffs = [float(np.abs(r["accuracy"] - planned).max()) for runs in res.values() for r in runs]
    acc_t, acc_f = res["twin"][0]["accuracy"], res["flower"][0]["accuracy"]
    print("round  twin_acc  flower_acc  diff")
    for r, (a, b) in enumerate(zip(acc_t, acc_f, strict=True), 1):
        print(f"{r:5d}  {a:.4f}    {b:.4f}      {b - a:+.1e}")
    print(f"{'median of ' + str(args.repeats):14s} {'twin':>10s} {'flower':>10s} {'flower/twin':>12s}")
    for k, label in (("wall_s", "wall s"), ("first_round_s", "round 1 s"), ("steady_round_s", "round s"),
                     ("peak_pss_mb", "peak PSS MB"), ("peak_rss_mb", "peak RSS MB")):
        print(f"{label:14s} {med['twin'][k]:10.3f} {med['flower'][k]:10.3f} {med['flower'][k] / med['twin'][k]:12.2f}")
    print(f"accuracies agree round by round within 1e-4: {max(diffs) <= 1e-4} (max difference {max(diffs):.1e})")
    print(f"wall_ratio={med['flower']['wall_s'] / med['twin']['wall_s']:.2f} "
          f"round_ratio={med['flower']['steady_round_s'] / med['twin']['steady_round_s']:.2f} "
          f"memory_ratio={med['flower']['peak_pss_mb'] / med['twin']['peak_pss_mb']:.2f} max_acc_diff={max(diffs):.1e}")
    if max(diffs) > 1e-4:
        raise SystemExit("the two engines' accuracies differ by more than 1e-4: not the same job")


if __name__ == "__main__":
    main()
