"""Bad geometry input on the command line: one line on stderr naming the field or file, exit 2 (issue 13)."""

import yaml

from .conftest import ROOT, refused

BASE = yaml.safe_load((ROOT / "scenarios" / "city_grid.yaml").read_text())


def scenario(tmp_path, edit) -> str:
    cfg = yaml.safe_load(yaml.safe_dump(BASE))
    cfg["mobility"]["n_vehicles"] = 20
    cfg["clients"]["vehicles"]["count"] = 5
    cfg["fl"]["schedule"]["start"] = 2
    cfg["radio"]["coverage"] = {"enabled": False}
    cfg["radio"]["tiers"] = cfg["radio"]["tiers"][:1]
    edit(cfg)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_antenna_below_the_roof_it_stands_on(tmp_path):
    def edit(cfg):
        tier = cfg["radio"]["tiers"][0]
        tier.pop("antenna_height")
        tier["placement"] = {"kind": "explicit", "sites_m": [[50, 50]]}  # on a building 15-50 m high, antenna 25 m
        cfg["mobility"]["buildings"]["height_m"] = "40 m"

    refused("twin.run", scenario(tmp_path, edit), "--validate", match="radio.tiers[0].antenna_height: site 0")


def test_polygon_file_that_does_not_parse(tmp_path):
    (tmp_path / "bad.poly.xml").write_text("<additional><poly id='x' type='building' shape='0,0 1,0 1,1'>")

    def edit(cfg):
        cfg["mobility"]["buildings"] = {"kind": "sumo_poly", "path": "bad.poly.xml"}

    refused("twin.run", scenario(tmp_path, edit), "--validate", match="mobility.buildings.path: could not parse")


def test_unknown_los_kind(tmp_path):
    def edit(cfg):
        cfg["radio"]["los"] = "sometimes"

    refused("twin.run", scenario(tmp_path, edit), "--validate", match="radio.los")
