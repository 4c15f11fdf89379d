"""`plan --format markdown`: the plan as a pull-request comment, rendered here by GitHub's
own Markdown library (cmark-gfm, through cmarkgfm) to check that what a reviewer sees is
what pkiform planned: every row and cell, names and reasons exactly as in the text plan,
nothing a spec or a folder name holds turned into markup, a link or a mention."""

from __future__ import annotations

import json
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options

from pkiform import plan_markdown
from tests.helpers.run import ApplySpec, RunCli

SPEC = """\
version: 1
identities:
  root: {kind: root}
  issuing: {kind: intermediate, issuer: root, path_length: 0}
  web: {kind: server, issuer: issuing, dns: [web.example]}
  alice: {kind: client, issuer: issuing}
"""


def render(markdown: str) -> str:
    """The HTML GitHub makes of a comment (it allows <details>, <summary> and <br>)."""
    html: str = cmarkgfm.github_flavored_markdown_to_html(
        markdown, options=Options.CMARK_OPT_UNSAFE
    )
    return html


class _Html(HTMLParser):
    """Tables as rows of cell texts; every element seen; <code> texts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self.tags: list[str] = []
        self.codes: list[str] = []
        self.text: list[str] = []
        self._cell: list[str] | None = None
        self._code: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")
        elif tag == "code":
            self._code = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None
        elif tag == "code" and self._code is not None:
            self.codes.append("".join(self._code))
            self._code = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._code is not None:
            self._code.append(data)


def parsed(markdown: str) -> _Html:
    found = _Html()
    found.feed(render(markdown))
    return found


def test_a_plan_in_markdown_has_the_summary_the_table_and_the_text_plans_reasons(
    applied: ApplySpec, run_cli: RunCli, tmp_path: Path
) -> None:
    spec, out = applied(SPEC)
    spec.write_text(
        SPEC.replace("dns: [web.example]", "dns: [web.example, www.example]")
        .replace("alice: {kind: client, issuer: issuing}", "bob: {kind: client, issuer: issuing}")
        .replace("path_length: 0}", "path_length: 0, key: {type: ec, curve: P-384}}")
    )
    result = run_cli("plan", spec, "-o", out, "--format", "markdown")
    text = run_cli("plan", spec, "-o", out)
    assert (result.code, result.err) == (2, "")
    assert result.out == (
        "**Plan: 1 to create, 1 to replace key, 1 to reissue, 1 CRL/OCSP to sign; 1 unchanged.**\n"
        "\n"
        "| | identity | change | reasons |\n"
        "|:-:|---|---|---|\n"
        "| `-/+` | `issuing` (intermediate) | replace key | `key: ec P-256 -> ec P-384` |\n"
        "| `+` | `bob` (client) | create |  |\n"
        "| `~` | `web` (server) | reissue | `issuer 'issuing' gets a new key`<br>"
        "`dns: +www.example` |\n"
        "| `~` | `issuing` | re-sign crl.pem (CRL number 2, 0 revoked) | "
        "`the CA's certificate is reissued` |\n"
        "| `?` | `alice` | on disk but not in the spec; left in place (apply --prune archives "
        "it) |  |\n"
    )
    # what GitHub shows is what the text plan says, line for line
    html = parsed(result.out)
    assert html.rows[0] == ["", "identity", "change", "reasons"]
    shown = [
        f"{symbol:>3} {who}: {change}\n" + "".join(f"      {r}\n" for r in reasons.split("\n") if r)
        for symbol, who, change, reasons in html.rows[1:]
    ]
    summary = text.out.splitlines()[-1]
    assert "".join(shown) + summary + "\n" == text.out
    assert html.tags[:2] == ["p", "strong"] and html.text[0] == summary


def test_no_changes_is_the_summary_alone(applied: ApplySpec, run_cli: RunCli) -> None:
    spec, out = applied(SPEC)
    twin = spec.with_name("twin.yaml")  # a comment apart: planned in full, not from the mark
    twin.write_text(SPEC + "# planned in full\n")
    for path in (spec, twin):
        result = run_cli("plan", path, "-o", out, "--format", "markdown")
        assert (result.code, result.out, result.err) == (
            0,
            "**No changes: 4 identities up to date.**\n",
            "",
        )


def test_json_is_the_same_as_format_json_and_they_do_not_mix(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    spec = write_spec(SPEC)
    out = tmp_path / "pki"
    as_json = run_cli("plan", spec, "-o", out, "--json")
    assert run_cli("plan", spec, "-o", out, "--format", "json") == as_json
    assert json.loads(as_json.out)["changes"] is True
    assert run_cli("plan", spec, "-o", out, "--format", "text").out.startswith("  + root (root)")
    mixed = run_cli("plan", spec, "-o", out, "--json", "--format", "markdown")
    assert (mixed.code, mixed.out) == (64, "")
    broken = write_spec("version: 1\nidentities:\n  web: {kind: server, issuer: nope}\n", "b.yaml")
    errors = run_cli("plan", broken, "-o", out, "--format", "json")
    assert errors.code == 1 and json.loads(errors.out)["valid"] is False
    assert run_cli("plan", broken, "-o", out, "--format", "markdown").out == ""


def test_a_blocked_plan_in_markdown_exits_1_and_names_the_flag(
    applied: ApplySpec, run_cli: RunCli
) -> None:
    spec, out = applied(SPEC)
    (out / "issuing" / "key.pem").unlink()
    result = run_cli("plan", spec, "-o", out, "--format", "markdown")
    assert result.code == 1
    assert result.out.splitlines()[0] == "**Plan: 1 blocked; 3 unchanged.**"
    row = parsed(result.out).rows[1]
    assert row[:3] == ["!", "issuing (intermediate)", "blocked"]
    assert "pass --rekey issuing to replace it" in row[3]


# folder names: anything but a slash
HOSTILE = ["a|b", "x`y``z", "<img src=x onerror=alert(1)>", "@octocat", "#1", "*em*",
           "[l](javascript:alert(1))", "a\\|b", "<details>"]  # fmt: skip


def test_names_and_reasons_are_shown_as_written_never_as_markup(
    applied: ApplySpec, run_cli: RunCli
) -> None:
    spec, out = applied(SPEC)
    for name in [*HOSTILE, "new\nline"]:  # folders the spec does not name: listed with '?'
        (out / name).mkdir()
        (out / name / "cert.pem").write_bytes(b"")
    organisation = "Pipes | `ticks` <i>and</i> @team"
    spec.write_text(SPEC.replace("alice: {kind: client, issuer: issuing}", (
        f"alice: {{kind: client, issuer: issuing, subject: {{O: {json.dumps(organisation)}}}}}"
    )))  # fmt: skip
    result = run_cli("plan", spec, "-o", out, "--format", "markdown")
    assert result.code == 2, result.err
    html = parsed(result.out)
    # the only elements: the summary, the table, its code spans and line breaks
    assert set(html.tags) == {"p", "strong", "table", "thead", "tr", "th", "tbody", "td", "code"}
    names = [row[1] for row in html.rows[1:]]
    assert names == ["alice (client)", *sorted([*HOSTILE, "new\\x0aline"])]
    (reason,) = [row[3] for row in html.rows[1:] if row[1] == "alice (client)"]
    escaped = organisation.replace("<", "\\<").replace(">", "\\>")  # RFC 4514 escapes
    assert reason == f"subject: CN=alice -> CN=alice,O={escaped}"
    # every cell that came from the spec or the disk is a code span, whole
    assert set(html.codes) >= {*HOSTILE, "new\\x0aline", reason}


def test_long_reason_lists_are_cut_short_in_the_table_and_given_whole_below() -> None:
    reasons = tuple(f"reason {i} with a | pipe" for i in range(1, 6))
    rows = [
        plan_markdown.Row(symbol="~", name="web", kind="server", change="reissue", reasons=reasons),
        plan_markdown.Row(symbol="+", name="api", kind="server", change="create", reasons=("x",)),
    ]
    markdown = plan_markdown.comment(rows, "Plan: 1 to create, 1 to reissue; 0 unchanged.")
    html = parsed(markdown)
    assert html.rows[1] == ["~", "web (server)", "reissue", (
        "reason 1 with a | pipe\nreason 2 with a | pipe\nand 3 more below"
    )]  # fmt: skip
    assert html.rows[2] == ["+", "api (server)", "create", "x"]
    details = render(markdown).split("<details>", 1)[1]
    assert details.startswith("<summary>All the reasons of 1 change with more than 3</summary>")
    inner = _Html()
    inner.feed(details)
    assert inner.codes == ["web", *reasons]  # outside the table, a | needs no escape
    assert "</details>" in details


def test_the_spec_warnings_are_listed_after_the_table(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    spec = write_spec(SPEC.replace("web: {kind: server,", "web: {kind: server, validity: 20y,"))
    result = run_cli("plan", spec, "-o", tmp_path / "pki", "--format", "markdown")
    warning = (
        f"{spec}:5:33: warning: identities.web.validity: 20y outlives its issuer 'issuing' "
        "(5y); its certificate will end when the issuer's does"
    )
    assert result.err == warning + "\n"  # as ever, on stderr too
    assert result.out.endswith(f"**Warnings**\n\n- `{warning}`\n")
    assert parsed(result.out).codes[-1] == warning


@pytest.mark.parametrize(
    ("value", "span"),
    [
        ("plain", "`plain`"),
        ("a`b", "``a`b``"),
        ("`x`", "`` `x` ``"),
        ("``", "``` `` ```"),
        (" both ", "`  both  `"),
        ("   ", "`   `"),
        ("tab\there", "`tab\\x09here`"),
        ("bidi\u202eoverride", "`bidi\\u202eoverride`"),
        ("", ""),
    ],
)
def test_a_code_span_shows_any_value_as_it_is(value: str, span: str) -> None:
    assert plan_markdown.code(value) == span
    if value:
        found = _Html()
        found.feed(render(f"x {span} y"))
        shown = value.replace("\t", "\\x09").replace("\u202e", "\\u202e")
        assert found.codes == [shown]
