"""Benchmark of the recorder's timeline: appending events and building the DataFrame.

The events of a study run (``scenarios/study/fashion_star.yaml``, 150 rounds of 338 clients: 2,709 events a round,
406,350 in all): per round ``round_start``, 338 ``select``, per client a download (``flow_start``, ``flow_end``),
training (``train_start``, ``train_end``), an upload (``flow_start``, ``flow_end``) and ``upload_done``, then
``aggregate``, ``evaluate``, ``round_end``. Two ways of recording them:

1. ``emit``: one call per event (the SimPy path). Prints the time per call and, for scale, the same loop calling a
   function of ``emit``'s signature that does nothing (what the call itself costs), then ``timeline()``.
2. ``emit_many``: the 2,366 client events of a round in blocks of ``--block`` rows (arrays, as a compiled round path
   hands them over), the other 343 events by ``emit``; then ``timeline()``.

Usage: python tools/bench_recorder.py [--rounds 150] [--clients 338] [--block 1400] [--repeat 3]

Medians of ``--repeat`` runs, wall and CPU (``time.process_time``) time. The last line is ``key=value`` pairs:
``emit_us``, ``timeline_emit_s``, ``emit_many_s``, ``timeline_block_s`` (wall medians).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's twin, from any directory

from twin.recording.recorder import Recorder  # noqa: E402

LAYOUT = {"flow_start": ("flow", "src", "dst", "bytes", "direction", "client", "slot"),
          "flow_end": ("flow", "src", "dst", "bytes", "direction", "duration_s", "rate_bps", "client", "slot"),
          "train_start": ("client", "slot", "flops"), "train_end": ("client", "slot", "compute_s"),
          "upload_done": ("client", "slot", "bytes")}


def client_rows(rounds: int, clients: int, seed: int = 0):
    """Per round, the client events in time order: (kinds, t, entity, columns) as arrays, and as emit calls."""
    rng = np.random.default_rng(seed)
    names = np.array([f"client.{i}" for i in range(clients)], dtype=object)
    out = []
    t0 = 0.0
    for r in range(1, rounds + 1):
        down = rng.uniform(0.5, 3.0, clients)
        train = rng.uniform(0.1, 2.0, clients)
        up = rng.uniform(0.5, 6.0, clients)
        size = np.full(clients, 318_000.0)
        slot = np.arange(clients)
        times = [np.full(clients, t0), t0 + down, t0 + down, t0 + down + train, t0 + down + train,
                 t0 + down + train + up, t0 + down + train + up]
        kinds = ["flow_start", "flow_end", "train_start", "train_end", "flow_start", "flow_end", "upload_done"]
        t = np.concatenate(times)
        order = np.argsort(t, kind="stable")
        k = np.repeat(np.array(kinds), clients)[order]
        down_name = np.array([f"down.{r}.{i}" for i in range(clients)], dtype=object)
        up_name = np.array([f"up.{r}.{i}" for i in range(clients)], dtype=object)
        flow = np.concatenate([down_name, down_name, names, names, up_name, up_name, names])
        is_up = np.repeat(np.arange(7) >= 4, clients)
        dur = np.concatenate([np.zeros(clients), down, np.zeros(clients), train, np.zeros(clients), up,
                              np.zeros(clients)])
        cols = {"flow": flow[order],
                "src": np.where(is_up, np.tile(names, 7), "server").astype(object)[order],
                "dst": np.where(is_up, "server", np.tile(names, 7)).astype(object)[order],
                "bytes": np.tile(size, 7)[order], "direction": np.where(is_up, "up", "down").astype(object)[order],
                "client": np.tile(names, 7)[order], "slot": np.tile(slot, 7)[order],
                "duration_s": dur[order], "rate_bps": np.divide(8 * np.tile(size, 7), dur, out=np.full(7 * clients,
                                                                np.inf), where=dur > 0)[order],
                "flops": np.full(7 * clients, 2.5e9), "compute_s": dur[order]}
        entity = np.where(np.isin(k, ["flow_start", "flow_end"]), cols["flow"], cols["client"])
        calls = [(k[i], float(t[order][i]), entity[i], {c: cols[c][i].item() if hasattr(cols[c][i], "item")
                                                        else cols[c][i] for c in LAYOUT[k[i]]})
                 for i in range(len(k))]
        out.append((r, t0, t[order][-1], names, k, t[order], entity, cols, calls))
        t0 = float(t.max()) + 1.0
    return out


def record(rounds_data, mode: str, block: int, emit=None):
    rec = Recorder()
    em = emit or rec.emit
    em("run_start", 0.0, "fl.server", n_clients=len(rounds_data[0][3]))
    for r, t0, t1, names, k, t, entity, cols, calls in rounds_data:
        em("round_start", t0, "fl.server", r, n_selected=len(names))
        for i, name in enumerate(names):
            em("select", t0, name, r, client=name, slot=i)
        if mode == "emit":
            for kind, tt, ent, fields in calls:
                em(kind, tt, ent, r, **fields)
        else:
            for a in range(0, len(k), block):
                rec.emit_many(k[a:a + block], t[a:a + block], entity[a:a + block], r,
                              {c: v[a:a + block] for c, v in cols.items()}, LAYOUT)
        em("aggregate", t1, "fl.server", r, n_completed=len(names))
        em("evaluate", t1, "fl.server", r, accuracy=0.75, loss=0.7)
        em("round_end", t1, "fl.server", r, n_completed=len(names), n_dropped=0)
    em("run_end", t1, "fl.server", reason="rounds")
    return rec


def _noop(kind, t, entity, round=None, **fields):
    return None


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=150)
    ap.add_argument("--clients", type=int, default=338)
    ap.add_argument("--block", type=int, default=1400)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    data = client_rows(args.rounds, args.clients)
    n = 2 + sum(len(d[4]) + len(d[3]) + 4 for d in data)
    print(f"{n:,} events ({args.rounds} rounds of {args.clients} clients)")
    res: dict[str, list[tuple[float, float]]] = {}
    blocks = hasattr(Recorder, "emit_many")
    for _ in range(args.repeat):
        rec, w, c = timed(lambda: record(data, "emit", args.block))
        res.setdefault("emit", []).append((w, c))
        _, w, c = timed(rec.timeline)
        res.setdefault("timeline (emit)", []).append((w, c))
        del rec
        _, w, c = timed(lambda: record(data, "emit", args.block, emit=_noop))
        res.setdefault("no-op calls", []).append((w, c))
        if blocks:
            rec, w, c = timed(lambda: record(data, "block", args.block))
            res.setdefault("emit_many + emit", []).append((w, c))
            _, w, c = timed(rec.timeline)
            res.setdefault("timeline (blocks)", []).append((w, c))
            del rec
    med = {key: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for key, v in res.items()}
    for key, (w, c) in med.items():
        per = f"   {w / n * 1e6:.2f} us/event" if key in ("emit", "no-op calls") else ""
        print(f"{key:20s} wall {w:7.3f} s   cpu {c:7.3f} s{per}")
    line = f"emit_us={med['emit'][0] / n * 1e6:.2f} call_us={med['no-op calls'][0] / n * 1e6:.2f} " \
           f"timeline_emit_s={med['timeline (emit)'][0]:.3f}"
    if blocks:
        line += f" emit_many_s={med['emit_many + emit'][0]:.3f} timeline_block_s={med['timeline (blocks)'][0]:.3f}"
    print(line)


if __name__ == "__main__":
    main()
