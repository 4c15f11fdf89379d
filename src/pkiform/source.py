"""Read a YAML spec into plain data plus the file position of every key and value.

PyYAML's `safe_load` throws positions away and silently keeps the last of two
duplicate keys, so we compose the node graph ourselves and walk it: every
mapping key is checked for uniqueness, every value remembers where it was
written, and hostile input (huge files, deep nesting, alias bombs) fails fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pkiform.errors import Diagnostic, Location, PkiformError, SpecError

try:  # libyaml is 7x faster and keeps node marks just the same
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 32
# nodes visited while walking, aliases counted each time they are followed:
# bounds the "billion laughs" expansion long before memory is at risk
MAX_NODES = 2_000_000

JsonPath = tuple[str | int, ...]

_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True, slots=True, kw_only=True)
class Document:
    """A parsed spec: JSON-like data, and where each path was written."""

    file: str
    data: Any
    # path -> (location of the key, location of the value)
    locations: Mapping[JsonPath, tuple[Location, Location]] = field(default_factory=dict)

    def loc(self, path: JsonPath, *, key: bool = False) -> Location:
        """The location of a path's value (or key), else of its nearest written ancestor."""
        for end in range(len(path), -1, -1):
            found = self.locations.get(path[:end])
            if found is not None:
                return found[0] if key and end == len(path) else found[1]
        return Location(file=self.file, line=1, col=1)


def dotted(path: JsonPath) -> str:
    """`("identities", "web", "dns", 0)` -> `identities.web.dns[0]`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _loc(file: str, mark: yaml.Mark | None) -> Location:
    if mark is None:
        return Location(file=file, line=1, col=1)
    return Location(file=file, line=mark.line + 1, col=mark.column + 1)


class _Walker:
    def __init__(self, file: str) -> None:
        self.file = file
        self.locations: dict[JsonPath, tuple[Location, Location]] = {}
        self.diagnostics: list[Diagnostic] = []
        self.visited = 0
        self.constructor = yaml.constructor.SafeConstructor()

    def error(self, node: yaml.Node, path: JsonPath, message: str) -> None:
        self.diagnostics.append(
            Diagnostic(loc=_loc(self.file, node.start_mark), path=dotted(path), message=message)
        )

    def walk(self, node: yaml.Node, path: JsonPath, depth: int) -> Any:
        self.visited += 1
        if self.visited > MAX_NODES:
            raise _TooBig(node, f"more than {MAX_NODES} nodes (alias expansion?)")
        if depth > MAX_DEPTH:
            raise _TooBig(node, f"nesting deeper than {MAX_DEPTH} levels")
        if isinstance(node, yaml.ScalarNode):
            try:
                value = self.constructor.construct_object(node)
            except (yaml.YAMLError, ValueError, TypeError, OverflowError) as e:
                problem = getattr(e, "problem", None) or str(e)
                self.error(node, path, f"cannot read value {node.value!r}: {problem}")
                return None
            if isinstance(value, bytes):
                self.error(node, path, "binary values are not supported")
                return None
            return value
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, child in enumerate(node.value):
                child_path = (*path, index)
                loc = _loc(self.file, child.start_mark)
                self.locations[child_path] = (loc, loc)
                items.append(self.walk(child, child_path, depth + 1))
            return items
        assert isinstance(node, yaml.MappingNode)
        return self._mapping(node, path, depth)

    def _mapping(self, node: yaml.MappingNode, path: JsonPath, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_seen: dict[str, yaml.Node] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.update(self._merge_sources(value_node, path, depth))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.error(key_node, path, "mapping keys must be plain strings")
                continue
            key = self.walk(key_node, path, depth + 1)
            if not isinstance(key, str):
                hint = f' (YAML reads it as a boolean: quote it: "{key_node.value}")'
                self.error(
                    key_node,
                    path,
                    f"mapping keys must be strings; got {key_node.value!r}"
                    + (hint if isinstance(key, bool) else ""),
                )
                continue
            if key in first_seen:
                first = first_seen[key].start_mark
                self.error(
                    key_node,
                    path,
                    f"duplicate key {key!r} (first at {first.line + 1}:{first.column + 1})",
                )
                continue
            first_seen[key] = key_node
            child_path = (*path, key)
            self.locations[child_path] = (
                _loc(self.file, key_node.start_mark),
                _loc(self.file, value_node.start_mark),
            )
            result[key] = self.walk(value_node, child_path, depth + 1)
        # YAML merge keys (`<<: *defaults`): explicit keys win over merged ones
        for key, value in merged.items():
            result.setdefault(key, value)
        return result

    def _merge_sources(self, node: yaml.Node, path: JsonPath, depth: int) -> dict[str, Any]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        merged: dict[str, Any] = {}
        for source in reversed(sources):
            if not isinstance(source, yaml.MappingNode):
                self.error(source, path, "a merge key (<<) takes a mapping or a list of mappings")
                continue
            # merged values keep the locations of where they were written
            walked = self._mapping(source, path, depth + 1)
            merged.update(walked)
        return merged


class _TooBig(Exception):
    def __init__(self, node: yaml.Node, why: str) -> None:
        self.node = node
        self.why = why


def load_text(text: str, file: str) -> Document:
    """Parse spec text; raise SpecError with located diagnostics on any problem."""
    if len(text) > MAX_FILE_BYTES:
        raise SpecError([_at_start(file, f"file is larger than {MAX_FILE_BYTES} bytes")])
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        message = " ".join(str(part) for part in (e.context, e.problem) if part) or "invalid YAML"
        raise SpecError(
            [Diagnostic(loc=_loc(file, mark), path="", message=f"YAML syntax: {message}")]
        ) from e
    except yaml.YAMLError as e:
        raise SpecError([_at_start(file, f"YAML syntax: {e}")]) from e
    except RecursionError as e:
        raise SpecError([_at_start(file, f"nesting deeper than {MAX_DEPTH} levels")]) from e
    if root is None:
        raise SpecError(
            [_at_start(file, "the spec is empty; expected a mapping with 'version: 1'")]
        )
    walker = _Walker(file)
    try:
        data = walker.walk(root, (), 0)
    except _TooBig as e:
        raise SpecError(
            [
                Diagnostic(
                    loc=_loc(file, e.node.start_mark), path="", message=f"spec too large: {e.why}"
                )
            ]
        ) from None
    except RecursionError:
        raise SpecError([_at_start(file, f"nesting deeper than {MAX_DEPTH} levels")]) from None
    if walker.diagnostics:
        raise SpecError(walker.diagnostics)
    walker.locations[()] = (_loc(file, root.start_mark), _loc(file, root.start_mark))
    return Document(file=file, data=data, locations=walker.locations)


def load_path(path: Path) -> Document:
    """Read and parse a spec file."""
    name = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SpecError([_at_start(name, f"file is larger than {MAX_FILE_BYTES} bytes")])
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PkiformError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise PkiformError(f"{name}: is a directory, expected a YAML file") from None
    except OSError as e:
        raise PkiformError(f"{name}: cannot read: {e.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise SpecError(
            [
                Diagnostic(
                    loc=Location(file=name, line=line, col=1),
                    path="",
                    message="not UTF-8 text",
                )
            ]
        ) from None
    return load_text(text, name)


def _at_start(file: str, message: str) -> Diagnostic:
    return Diagnostic(loc=Location(file=file, line=1, col=1), path="", message=message)
