"""The repository documents itself: the licence pyproject.toml declares, and the spec
format (docs/spec.md) field by field against the JSON Schema, its examples run through
`pkiform validate`."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.csr_files import requests_named, write_request
from tests.helpers.repo import ROOT
from tests.helpers.run import RunCli

# the MIT licence as SPDX publishes it (https://spdx.org/licenses/MIT.html), but for
# the copyright line
MIT_BODY = """\
Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def test_the_licence_file_is_the_mit_licence_pyproject_declares() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    # hatchling ships LICEN[CS]E* in the wheel's dist-info/licenses/ by default
    text = (ROOT / "LICENSE").read_text()
    title, blank, copyright_line, blank2, body = text.split("\n", 4)
    assert (title, blank, blank2) == ("MIT License", "", "")
    assert re.fullmatch(r"Copyright \(c\) 20\d\d(-20\d\d)? the pkiform authors", copyright_line)
    assert body == MIT_BODY


# --- docs/spec.md against the JSON Schema ----------------------------------------------

SPEC_DOC = (ROOT / "docs" / "spec.md").read_text()
SCHEMA = json.loads((ROOT / "schemas" / "pkiform.schema.json").read_text())
# a field's heading: its path in backquotes, or several paths that share one section
HEADING = re.compile(r"^#{2,4} (`[^`]+`(?:, `[^`]+`)*)$", re.M)
ANY_HEADING = re.compile(r"^#{1,6} (.*)$", re.M)
OUTPUT = "$ pkiform validate spec.yaml\n"


def schema_fields(node: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[str]:
    """Every property of the schema as a dotted path, `*` standing for an identity's name
    (if/then conditions restate fields, they add none)."""
    for name, sub in node.get("properties", {}).items():
        path = (*prefix, name)
        yield ".".join(path)
        yield from schema_fields(sub, path)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        yield from schema_fields(extra, (*prefix, "*"))


def headings_needed(field: str) -> list[str]:
    """The headings docs/spec.md must have for a schema field: an identity's fields are
    named from the identity down, and a field of defaults by its own heading
    (`defaults.key`) plus the identity field it sets (`key.encrypt`)."""
    parts = field.split(".")
    if parts[:2] == ["identities", "*"]:
        return [".".join(parts[2:])]
    if parts[0] == "defaults" and len(parts) > 2:
        return [".".join(parts[:2]), ".".join(parts[1:])]
    return [field]


def sections() -> dict[str, str]:
    """Each documented field path -> the text of its section, to the next heading."""
    found: dict[str, str] = {}
    starts = [m.start() for m in ANY_HEADING.finditer(SPEC_DOC)] + [len(SPEC_DOC)]
    for match in HEADING.finditer(SPEC_DOC):
        end = next(s for s in starts if s > match.start())
        for path in re.findall(r"`([^`]+)`", match.group(1)):
            assert path not in found, f"docs/spec.md documents {path} twice"
            found[path] = SPEC_DOC[match.start() : end]
    return found


def test_every_field_of_the_schema_is_documented_in_docs_spec_md() -> None:
    documented = sections()
    fields = list(schema_fields(SCHEMA))
    assert len(fields) > 80  # the walk reaches the nested fields
    undocumented = sorted(
        field for field in fields if any(h not in documented for h in headings_needed(field))
    )
    assert undocumented == []


def test_docs_spec_md_documents_no_field_the_schema_lacks() -> None:
    needed = {h for field in schema_fields(SCHEMA) for h in headings_needed(field)}
    assert sorted(set(sections()) - needed) == []


def test_every_field_section_gives_meaning_default_rules_and_an_example() -> None:
    incomplete = {
        path: [part for part in ("- Default:", "- Rules:", "```yaml\n") if part not in text]
        for path, text in sections().items()
    }
    assert {path: parts for path, parts in incomplete.items() if parts} == {}
    # the meaning: a paragraph between the heading and the first bullet
    for path, text in sections().items():
        meaning = text.split("\n\n", 1)[1].split("- Default:", 1)[0].strip()
        assert len(meaning.split()) >= 3, path


def examples() -> list[tuple[str, str, str | None]]:
    """docs/spec.md's YAML blocks: (the heading above it, the YAML, the validate output
    shown right below it, if any)."""
    found = []
    block = re.compile(r"```yaml\n(.*?)```\n(?:\n```\n" + re.escape(OUTPUT) + r"(.*?)```)?", re.S)
    for match in block.finditer(SPEC_DOC):
        heading = [h for h in ANY_HEADING.findall(SPEC_DOC[: match.start()])][-1]
        found.append((heading, match.group(1), match.group(2)))
    return found


@pytest.mark.parametrize(
    ("heading", "text", "output"),
    examples(),
    ids=[f"{i}:{heading.strip('#` ')}" for i, (heading, _, _) in enumerate(examples())],
)
def test_every_example_in_docs_spec_md_validates_as_shown(
    heading: str, text: str, output: str | None, run_cli: RunCli, tmp_path: Path
) -> None:
    (tmp_path / "spec.yaml").write_text(text)
    for path in requests_named(text):  # validate reads them: real ones, beside the spec
        write_request(tmp_path / path)
    result = run_cli("validate", "spec.yaml")
    if output is None:
        assert (result.code, result.err) == (0, ""), f"{heading}:\n{result.err}"
        count = len(yaml.safe_load(text)["identities"])
        assert result.out == f"spec.yaml: valid ({count} identities)\n"
    else:
        code = 1 if ": error: " in output else 0
        assert (result.code, result.err) == (code, output), heading


def test_docs_spec_md_shows_errors_and_warnings_and_every_example_is_checked() -> None:
    outputs = [output for _, _, output in examples() if output is not None]
    assert any(": error: " in o for o in outputs) and any(": warning: " in o for o in outputs)
    # no YAML block escapes the test above: each one is followed by prose or its output
    assert SPEC_DOC.count("```yaml\n") == len(examples()) > 50


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.lower())
    return text.replace(" ", "-")


def test_the_links_inside_docs_spec_md_lead_to_its_headings() -> None:
    anchors = {slug(h) for h in ANY_HEADING.findall(SPEC_DOC)}
    links = re.findall(r"\]\(#([^)]+)\)", SPEC_DOC)
    assert len(links) > 30
    assert sorted(set(links) - anchors) == []


def test_the_readme_sends_readers_to_docs_spec_md() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "docs/spec.md" in readme
    assert "design contract" not in readme  # which the repository does not contain
