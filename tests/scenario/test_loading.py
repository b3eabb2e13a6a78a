import pytest
import yaml

from twin.scenario.loading import ScenarioError, apply_overrides, builtin_names, load_scenario, resolved_yaml, validate
from twin.scenario.schema import ScenarioConfig, StarTopology


def _write(tmp_path, text):
    p = tmp_path / "s.yaml"
    p.write_text(text)
    return str(p)


def test_empty_file_gives_all_defaults(tmp_path):
    cfg = load_scenario(_write(tmp_path, ""))
    assert cfg.name == "s"
    assert isinstance(cfg.topology, StarTopology)


def test_builtin_quickstart_loads():
    assert "quickstart" in builtin_names()
    assert load_scenario("quickstart").name == "quickstart"


def test_resolved_yaml_round_trips():
    cfg = load_scenario("quickstart")
    again = ScenarioConfig.model_validate(yaml.safe_load(resolved_yaml(cfg)))
    assert again == cfg


def test_units_in_fields(tmp_path):
    cfg = load_scenario(_write(tmp_path, "topology:\n  kind: star\n  client_link: {bandwidth_bps: 20 Mbit/s, latency_s: 4 ms}\n"))
    assert cfg.topology.client_link.bandwidth_bps == 20e6
    assert cfg.topology.client_link.latency_s == pytest.approx(0.004)


@pytest.mark.parametrize(("text", "match"), [
    ("topology:\n  kind: star\n  client_link: {bandwidth_bps: -5}\n", r"s\.yaml:3: topology\.client_link\.bandwidth_bps: .*greater than 0"),
    ("topology:\n  kind: star\n  colour: red\n", r"s\.yaml:3: topology\.colour: unknown field"),
    ("fl:\n  rounds: many\n", r"s\.yaml:2: fl\.rounds: .*valid integer"),
    ("topology:\n  kind: mesh\n", r"s\.yaml:2: topology\.kind: .*'mesh'.*star"),
    ("fl:\n  rounds: 3\n  rounds: 4\n", r"s\.yaml:3: malformed YAML: duplicate key 'rounds'"),
    ("fl: [\n", r"s\.yaml:\d+: malformed YAML"),
    ("- a\n- b\n", r"must be a mapping"),
    ("fl:\n  model: {kind: fixed, size_bytes: 10 ms}\n", r"fl\.model\.size_bytes: unit 'ms'"),
    ("topology:\n  kind: explicit\n  nodes: [{name: s, role: server}, {name: c, role: client}]\n"
     "  links: [{a: s, b: x, bandwidth_bps: 1e6}]\n", r"topology: .*unknown node 'x'"),
])
def test_bad_input_is_one_line_naming_field_and_line(tmp_path, text, match):
    with pytest.raises(ScenarioError, match=match) as err:
        load_scenario(_write(tmp_path, text))
    assert "\n" not in str(err.value)


def test_missing_file():
    with pytest.raises(ScenarioError, match="nope.yaml: scenario file not found"):
        load_scenario("nope.yaml")
    with pytest.raises(ScenarioError, match="no built-in scenario"):
        load_scenario("nope")


def test_overrides_are_typed_by_schema(tmp_path):
    cfg = load_scenario("quickstart", ["fl.rounds=7", "topology.client_link.bandwidth_bps=5 Mbit/s", "seed=9"])
    assert cfg.fl.rounds == 7 and cfg.seed == 9
    assert cfg.topology.client_link.bandwidth_bps == 5e6
    with pytest.raises(ScenarioError, match=r"^--set: fl\.rounds: .*greater than 0"):
        load_scenario("quickstart", ["fl.rounds=0"])
    with pytest.raises(ScenarioError, match=r"fl\.roundz: unknown field"):
        load_scenario("quickstart", ["fl.roundz=3"])
    with pytest.raises(ScenarioError, match="FIELD.PATH=VALUE"):
        load_scenario("quickstart", ["fl.rounds"])


def test_override_into_lists():
    data = {"topology": {"kind": "tree", "fanout": [2, 3],
                         "level_links": [{"bandwidth_bps": 1e9}, {"bandwidth_bps": 1e8}]}}
    apply_overrides(data, ["topology.level_links.1.bandwidth_bps=42 Mbit/s"])
    cfg = validate(data)
    assert cfg.topology.level_links[1].bandwidth_bps == 42e6
    with pytest.raises(ScenarioError, match="not an existing list item"):
        apply_overrides(data, ["topology.level_links.5.bandwidth_bps=1"])


def test_seed_argument_wins():
    assert load_scenario("quickstart", seed=123).seed == 123
