"""Resource bounds decided before anything is allocated: a cheap estimate of a run's peak memory and event count from
the validated scenario alone (no build, no torch, no data read), checked against ``--max-memory`` (default 2 GB) and
``--max-events`` (default 1e8), or the scenario's ``limits:`` section.

Each estimate is an order of magnitude, not a measurement: it is meant to let every real scenario through (the shipped
ones use a few percent of the limits) and to stop a typo (``n_clients: 1000000000``, ``sample_period_s: 1 ns``,
``bandwidth_bps: 1e-300``) in well under a second with one line that names the field and the estimate, instead of
swapping a machine to death. The simulated time a run covers, which the sample and mobility counts need, is estimated
as ``rounds x`` (latencies + model bytes over the slowest link + the shared server link + local training); it is
capped by ``fl.stop.max_time_s``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from twin.errors import InputError
from twin.scenario import schema as S
from twin.scenario.access import GridMobility

DEFAULT_MAX_MEMORY = 2e9   # bytes
DEFAULT_MAX_EVENTS = 1e8
RADIO_RATE_BPS = 1e6       # the slowest air rate assumed for a vehicle (cell edge); only the horizon uses it
DATA_SHAPES = {"digits": (64, 10, 1_797), "fashion_mnist": (784, 10, 70_000), "idx": (784, 10, 70_000),
               "femnist": (784, 62, 0), "leaf": (784, 62, 0)}  # (features, classes, samples); 0: bounded by the files
SEED_PRESET_CLIENTS = 338


class ResourceLimitError(InputError):
    """The scenario would need more memory or events than the limits allow (one line naming the field)."""


@dataclass(frozen=True)
class Estimate:
    field: str      # the scenario field (or fields) that drives this quantity
    what: str       # what is counted, in words
    count: float    # how many of it
    memory: float   # bytes it needs at once
    events: float   # simulation events / table rows it makes


def check(config: S.ScenarioConfig, *, max_memory: float | None = None, max_events: float | None = None) -> list[Estimate]:
    """Raise :class:`ResourceLimitError` when an estimate exceeds a limit; return the estimates otherwise.

    A limit given here (the command line) wins over the scenario's ``limits:``, which wins over the defaults."""
    limits = config.limits
    mem_limit = max_memory or limits.max_memory or DEFAULT_MAX_MEMORY
    ev_limit = max_events or limits.max_events or DEFAULT_MAX_EVENTS
    found = estimates(config)
    total_mem = sum(e.memory for e in found)
    for e in sorted(found, key=lambda e: -e.memory):
        if e.memory > mem_limit or (total_mem > mem_limit and e.memory > mem_limit / 2):
            raise ResourceLimitError(f"{e.field}: {e.what} need about {_bytes(e.memory)} of memory, over the limit of {_bytes(mem_limit)} (--max-memory or limits.max_memory)")
    for e in sorted(found, key=lambda e: -e.events):
        if e.events > ev_limit:
            raise ResourceLimitError(f"{e.field}: {e.what} make about {_num(e.events)} events, over the limit of "
                                     f"{_num(ev_limit)} (--max-events or limits.max_events)")
    if total_mem > mem_limit:
        top = max(found, key=lambda e: e.memory)
        raise ResourceLimitError(f"{top.field}: the run needs about {_bytes(total_mem)} of memory in all, over the "
                                 f"limit of {_bytes(mem_limit)} (--max-memory or limits.max_memory)")
    return found


def output_bytes(found: list[Estimate]) -> float:
    """The run folder's size, roughly: the tables' rows (events) at ~40 bytes each once compressed."""
    return sum(e.events for e in found) * 40


def estimates(config: S.ScenarioConfig) -> list[Estimate]:
    if config.fl is None:
        return _pure_network(config)
    return _fl_estimates(config) + _traffic(config)


def _pure_network(config: S.ScenarioConfig) -> list[Estimate]:
    """A run without FL: the network, the scripted flows and the samples up to ``traffic.duration_s`` (else the last
    scripted start plus a minute)."""
    _, n_nodes, topo_field = _clients(config)
    traffic = config.traffic
    horizon = traffic.duration_s or max(f.last_start_s for f in traffic.flows) + 60.0
    out = [Estimate(topo_field, "network nodes", n_nodes, n_nodes * 4e3, 0.0), *_traffic(config)]
    period = config.output.sample_period_s
    if period > 0:
        ticks, probes = horizon / period, 2 * n_nodes + 8
        out.append(Estimate("output.sample_period_s", f"samples every {period:g} s over {_num(horizon)} s of "
                            "simulated time", ticks, ticks * probes * 48, ticks * probes))
    return out


def _traffic(config: S.ScenarioConfig) -> list[Estimate]:
    """Scripted flows (two timeline rows each) and background arrivals given as a rate up to ``duration_s``."""
    traffic = config.traffic
    if traffic is None:
        return []
    n = sum(f.repeat.count if f.repeat else 1 for f in traffic.flows)
    if traffic.duration_s is not None:
        n += sum((b.rate_per_s or 0.0) * (traffic.duration_s - b.start_s) for b in traffic.background)
    return [Estimate("traffic", f"{_num(n)} traffic flows", n, n * 400.0, 2 * n)] if n else []


def _fl_estimates(config: S.ScenarioConfig) -> list[Estimate]:
    fl = config.fl
    n_clients, n_nodes, topo_field = _clients(config)
    k = _per_round(fl, n_clients)
    rounds = fl.rounds
    params, feats, classes, n_samples, model_field = _model(fl, n_clients)
    bytes_per_param = 4
    batch = fl.local.batch_size if hasattr(fl.local, "batch_size") else 32
    epochs = getattr(fl.local, "epochs", 1)
    out = [
        Estimate("fl.rounds", f"{_num(rounds)} rounds of {_num(k)} clients", rounds * k,
                 rounds * (64 + 8 * k * 24), rounds * (4 + 8 * k)),
        Estimate(topo_field, "clients and network nodes", n_clients + n_nodes, (n_clients + n_nodes) * 4e3, 0.0),
    ]
    if fl.train and not isinstance(fl.model, S.FixedModel):
        width = sum(getattr(fl.model, "hidden", None) or [200]) + feats + classes
        out += [
            Estimate(model_field, f"model of {_num(params)} parameters trained by {_num(k)} clients at once",
                     params, params * bytes_per_param * (4 * k + 8), 0.0),
            Estimate("fl.local.batch_size", f"batches of {_num(batch)} samples for {_num(k)} clients",
                     batch * k, k * batch * (width * 4 * 4 + epochs * 8), 0.0),
        ]
        if n_samples:  # LEAF folders: their size is the files' (read once the run starts), not estimated here
            out.append(Estimate(_data_field(fl), f"data set of {_num(n_samples)} samples x {_num(feats)} features",
                                n_samples, n_samples * (feats + 2) * 4 * 2, 0.0))
    horizon, horizon_field = _horizon(config, n_clients, k, params, n_samples)
    period = config.output.sample_period_s
    if period > 0:
        probes = 2 * n_nodes + 8
        ticks = horizon / period
        out.append(Estimate("output.sample_period_s", f"samples every {period:g} s over about {_num(horizon)} s of "
                            f"simulated time (from {horizon_field})", ticks, ticks * probes * 48, ticks * probes))
    if isinstance(config.mobility, S.NoMobility):
        return out
    mob = config.mobility
    n_veh = getattr(mob, "n_vehicles", None) or max(n_clients, 100)
    steps = horizon / mob.step_s
    n_cells, area, area_field = _cells(config)
    out += [
        Estimate("mobility.step_s", f"mobility steps of {mob.step_s:g} s for {_num(n_veh)} vehicles over about "
                 f"{_num(horizon)} s (from {horizon_field})", steps, 0.0, steps * n_veh),
        Estimate("mobility.n_vehicles" + (f" and the cells over {area_field}" if area else ""),
                 f"{_num(n_veh)} vehicles x {_num(n_cells)} cells", n_veh * n_cells,
                 n_veh * (2e3 + n_cells * 8 * 16), 0.0),
    ]
    if isinstance(mob, GridMobility):
        junctions = mob.rows * mob.cols
        out.append(Estimate("mobility.rows x mobility.cols", f"a road grid of {_num(junctions)} junctions",
                            junctions, junctions * 6e3, 0.0))
    radio = config.radio
    if isinstance(radio, S.CellularRadio) and radio.coverage.enabled and area > 0:
        cov = radio.coverage
        side = math.sqrt(area)
        tiles = ((side + 2 * cov.margin_m) / cov.spacing_m + 1) ** 2
        out.append(Estimate(f"radio.coverage.spacing_m ({area_field})",
                            f"coverage tiles of {cov.spacing_m:g} m over {_num(area / 1e6)} km2", tiles,
                            tiles * 8 * (12 + 2 * len(radio.tiers)), tiles))
    if isinstance(radio, S.CellularRadio) and radio.los.kind == "geometry" and area > 0:
        side = math.sqrt(area) + 2 * (radio.coverage.margin_m if radio.coverage.enabled else 0.0)
        tiles = (side / radio.los.tile_m + 2) ** 2
        out.append(Estimate(f"radio.los.tile_m ({area_field})", f"LOS tiles of {radio.los.tile_m:g} m for "
                            f"{_num(n_cells)} cells", tiles * n_cells, tiles * n_cells * 6, 0.0))
    if period > 0 and isinstance(radio, S.CellularRadio):
        sampled = n_veh if radio.sample_vehicles == "all" else n_clients
        ticks = horizon / period
        out.append(Estimate("output.sample_period_s", f"vehicle samples every {period:g} s for {_num(sampled)} "
                            f"vehicles over about {_num(horizon)} s (from {horizon_field})", ticks * sampled,
                            ticks * sampled * 48, ticks * sampled))
    return out


# ------------------------------------------------------------------------------------------------------ internals


def _clients(config: S.ScenarioConfig) -> tuple[float, float, str]:
    """(FL clients, wired nodes, the field that sets them)."""
    if isinstance(config.radio, S.CellularRadio):
        mob = config.mobility
        n_veh = getattr(mob, "n_vehicles", None) or 100
        sel = config.clients.vehicles
        n = sel.count if sel.count else len(sel.ids) if sel.ids else n_veh * (sel.fraction or 1.0)
        return float(min(n, n_veh)), 8.0, "mobility.n_vehicles"
    t = config.topology
    if isinstance(t, S.StarTopology):
        return float(t.n_clients), t.n_clients + 2.0, "topology.n_clients"
    if isinstance(t, S.TreeTopology):
        nodes, level = 2.0, 1.0
        for f in t.fanout:
            level *= f
            nodes += level
        return level, nodes, "topology.fanout"
    if isinstance(t, S.RingTopology):
        n = float(t.n_sites) * t.clients_per_site
        return n, n + t.n_sites + 1, "topology.n_sites x topology.clients_per_site"
    if isinstance(t, S.ExplicitTopology):
        return float(sum(n.role == "client" for n in t.nodes)), float(len(t.nodes)), "topology.nodes"
    return 100.0, 200.0, "topology.path"  # GraphML: its size is bounded by the file, read later


def _per_round(fl: S.FLConfig, n_clients: float) -> float:
    s = fl.schedule
    if getattr(s, "preset", None) == "seed":
        k = SEED_PRESET_CLIENTS
    elif hasattr(s, "counts"):
        k = max(s.counts)
    else:
        k = getattr(s, "start", None) or 10
    return float(k if fl.replacement else min(k, max(n_clients, 1)))


def _model(fl: S.FLConfig, n_clients: float) -> tuple[float, float, float, float, str]:
    """(parameters, input features, classes, data set samples, the field that sets the size)."""
    m, d = fl.model, fl.data
    if isinstance(d, S.SyntheticData):
        per_client = math.exp(min(d.size_log_mean + d.size_log_sigma ** 2 / 2, 700)) + d.min_samples
        if d.max_samples:
            per_client = min(per_client, d.max_samples)
        feats, classes, samples = float(d.n_features), float(d.n_classes), n_clients * per_client
    else:
        feats, classes, samples = map(float, DATA_SHAPES.get(d.kind, (784, 10, 70_000)))
        if d.kind in ("femnist", "leaf") and getattr(d, "only_digits", False):
            classes = 10.0
    if isinstance(m, S.FixedModel):
        return m.size_bytes / 4, feats, classes, samples, "fl.model.size_bytes"
    if m.kind == "mlp":
        widths = [feats, *map(float, m.hidden), classes]
        return sum(a * b + b for a, b in zip(widths, widths[1:], strict=False)), feats, classes, samples, "fl.model.hidden"
    hidden = {"softmax_regression": [], "mlp_2nn": [200.0, 200.0], "digits_mlp": [64.0]}.get(m.kind)
    if hidden is not None:
        widths = [feats, *hidden, classes]
        return sum(a * b + b for a, b in zip(widths, widths[1:], strict=False)), feats, classes, samples, "fl.model.kind"
    side = math.sqrt(feats)  # cnn: two 5x5 convolutions (32, 64), pooled twice, a 512 dense layer
    params = 32 * 25 + 32 + 64 * 32 * 25 + 64 + 64 * (side // 4) ** 2 * 512 + 512 + 512 * classes + classes
    return params, feats, classes, samples, "fl.model.kind"


def _data_field(fl: S.FLConfig) -> str:
    return "fl.data.n_features" if isinstance(fl.data, S.SyntheticData) else "fl.data"


def _horizon(config: S.ScenarioConfig, n_clients: float, k: float, params: float, samples: float
             ) -> tuple[float, str]:
    """Simulated seconds the run covers (upper estimate) and the field that dominates it."""
    fl = config.fl
    if isinstance(fl.model, S.FixedModel):
        down = fl.model.size_bytes
        up = fl.model.update_bytes or down
        flops = fl.model.train_flops
    else:
        down = up = params * 4
        per_client = samples / max(n_clients, 1) if samples else 200.0  # LEAF: the writers' typical size
        flops = 6 * params * per_client * getattr(fl.local, "epochs", 1)
    terms: dict[str, float] = {}
    fixed = isinstance(fl.model, S.FixedModel)
    size_field = "fl.model.size_bytes" if fixed else "fl.model"
    flops_field = "fl.model.train_flops" if fixed else "fl.model"
    links = _path_links(config)
    for where, link in links:
        rev_bw = getattr(link, "reverse_bandwidth_bps", None) or link.bandwidth_bps
        rev_lat = getattr(link, "reverse_latency_s", None)
        rev_lat = link.latency_s if rev_lat is None else rev_lat
        terms[f"{where}.latency_s"] = terms.get(f"{where}.latency_s", 0.0) + link.latency_s + rev_lat
        share = k if where.endswith("server_link") else 1.0
        terms[f"{size_field} over {where}.bandwidth_bps"] = share * 8 * (down / link.bandwidth_bps + up / rev_bw)
    if isinstance(config.radio, S.CellularRadio):
        terms[f"{size_field} over the cell edge rate"] = 8 * (down + up) / RADIO_RATE_BPS
        terms["radio.air_latency_s"] = 2 * config.radio.air_latency_s
    terms[f"{flops_field} over clients.device.flops_per_s"] = 3 * flops / config.clients.device.flops_per_s
    terms[f"{size_field} over fl.server_flops_per_s"] = k * params * 4 / fl.server_flops_per_s
    terms["fl.aggregation_s"] = fl.aggregation_s
    per_round = sum(terms.values())
    field = max(terms, key=terms.get)
    if fl.deadline_s is not None and fl.deadline_s + fl.aggregation_s < per_round:
        per_round, field = fl.deadline_s + fl.aggregation_s, "fl.deadline_s"
    horizon = fl.rounds * per_round
    if fl.rounds > 1:
        field = f"fl.rounds x {field}"
    if fl.stop.max_time_s is not None and fl.stop.max_time_s < horizon:
        horizon, field = fl.stop.max_time_s, "fl.stop.max_time_s"
    return horizon, field


def _path_links(config: S.ScenarioConfig) -> list[tuple[str, S.LinkSpec]]:
    t = config.topology
    if isinstance(config.radio, S.CellularRadio):
        return [(f"radio.tiers[{i}].backhaul", tier.backhaul) for i, tier in enumerate(config.radio.tiers)][:1]
    if isinstance(t, S.StarTopology):
        return [("topology.client_link", t.client_link), ("topology.server_link", t.server_link)]
    if isinstance(t, S.TreeTopology):
        return [*((f"topology.level_links[{i}]", link) for i, link in enumerate(t.level_links)),
                ("topology.server_link", t.server_link)]
    if isinstance(t, S.RingTopology):
        return [("topology.access_link", t.access_link), *([("topology.ring_link", t.ring_link)] * (t.n_sites // 2)),
                ("topology.server_link", t.server_link)]
    if isinstance(t, S.ExplicitTopology):
        slowest = min(t.links, key=lambda link: link.bandwidth_bps)
        worst = max(t.links, key=lambda link: link.latency_s)
        return [("topology.links", slowest), *([("topology.links", worst)] * min(len(t.nodes), 64))]
    return []


def _cells(config: S.ScenarioConfig) -> tuple[float, float, str]:
    """(cells, covered area m2, the fields that set the area) of a radio scenario; area 0 when unknown (OSM, SUMO)."""
    mob = config.mobility
    if not isinstance(mob, GridMobility):
        return 100.0, 0.0, "mobility"
    area = ((mob.rows - 1) * mob.block_length_m) * ((mob.cols - 1) * mob.block_length_m)
    cells = 0.0
    for tier in getattr(config.radio, "tiers", []):
        isd = getattr(tier.placement, "isd_m", None) or getattr(tier.placement, "every_m", None) or 200.0
        cells += area / (0.866 * isd * isd) + mob.rows * mob.cols
    return max(cells, 1.0), area, "mobility.rows, mobility.cols, mobility.block_length_m"


def _num(x: float) -> str:
    if not math.isfinite(x) or x >= 1e300:
        return "more than 1e300"
    return f"{x:,.0f}" if x < 1e6 else f"{x:.2g}"


def _bytes(x: float) -> str:
    if not math.isfinite(x) or x >= 1e300:
        return "more than 1e300 bytes"
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if x >= size:
            return f"{x / size:.3g} {unit}"
    return f"{x:.0f} B"


def check_files(config: S.ScenarioConfig, base_dir) -> None:
    """Every file or folder the scenario names must exist (relative paths start at ``base_dir``) and be of the right
    kind, before anything runs: a regular file where a file is read (not a folder, /dev/zero or a pipe)."""
    from pathlib import Path

    for field, value, kind in _named_files(config):
        path = Path(value).expanduser()
        path = path if path.is_absolute() else Path(base_dir) / path
        try:
            exists = path.exists()
            mode = path.stat().st_mode if exists else 0
        except OSError as exc:
            raise InputError(f"{field}: {value}: cannot be read ({exc.strerror})") from None
        if not exists:
            raise InputError(f"{field}: {value}: not found" + ("" if Path(value).is_absolute() else f" (in {base_dir})"))
        import stat

        if kind == "file" and stat.S_ISDIR(mode):
            raise InputError(f"{field}: {value}: is a folder, expected a file")
        if kind == "file" and not stat.S_ISREG(mode):
            raise InputError(f"{field}: {value}: not a regular file (a device, pipe or socket cannot be read)")
        if kind == "folder" and not stat.S_ISDIR(mode):
            raise InputError(f"{field}: {value}: is a file, expected a folder")


def _named_files(config: S.ScenarioConfig) -> list[tuple[str, str, str]]:
    out = []
    if getattr(config.topology, "kind", None) == "graphml":
        out.append(("topology.path", config.topology.path, "file"))
    mob = config.mobility
    if getattr(mob, "kind", None) == "osm":
        out.append(("mobility.path", mob.path, "file"))
    for name in ("net_file", "routes_file", "fcd_file"):
        if getattr(mob, name, None):
            out.append((f"mobility.{name}", getattr(mob, name), "file"))
    if getattr(getattr(mob, "buildings", None), "path", None):
        out.append(("mobility.buildings.path", mob.buildings.path, "file"))
    data_path = getattr(config.fl.data, "path", None) if config.fl is not None else None
    if data_path and not isinstance(config.fl.model, S.FixedModel):
        out.append(("fl.data.path", data_path, "folder"))
    return out
