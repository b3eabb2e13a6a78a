"""docs/tables.md is the schema of the run folder: every column of every table, its type and when it is there. This
test runs one scenario of each kind (wired, trained, radio) and compares each table with the page."""

import re
from pathlib import Path

import pandas as pd
import pytest

from twin.run import run_scenario
from twin.scenario.loading import load_scenario

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "tables.md"
KINDS = {  # kind -> (scenario, overrides, the "present" values that must hold in it)
    "wired": ("wired_star", ["fl.rounds=2"], {"always"}),
    "trained": ("quickstart", ["fl.rounds=2"], {"always", "trained"}),
    "radio": (str(ROOT / "scenarios" / "city_grid.yaml"), ["fl.rounds=1"], {"always", "radio", "buildings"}),
}


def _doc_tables() -> tuple[dict[str, list[tuple[str, str, str]]], list[tuple[str, str]]]:
    """{table: [(column pattern, type, present)]}, and the sample names [(name, present)]."""
    tables: dict[str, list[tuple[str, str, str]]] = {}
    names: list[tuple[str, str]] = []
    table = None
    header: list[str] = []
    lines = DOC.read_text().splitlines()
    for i, line in enumerate(lines):
        if m := re.match(r"^## (\w+)\.parquet", line):
            table, header = m.group(1), []
            tables[table] = []
        elif table and line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if i + 1 < len(lines) and lines[i + 1].startswith("|---"):
                header = cells
                continue
            for col in re.findall(r"`([^`]+)`", cells[0]):
                if header[0] == "column":
                    tables[table].append((col, cells[1], cells[3]))
                else:
                    names.append((col, cells[3]))
    return tables, names


def _pattern(col: str) -> re.Pattern:
    return re.compile("^" + re.sub(r"<[a-z]+>", r"\\d+", re.escape(col).replace(r"\<", "<").replace(r"\>", ">")) + "$")


@pytest.fixture(scope="module")
def run_folders(tmp_path_factory):
    out = {}
    for kind, (scenario, overrides, _) in KINDS.items():
        folder = tmp_path_factory.mktemp(kind) / "run"
        config = load_scenario(scenario, overrides)
        run_scenario(config, folder, base_dir=ROOT)
        out[kind] = folder
    return out


@pytest.mark.parametrize("kind", list(KINDS))
def test_run_folder_matches_the_table_page(run_folders, kind):
    tables, names = _doc_tables()
    assert len(tables) == 8 and all(tables.values()) and len(names) >= 10  # the page parsed as expected
    must = KINDS[kind][2]
    folder = run_folders[kind]
    found = {p.stem for p in folder.glob("*.parquet")}
    for table, cols in tables.items():
        needed = any(present in must for _, _, present in cols)
        if table not in found:
            assert not needed, f"{kind}: {table}.parquet is missing but docs/tables.md says it is there"
            continue
        df = pd.read_parquet(folder / f"{table}.parquet")
        for col, dtype in df.dtypes.astype(str).items():
            doc = [(c, t) for c, t, _ in cols if _pattern(c).match(col)]
            assert doc, f"{kind}: {table}.{col} ({dtype}) is not in docs/tables.md"
            assert doc[0][1] == dtype, f"{kind}: {table}.{col} is {dtype}, docs/tables.md says {doc[0][1]}"
        for col, _, present in cols:
            if present in must:
                assert any(_pattern(col).match(c) for c in df.columns), \
                    f"{kind}: {table}.parquet lacks {col} (docs/tables.md: {present})"
    assert not found - set(tables), f"{kind}: tables not in docs/tables.md: {sorted(found - set(tables))}"
    samples = pd.read_parquet(folder / "samples.parquet")
    documented = {n for n, _ in names}
    assert set(samples["name"].unique()) <= documented, set(samples["name"].unique()) - documented
    assert {n for n, present in names if present in must} <= set(samples["name"].unique())


def test_ids_have_one_type_everywhere(run_folders):
    """client and cell are strings with one dtype in every table; clients joins the timeline on client."""
    folder = run_folders["radio"]
    frames = {p.stem: pd.read_parquet(p) for p in folder.glob("*.parquet")}
    for key in ("client", "cell"):
        dtypes = {name: str(df[key].dtype) for name, df in frames.items() if key in df}
        assert set(dtypes.values()) == {"string"}, dtypes
    timeline, clients = frames["timeline"], frames["clients"]
    assert set(timeline["client"].dropna()) <= set(clients["client"])
    assert set(frames["samples"]["cell"].dropna()) <= set(frames["cells"]["cell"])
    radio = timeline[timeline["kind"].isin(["handover", "stall", "resume"])]
    assert len(radio) and radio["round"].notna().all()  # one round, always in progress: each carries it


@pytest.mark.parametrize("kind", ["wired", "radio"])
def test_bytes_samples_add_up_to_the_rounds(run_folders, kind):
    """The per-interval bytes of the engine are exact: over the run, the server's links (wired) or every cell's
    downlink and uplink (radio) carried exactly the bytes the rounds moved."""
    folder = run_folders[kind]
    samples = pd.read_parquet(folder / "samples.parquet", filters=[("name", "==", "bytes")])
    rounds = pd.read_parquet(folder / "rounds.parquet")
    total = samples.groupby("entity")["value"].sum()
    if kind == "wired":
        down, up = total["server->switch"], total["switch->server"]
    else:
        down = total[total.index.str.match(r"^cell\.\d+\.dl$")].sum()
        up = total[total.index.str.match(r"^cell\.\d+\.ul$")].sum()
    assert down == pytest.approx(rounds["bytes_down"].sum(), rel=1e-9)
    assert up == pytest.approx(rounds["bytes_up"].sum(), rel=1e-9)
