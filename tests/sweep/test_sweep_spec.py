"""The sweep file: expansion order, stable run ids, override text, and the one-line errors for bad files."""

import pytest
from conftest import EIGHT, needs_builtins

from twin.sweeps import SweepError, load_sweep, make_plan
from twin.sweeps.spec import flow


def test_grid_zip_and_seeds_expand_in_a_fixed_order(make_sweep):
    path = make_sweep("""\
        set: {fl.rounds: 2}
        grid:
          fl.schedule: [{kind: constant, start: 2}, {kind: reciprocal, preset: seed}]
        zip:
          - {fl.local.epochs: [1, 5], fl.deadline_s: [10, 20]}
        seeds: [3, 4]
        """)
    sweep = load_sweep(path)
    points = sweep.expand()
    assert len(points) == 2 * 2 * 2
    assert [p.overrides for p in points[:3]] == [
        {"fl.schedule": {"kind": "constant", "start": 2}, "fl.local.epochs": 1, "fl.deadline_s": 10, "seed": 3},
        {"fl.schedule": {"kind": "constant", "start": 2}, "fl.local.epochs": 1, "fl.deadline_s": 10, "seed": 4},
        {"fl.schedule": {"kind": "constant", "start": 2}, "fl.local.epochs": 5, "fl.deadline_s": 20, "seed": 3},
    ]
    assert points[0].all_overrides()[0] == ("fl.rounds", 2)  # fixed overrides first
    ids = [p.run_id for p in points]
    assert len(set(ids)) == len(ids) and ids[0].startswith("000-") and len(ids[0]) == 10
    assert [p.run_id for p in load_sweep(path).expand()] == ids  # stable
    assert sweep.spec.swept == ["fl.schedule", "fl.local.epochs", "fl.deadline_s"]


def test_override_text_is_a_yaml_flow_mapping():
    assert flow({"fl.schedule": {"kind": "linear", "preset": "seed"}, "seed": 2}) == \
        "{fl.schedule: {kind: linear, preset: seed}, seed: 2}"
    assert flow("linear") == "linear" and flow([1, 2]) == "[1, 2]"


def test_plan_validates_every_run_and_hashes_the_resolved_scenario(make_sweep):
    plan = make_plan(load_sweep(make_sweep(EIGHT)))
    assert len(plan.runs) == 8
    assert len({r.hash for r in plan.runs}) == 8 and all(len(r.hash) == 64 for r in plan.runs)
    assert [r.seed for r in plan.runs[:2]] == [1, 2]
    assert "start: 6" in plan.runs[4].resolved_yaml and plan.runs[4].path == f"runs/{plan.runs[4].run_id}"


def test_base_relative_to_the_sweep_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "scen.yaml").write_text("name: mine\nfl: {rounds: 1, model: {kind: fixed, size_bytes: 1000}}\n")
    (tmp_path / "sub" / "s.yaml").write_text("base: ../scen.yaml\nseeds: [1, 2]\n")
    plan = make_plan(load_sweep(tmp_path / "sub" / "s.yaml"))
    assert plan.base_ref == str(tmp_path / "scen.yaml") and "name: mine" in plan.runs[0].resolved_yaml


@pytest.mark.parametrize(("body", "needle"), [
    ("grid: {}\n", r"sweep.yaml:2: empty grid"),
    ("grid: {fl.rounds: []}\n", r"sweep.yaml:2: grid.fl.rounds: empty list"),
    ("zip: [{fl.rounds: [1, 2], fl.deadline_s: [1, 2, 3]}]\n",
     r"sweep.yaml:2: zip.0: lists of different lengths \(fl.rounds: 2, fl.deadline_s: 3\)"),
    ("grid: {fl.rounds: 3}\n", r"sweep.yaml:2: grid.fl.rounds: Input should be a valid list"),
    ("grdi: {fl.rounds: [1]}\n", r"sweep.yaml:2: grdi: unknown field"),
    ("grid: {seed: [1, 2]}\n", r"seed: cannot be swept by name \(use seeds"),
    ("grid: {fl.rounds: [1]}\nset: {fl.rounds: 2}\n", r"fl.rounds: both swept and fixed"),
    ("seeds: []\n", r"seeds: empty list"),
    ("grid: [1, 2\n", r"sweep.yaml:\d+: malformed YAML"),
])
def test_bad_sweep_files_are_one_line_errors(make_sweep, body, needle):
    import re

    with pytest.raises(SweepError) as info:
        load_sweep(make_sweep(body))
    message = str(info.value)
    assert "\n" not in message and re.search(needle, message), message


@pytest.mark.parametrize(("body", "needle"), [
    ("grid: {fl.nope: [1, 2]}\n", r"sweep.yaml:2: run 000-\w{6}: override fl.nope=1: fl.nope: unknown field"),
    ("grid:\n  fl.schedule: [{kind: constant, start: 2}, {kind: linear, start: 2, colour: red}]\n",
     r"sweep.yaml:3: run 001-\w{6}: override fl.schedule=\{kind: linear, start: 2, colour: red\}: "
     r"fl.schedule.colour: unknown field"),
    ("set: {topology.client_link.bandwidth_bps: -1}\nseeds: [1]\n",
     r"sweep.yaml:2: run 000-\w{6}: override topology.client_link.bandwidth_bps=-1: "
     r"topology.client_link.bandwidth_bps: .*greater than 0"),
    ("grid: {fl.rounds.x: [1]}\n", r"override fl.rounds.x=1: the parent of 'x' is not a mapping"),
    ("grid: {fl.schedule.kind: [constant, linear]}\n", r"run 001-\w{6} \(\{fl.schedule.kind: linear\}\): .*fl.schedule"),
])
def test_bad_overrides_name_the_sweep_file_the_override_and_the_field(make_sweep, body, needle):
    import re

    with pytest.raises(SweepError) as info:
        make_plan(load_sweep(make_sweep(body)))
    message = str(info.value)
    assert "\n" not in message and re.search(needle, message), message


def test_missing_base(make_sweep):
    with pytest.raises(SweepError, match=r"sweep.yaml:1: base: scenario file not found: .*nowhere.yaml"):
        make_plan(load_sweep(make_sweep("seeds: [1]\n", base="nowhere.yaml")))


@needs_builtins
def test_missing_builtin_base(make_sweep):
    with pytest.raises(SweepError, match=r"base: no_such_builtin: no such scenario file"):
        make_plan(load_sweep(make_sweep("seeds: [1]\n", base="no_such_builtin")))


def test_shipped_sweep_files_are_valid():
    from conftest import ROOT

    files = sorted((ROOT / "scenarios" / "sweeps").glob("*.yaml"))
    # the study's sweep files sit beside their base scenarios; a sweep file is one that names a base
    files += [p for p in sorted((ROOT / "scenarios" / "study").glob("*.yaml")) if "\nbase:" in p.read_text()]
    assert len(files) >= 7
    for path in files:
        assert len(make_plan(load_sweep(path)).runs) >= 2, path
