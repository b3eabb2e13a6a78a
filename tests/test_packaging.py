"""Every package is installed (the import rules between packages are in tests/test_layering.py)."""

import pathlib

import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_every_package_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "twin").rglob("__init__.py")}
    assert found | {"twin.scenarios"} == listed

