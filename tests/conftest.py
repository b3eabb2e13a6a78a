"""Session-wide test settings."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _data_cache_in_a_temporary_folder(tmp_path_factory):
    """The disk cache of loaded data sets (twin.sim.data_store) goes to a folder of this session, never the user's
    ~/.cache (tests load idx files from temporary folders: each would leave an entry there)."""
    before = os.environ.get("TWIN_CACHE_DIR")
    os.environ["TWIN_CACHE_DIR"] = str(tmp_path_factory.mktemp("twin-cache"))
    yield
    if before is None:
        os.environ.pop("TWIN_CACHE_DIR", None)
    else:
        os.environ["TWIN_CACHE_DIR"] = before
