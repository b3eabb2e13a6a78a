"""SUMO road networks (``.net.xml`` via sumolib) and thin wrappers over the SUMO tools (the ``sumo`` extra).

The wrappers run the binaries of the ``eclipse-sumo`` package offline: :func:`netgenerate_grid` builds a grid network,
:func:`random_trips` writes routed random trips (``randomTrips.py`` + ``duarouter``), :func:`run_sumo_fcd` runs a
simulation and writes floating-car data (``--fcd-output``) that :class:`twin.mobility.TraceMobility` replays.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import quoteattr

import networkx as nx

from ._extras import require, sumo_binary, sumo_home, sumo_tool
from .network import RoadNetwork

__all__ = ["load_sumo_net", "netgenerate_grid", "random_trips", "run_sumo_fcd", "write_vtype_distribution"]


def _existing_file(param: str, path: str | os.PathLike, what: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{param}: {what} not found: {str(p)!r}")
    return p


def load_sumo_net(path: str | os.PathLike, *, vclass: str | None = "passenger") -> RoadNetwork:
    """Read a SUMO ``.net.xml`` into a :class:`RoadNetwork` (SUMO coordinates are already metres).

    Internal (junction) edges and special edges (crossings, walking areas) are dropped; with ``vclass`` only edges with a
    lane allowing that vehicle class are kept (``None`` keeps all). Edge key and ``id`` are the SUMO edge id; geometry is
    the averaged lane shape extended to both junction centres (``getShape(includeJunctions=True)``); ``length_m`` is the
    lane length, ``speed_mps`` the edge speed limit, ``lanes`` the lane count.
    """
    p = _existing_file("path", path, "SUMO network file")
    sumolib = require("sumolib", "sumo")
    try:
        net = sumolib.net.readNet(str(p), withInternal=False)
    except Exception as exc:  # sumolib raises SAX / value errors of several kinds
        raise ValueError(f"path: could not parse SUMO network {str(p)!r}: {exc}") from None
    g = nx.MultiDiGraph(crs="sumo", source=str(p), location_offset=tuple(net.getLocationOffset()))
    for edge in net.getEdges(withInternal=False):
        if edge.isSpecial() or (vclass is not None and not edge.allows(vclass)):
            continue
        for node in (edge.getFromNode(), edge.getToNode()):
            if node.getID() not in g:
                x, y = node.getCoord()[:2]
                g.add_node(node.getID(), x=float(x), y=float(y), type=node.getType())
        g.add_edge(
            edge.getFromNode().getID(),
            edge.getToNode().getID(),
            key=edge.getID(),
            id=edge.getID(),
            name=edge.getName() or "",
            length_m=float(edge.getLength()),
            speed_mps=float(edge.getSpeed()),
            lanes=int(edge.getLaneNumber()),
            geometry_xy=[tuple(pt[:2]) for pt in edge.getShape(includeJunctions=True)],
        )
    if g.number_of_edges() == 0:
        raise ValueError(f"path: SUMO network {str(p)!r} has no edges usable by vclass {vclass!r}")
    return RoadNetwork(g, name=p.name)


def _run(cmd: Sequence[str], what: str, cwd: str | os.PathLike | None = None) -> None:
    env = dict(os.environ, SUMO_HOME=sumo_home())
    proc = subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise RuntimeError(f"{what} failed (exit {proc.returncode}): {' | '.join(tail)}")


def netgenerate_grid(
    out_path: str | os.PathLike,
    *,
    number: int = 3,
    length_m: float = 100.0,
    speed_mps: float = 13.89,
    extra_args: Sequence[str] = (),
) -> Path:
    """Write a ``number x number`` grid network with ``netgenerate --grid`` (offline); returns the path."""
    if number < 2:
        raise ValueError(f"number must be >= 2, got {number}")
    if not length_m > 0:
        raise ValueError(f"length_m must be > 0, got {length_m}")
    out = Path(out_path)
    cmd = [
        sumo_binary("netgenerate"), "--grid", "--grid.number", str(number), "--grid.length", str(length_m),
        "--default.speed", str(speed_mps), "-o", str(out), *extra_args,
    ]  # fmt: skip
    _run(cmd, "netgenerate")
    return out


def write_vtype_distribution(
    out_path: str | os.PathLike, vehicle_types: Sequence, *, distribution_id: str = "twin_mix"
) -> Path:
    """Write a SUMO additional file with a ``vTypeDistribution`` from :class:`twin.mobility.VehicleType` entries
    (``maxSpeed``, ``speedFactor`` unless 1: SUMO's default distribution, ``probability``)."""
    lines = ["<additional>", f"    <vTypeDistribution id={quoteattr(distribution_id)}>"]
    for vt in vehicle_types:
        vclass = "emergency" if vt.name == "ambulance" else "passenger"
        factor = getattr(vt, "speed_factor", 1.0)
        # a factor of 1 keeps SUMO's default speedFactor normc(1, 0.1, 0.2, 2) (DRIVE's passenger cars)
        speed = f' speedFactor="{factor:g}"' if factor != 1.0 else ""
        lines.append(
            f'        <vType id={quoteattr(vt.name)} vClass="{vclass}" maxSpeed="{vt.max_speed_mps:g}"{speed}'
            f' probability="{vt.share:g}"/>'
        )
    lines += ["    </vTypeDistribution>", "</additional>", ""]
    out = Path(out_path)
    out.write_text("\n".join(lines))
    return out


def random_trips(
    net_path: str | os.PathLike,
    routes_path: str | os.PathLike,
    *,
    end_s: float = 100.0,
    period_s: float = 1.0,
    seed: int = 0,
    vehicle_types: Sequence | None = None,
    extra_args: Sequence[str] = (),
) -> Path:
    """Write routed random trips (``randomTrips.py -r``, one departure every ``period_s`` until ``end_s``).

    With ``vehicle_types`` (e.g. :data:`twin.mobility.DRIVE_VEHICLE_TYPES`) each trip draws its type from that mix;
    the types are embedded in the route file. Returns ``routes_path``.
    """
    net = _existing_file("net_path", net_path, "SUMO network file")
    routes = Path(routes_path)
    trips = routes.with_name(routes.name.replace(".rou.xml", "") + ".trips.xml")
    cmd = [
        sys.executable, sumo_tool("randomTrips.py"), "-n", str(net), "-o", str(trips), "-r", str(routes),
        "-e", f"{end_s:g}", "-p", f"{period_s:g}", "--seed", str(int(seed)),
    ]  # fmt: skip
    if vehicle_types:
        add = write_vtype_distribution(routes.with_name(routes.name.replace(".rou.xml", "") + ".vtypes.add.xml"),
                                       vehicle_types)  # fmt: skip
        cmd += ["--additional-file", str(add), "--trip-attributes", 'type="twin_mix"']
    _run([*cmd, *extra_args], "randomTrips.py")
    return routes


def run_sumo_fcd(
    net_path: str | os.PathLike,
    routes_path: str | os.PathLike,
    fcd_path: str | os.PathLike,
    *,
    end_s: float,
    step_length_s: float = 1.0,
    seed: int = 0,
    extra_args: Sequence[str] = (),
) -> Path:
    """Run ``sumo`` headless until ``end_s`` and write floating-car data to ``fcd_path``; returns it."""
    net = _existing_file("net_path", net_path, "SUMO network file")
    routes = _existing_file("routes_path", routes_path, "SUMO route file")
    out = Path(fcd_path)
    cmd = [
        sumo_binary("sumo"), "-n", str(net), "-r", str(routes), "--fcd-output", str(out), "--end", f"{end_s:g}",
        "--step-length", f"{step_length_s:g}", "--seed", str(int(seed)), "--no-step-log", "true",
        "--duration-log.disable", "true", *extra_args,
    ]  # fmt: skip
    _run(cmd, "sumo")
    return out
