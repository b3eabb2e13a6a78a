import pytest

from twin.recording.recorder import EVENT_SCHEMA, Recorder


def test_incomplete_event_is_rejected():
    rec = Recorder()
    with pytest.raises(ValueError, match="lacks bytes"):
        rec.emit("flow_start", 0.0, "f", flow="f", src="a", dst="b", direction="down")


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="no schema"):
        Recorder().emit("teleport", 0.0, "x")


def test_time_going_backwards_is_rejected():
    rec = Recorder()
    rec.emit("round_start", 1.0, "fl.server", 1, n_selected=2)
    with pytest.raises(ValueError, match="earlier"):
        rec.emit("round_start", 0.5, "fl.server", 2, n_selected=2)


def test_timeline_types():
    rec = Recorder()
    rec.emit("round_start", 0.0, "fl.server", 1, n_selected=3)
    rec.emit("flow_start", 0.5, "down.1.0", 1, flow="down.1.0", src="server", dst="client.0", bytes=10.0,
             direction="down")
    df = rec.timeline()
    assert list(df["kind"].cat.categories) == list(EVENT_SCHEMA)
    assert str(df["round"].dtype) == "Int64" and str(df["src"].dtype) == "string"
    assert df["bytes"].isna().tolist() == [True, False]
