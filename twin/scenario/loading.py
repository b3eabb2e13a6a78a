"""Loading scenarios: YAML text -> dict (with line numbers) -> ``--set`` overrides -> validated ScenarioConfig.

Every failure raises :class:`ScenarioError` with one line that names the file, the YAML line where known, and the
field path (``topology.client_link.bandwidth_bps``), so the CLI can print it and exit 2.
"""

from __future__ import annotations

import importlib.resources
import re
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from twin.errors import InputError
from twin.scenario.hints import did_you_mean
from twin.scenario.schema import ScenarioConfig
from twin.scenario.types import FIELD_MARK

BUILTIN_PACKAGE = "twin.scenarios"


class ScenarioError(InputError):
    """A scenario (file, override or value) that cannot be used. ``str(error)`` is one line for the user."""


class _LineLoader(yaml.SafeLoader):
    """A safe loader that rejects duplicate keys (PyYAML silently keeps the last one)."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, f"a {type(key).__name__} cannot be a key (keys are names or numbers)",
                key_node.start_mark) from None
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


MAX_YAML_NODES = 200_000   # values after aliases are expanded: a scenario has a few hundred, a 2 KB alias bomb 10^9
MAX_YAML_DEPTH = 64
MAX_INT_DIGITS = 100


def compose_checked(text: str, source: str, loader: type = None) -> tuple[Any, yaml.Node | None]:
    """Parse YAML text into (data, node) with bounds: at most :data:`MAX_YAML_NODES` values once aliases are
    expanded, :data:`MAX_YAML_DEPTH` levels of nesting, integers of at most :data:`MAX_INT_DIGITS` digits. Checked on
    the composed nodes, before any value is constructed. Raises :class:`ScenarioError` (``source:line: ...``)."""
    ldr = (loader or _LineLoader)(text)
    try:
        try:
            node = ldr.get_single_node()
        except RecursionError:
            raise ScenarioError(f"{source}: nested deeper than {MAX_YAML_DEPTH} levels") from None
        if node is not None:
            _check_size(node, source)
        try:
            data = ldr.construct_document(node) if node is not None else None
        except RecursionError:
            raise ScenarioError(f"{source}: nested deeper than {MAX_YAML_DEPTH} levels") from None
        except ValueError as exc:  # a number Python will not parse
            raise ScenarioError(f"{source}: a value cannot be read: {str(exc).splitlines()[0]}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError(f"{where}: malformed YAML: {problem}") from None
    finally:
        ldr.dispose()
    return data, node


def _check_size(root: yaml.Node, source: str) -> None:
    sizes: dict[int, int] = {}

    def size(node: yaml.Node, depth: int) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        if depth > MAX_YAML_DEPTH:
            raise ScenarioError(f"{source}:{node.start_mark.line + 1}: nested deeper than {MAX_YAML_DEPTH} levels")
        if isinstance(node, yaml.ScalarNode):
            total = 1
            if node.tag == "tag:yaml.org,2002:int" and len(node.value) > MAX_INT_DIGITS:
                raise ScenarioError(f"{source}:{node.start_mark.line + 1}: an integer of {len(node.value):,} digits "
                                    f"(at most {MAX_INT_DIGITS})")
        elif isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(k, depth + 1) + size(v, depth + 1) for k, v in node.value)
        else:
            total = 1 + sum(size(item, depth + 1) for item in node.value)
        if total > MAX_YAML_NODES:
            raise ScenarioError(f"{source}:{node.start_mark.line + 1}: more than {MAX_YAML_NODES:,} values once "
                                "aliases are expanded (an alias bomb?)")
        sizes[id(node)] = total
        return total

    size(root, 0)


def parse_yaml(text: str, source: str) -> tuple[dict, dict[tuple, int]]:
    """Parse YAML text into (data, line index). ``source`` names the file in errors. Bounded (:func:`compose_checked`)."""
    data, node = compose_checked(text, source)
    lines = _line_index(node)
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
        msg = "unknown field" + did_you_mean(list(first["loc"]), _UNION_TAGS)
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if msg.startswith(FIELD_MARK):  # a section's validator named the field (types.Section): put it into the path
        _, key, msg = msg.split(FIELD_MARK, 2)
        loc.append(key)
        path = ".".join(str(p) for p in loc)
        line = lines.get(tuple(loc), line)
        where = f"{source}:{line}" if line is not None else source
        for path_ in overridden:
            if tuple(loc[: len(path_)]) == path_:
                where = "--set"
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


def validate(data: dict, source: str = "<scenario>", lines: Mapping[tuple, int] | None = None,
             overridden: Iterable[tuple] = ()) -> ScenarioConfig:
    """Validate a scenario mapping. A ``derived:`` block (written into scenario.resolved.yaml) is not input: ignored."""
    if DERIVED in data:
        data = {k: v for k, v in data.items() if k != DERIVED}
    try:
        config = ScenarioConfig.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_format_validation_error(exc, source, lines or {}, overridden)) from None
    _ORIGINS[id(config)] = (weakref.ref(config), (source, dict(lines or {}), [tuple(p) for p in overridden]))
    for key in [k for k, (ref, _) in _ORIGINS.items() if ref() is None]:
        del _ORIGINS[key]
    return config


# id(config) -> (weak reference, (source, line index, overridden paths)) of each validated scenario: where its fields
# were written, for errors found after validation (with_location). Not a model attribute: it must not change equality.
_ORIGINS: dict[int, tuple[weakref.ref, tuple]] = {}


_FIELD_AT_START = re.compile(r"^([a-z_]+(?:(?:\.[A-Za-z_0-9]+)|(?:\[\d+\]))*)(?=[: ])")


def with_location(config: ScenarioConfig, message: str) -> str:
    """Prefix an error about a validated scenario's field (``fl.rounds: ...``) with ``file:line: `` (or ``--set: ``)
    where that field was written; messages that already start with a location, or name no field, are unchanged."""
    ref, origin = _ORIGINS.get(id(config), (None, None))
    origin = origin if ref is not None and ref() is config else None
    m = _FIELD_AT_START.match(message)
    if origin is None or m is None or m[1].split(".")[0].split("[")[0] not in ScenarioConfig.model_fields:
        return message
    source, lines, overridden = origin
    loc = tuple(int(p) if p.isdigit() else p for p in re.split(r"\.|\[|\]\.?", m[1]) if p)
    if any(loc[: len(p)] == p for p in overridden):
        return f"--set: {message}"
    for n in range(len(loc), 0, -1):
        if loc[:n] in lines:
            return f"{source}:{lines[loc[:n]]}: {message}"
    return f"{source}: {message}"


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
    # limits change no result: left out while unset, so that they never change a sweep's run hashes
    unset = config.limits.max_memory is None and config.limits.max_events is None
    exclude: dict = {"limits": True} if unset else {}
    if not config.output.tensorboard:  # likewise output.tensorboard, an extra file, while off
        exclude["output"] = {"tensorboard"}
    if config.transport.sharing == "maxmin":  # and the TCP model while exact max-min shares (the default) are on
        exclude["transport"] = {"sharing", "tcp"}
    if config.traffic is None:  # and the traffic section while absent
        exclude["traffic"] = True
    text = yaml.safe_dump(config.model_dump(mode="json", exclude=exclude or None), sort_keys=False,
                          default_flow_style=False)
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
