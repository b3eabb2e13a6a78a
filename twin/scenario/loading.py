"""Loading scenarios: YAML text -> dict (with line numbers) -> ``--set`` overrides -> validated ScenarioConfig.

Every failure raises :class:`ScenarioError` with one line that names the file, the YAML line where known, and the
field path (``topology.client_link.bandwidth_bps``), so the CLI can print it and exit 2.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from twin.errors import InputError
from twin.scenario.schema import ScenarioConfig

BUILTIN_PACKAGE = "twin.scenarios"


class ScenarioError(InputError):
    """A scenario (file, override or value) that cannot be used. ``str(error)`` is one line for the user."""


class _LineLoader(yaml.SafeLoader):
    """A safe loader that rejects duplicate keys (PyYAML silently keeps the last one)."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {seen[key] + 1})", key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _line_index(node: yaml.Node | None, path: tuple = (), out: dict | None = None) -> dict[tuple, int]:
    """Map each key path (tuple of str / int) to the 1-based line where its value starts."""
    out = {} if out is None else out
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[path + (key,)] = key_node.start_mark.line + 1
            _line_index(value_node, path + (key,), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[path + (i,)] = item.start_mark.line + 1
            _line_index(item, path + (i,), out)
    return out


def parse_yaml(text: str, source: str) -> tuple[dict, dict[tuple, int]]:
    """Parse YAML text into (data, line index). ``source`` names the file in errors."""
    try:
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - _LineLoader is a SafeLoader
        lines = _line_index(yaml.compose(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError(f"{where}: malformed YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario must be a mapping of sections (name, topology, fl, ...), "
                            f"got {type(data).__name__}")
    return data, lines


def builtin_names() -> list[str]:
    """Names of the scenarios shipped with the package (``python -m twin.run quickstart``)."""
    root = importlib.resources.files(BUILTIN_PACKAGE)
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


def read_scenario_text(path_or_name: str) -> tuple[str, str, str]:
    """Return (text, source label, default name) for a file path or a built-in scenario name."""
    path = Path(path_or_name)
    if path.is_file():
        try:
            return path.read_text(encoding="utf-8"), str(path), path.stem
        except (OSError, UnicodeDecodeError) as exc:
            raise ScenarioError(f"{path}: cannot read scenario file: {exc}") from None
    if path.suffix == "" and path.name == path_or_name:
        resource = importlib.resources.files(BUILTIN_PACKAGE) / f"{path_or_name}.yaml"
        if resource.is_file():
            return resource.read_text(encoding="utf-8"), f"<built-in {path_or_name}>", path_or_name
        raise ScenarioError(f"{path_or_name}: no such scenario file, and no built-in scenario of that name "
                            f"(built-in: {', '.join(builtin_names())})")
    if path.exists():
        raise ScenarioError(f"{path}: not a file")
    raise ScenarioError(f"{path}: scenario file not found")


# ---------------------------------------------------------------------------------------------------- overrides


def _split_path(dotted: str) -> list[str | int]:
    parts: list[str | int] = []
    for part in dotted.split("."):
        if part == "":
            raise ScenarioError(f"--set {dotted!r}: empty field name in the path")
        parts.append(int(part) if part.isdigit() else part)
    return parts


def apply_overrides(data: dict, overrides: Iterable[str]) -> dict:
    """Apply ``a.b.c=value`` overrides in place (value parsed as a YAML scalar / flow value) and return ``data``.

    Missing intermediate mappings are created, so ``--set topology.kind=ring`` works from an empty file; the schema
    then validates the result, so an unknown field is reported by name.
    """
    for item in overrides:
        if "=" not in item:
            raise ScenarioError(f"--set {item!r}: expected FIELD.PATH=VALUE")
        dotted, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        set_field(data, dotted.strip(), value)
    return data


def set_field(data: dict, dotted: str, value: Any) -> None:
    """Set the field at the dotted path ``a.b.c`` (list items by index: ``a.0.b``) to an already parsed value."""
    parts = _split_path(dotted)
    node: Any = data
    for depth, key in enumerate(parts[:-1]):
        where = ".".join(map(str, parts[: depth + 1]))
        if isinstance(key, int):
            if not isinstance(node, list) or key >= len(node):
                raise ScenarioError(f"--set {dotted}: {where} is not an existing list item")
            node = node[key]
        else:
            if not isinstance(node, dict):
                raise ScenarioError(f"--set {dotted}: {where} is inside a value that is not a mapping")
            node = node.setdefault(key, {})
    last = parts[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last >= len(node):
            raise ScenarioError(f"--set {dotted}: index {last} is not an existing list item")
        node[last] = value
    else:
        if not isinstance(node, dict):
            raise ScenarioError(f"--set {dotted}: the parent of {last!r} is not a mapping")
        node[last] = value


# --------------------------------------------------------------------------------------------------- validation


def _format_validation_error(exc: ValidationError, source: str, lines: Mapping[tuple, int],
                             overridden: Iterable[tuple] = ()) -> str:
    errors = exc.errors(include_url=False)
    first = errors[0]
    # pydantic inserts the union tag (e.g. 'star') into the location of discriminated unions; drop it from the path.
    loc = [p for p in first["loc"] if not (isinstance(p, str) and p in _UNION_TAGS)]
    if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
        loc.append("kind")
    path = ".".join(str(p) for p in loc) or "(top level)"
    line = None
    for n in range(len(loc), 0, -1):
        if tuple(loc[:n]) in lines:
            line = lines[tuple(loc[:n])]
            break
    where = f"{source}:{line}" if line is not None else source
    for path_ in overridden:
        if tuple(loc[: len(path_)]) == path_:
            where = "--set"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown field" + _did_you_mean(list(first["loc"]))
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    value = first.get("input")
    shown = "" if first["type"] in ("extra_forbidden", "missing") or isinstance(value, (dict, list)) else \
        f" (got {value!r})"
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return f"{where}: {path}: {msg}{shown}{more}"


def _collect_tags() -> set[str]:
    """The ``kind`` literals of every discriminated union, which pydantic puts into error locations."""
    import typing

    from pydantic import BaseModel

    tags: set[str] = set()
    seen: set[type] = set()

    def walk(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        for field in model.model_fields.values():
            for arg in _flatten(field.annotation):
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    kind = arg.model_fields.get("kind")
                    if kind is not None:
                        tags.update(a for a in typing.get_args(kind.annotation) if isinstance(a, str))
                    walk(arg)

    def _flatten(annotation: Any) -> list:
        out = [annotation]
        for arg in typing.get_args(annotation):
            out.extend(_flatten(arg))
        return out

    walk(ScenarioConfig)
    return tags


_UNION_TAGS = _collect_tags()


def _did_you_mean(loc: list) -> str:
    """`` (did you mean 'rounds'?)`` for an unknown field at pydantic location ``loc`` (union tags included), when a
    field of the section it sits in is spelt alike; else ``""``."""
    import difflib
    import typing

    from pydantic import BaseModel

    def models(annotation: Any) -> list[type[BaseModel]]:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return [annotation]
        return [m for arg in typing.get_args(annotation) for m in models(arg)]

    here: list[type[BaseModel]] = [ScenarioConfig]
    for part in loc[:-1]:
        if isinstance(part, str) and part in _UNION_TAGS and not any(part in m.model_fields for m in here):
            tagged = [m for m in here if "kind" in m.model_fields
                      and part in typing.get_args(m.model_fields["kind"].annotation)]
            here = tagged or here
            continue
        here = [m for model in here if isinstance(part, str) and part in model.model_fields
                for m in models(model.model_fields[part].annotation)]
        if not here:
            return ""
    names = sorted({name for model in here for name in model.model_fields})
    close = difflib.get_close_matches(str(loc[-1]), names, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def validate(data: dict, source: str = "<scenario>", lines: Mapping[tuple, int] | None = None,
             overridden: Iterable[tuple] = ()) -> ScenarioConfig:
    """Validate a scenario mapping. A ``derived:`` block (written into scenario.resolved.yaml) is not input: ignored."""
    if DERIVED in data:
        data = {k: v for k, v in data.items() if k != DERIVED}
    try:
        return ScenarioConfig.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_format_validation_error(exc, source, lines or {}, overridden)) from None


def load_scenario(path_or_name: str, overrides: Iterable[str] = (), *, seed: int | None = None) -> ScenarioConfig:
    """Read, override and validate a scenario. ``seed`` (the CLI's ``--seed``) replaces the file's seed."""
    text, source, default_name = read_scenario_text(path_or_name)
    data, lines = parse_yaml(text, source)
    data.setdefault("name", default_name)
    overrides = list(overrides)
    apply_overrides(data, overrides)
    overridden = [tuple(_split_path(item.split("=", 1)[0].strip())) for item in overrides]
    if seed is not None:
        data["seed"] = seed
        overridden.append(("seed",))
    return validate(data, source, lines, overridden)


DERIVED = "derived"  # the top-level key of the values computed at build time (never an input)
_DERIVED_NOTE = "# derived: computed from the fields above when the run was built; ignored when this file is loaded\n"


def resolved_yaml(config: ScenarioConfig, derived: Mapping | None = None) -> str:
    """The scenario with every default filled in, as YAML that loads back to an equal config; with ``derived`` (see
    ``twin.sim.derived``) a last ``derived:`` block that loading ignores and :func:`without_derived` cuts off."""
    text = yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, default_flow_style=False)
    if derived:
        text += _DERIVED_NOTE + yaml.safe_dump({DERIVED: dict(derived)}, sort_keys=False, default_flow_style=None,
                                               width=120)
    return text


def without_derived(text: str) -> str:
    """A resolved scenario's text without its ``derived:`` block (what identifies a run: the sweep's hash)."""
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith(f"{DERIVED}:"):
            while i > 0 and lines[i - 1].startswith("#"):
                i -= 1
            return "".join(lines[:i])
    return text
