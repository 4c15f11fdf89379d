"""source.load_text / load_path: plain data, 1-based positions, merge keys, hostile input."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pkiform.errors import Location, PkiformError, SpecError
from pkiform.spec import source
from pkiform.spec.source import Document, describe, dotted, load_path, load_text

SPEC = """\
# a comment first
version: 1
identities:
  root-ca:
    kind: root
    subject: {CN: Example Root, O: Example}
  web:
    kind: server
    issuer: root-ca
    dns:
      - web.example.com
      - localhost
    ip: [127.0.0.1, "::1"]
"""


def at(line: int, col: int, file: str = "spec.yaml") -> Location:
    return Location(file=file, line=line, col=col)


def errors(exc: pytest.ExceptionInfo[SpecError]) -> list[str]:
    return [str(d) for d in exc.value.diagnostics]


@pytest.fixture
def doc() -> Document:
    return load_text(SPEC, "spec.yaml")


def test_data_is_plain_json_like(doc: Document) -> None:
    assert doc.data == {
        "version": 1,
        "identities": {
            "root-ca": {"kind": "root", "subject": {"CN": "Example Root", "O": "Example"}},
            "web": {
                "kind": "server",
                "issuer": "root-ca",
                "dns": ["web.example.com", "localhost"],
                "ip": ["127.0.0.1", "::1"],
            },
        },
    }


@pytest.mark.parametrize(
    ("path", "key", "value"),
    [
        (("version",), at(2, 1), at(2, 10)),
        (("identities",), at(3, 1), at(4, 3)),
        (("identities", "root-ca"), at(4, 3), at(5, 5)),
        (("identities", "root-ca", "kind"), at(5, 5), at(5, 11)),
        (("identities", "root-ca", "subject"), at(6, 5), at(6, 14)),
        (("identities", "root-ca", "subject", "CN"), at(6, 15), at(6, 19)),
        (("identities", "root-ca", "subject", "O"), at(6, 33), at(6, 36)),
        (("identities", "web", "issuer"), at(9, 5), at(9, 13)),
        (("identities", "web", "dns"), at(10, 5), at(11, 7)),
        (("identities", "web", "dns", 0), at(11, 9), at(11, 9)),
        (("identities", "web", "dns", 1), at(12, 9), at(12, 9)),
        (("identities", "web", "ip", 1), at(13, 21), at(13, 21)),
    ],
)
def test_positions_are_one_based_and_point_at_keys_and_values(
    doc: Document, path: source.JsonPath, key: Location, value: Location
) -> None:
    assert doc.written(path)
    assert doc.loc(path) == value
    assert doc.loc(path, key=True) == key


def test_loc_of_an_unwritten_path_is_its_nearest_written_ancestor(doc: Document) -> None:
    assert doc.loc(("identities", "web", "validity")) == at(8, 5)
    assert doc.loc(("identities", "web", "validity"), key=True) == at(8, 5)
    assert doc.loc(("nowhere", "at", "all")) == at(2, 1)
    assert not doc.written(("identities", "web", "validity"))
    assert doc.written(("identities", "web", "issuer"))


def test_dotted_paths() -> None:
    assert dotted(("identities", "web", "dns", 0)) == "identities.web.dns[0]"
    assert dotted(()) == ""
    assert dotted(("version",)) == "version"


def test_describe_quotes_and_truncates() -> None:
    assert describe("P-192") == "'P-192'"
    assert describe(False) == "false"
    assert describe(None) == "nothing (null)"
    assert describe([1]) == "a list"
    assert describe({"a": 1}) == "a mapping"
    assert describe(1024) == "1024"
    assert describe("x" * 100) == repr("x" * 77 + "...")


def test_yaml_11_booleans_and_numbers_remember_how_they_were_written() -> None:
    doc = load_text("a: NO\nb: off\nc: 1.10\nd: text\n", "f.yaml")
    assert doc.data == {"a": False, "b": False, "c": 1.1, "d": "text"}
    assert doc.texts == {("a",): "NO", ("b",): "off", ("c",): "1.10"}


def test_timestamps_stay_text() -> None:
    doc = load_text("at: 2026-01-31T12:00:00Z\nday: 2026-01-31\n", "f.yaml")
    assert doc.data == {"at": "2026-01-31T12:00:00Z", "day": "2026-01-31"}


# -- anchors, aliases and merge keys -----------------------------------------------------

MERGE = """\
version: 1
identities:
  web: &server
    kind: server
    issuer: ca
    dns: [web.example.com]
  api:
    dns: [api.example.com]
    <<: *server
  ca: {kind: root}
"""


def test_merge_key_merges_and_explicit_keys_win() -> None:
    doc = load_text(MERGE, "spec.yaml")
    assert doc.data["identities"]["api"] == {
        "kind": "server",
        "issuer": "ca",
        "dns": ["api.example.com"],
    }
    # the explicit key keeps its own position even though the merge comes after it
    assert doc.loc(("identities", "api", "dns")) == at(8, 10)
    # a merged value is located where it was written: in the anchored mapping
    assert doc.loc(("identities", "api", "issuer")) == at(5, 13)


def test_merge_of_a_list_of_mappings_first_one_wins() -> None:
    doc = load_text(
        "a: &a {x: 1, y: 1}\nb: &b {x: 2, z: 2}\nc:\n  <<: [*a, *b]\n  z: 3\n", "f.yaml"
    )
    assert doc.data["c"] == {"x": 1, "y": 1, "z": 3}


def test_merge_of_a_scalar_is_an_error() -> None:
    with pytest.raises(SpecError) as exc:
        load_text("a:\n  <<: 3\n", "f.yaml")
    assert errors(exc) == [
        "f.yaml:2:7: error: a: expected a mapping or a list of mappings after '<<'"
    ]


def test_anchors_and_aliases_for_ordinary_reuse() -> None:
    doc = load_text("names: &n [a.example, b.example]\nweb: {dns: *n}\napi: {dns: *n}\n", "f")
    assert doc.data["web"]["dns"] == ["a.example", "b.example"]
    assert doc.data["api"]["dns"] == ["a.example", "b.example"]
    assert doc.data["web"]["dns"] is not doc.data["api"]["dns"]
    # each use is located at the anchored value
    assert doc.loc(("api", "dns", 1)) == at(1, 23, "f")


def test_undefined_alias_is_located() -> None:
    with pytest.raises(SpecError) as exc:
        load_text("version: 1\nidentities: *nope\n", "f.yaml")
    assert errors(exc) == ["f.yaml:2:13: error: YAML syntax: found undefined alias"]


# -- what is refused ---------------------------------------------------------------------


def test_duplicate_keys_report_both_positions() -> None:
    with pytest.raises(SpecError) as exc:
        load_text("a: 1\nb:\n  c: 1\n  c: 2\na: 2\n", "f.yaml")
    assert errors(exc) == [
        "f.yaml:4:3: error: b: duplicate key 'c' (first at 3:3)",
        "f.yaml:5:1: error: duplicate key 'a' (first at 1:1)",
    ]


def test_non_string_keys() -> None:
    with pytest.raises(SpecError) as exc:
        load_text("1: a\n[x]: b\nyes: c\n", "f.yaml")
    assert errors(exc) == [
        "f.yaml:1:1: error: expected a string as a mapping key; got 1",
        "f.yaml:2:1: error: expected a plain string as a mapping key",
        "f.yaml:3:1: error: expected a string as a mapping key; got true "
        '(YAML reads yes as true: quote it: "yes")',
    ]


# -- invisible format characters (Unicode category Cf) ------------------------------------

FORMAT = "expected text without invisible formatting characters"


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("evil\u202egnp.exe", "U+202E RIGHT-TO-LEFT OVERRIDE at position 5"),
        ("ali\u200dce", "U+200D ZERO WIDTH JOINER at position 4"),
        ("\u200cbob", "U+200C ZERO WIDTH NON-JOINER at position 1"),
        ("web\u200b", "U+200B ZERO WIDTH SPACE at position 4"),
        ("soft\u00adhyphen", "U+00AD SOFT HYPHEN at position 5"),
        (
            "x\u2066y\u2069",
            "U+2066 LEFT-TO-RIGHT ISOLATE at position 2, "
            "U+2069 POP DIRECTIONAL ISOLATE at position 4",
        ),
        ("bom\ufeff", "U+FEFF ZERO WIDTH NO-BREAK SPACE at position 4"),
        ("tag\U000e0041", "U+E0041 TAG LATIN CAPITAL LETTER A at position 4"),
        (
            "\u200b" * 5,
            "U+200B ZERO WIDTH SPACE at position 1, U+200B ZERO WIDTH SPACE at "
            "position 2, U+200B ZERO WIDTH SPACE at position 3 and 2 more",
        ),
    ],
)
def test_format_characters_are_refused_by_code_point_and_name(value: str, named: str) -> None:
    escaped = value.encode("unicode_escape").decode("ascii")
    with pytest.raises(SpecError) as exc:
        load_text(f'version: 1\nidentities:\n  ca:\n    subject: {{O: "{escaped}"}}\n', "f.yaml")
    assert errors(exc) == [
        f"f.yaml:4:18: error: identities.ca.subject.O: {FORMAT}; got {value!r} ({named})"
    ]


def test_a_format_character_is_never_printed_raw() -> None:
    with pytest.raises(SpecError) as exc:
        load_text("a: evil\u202egnp.exe\n", "f.yaml")
    assert errors(exc) == [
        f"f.yaml:1:4: error: a: {FORMAT}; got 'evil\\u202egnp.exe' "
        "(U+202E RIGHT-TO-LEFT OVERRIDE at position 5)"
    ]
    assert all(str(d).isprintable() for d in exc.value.diagnostics)


def test_a_format_character_in_a_key_is_refused() -> None:
    with pytest.raises(SpecError) as exc:
        load_text('identities:\n  "web\\u2060": {kind: root}\n', "f.yaml")
    assert errors(exc) == [
        f"f.yaml:2:3: error: identities: {FORMAT}; got 'web\\u2060' "
        "(U+2060 WORD JOINER at position 4)"
    ]


def test_every_format_character_is_refused() -> None:
    """Whatever Unicode version this Python knows: the check asks unicodedata, no table."""
    import sys
    import unicodedata

    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if unicodedata.category(char) != "Cf":
            continue
        with pytest.raises(SpecError) as exc:
            load_text(f'a: "x\\U{code:08x}"\n', "f.yaml")
        assert f"U+{code:04X} " in errors(exc)[0]


def test_text_beyond_ascii_without_format_characters_is_accepted() -> None:
    text = "Café Müller, 株式会社, Ελληνικά, emoji 🙂, non-breaking\u00a0space"
    doc = load_text(f"a: {text}\n", "f.yaml")
    assert doc.data == {"a": text}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: !!python/object:os.system x\n", "unsupported YAML tag '!!python/object:os.system'"),
        ("a: !!python/tuple [1, 2]\n", "unsupported YAML tag '!!python/tuple'"),
        ("a: !custom x\n", "unsupported YAML tag '!custom'"),
        ("a: !!omap [{x: 1}]\n", "unsupported YAML tag '!!omap'"),
        ("a: !!binary aGk=\n", "expected text; got a !!binary value (binary data is refused)"),
        ("a: !!int nope\n", "expected a !!int value; got 'nope'"),
        ("a: !!int ''\n", "expected a !!int value; got ''"),
        ("a: !!float x\n", "expected a !!float value; got 'x'"),
        ("a: " + "9" * 5000 + "\n", "expected a !!int value; got '" + "9" * 77 + "...'"),
    ],
)
def test_tags_beyond_plain_json_are_refused_where_written(text: str, message: str) -> None:
    with pytest.raises(SpecError) as exc:
        load_text(text, "f.yaml")
    [diagnostic] = exc.value.diagnostics
    assert (diagnostic.loc, diagnostic.path) == (at(1, 4, "f.yaml"), "a")
    assert diagnostic.message.startswith(message)


def test_lone_surrogate_is_refused_by_the_pure_python_loader_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import yaml

    monkeypatch.setattr(source, "_Loader", yaml.SafeLoader)
    with pytest.raises(SpecError) as exc:
        load_text('a: "x\\ud800"\n', "f.yaml")
    assert errors(exc) == [
        "f.yaml:1:4: error: a: expected Unicode text; got 'x\\ud800' (a lone surrogate)"
    ]


def test_syntax_errors_are_located() -> None:
    with pytest.raises(SpecError) as exc:
        load_text("a: b\n c: d\n", "f.yaml")
    assert errors(exc) == [
        "f.yaml:2:3: error: YAML syntax: mapping values are not allowed in this context"
    ]


def test_empty_and_comment_only_text() -> None:
    for text in ("", "   \n", "# nothing\n", "---\n"):
        with pytest.raises(SpecError) as exc:
            load_text(text, "f.yaml")
        assert errors(exc) == [
            "f.yaml:1:1: error: the spec is empty; expected a mapping with 'version: 1'"
        ]


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbfversion: 1\n")
    assert load_path(path).data == {"version": 1}


def test_crlf_line_endings_keep_positions(tmp_path: Path) -> None:
    path = tmp_path / "crlf.yaml"
    path.write_bytes(b"a: 1\r\nb:\r\n  c: x\r\n")
    doc = load_path(path)
    assert doc.loc(("b", "c")) == at(3, 6, str(path))


def test_not_utf8_is_located_at_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("a: 1\nname: Jos\u00e9\n".encode("latin-1"))
    with pytest.raises(SpecError) as exc:
        load_path(path)
    assert errors(exc) == [
        f"{path}:2:10: error: expected UTF-8 text; got the byte 0xe9 (save the file as UTF-8)"
    ]


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(PkiformError, match="no such file"):
        load_path(tmp_path / "absent.yaml")
    with pytest.raises(PkiformError, match="is a directory"):
        load_path(tmp_path)


# -- limits: each refused fast, with a located "spec too large" ---------------------------


def _quick_spec_error(text: str, seconds: float = 5.0) -> list[str]:
    """The errors for `text`, which must come well before a hang would (a generous bound:
    these inputs take seconds to hours when limits are checked too late)."""
    started = time.perf_counter()
    with pytest.raises(SpecError) as exc:
        load_text(text, "f.yaml")
    assert time.perf_counter() - started < seconds
    return errors(exc)


def test_max_depth() -> None:
    depth = source.MAX_DEPTH
    assert load_text("[" * depth + "]" * depth, "f.yaml").data is not None
    assert _quick_spec_error("[" * (depth + 1) + "]" * (depth + 1)) == [
        f"f.yaml:1:{depth + 1}: error: spec too large: nesting deeper than {depth} levels"
    ]


def test_max_depth_counts_aliases_followed() -> None:
    # each level is shallow as written, but the aliases nest 40 lists deep
    lines = ["l0: &l0 [x]"] + [f"l{i}: &l{i} [*l{i - 1}]" for i in range(1, 40)]
    assert _quick_spec_error("\n".join(lines) + "\n") == [
        "f.yaml:32:6: error: spec too large: nesting deeper than 32 levels"
    ]


def test_recursive_alias() -> None:
    assert _quick_spec_error("a: &a [b, *a]\n") == [
        "f.yaml:1:4: error: an alias refers to a list or mapping that contains it"
    ]


def test_max_nodes_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source, "MAX_NODES", 1000)
    text = "[" + "0," * source.MAX_NODES + "0]"
    assert _quick_spec_error(text) == [
        f"f.yaml:1:{2 * source.MAX_NODES}: error: spec too large: "
        f"more than {source.MAX_NODES} values"
    ]


def test_max_nodes_after_alias_expansion() -> None:
    """Billion laughs: nine levels of nine aliases would expand to 387 million strings."""
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    [message] = _quick_spec_error("\n".join(lines) + "\n")
    assert message.endswith(
        f"error: spec too large: more than {source.MAX_NODES} values (alias expansion?)"
    )


def test_max_nodes_with_a_smaller_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source, "MAX_NODES", 12)
    assert load_text("[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]", "f.yaml").data == list(range(1, 12))
    assert _quick_spec_error("[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]") == [
        "f.yaml:1:37: error: spec too large: more than 12 values"
    ]
    # 12 values as written, 20 once the aliases are expanded
    assert _quick_spec_error("a: &a [1, 2, 3, 4]\nb: [*a, *a, *a]\n") == [
        "f.yaml:2:4: error: spec too large: more than 12 values (alias expansion?)"
    ]


def test_max_file_bytes_text() -> None:
    text = "a: " + "x" * source.MAX_FILE_BYTES
    assert _quick_spec_error(text) == [
        f"f.yaml:1:1: error: spec too large: expected at most {source.MAX_FILE_BYTES} bytes"
    ]


def test_max_file_bytes_counts_utf8_bytes() -> None:
    text = "a: " + "\u00e9" * (source.MAX_FILE_BYTES // 2)
    assert _quick_spec_error(text) == [
        f"f.yaml:1:1: error: spec too large: expected at most {source.MAX_FILE_BYTES} bytes"
    ]


def test_max_file_bytes_path_is_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as f:
        f.truncate(source.MAX_FILE_BYTES + 1)  # sparse: no 8 MB written
    monkeypatch.setattr(Path, "read_bytes", _fail_read)
    with pytest.raises(SpecError) as exc:
        load_path(path)
    assert errors(exc) == [
        f"{path}:1:1: error: spec too large: {source.MAX_FILE_BYTES + 1} bytes; "
        f"expected at most {source.MAX_FILE_BYTES}"
    ]


def _fail_read(self: Path) -> bytes:
    raise AssertionError("a file over the limit must not be read")
