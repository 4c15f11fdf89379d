"""What plan, apply and status say and keep during a CA rotation (issue 16): the README's
worked example run as a reader runs it, the rotation reports in JSON, the manifest, the
outputs that follow the rotation, and the caches (seals, settled mark) that must never
vouch for what a rotation changes."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12

from pkiform.cache import seals
from pkiform.disk.observe import observe
from pkiform.disk.store import Store
from pkiform.spec.load import validate_path
from tests.helpers.files import snapshot
from tests.helpers.repo import ROOT
from tests.helpers.run import RunCli

README = (ROOT / "README.md").read_text()


def block(name: str) -> str:
    """The text of the README block tagged `name`."""
    tag = re.escape(f"<!-- tested by tests/test_rotation_plan.py: {name} -->")
    found = re.search(tag + r"\n```[a-z]*\n(.*?)```", README, re.S)
    assert found, f"README.md lost the block tagged {name!r}"
    return found.group(1)


def shown(name: str) -> str:
    """A block that shows `$ pkiform plan pki.yaml` and what it prints."""
    command, _, output = block(name).partition("\n")
    assert command == "$ pkiform plan pki.yaml"
    return output


def test_the_readme_rotation_runs_as_shown(run_cli: RunCli, tmp_path: Path) -> None:
    spec = tmp_path / "pki.yaml"
    spec.write_text(block("rotation-before"))
    assert run_cli("apply", "pki.yaml").code == 0
    for step in ("introduce", "move", "retire"):
        spec.write_text(block(f"rotation-{step}"))
        plan = run_cli("plan", "pki.yaml")
        assert (plan.code, plan.err) == (2, ""), plan.err
        assert plan.out == shown(f"rotation-{step}-plan"), step
        assert run_cli("apply", "pki.yaml").code == 0
        assert run_cli("plan", "pki.yaml").code == 0


def test_the_readme_retirement_too_early_is_refused_as_shown(
    run_cli: RunCli, tmp_path: Path
) -> None:
    spec = tmp_path / "pki.yaml"
    for step in ("before", "introduce"):
        spec.write_text(block(f"rotation-{step}"))
        assert run_cli("apply", "pki.yaml").code == 0
    spec.write_text(block("rotation-retire"))
    before = snapshot(tmp_path / "pki")
    result = run_cli("plan", "pki.yaml")
    assert (result.code, result.out, result.err) == (1, "", shown("rotation-too-early"))
    assert run_cli("apply", "pki.yaml").code == 1
    assert snapshot(tmp_path / "pki") == before


def applied_steps(run_cli: RunCli, tmp_path: Path, *steps: str) -> Path:
    """The README's example applied through `steps` into ./pki; pki.yaml is the last."""
    for step in steps:
        (tmp_path / "pki.yaml").write_text(block(f"rotation-{step}"))
        result = run_cli("apply", "pki.yaml")
        assert result.code == 0, result.err
    return tmp_path / "pki"


ROTATION = {
    "new": "root-2026",
    "old": "root-2024",
    "kind": "root",
    "cross_sign": True,
}
MOVE_NEXT = "move what 'root-2024' issues under 'root-2026' (issuer: root-2026): issuing"
TRUST_DEPLOY = "every ca.pem, trust-bundle.pem and truststore.p12 to every relying party"
RETIRE_NEXT = "retire 'root-2024': remove it, and replaces from 'root-2026', from the spec"
MOVED_DEPLOY = (
    "the new cert.pem, chain.pem and fullchain.pem (and outputs) of everything below "
    "'root-2026' to where each is used"
)


def test_plan_and_status_json_report_where_the_rotation_stands(
    run_cli: RunCli, tmp_path: Path
) -> None:
    applied_steps(run_cli, tmp_path, "before")
    (tmp_path / "pki.yaml").write_text(block("rotation-introduce"))
    plan = json.loads(run_cli("plan", "pki.yaml", "--json").out)
    assert plan["rotations"] == [
        ROTATION
        | {
            "still_below_old": ["issuing", "alice", "web"],
            "moving": [],
            "trust_files_without_new": ["root-2024", "issuing", "alice", "web", "trust-bundle.pem"],
            "next_step": "move",
            "next": MOVE_NEXT,
            "deploy": TRUST_DEPLOY,
        }
    ]
    assert plan["crosses"] == [
        {
            "name": "root-2026",
            "file": "root-2026/cross.pem",
            "signer": "root-2024",
            "verb": "sign",
            "reasons": ["cross.pem is missing"],
        }
    ]
    assert run_cli("apply", "pki.yaml").code == 0
    # the move written into the spec, not yet applied: status reports what is on disk
    (tmp_path / "pki.yaml").write_text(block("rotation-move"))
    status = run_cli("status", "pki.yaml", "--json")
    assert json.loads(status.out)["rotations"] == [
        ROTATION
        | {
            "still_below_old": [],
            "moving": ["issuing", "alice", "web"],
            "trust_files_without_new": [],
            "next_step": "retire",
            "next": RETIRE_NEXT,
            "deploy": MOVED_DEPLOY,
        }
    ]
    text = run_cli("status", "pki.yaml").out
    assert (
        "Rotation: root-2026 replaces root-2024 (root, cross-signed)\n"
        "      every trust file holds root-2026\n"
        "      below root-2026 in the spec, still chained to root-2024 on disk: issuing, alice, "
        "web (run pkiform apply)\n"
    ) in text
    assert run_cli("apply", "pki.yaml").code == 0
    assert json.loads(run_cli("status", "pki.yaml", "--json").out)["rotations"][0]["moving"] == []
    assert run_cli("status", "pki.yaml").code == 0


def test_apply_ends_with_where_the_rotation_stands_as_status_then_reports_it(
    run_cli: RunCli, tmp_path: Path
) -> None:
    def rotation_of(text: str) -> str:
        found = re.search(r"^Rotation: .*\n(?:      .*\n)*", text, re.M)
        assert found, text
        return found.group(0)

    applied_steps(run_cli, tmp_path, "before")
    for step in ("rotation-introduce", "rotation-move"):
        (tmp_path / "pki.yaml").write_text(block(step))
        applied = run_cli("apply", "pki.yaml")
        assert applied.code == 0, applied.err
        status = run_cli("status", "pki.yaml")
        assert rotation_of(applied.out) == rotation_of(status.out)
        assert "deploy" in rotation_of(applied.out)  # what to do before the next step
        again = json.loads(run_cli("apply", "pki.yaml", "--json").out)
        reported = json.loads(run_cli("status", "pki.yaml", "--json").out)
        assert again["rotations"] == reported["rotations"] != []


def test_an_intermediate_rotation_is_reported_without_trust_files(
    run_cli: RunCli, tmp_path: Path
) -> None:
    spec = tmp_path / "spec.yaml"
    base = (
        "version: 1\nidentities:\n  root: {kind: root}\n"
        "  issuing: {kind: intermediate, issuer: root}\n"
        "  web: {kind: server, issuer: issuing, dns: [web.example]}\n"
    )
    spec.write_text(base)
    assert run_cli("apply", spec).code == 0
    spec.write_text(base + "  issuing-2: {kind: intermediate, issuer: root, replaces: issuing}\n")
    plan = run_cli("plan", spec)
    assert plan.out == (
        "  + issuing-2 (intermediate): create\n"
        "Rotation: issuing-2 replaces issuing (intermediate)\n"
        "      still below issuing: web\n"
        "      next step: move what 'issuing' issues under 'issuing-2' (issuer: issuing-2): web\n"
        "      before it, deploy no trust file (relying parties trust the root 'root' already)\n"
        "Plan: 1 to create; 3 unchanged.\n"
    )


def test_the_manifest_names_the_rotation_and_the_cross_certificate(
    run_cli: RunCli, tmp_path: Path
) -> None:
    out = applied_steps(run_cli, tmp_path, "before", "introduce")
    entries = json.loads((out / "manifest.json").read_text())["identities"]
    assert entries["root-2026"]["replaces"] == "root-2024"
    assert entries["root-2026"]["files"]["cross"] == "root-2026/cross.pem"
    assert "replaces" not in entries["root-2024"] and "cross" not in entries["web"]["files"]


def sealed(spec: Path, out: Path) -> set[str]:
    """The identities whose seal holds for what is on disk now."""
    valid = validate_path(spec)
    observed = observe(
        Store(out), valid.spec.identities, vouch=seals.Reader(valid.spec, valid.graph).vouch
    )
    return {name for name, obs in observed.identities.items() if obs.vouched}


def test_seals_bind_the_cross_certificate_and_the_partner_root(
    run_cli: RunCli, tmp_path: Path
) -> None:
    out = applied_steps(run_cli, tmp_path, "before", "introduce", "move")
    spec = tmp_path / "pki.yaml"
    below_new = {"issuing", "alice", "web"}
    # every identity is sealed but, at most, the root that comes first (its partner's
    # certificate is not yet noted when it is)
    assert below_new | {"root-2026"} <= sealed(spec, out)
    # a cross certificate signed again (another apply's, here: a copy of the archive's
    # would do as well) breaks the seal of everything whose chain ends with it
    cross = out / "root-2026" / "cross.pem"
    cross.write_bytes((out / "root-2026" / "cert.pem").read_bytes())
    assert sealed(spec, out).isdisjoint(below_new | {"root-2026"})
    plan = json.loads(run_cli("plan", "pki.yaml", "--json").out)
    repaired = {a["name"] for a in plan["actions"] if a["verb"] == "repair"}
    assert repaired == below_new
    assert run_cli("apply", "pki.yaml").code == 0
    assert below_new <= sealed(spec, out)
    # the partner root's certificate is part of every seal of the other hierarchy
    (out / "root-2024" / "cert.pem").write_bytes(b"")
    assert sealed(spec, out).isdisjoint(below_new | {"root-2024", "root-2026"})


def test_no_settled_mark_while_a_rotation_is_in_the_spec(run_cli: RunCli, tmp_path: Path) -> None:
    out = applied_steps(run_cli, tmp_path, "before")
    assert b'"settled"' in (out / "manifest.json").read_bytes()
    for step in ("introduce", "move"):
        applied_steps(run_cli, tmp_path, step)
        assert b'"settled"' not in (out / "manifest.json").read_bytes(), step
        plan = run_cli("plan", "pki.yaml")
        assert plan.code == 0 and "Rotation: root-2026 replaces root-2024" in plan.out
    # retired, and the old root's folder archived: the mark comes back
    (tmp_path / "pki.yaml").write_text(block("rotation-retire"))
    assert run_cli("apply", "pki.yaml", "--prune").code == 0
    assert b'"settled"' in (out / "manifest.json").read_bytes()


OUTPUTS = """\
version: 1
identities:
  old-root: {kind: root}
  new-root: {kind: root, replaces: old-root, cross_sign: true}
  web:
    kind: server
    issuer: new-root
    dns: [web.example]
    outputs:
      pkcs12: {password_env: P12_PASSWORD}
      truststore: {password_env: P12_PASSWORD}
      kubernetes: {}
"""


def test_every_output_follows_the_rotation(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("P12_PASSWORD", "correct horse battery staple")
    (tmp_path / "spec.yaml").write_text(OUTPUTS)
    assert run_cli("apply", "spec.yaml").code == 0
    web, pki = tmp_path / "pki" / "web", tmp_path / "pki"
    old, new, cross = (
        x509.load_pem_x509_certificate(p.read_bytes())
        for p in (
            pki / "old-root" / "cert.pem",
            pki / "new-root" / "cert.pem",
            pki / "new-root" / "cross.pem",
        )
    )
    password = b"correct horse battery staple"
    store = pkcs12.load_pkcs12((web / "truststore.p12").read_bytes(), password)
    assert [(c.friendly_name, c.certificate) for c in store.additional_certs] == [
        (b"new-root", new),
        (b"old-root", old),
    ]
    bundle = pkcs12.load_pkcs12((web / "bundle.p12").read_bytes(), password)
    assert [c.certificate for c in bundle.additional_certs] == [cross, new]
    secret = (web / "secret.yaml").read_text()
    assert (web / "ca.pem").read_bytes() == (pki / "new-root" / "cert.pem").read_bytes() + (
        pki / "old-root" / "cert.pem"
    ).read_bytes()
    data = dict(re.findall(r"^  (ca\.crt|tls\.crt): (\S+)$", secret, re.M))
    assert base64.b64decode(data["ca.crt"]) == (web / "ca.pem").read_bytes()
    assert base64.b64decode(data["tls.crt"]) == (web / "fullchain.pem").read_bytes()
    assert run_cli("plan", "spec.yaml").code == 0


def test_signing_the_cross_certificate_needs_the_old_roots_password(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = (
        "version: 1\nidentities:\n"
        "  old-root: {kind: root, key: {type: ec, encrypt: {password_env: OLD_ROOT_PW}}}\n"
        "  web: {kind: server, issuer: old-root, dns: [web.example]}\n"
    )
    monkeypatch.setenv("OLD_ROOT_PW", "correct horse battery staple")
    (tmp_path / "spec.yaml").write_text(base)
    assert run_cli("apply", "spec.yaml").code == 0
    monkeypatch.delenv("OLD_ROOT_PW")
    (tmp_path / "spec.yaml").write_text(
        base + "  new-root: {kind: root, replaces: old-root, cross_sign: true}\n"
    )
    result = run_cli("plan", "spec.yaml")
    assert (result.code, result.err) == (
        1,
        "spec.yaml:3:66: error: identities.old-root.key.encrypt.password_env: environment "
        "variable OLD_ROOT_PW is not set; needed to sign new-root/cross.pem with the key of "
        "'old-root'\n",
    )
    monkeypatch.setenv("OLD_ROOT_PW", "correct horse battery staple")
    assert run_cli("apply", "spec.yaml").code == 0


def test_a_seeded_rotation_comes_out_byte_identical(run_cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "seed").write_bytes(b"a seed for the rotation tests only, not random\n")
    at = "2026-06-01T00:00:00Z"
    outs = []
    for n in (1, 2):
        out = tmp_path / f"pki{n}"
        for step in ("before", "introduce", "move"):
            (tmp_path / "pki.yaml").write_text(block(f"rotation-{step}"))
            flags = ("--seed-file", tmp_path / "seed", "--at", at)
            assert run_cli("apply", "pki.yaml", "-o", out, *flags).code == 0
        outs.append(out)
    first, second = (
        {_unstamped(p.relative_to(o)): p.read_bytes() for p in sorted(o.rglob("*")) if p.is_file()}
        for o in outs
    )
    assert "root-2026/cross.pem" in first and "issuing/archive/-/cert.pem" in first
    assert first == second


def _unstamped(path: Path) -> str:
    """A path below an output directory, with the archive's folders (named after the
    clock at apply time, not after --at) as `-`."""
    parts = list(path.parts)
    for i, part in enumerate(parts[:-1]):
        if part == "archive":
            parts[i + 1] = "-"
    return "/".join(parts)


def test_a_new_hierarchy_rotates_a_root_and_an_intermediate_together(
    run_cli: RunCli, tmp_path: Path
) -> None:
    """The old intermediate is not moved under the new root: it is replaced there, so the
    root's rotation waits for the intermediate's, and says so."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "version: 1\nidentities:\n  old-root: {kind: root}\n"
        "  issuing: {kind: intermediate, issuer: old-root}\n"
        "  web: {kind: server, issuer: issuing, dns: [web.example]}\n"
    )
    assert run_cli("apply", spec).code == 0
    spec.write_text(
        "version: 1\nidentities:\n  old-root: {kind: root}\n"
        "  new-root: {kind: root, replaces: old-root, cross_sign: true}\n"
        "  issuing: {kind: intermediate, issuer: old-root}\n"
        "  issuing-2: {kind: intermediate, issuer: new-root, replaces: issuing}\n"
        "  web: {kind: server, issuer: issuing, dns: [web.example]}\n"
    )
    plan = run_cli("plan", spec)
    rotations = plan.out[plan.out.index("Rotation:") : plan.out.index("Plan:")]
    assert rotations == (
        "Rotation: new-root replaces old-root (root, cross-signed)\n"
        "      trust files without new-root: ca.pem of old-root, issuing, web; trust-bundle.pem "
        "(this apply writes it into them)\n"
        "      still below old-root: issuing, web\n"
        "      next step: finish the rotation of issuing (move what it issues, retire it), then "
        "retire 'old-root'\n"
        "      before it, deploy every ca.pem, trust-bundle.pem and truststore.p12 to every "
        "relying party; and the new cert.pem, chain.pem and fullchain.pem (and outputs) of "
        "everything below 'new-root' to where each is used\n"
        "Rotation: issuing-2 replaces issuing (intermediate)\n"
        "      still below issuing: web\n"
        "      next step: move what 'issuing' issues under 'issuing-2' (issuer: issuing-2): web\n"
        "      before it, deploy what the rotation of the root 'new-root' asks for\n"
    )


def test_a_link_planted_at_cross_pem_is_refused_and_never_followed(
    run_cli: RunCli, tmp_path: Path
) -> None:
    out = applied_steps(run_cli, tmp_path, "before", "introduce")
    target = tmp_path / "elsewhere.pem"
    target.write_bytes(b"not pkiform's\n")
    cross = out / "root-2026" / "cross.pem"
    cross.unlink()
    cross.symlink_to(target)
    for command in ("plan", "apply"):
        result = run_cli(command, "pki.yaml")
        assert (result.code, result.err) == (
            1,
            "pkiform: error: pki/root-2026/cross.pem: is a symlink; pkiform does not follow "
            "links\n",
        )
    assert target.read_bytes() == b"not pkiform's\n" and cross.is_symlink()


def test_the_markdown_plan_of_a_pull_request_shows_the_cross_certificate_and_the_rotation(
    run_cli: RunCli, tmp_path: Path
) -> None:
    applied_steps(run_cli, tmp_path, "before")
    (tmp_path / "pki.yaml").write_text(block("rotation-introduce"))
    text = run_cli("plan", "pki.yaml")
    markdown = run_cli("plan", "pki.yaml", "--format", "markdown")
    assert (text.code, markdown.code) == (2, 2)
    # the text plan's rotation section, a heading and its lines, as markdown
    heading, *lines = text.out[text.out.index("Rotation: ") :].splitlines()[:-1]
    assert f"**{heading}**\n\n" + "".join(f"- {line.strip()}\n" for line in lines) in (
        markdown.out.replace("\\", "")
    )
    # the cross certificate is a row of the table, as it is a line of the text plan
    cross = next(line for line in text.out.splitlines() if "cross.pem (signed by" in line)
    name = cross.split()[1].rstrip(":")
    assert f"| `{name}` | sign cross.pem (signed by" in markdown.out
