"""The layering of docs/architecture.md, encoded: which package may import which, no import cycles, no private names
imported across modules.

Every import counts as an edge: module level, inside functions, under ``TYPE_CHECKING``, absolute and relative. A
lazy import only delays a dependency; it does not remove it.
"""

from __future__ import annotations

import ast
import pathlib
from dataclasses import dataclass

import networkx as nx

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Layer of each top-level name under twin/ -> the twin layers it may import (besides itself). Mirrors the table in
# docs/architecture.md ("Packages"). The command-line modules sit on top and may import anything below them.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "scenario": {"errors"},
    "radio": {"errors"},
    "geo": {"errors"},  # buildings and LOS geometry (numpy, shapely)
    "mobility": {"errors"},
    "fl": {"errors", "compiled"},
    "net": {"errors", "compiled"},
    "recording": {"errors"},
    "sim": {"errors", "scenario", "radio", "geo", "mobility", "fl", "net", "recording"},
    "analysis": {"errors", "recording", "scenario", "fl"},
    "sweeps": {"errors", "scenario", "recording", "sim", "run", "cli", "threads"},
    "cli": {"errors", "twin"},
    "threads": {"errors"},  # the thread policy (docs/performance.md), read by run, sweep and the sweep workers
    "startup": set(),
    "compiled": set(),  # numba and its cache folder, keyed by the kernels' sources (docs/performance.md)  # the heavy imports with the garbage collector paused (docs/performance.md)
    "logs": set(),
    "run": {"errors", "cli", "logs", "scenario", "recording", "sim", "analysis", "threads", "startup"},
    "sweep": {"errors", "cli", "sweeps", "scenario", "threads"},
    "compare": {"errors", "cli", "analysis"},
    "plot": {"errors", "cli", "analysis"},
    "report": {"errors", "cli", "analysis"},
    "__main__": {"errors", "cli", "run", "sweep", "compare", "plot", "report", "twin"},
    "twin": set(),  # twin/__init__.py
}
# Narrower rules inside a layer: analysis may use fl's pure stopping rule only (never torch-bound code).
ALLOWED_MODULES: dict[str, set[str]] = {"analysis": {"twin.fl.stopping"}}

# Third-party packages a layer must not import (docs/architecture.md, "Dependency direction").
FORBIDDEN_THIRD_PARTY: dict[str, set[str]] = {
    "radio": {"simpy", "torch", "pandas", "pydantic"},
    "mobility": {"simpy", "torch", "pandas", "pydantic"},
    "geo": {"simpy", "torch", "pandas", "pydantic"},
    "fl": {"simpy", "pandas", "pydantic", "yaml", "torchvision"},
    "net": {"torch", "pydantic"},
    "recording": {"simpy", "torch"},
    "scenario": {"simpy", "torch"},
    "analysis": {"simpy", "torch"},
}


@dataclass(frozen=True)
class Edge:
    src: str  # importing module, e.g. twin.sim.build
    dst: str  # imported module, e.g. twin.net.engine (or a third-party top-level name)
    names: tuple[str, ...]  # names imported with ``from X import a, b``
    line: int
    path: str


def module_name(path: pathlib.Path, root: pathlib.Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: pathlib.Path, root: pathlib.Path, modules: set[str]) -> list[Edge]:
    """Every import in a file (function-level and TYPE_CHECKING ones too), resolved to module names."""
    name = module_name(path, root)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                out.append(Edge(name, alias.name, (), node.lineno, str(path)))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = tuple(a.name for a in node.names)
            # ``from twin.sim import build`` imports the module twin.sim.build
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules]
            for sub in subs:
                out.append(Edge(name, sub, (), node.lineno, str(path)))
            rest = tuple(n for n in names if f"{target}.{n}" not in modules)
            if rest or not subs:
                out.append(Edge(name, target, rest, node.lineno, str(path)))
    return out


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "twin"


def import_graph(root: pathlib.Path) -> tuple[nx.DiGraph, list[Edge]]:
    files = sorted((root / "twin").rglob("*.py"))
    modules = {module_name(p, root) for p in files}
    edges = [e for p in files for e in imports_of(p, root, modules)]
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for e in edges:
        if e.dst in modules and e.dst != e.src:
            graph.add_edge(e.src, e.dst)
        elif e.dst.startswith("twin."):  # ``from twin.x.y import name`` where y is a module we know the parent of
            parent = e.dst
            while parent and parent not in modules:
                parent = parent.rpartition(".")[0]
            if parent and parent != e.src:
                graph.add_edge(e.src, parent)
    return graph, edges


def violations(root: pathlib.Path) -> list[str]:
    """Every breach of the layering rules under ``root / 'twin'``, one line each."""
    graph, edges = import_graph(root)
    bad = []
    for e in edges:
        src_layer = layer_of(e.src)
        where = f"{pathlib.Path(e.path).relative_to(root)}:{e.line}"
        if e.dst == "twin":
            continue  # the root package (its version, its location) is everyone's
        if e.dst.startswith("twin."):
            dst_layer = layer_of(e.dst)
            if dst_layer != src_layer and dst_layer not in ALLOWED.get(src_layer, set()):
                narrow = ALLOWED_MODULES.get(src_layer, set())
                if not any(e.dst == m or e.dst.startswith(m + ".") for m in narrow):
                    bad.append(f"{where}: {e.src} ({src_layer}) imports {e.dst} ({dst_layer}), not allowed")
            private = [n for n in e.names if n.startswith("_") and not n.startswith("__")]
            if private and e.dst != e.src:
                bad.append(f"{where}: {e.src} imports private name(s) {', '.join(private)} from {e.dst}")
            owner, _, last = e.dst.rpartition(".")
            if last.startswith("_") and not last.startswith("__") and e.src != owner \
                    and not e.src.startswith(owner + "."):
                bad.append(f"{where}: {e.src} imports private module {e.dst} from outside its package")
        else:
            top = e.dst.split(".")[0]
            if top in FORBIDDEN_THIRD_PARTY.get(src_layer, set()):
                bad.append(f"{where}: {e.src} ({src_layer}) imports {top}, not allowed in this layer")
    for component in nx.strongly_connected_components(graph):
        if len(component) > 1:
            cycle = nx.find_cycle(graph.subgraph(component))
            bad.append("import cycle: " + " -> ".join([a for a, _ in cycle] + [cycle[0][0]]))
    unknown = {layer_of(m) for m in graph} - set(ALLOWED)
    bad += [f"twin/{u}: a new package or module; give it a row in ALLOWED (and docs/architecture.md)" for u in unknown]
    return bad


def test_twin_follows_the_layering():
    bad = violations(ROOT)
    assert not bad, "\n".join(bad)


def _tree(tmp_path: pathlib.Path, files: dict[str, str]) -> pathlib.Path:
    for rel, text in {"twin/__init__.py": "", **files}.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        for parent in p.relative_to(tmp_path).parents:
            if parent.parts and parent.parts[0] == "twin":
                (tmp_path / parent / "__init__.py").touch()
        p.write_text(text)
    return tmp_path


def test_a_wrong_import_is_caught(tmp_path):
    root = _tree(tmp_path, {"twin/radio/pathloss.py": "def f():\n    from twin.sim import build\n",
                            "twin/sim/build.py": "import simpy\n"})
    bad = violations(root)
    assert any("twin.radio.pathloss (radio) imports twin.sim.build (sim)" in b for b in bad), bad


def test_a_cycle_is_caught_even_through_type_checking_and_relative_imports(tmp_path):
    root = _tree(tmp_path, {
        "twin/sim/build.py": "from twin.sim.access import Access\n",
        "twin/sim/access.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .env import TwinEnv\n",
        "twin/sim/env.py": "def make():\n    from . import build\n",
    })
    bad = violations(root)
    assert any(b.startswith("import cycle:") and "twin.sim.build" in b for b in bad), bad


def test_private_names_across_modules_are_caught(tmp_path):
    root = _tree(tmp_path, {"twin/sim/build.py": "def _device_flops():\n    pass\n",
                            "twin/sim/access_build.py": "from twin.sim.build import _device_flops\n"})
    bad = violations(root)
    assert any("private name(s) _device_flops" in b for b in bad), bad


def test_third_party_rules_are_caught(tmp_path):
    root = _tree(tmp_path, {"twin/fl/model.py": "import simpy\n"})
    assert any("imports simpy" in b for b in violations(root))


def test_no_module_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / "twin").rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long, f"split these modules (400 lines at most): {long}"
