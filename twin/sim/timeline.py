"""The flow engine's observer in the twin: every flow's start, end and cancellation become timeline rows.

The engine hands over each flow with its opaque tag; a :class:`~twin.sim.tags.FlowTag` supplies ``src``, ``dst``,
``direction`` and its own columns (``round``, ``client``, ``slot`` for an FL round flow). A flow without a tag is
recorded with empty endpoints and direction.
"""

from __future__ import annotations

from twin.net.flow import Flow
from twin.recording.recorder import Recorder
from twin.sim.tags import FlowTag


class FlowTimeline:
    """Implements :class:`twin.net.flow.FlowObserver`: ``flow_start`` / ``flow_end`` / ``flow_cancel`` events."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.tier_of: dict[int, str] = {}  # id(resource) -> tier (twin.sim.tiers), set once the network is built
        self.tier_bytes: dict[str, float] = {}  # bytes that crossed each tier (delivered or, if cancelled, sent)
        self._tiers: dict[int, tuple[list, tuple[str, ...]]] = {}  # id(flow) -> (its route, tiers) at start
        self._route_tiers: dict[tuple[int, ...], tuple[str, ...]] = {}  # a route's resources (ids) -> its tiers

    def tiers_of(self, route) -> tuple[str, ...]:
        """The tiers a route crosses, in route order without repeats (remembered per route: a run has few routes)."""
        key = tuple(map(id, route))
        tiers = self._route_tiers.get(key)
        if tiers is None:
            tiers = self._route_tiers[key] = tuple(dict.fromkeys(self.tier_of[i] for i in key if i in self.tier_of))
        return tiers

    def _count(self, flow: Flow, nbytes: float) -> None:
        """Add a finished flow's bytes to every tier its route crossed (at its start or its end: a flow that started
        stalled out of coverage crosses its cell's tiers once it is moved there)."""
        if not self.tier_of:
            return
        route, start = self._tiers.pop(id(flow), (None, ()))
        now = start if flow.route is route else self.tiers_of(flow.route)  # a re-routed flow has a new route list
        for tier in now if start == now else dict.fromkeys((*start, *now)):
            self.tier_bytes[tier] = self.tier_bytes.get(tier, 0.0) + nbytes

    def flow_started(self, flow: Flow, t: float) -> None:
        if self.tier_of:
            self._tiers[id(flow)] = (flow.route, self.tiers_of(flow.route))
        tag = flow.tag
        if isinstance(tag, FlowTag):
            cols = tag.columns()
            self.recorder.emit("flow_start", t, flow.name, cols.pop("round", None), flow=flow.name, src=tag.src,
                               dst=tag.dst, bytes=flow.size_bytes, direction=tag.direction, **cols)
        else:
            self.recorder.emit("flow_start", t, flow.name, None, flow=flow.name, src="", dst="", bytes=flow.size_bytes,
                               direction="")

    def flow_ended(self, flow: Flow, t: float) -> None:
        self._count(flow, flow.size_bytes)
        duration = t - flow.start_t
        rate = 8 * flow.size_bytes / duration if duration > 0 else float("inf")
        tag = flow.tag
        if isinstance(tag, FlowTag):
            cols = tag.columns()
            self.recorder.emit("flow_end", t, flow.name, cols.pop("round", None), flow=flow.name, src=tag.src,
                               dst=tag.dst, bytes=flow.size_bytes, direction=tag.direction, duration_s=duration,
                               rate_bps=rate, **cols)
        else:
            self.recorder.emit("flow_end", t, flow.name, None, flow=flow.name, src="", dst="", bytes=flow.size_bytes,
                               direction="", duration_s=duration, rate_bps=rate)

    def flow_cancelled(self, flow: Flow, t: float, bytes_done: float) -> None:
        self._count(flow, bytes_done)
        _, round_, ends = _columns(flow)
        self.recorder.emit("flow_cancel", t, flow.name, round_, flow=flow.name, **ends, bytes=flow.size_bytes,
                           direction=_direction(flow), bytes_done=float(bytes_done))


def _columns(flow: Flow) -> tuple[dict[str, object], object, dict[str, str]]:
    """(the tag's own columns without ``round``, the round or None, src and dst)."""
    tag = flow.tag
    if not isinstance(tag, FlowTag):
        return {}, None, {"src": "", "dst": ""}
    cols = tag.columns()
    return cols, cols.pop("round", None), {"src": tag.src, "dst": tag.dst}


def _direction(flow: Flow) -> str:
    return flow.tag.direction if isinstance(flow.tag, FlowTag) else ""
