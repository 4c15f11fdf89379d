"""Read a YAML spec into plain data plus the file position of every key and value.

PyYAML's `safe_load` throws positions away and silently keeps the last of two
duplicate keys, so we compose the node graph ourselves and walk it: every
mapping key is checked for uniqueness, every value remembers where it was
written, and hostile input (huge files, deep nesting, alias bombs) fails fast.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from pkiform.errors import Diagnostic, Location, PkiformError, SpecError
from pkiform.spec.digest import spec_digest

try:  # libyaml is 7x faster and keeps node marks just the same
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_FILE_BYTES = 8 * 1024 * 1024
# nested lists and mappings, aliases followed; a real spec needs about 6
MAX_DEPTH = 32
# values in the spec with every alias expanded: bounds the "billion laughs"
# expansion (checked on the node graph before anything is expanded); a spec
# with ten thousand identities has about 200000
MAX_NODES = 1_000_000

JsonPath = tuple[str | int, ...]

_YAML = "tag:yaml.org,2002:"
_MERGE_TAG = _YAML + "merge"
_SEQ_TAG = _YAML + "seq"
_MAP_TAG = _YAML + "map"
_TIMESTAMP_TAG = _YAML + "timestamp"
_BINARY_TAG = _YAML + "binary"
_STR_TAG = _YAML + "str"
_ScalarNode = yaml.ScalarNode  # a module global: looked up once per node, not per attribute
_PLAIN_SCALAR_TAGS = frozenset(_YAML + t for t in ("str", "int", "float", "bool", "null"))

# YAML 1.1 §5.1: the printable characters a YAML stream may contain
_NOT_PRINTABLE = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
# either of the two above: one search clears a string of both (the usual case)
_SUSPECT = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


class Position(Protocol):
    """Where a node starts, 0-based, as PyYAML's Mark has it."""

    @property
    def line(self) -> int: ...

    @property
    def column(self) -> int: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Document:
    """A parsed spec: JSON-like data, and where each path was written."""

    file: str
    data: Any
    # path -> 0-based (line, column) of the key and of the value; kept as PyYAML's
    # marks and made Locations only when asked (a 10,000-identity spec has 90,000)
    locations: Mapping[JsonPath, tuple[Position, Position]] = field(default_factory=dict)
    # path -> how a boolean or number was written (`NO`, `off`, `1.10`), for hints
    texts: Mapping[JsonPath, str] = field(default_factory=dict)
    # SHA-256 of the source as UTF-8, which is what the spec file holds (cache/settled.py)
    digest: str | None = None
    # read with keep_going: the values refused here (their paths hold no usable data,
    # or a mapping lost a key), for the later checks to leave alone
    problems: tuple[Diagnostic, ...] = ()
    broken: frozenset[JsonPath] = frozenset()

    def loc(self, path: JsonPath, *, key: bool = False) -> Location:
        """The location of a path's value (or key), else of its nearest written ancestor."""
        found = self.locations.get(path)
        if found is not None:  # the usual case, without the loop's slicing
            return _loc(self.file, found[0] if key else found[1])
        for end in range(len(path) - 1, -1, -1):
            found = self.locations.get(path[:end])
            if found is not None:  # an ancestor: where its value starts, even for a key
                return _loc(self.file, found[1])
        return _loc(self.file, None)

    def written(self, path: JsonPath) -> bool:
        """Whether the spec file spells out `path` itself."""
        return path in self.locations


def value_at(data: Any, path: JsonPath) -> Any:
    """The value at `path` in a document's data."""
    for part in path:
        data = data[part]
    return data


def dotted(path: JsonPath) -> str:
    """`("identities", "web", "dns", 0)` -> `identities.web.dns[0]`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def describe(value: Any) -> str:
    """A user's value as a message quotes it: `'P-192'`, `90`, `false`, `a list`."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return repr(value if len(value) <= 80 else value[:77] + "...")
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _loc(file: str, mark: Any) -> Location:
    if mark is None:
        return Location(file=file, line=1, col=1)
    return Location(file=file, line=mark.line + 1, col=mark.column + 1)


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_YAML) if tag.startswith(_YAML) else tag


class _Refused(Exception):
    """The spec cannot be walked safely; one located reason."""

    def __init__(self, node: yaml.Node, message: str) -> None:
        super().__init__(message)
        self.node = node
        self.message = message


class _Invalid:
    """Stands for a value that was already reported as an error."""


_INVALID = _Invalid()


def _measure(root: yaml.Node) -> None:
    """Refuse a node graph whose expansion is too deep, too large or recursive.

    Aliases make the node graph a DAG (or, with an alias inside its own anchor,
    a cyclic graph); sizes are memoized per node so an alias bomb is measured in
    time proportional to the file, not to its expansion.
    """
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded values, nesting height)
    active: set[int] = set()

    def visit(node: yaml.Node, depth: int) -> tuple[int, int]:
        if isinstance(node, _ScalarNode):
            return 1, 0
        known = sizes.get(id(node))
        if known is None:
            if id(node) in active:
                raise _Refused(node, "an alias refers to a list or mapping that contains it")
            if depth >= MAX_DEPTH:
                raise _Refused(node, f"spec too large: nesting deeper than {MAX_DEPTH} levels")
            active.add(id(node))
            children: list[yaml.Node] = []
            if isinstance(node, yaml.SequenceNode):
                children = node.value
            elif isinstance(node, yaml.MappingNode):
                children = [n for pair in node.value for n in pair]
            size, height = 1, 0
            for child in children:
                if isinstance(child, _ScalarNode):
                    # a scalar counts one value and nests nothing: this is visit(child)
                    # inlined, as most nodes are scalars (depth + 1 <= MAX_DEPTH here)
                    size += 1
                    if size > MAX_NODES:
                        raise _Refused(
                            node,
                            f"spec too large: more than {MAX_NODES} values (alias expansion?)",
                        )
                    continue
                child_size, child_height = visit(child, depth + 1)
                size += child_size
                height = max(height, child_height)
                if size > MAX_NODES:
                    raise _Refused(
                        node, f"spec too large: more than {MAX_NODES} values (alias expansion?)"
                    )
                # a child measured before (an alias) may nest too deep only here
                if depth + 1 + child_height > MAX_DEPTH:
                    raise _Refused(node, f"spec too large: nesting deeper than {MAX_DEPTH} levels")
            active.discard(id(node))
            known = sizes[id(node)] = (size, height + 1)
        return known

    visit(root, 0)


class _Walker:
    def __init__(self, file: str) -> None:
        self.file = file
        self.locations: dict[JsonPath, tuple[Position, Position]] = {}
        self.texts: dict[JsonPath, str] = {}
        self.diagnostics: list[Diagnostic] = []
        self.broken: set[JsonPath] = set()  # what each problem leaves without usable data
        self.constructor = yaml.constructor.SafeConstructor()

    def error(
        self, node: yaml.Node, path: JsonPath, message: str, *, breaks: JsonPath | None = None
    ) -> None:
        self.diagnostics.append(
            Diagnostic(loc=_loc(self.file, node.start_mark), path=dotted(path), message=message)
        )
        self.broken.add(path if breaks is None else breaks)

    def _unsupported_tag(
        self, node: yaml.Node, path: JsonPath, *, breaks: JsonPath | None = None
    ) -> _Invalid:
        self.error(
            node,
            path,
            f"unsupported YAML tag {_short_tag(node.tag)!r}: a spec holds only strings, "
            "numbers, booleans, lists and mappings",
            breaks=breaks,
        )
        return _INVALID

    def scalar(
        self, node: yaml.ScalarNode, path: JsonPath, *, breaks: JsonPath | None = None
    ) -> Any:
        tag = node.tag
        if tag == _STR_TAG:  # most scalars: tested first
            value: Any = node.value  # what SafeConstructor would return, without its dispatch
            if value.isascii() and _SUSPECT.search(value) is None:
                return value  # text with nothing the checks below refuse
        elif tag == _TIMESTAMP_TAG:
            # a date is text to pkiform (JSON has no dates); keep it as written
            value = node.value
        elif tag == _BINARY_TAG:
            self.error(
                node,
                path,
                "expected text; got a !!binary value (binary data is refused)",
                breaks=breaks,
            )
            return _INVALID
        elif tag not in _PLAIN_SCALAR_TAGS:
            return self._unsupported_tag(node, path, breaks=breaks)
        else:
            try:
                value = self.constructor.construct_object(node)
            except Exception:  # PyYAML raises ValueError, KeyError, IndexError here
                self.error(
                    node,
                    path,
                    f"expected a {_short_tag(node.tag)} value; got {describe(node.value)}",
                    breaks=breaks,
                )
                return _INVALID
        if isinstance(value, str):
            if _SURROGATE.search(value):
                self.error(
                    node,
                    path,
                    f"expected Unicode text; got {describe(value)} (a lone surrogate)",
                    breaks=breaks,
                )
                return _INVALID
            control = _CONTROL.search(value)
            if control:
                char = control.group()
                hint = (
                    " (a '|' block keeps its final line break: write '|-' or a plain string)"
                    if node.style == "|" and char == "\n" and value.index("\n") == len(value) - 1
                    else ""
                )
                self.error(
                    node,
                    path,
                    f"expected text without control characters; got {describe(value)}{hint}",
                    breaks=breaks,
                )
                return _INVALID
            if not value.isascii():  # ASCII has no format characters
                hidden = _format_characters(value)
                if hidden:
                    self.error(
                        node,
                        path,
                        "expected text without invisible formatting characters; "
                        f"got {describe(value)} ({hidden})",
                        breaks=breaks,
                    )
                    return _INVALID
        if isinstance(value, bool | int | float):
            self.texts[path] = node.value
        return value

    def walk(self, node: yaml.Node, path: JsonPath) -> Any:
        if isinstance(node, _ScalarNode):
            return self.scalar(node, path)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ_TAG:
                return self._unsupported_tag(node, path)
            items = []
            for index, child in enumerate(node.value):
                child_path = (*path, index)
                self.locations[child_path] = (child.start_mark, child.start_mark)
                items.append(self.walk(child, child_path))
            return items
        assert isinstance(node, yaml.MappingNode)
        if node.tag != _MAP_TAG:
            return self._unsupported_tag(node, path)
        return self._mapping(node, path)

    def _mapping(self, node: yaml.MappingNode, path: JsonPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        # YAML merge keys (`<<: *defaults`) first, so the explicit keys' values and
        # locations, walked after them, win
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                result.update(self._merge_sources(value_node, path))
        first_seen: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            if not isinstance(key_node, _ScalarNode):
                self.error(key_node, path, "expected a plain string as a mapping key")
                continue
            # a refused key loses its value: what it names, as written, is broken (at the
            # top level, where it may be 'identities', the whole spec)
            lost: JsonPath = (*path, str(key_node.value)) if path else ()
            key = self.scalar(key_node, path, breaks=lost)
            if key is _INVALID:
                continue
            if not isinstance(key, str):
                text = key_node.value
                hint = (
                    f' (YAML reads {text} as {describe(key)}: quote it: "{text}")'
                    if isinstance(key, bool)
                    else ""
                )
                self.error(
                    key_node,
                    path,
                    f"expected a string as a mapping key; got {describe(key)}{hint}",
                    breaks=lost,
                )
                continue
            if key in first_seen:
                first = first_seen[key].start_mark
                self.error(
                    key_node,
                    path,
                    f"duplicate key {key!r} (first at {first.line + 1}:{first.column + 1})",
                    breaks=lost,
                )
                continue
            first_seen[key] = key_node
            child_path = (*path, key)
            self.locations[child_path] = (key_node.start_mark, value_node.start_mark)
            result[key] = self.walk(value_node, child_path)
        return result

    def _merge_sources(self, node: yaml.Node, path: JsonPath) -> dict[str, Any]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        merged: dict[str, Any] = {}
        # YAML merge: of several sources, the first one listed wins
        for source in reversed(sources):
            if not isinstance(source, yaml.MappingNode) or source.tag != _MAP_TAG:
                self.error(source, path, "expected a mapping or a list of mappings after '<<'")
                continue
            # merged values keep the locations of where they were written
            merged.update(self._mapping(source, path))
        return merged


def _format_characters(text: str, shown: int = 3) -> str:
    """The format characters (Unicode category Cf) in `text`, by code point, name and
    1-based position (the first `shown` of them), or "" when there are none."""
    # Bidi overrides and isolates, zero-width joiners and spaces, soft hyphens: a name
    # holding them displays as another (evil\u202egnp.exe shows as evilexe.png) in
    # terminals, certificate viewers and logs. unicodedata knows every Unicode version's
    # list, so no table here goes stale; imported only for text beyond ASCII.
    import unicodedata

    found = [(i, c) for i, c in enumerate(text) if unicodedata.category(c) == "Cf"]
    named = [
        f"U+{ord(c):04X} {unicodedata.name(c, 'FORMAT CHARACTER')} at position {i + 1}"
        for i, c in found[:shown]
    ]
    more = f" and {len(found) - shown} more" if len(found) > shown else ""
    return ", ".join(named) + more


def _syntax_error(text: str, file: str, e: yaml.MarkedYAMLError) -> Diagnostic:
    mark = e.problem_mark or e.context_mark
    problem = str(e.problem or e.context or "invalid YAML")
    if "maximum nesting depth" in problem:
        return Diagnostic(
            loc=_loc(file, mark),
            path="",
            message=f"spec too large: nesting deeper than {MAX_DEPTH} levels",
        )
    message = f"YAML syntax: {problem}"
    if mark is not None and _char_at(text, mark.line, mark.column) == "\t":
        message += " (a tab: YAML indents with spaces only)"
    elif e.context and e.problem:
        where = ""
        if e.context_mark is not None and e.context_mark.line != getattr(mark, "line", None):
            where = f" at {e.context_mark.line + 1}:{e.context_mark.column + 1}"
        message += f" ({e.context}{where})"
    return Diagnostic(loc=_loc(file, mark), path="", message=message)


def _char_at(text: str, line: int, column: int) -> str:
    lines = text.split("\n")
    if 0 <= line < len(lines) and 0 <= column < len(lines[line]):
        return lines[line][column]
    return ""


def _position(file: str, text: str, index: int) -> Location:
    line = text.count("\n", 0, index) + 1
    return Location(file=file, line=line, col=index - (text.rfind("\n", 0, index) + 1) + 1)


def _parse(text: str, file: str) -> yaml.Node | None:
    """Compose the single YAML document, after counting its events with a bound."""
    bad = _NOT_PRINTABLE.search(text)
    if bad:
        raise SpecError(
            [
                Diagnostic(
                    loc=_position(file, text, bad.start()),
                    path="",
                    message=f"YAML syntax: unacceptable character U+{ord(bad.group()):04X} "
                    "(YAML allows no control characters in a file)",
                )
            ]
        )
    try:
        # every value takes at least two characters, so a shorter text cannot exceed
        # MAX_NODES as written, and composing it is safe (depth is checked on the nodes)
        if len(text) > 2 * MAX_NODES:
            _check_events(text, file)
        node: yaml.Node | None = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        if "nesting depth" in str(e.problem) and e.problem_mark is not None:
            # newer libyaml gives up at 1000 levels while scanning ahead, before the
            # first event: the pure-Python parser finds the first level too deep in
            # the text up to there, as _measure does after older releases compose it
            with contextlib.suppress(yaml.YAMLError):
                _check_events(text[: e.problem_mark.index], file, yaml.SafeLoader)
        raise SpecError([_syntax_error(text, file, e)]) from None
    except yaml.reader.ReaderError as e:  # pragma: no cover - _NOT_PRINTABLE finds these first
        raise SpecError([_at_start(file, f"YAML syntax: {e.reason}")]) from None
    except yaml.YAMLError as e:  # pragma: no cover - every other YAMLError is marked
        raise SpecError([_at_start(file, f"YAML syntax: {e}")]) from None
    except RecursionError:  # pragma: no cover - only the pure-Python loader recurses
        raise SpecError(
            [_at_start(file, f"spec too large: nesting deeper than {MAX_DEPTH} levels")]
        ) from None
    return node


def _check_events(text: str, file: str, loader: Any = _Loader) -> None:
    """Refuse a text nested too deep or holding too many values, from its parser events:
    they come one at a time, so this stops before any node of a huge file is built."""
    depth = values = 0
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            values += 1
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        elif isinstance(event, yaml.ScalarEvent | yaml.AliasEvent):
            values += 1
        if depth > MAX_DEPTH:
            why = f"nesting deeper than {MAX_DEPTH} levels"
        elif values > MAX_NODES:
            why = f"more than {MAX_NODES} values"
        else:
            continue
        raise SpecError(
            [
                Diagnostic(
                    loc=_loc(file, event.start_mark), path="", message=f"spec too large: {why}"
                )
            ]
        )


def load_text(text: str, file: str, *, keep_going: bool = False) -> Document:
    """Parse spec text; raise SpecError with located diagnostics on any problem. With
    `keep_going`, a value refused here (a control character, a duplicate key, a YAML tag)
    is kept on the Document (`problems`, `broken`) for validation to report with the rest;
    text that cannot be parsed at all still raises."""
    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise SpecError(
            [_at_start(file, f"spec too large: expected at most {MAX_FILE_BYTES} bytes")]
        )
    root = _parse(text, file)
    if root is None or (
        isinstance(root, yaml.ScalarNode) and root.tag == _YAML + "null" and not root.value
    ):
        raise SpecError(
            [_at_start(file, "the spec is empty; expected a mapping with 'version: 1'")]
        )
    walker = _Walker(file)
    try:
        _measure(root)
    except _Refused as e:
        raise SpecError(
            [Diagnostic(loc=_loc(file, e.node.start_mark), path="", message=e.message)]
        ) from None
    data = walker.walk(root, ())
    if walker.diagnostics and not keep_going:
        raise SpecError(walker.diagnostics)
    walker.locations[()] = (root.start_mark, root.start_mark)
    return Document(
        file=file,
        data=data,
        locations=walker.locations,
        texts=walker.texts,
        digest=spec_digest(text.encode("utf-8", "surrogatepass")),
        problems=tuple(walker.diagnostics),
        broken=frozenset(walker.broken),
    )


def load_path(path: Path, *, keep_going: bool = False) -> Document:
    """Read and parse a spec file (`keep_going`: as load_text)."""
    name = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SpecError(
                [
                    _at_start(
                        name, f"spec too large: {size} bytes; expected at most {MAX_FILE_BYTES}"
                    )
                ]
            )
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PkiformError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise PkiformError(f"{name}: is a directory, expected a YAML file") from None
    except OSError as e:
        raise PkiformError(f"{name}: cannot read: {e.strerror}") from None
    return load_bytes(raw, name, keep_going=keep_going)


def load_bytes(raw: bytes, name: str, *, keep_going: bool = False) -> Document:
    """Parse a spec's bytes (a file's, or standard input's), as read from `name`
    (`keep_going`: as load_text)."""
    if len(raw) > MAX_FILE_BYTES:  # before decoding: a cut may split a character
        raise SpecError(
            [_at_start(name, f"spec too large: expected at most {MAX_FILE_BYTES} bytes")]
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        before = raw[: e.start].decode("utf-8", errors="replace")  # valid up to e.start
        raise SpecError(
            [
                Diagnostic(
                    loc=_position(name, before, len(before)),
                    path="",
                    message=f"expected UTF-8 text; got the byte 0x{raw[e.start]:02x} "
                    "(save the file as UTF-8)",
                )
            ]
        ) from None
    return load_text(text, name, keep_going=keep_going)


def _at_start(file: str, message: str) -> Diagnostic:
    return Diagnostic(loc=_loc(file, None), path="", message=message)
