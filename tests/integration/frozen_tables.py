"""Hashes of every table of the shipped scenarios, frozen so that a refactor cannot change results by accident.

Each shipped scenario that CI can run is simulated in a fresh process with one thread (``OMP_NUM_THREADS=1``,
``torch.set_num_threads(1)``) and ``fl.rounds`` capped at 3; every table of the run is hashed (column names, dtypes
and values, row order included). ``tests/integration/test_frozen_tables.py`` compares with ``frozen_tables.json``.

A change that means to change results re-records them and says so in its commit and issue note::

    python tests/integration/frozen_tables.py --record            # all scenarios
    python tests/integration/frozen_tables.py --record quickstart # one
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
FROZEN = Path(__file__).with_name("frozen_tables.json")
ROUNDS = 3
# name -> (scenario path or built-in name, needs) ; needs, comma-separated: "fashion" (Fashion-MNIST files), "sumo"
# (eclipse-sumo), "numba" (scenarios with shared radio cells: the compiled mixed solver rounds differently from the
# numpy one, within 1e-13, so their hashes hold with numba only)
SCENARIOS: dict[str, tuple[str, str]] = {
    "quickstart": ("quickstart", ""),
    "wired_star": ("wired_star", ""),
    "city_grid": ("city_grid", "numba"),
    "drive_city": (str(ROOT / "scenarios/drive_city.yaml"), ""),
    "city_loaded": (str(ROOT / "scenarios/city_loaded.yaml"), "numba"),
    "sumo_grid": ("sumo_grid", "sumo,numba"),
    "edge_sites": ("edge_sites", ""),
    "study/fashion_star": (str(ROOT / "scenarios/study/fashion_star.yaml"), "fashion"),
    "study/fashion_city": (str(ROOT / "scenarios/study/fashion_city.yaml"), "fashion,numba"),
    "traffic/tcp_star": (str(ROOT / "scenarios/traffic/tcp_star.yaml"), ""),
}


def table_hash(df: pd.DataFrame) -> str:
    """sha256 over column names, dtypes and every value (row order included)."""
    h = hashlib.sha256()
    h.update(json.dumps([[str(c), str(t)] for c, t in df.dtypes.items()]).encode())
    h.update(str(len(df)).encode())
    if len(df):
        h.update(np.ascontiguousarray(pd.util.hash_pandas_object(df, index=False).to_numpy()).tobytes())
    return h.hexdigest()


def _hash_in_this_process(name: str) -> dict[str, str]:
    import torch

    torch.set_num_threads(1)
    from twin.run import scenario_base_dir
    from twin.scenario.loading import load_scenario
    from twin.sim.runner import simulate

    scenario, _ = SCENARIOS[name]
    config = load_scenario(scenario)
    if config.fl is not None:  # a pure network run (no fl:) stays one: it ends with its traffic
        config = load_scenario(scenario, [f"fl.rounds={ROUNDS}"])
    result = simulate(config, base_dir=scenario_base_dir(scenario))
    assert result.summary["status"] == "ok", result.summary.get("traceback")
    return {table: table_hash(df) for table, df in sorted(result.tables.items())}


def scenario_hashes(name: str) -> dict[str, str]:
    """Run one scenario in a fresh one-thread process and return {table: sha256}."""
    # PYTHONPATH: the child runs this file, so sys.path[0] is tests/integration; without ROOT first it would import
    # the installed twin (another checkout, for an editable install made elsewhere) instead of this one
    path = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0", "PYTHONPATH": path}
    out = subprocess.run([sys.executable, __file__, "--hash", name], capture_output=True, text=True, env=env,
                         cwd=ROOT, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{name}: {out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def available(needs: str) -> bool:
    for need in filter(None, needs.split(",")):
        if need == "fashion":
            from twin.fl.data.idx import FASHION_MNIST_DIR

            if not FASHION_MNIST_DIR.is_dir():
                return False
        if need == "sumo":
            try:
                import sumo  # noqa: F401
            except ImportError:
                return False
        if need == "numba":
            from twin.net.filling import AVAILABLE

            if not AVAILABLE:
                return False
    return True


def main(argv: list[str]) -> int:
    if argv[:1] == ["--hash"]:
        print(json.dumps(_hash_in_this_process(argv[1])))
        return 0
    if argv[:1] == ["--record"]:
        names = argv[1:] or list(SCENARIOS)
        frozen = json.loads(FROZEN.read_text()) if FROZEN.exists() else {}
        for name in names:
            if not available(SCENARIOS[name][1]):
                print(f"{name}: skipped ({SCENARIOS[name][1]} not available)", file=sys.stderr)
                continue
            frozen[name] = scenario_hashes(name)
            print(f"{name}: {len(frozen[name])} tables", file=sys.stderr)
        FROZEN.write_text(json.dumps(frozen, indent=1, sort_keys=True) + "\n")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
