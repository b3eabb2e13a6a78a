"""Package-level checks: public API, numpy-only imports (checked with ast), docstrings, the benchmark."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import twin.radio as radio

ROOT = Path(__file__).resolve().parents[2]
RADIO = ROOT / "twin" / "radio"
FORBIDDEN = {"simpy", "torch", "pandas", "pydantic", "scipy"}


def test_radio_imports_numpy_only():
    for path in RADIO.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top not in FORBIDDEN, f"{path.name} imports {name}"
                assert top not in {"twin"} or name.startswith("twin.radio"), f"{path.name} imports {name}"


def test_public_api_is_exported_and_documented():
    required = {
        "pathloss_db", "los_probability", "noise_power_dbm", "spectral_efficiency", "cqi_from_sinr",
        "shadow_sigma_db", "decorrelation_distance_m", "ShadowingProcess", "LosProcess", "o2i_car_loss_db",
        "sinr_db", "downlink_rx_power_dbm", "uplink_rx_power_dbm", "user_rate_bps", "nr_peak_rate_bps",
        "get_preset", "PRESETS", "best_server", "Association",
    }  # fmt: skip
    assert required <= set(radio.__all__)
    for name in radio.__all__:
        obj = getattr(radio, name)
        if callable(obj):
            assert obj.__doc__, f"{name} has no docstring"


def test_benchmark_runs_small():
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "bench_radio.py"),
            "--n-ue",
            "300",
            "--n-cell",
            "9",
            "--steps",
            "2",
            "--warmup",
            "1",
            "--no-scenario",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": ""},  # no PYTHONPATH: the script finds the checkout itself
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert re.fullmatch(r"ms_per_step=\d+\.\d target_ms=50", out.stdout.strip().splitlines()[-1])
