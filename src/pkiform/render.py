"""Text and JSON for people and pipelines. Formats only: every decision is made elsewhere."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pkiform.colour import PLAIN, Palette
from pkiform.errors import Diagnostic
from pkiform.formats import kubernetes
from pkiform.layout import TRUST_BUNDLE
from pkiform.plan.types import (
    CHANGES,
    Action,
    CrossAction,
    CrossVerb,
    ListKind,
    ListVerb,
    Plan,
    RevocationAction,
    Rotation,
    Tighten,
    Verb,
)
from pkiform.plan_markdown import Row, comment
from pkiform.spec.names import serial_text

if TYPE_CHECKING:  # status loads cryptography; a plan is rendered without it
    from pkiform.lint import LintFinding, LintReport
    from pkiform.spec.graph import IssuerGraph
    from pkiform.spec.model import Identity, ResolvedSpec
    from pkiform.status import StatusReport

# status.Health's values, as reports carry them
_OK, _ERROR = "ok", "error"

# terraform's vocabulary: + create, ~ update in place, -/+ replace
SYMBOLS = {
    Verb.CREATE: "+",
    Verb.ADOPT: "+",
    Verb.REISSUE: "~",
    Verb.REPAIR: "~",
    Verb.REKEY: "-/+",
    Verb.BLOCKED: "!",
    Verb.UNCHANGED: " ",
    Verb.SKIP: " ",
}
_LABELS = {
    Verb.CREATE: "create",
    Verb.ADOPT: "adopt",
    Verb.REISSUE: "reissue",
    Verb.REPAIR: "repair files",
    Verb.REKEY: "replace key",
    Verb.BLOCKED: "blocked",
    Verb.UNCHANGED: "unchanged",
    Verb.SKIP: "skip",
}


def plan_rows(plan: Plan, spec: ResolvedSpec | None) -> list[Row]:
    """Every line of the plan, as text and markdown show it: the identities to change
    (and those skipped), the CRLs and OCSP responses to sign, the trust bundle, the
    folders the spec no longer names. `spec` gives each identity's kind; the settled
    mark's answer, which has no spec, holds no change that would show one."""
    rows = []
    for action in plan.actions:
        if action.verb is Verb.UNCHANGED:
            continue
        ident = spec.identities.get(action.name) if spec else None
        kind = str(ident.kind) if ident is not None and action.verb is not Verb.SKIP else None
        rows.append(
            Row(
                symbol=SYMBOLS[action.verb],
                name=action.name,
                kind=kind,
                change=_LABELS[action.verb],
                reasons=action.reasons,
            )
        )
    rows += [_cross_row(cross) for cross in plan.crosses]
    rows += [_revocation_row(revocation) for revocation in plan.revocations]
    if plan.trust_bundle is not None:
        rows.append(
            Row(
                symbol="~",
                name=TRUST_BUNDLE,
                kind=None,
                change="write",
                reasons=(plan.trust_bundle,),
            )
        )
    rows += [
        Row(symbol=_git_file_symbol(why), name=file, kind=None, change="write", reasons=(why,))
        for file, why in plan.git_files
    ]
    if plan.tighten:
        rows.append(
            Row(
                symbol="~",
                name=KEY_FILES,
                kind=None,
                change="tighten modes in place (git keeps no modes)",
                reasons=tuple(_tightened(t) for t in plan.tighten),
            )
        )
    rows += _on_disk_only_rows(plan)
    rows += [
        Row(symbol="?", name=name, kind=None, change=note, reasons=()) for name, note in plan.notes
    ]
    return rows


# how the plan names the files that hold a private key, live or archived
KEY_FILES = "key files"


def _tightened(t: Tighten) -> str:
    return f"{t.path}: {t.mode:04o} -> {t.to:04o}"


def _git_file_symbol(why: str) -> str:
    return "+" if why.endswith(" is missing") else "~"


def _tighten_note(plan: Plan, done: bool = False) -> str:
    n = len(plan.tighten)
    if not n:
        return ""
    return f"{n} {KEY_FILES if n > 1 else KEY_FILES[:-1]} {'tightened' if done else 'to tighten'}"


def plan_summary(plan: Plan) -> str:
    """The plan's last line: what it would do, counted."""
    counts = {verb: sum(1 for a in plan.actions if a.verb is verb) for verb in Verb}
    skipped = _skipped(plan)
    tighten = f"; {_tighten_note(plan)}" if plan.tighten else ""
    if not (plan.has_changes or plan.blocked):
        return f"No changes: {counts[Verb.UNCHANGED]} identities up to date{skipped}{tighten}."
    parts = [
        f"{counts[verb]} to {_LABELS[verb]}"
        for verb in (Verb.CREATE, Verb.ADOPT, Verb.REKEY, Verb.REISSUE, Verb.REPAIR)
        if counts[verb]
    ]
    parts += [
        f"{n} cross certificate{'s' if n > 1 else ''} to {verb}"
        for verb, n in _cross_counts(plan).items()
    ]
    if plan.revocations:
        parts.append(f"{len(plan.revocations)} CRL/OCSP to sign")
    if plan.trust_bundle is not None:
        parts.append(f"{TRUST_BUNDLE} to write")
    if plan.git_files:
        parts.append(f"{' and '.join(f for f, _ in plan.git_files)} to write")
    if plan.retire:
        parts.append(f"{len(plan.retire)} to archive")
    if plan.blocked:
        parts.append(f"{counts[Verb.BLOCKED]} blocked")
    return f"Plan: {', '.join(parts)}; {counts[Verb.UNCHANGED]} unchanged{skipped}{tighten}."


def plan_text(plan: Plan, spec: ResolvedSpec | None, palette: Palette = PLAIN) -> str:
    lines = []
    for row in plan_rows(plan, spec):
        lines.append(_row_line(row, palette))
        lines += [f"      {reason}" for reason in row.reasons]
    for rotation in plan.rotations:
        lines += rotation_lines(rotation, planned=True)
    lines.append(plan_summary(plan))
    return "\n".join(lines) + "\n"


def plan_markdown(
    plan: Plan, spec: ResolvedSpec | None, warnings: Sequence[Diagnostic] = ()
) -> str:
    """The plan as a pull-request comment (plan_markdown.py): the same rows and summary
    as plan_text, and the spec's warnings."""
    rotations = [rotation_lines(r, planned=True) for r in plan.rotations]
    return comment(plan_rows(plan, spec), plan_summary(plan), [str(w) for w in warnings], rotations)


def _row_line(row: Row, palette: Palette = PLAIN) -> str:
    kind = f" ({row.kind})" if row.kind else ""
    return f"{palette.paint(f'{row.symbol:>3}')} {row.name}{kind}: {row.change}"


def _skipped(plan: Plan) -> str:
    count = sum(1 for a in plan.actions if a.verb is Verb.SKIP)
    return f", {count} skipped" if count else ""


def _cross_counts(plan: Plan) -> dict[str, int]:
    """Cross certificates by what apply does with them: "sign" (signing anew counts in) or
    "archive"."""
    counts: dict[str, int] = {}
    for cross in plan.crosses:
        verb = "archive" if cross.verb is CrossVerb.ARCHIVE else "sign"
        counts[verb] = counts.get(verb, 0) + 1
    return counts


def _cross_row(action: CrossAction) -> Row:
    if action.verb is CrossVerb.ARCHIVE:
        return Row(
            symbol="-",
            name=action.name,
            kind=None,
            change="archive cross.pem",
            reasons=action.reasons,
        )
    symbol = "+" if action.verb is CrossVerb.SIGN else "~"
    change = f"{action.verb} cross.pem (signed by {action.signer})"
    return Row(symbol=symbol, name=action.name, kind=None, change=change, reasons=action.reasons)


def _cross_line(action: CrossAction, palette: Palette) -> str:
    return _row_line(_cross_row(action), palette)


def rotation_lines(rotation: Rotation, *, planned: bool) -> list[str]:
    """Where a rotation stands, for plan (`planned`: what this apply does) or status
    (what apply has yet to do)."""
    new, old = rotation.new, rotation.old
    crossed = ", cross-signed" if rotation.cross_sign else ""
    lines = [f"Rotation: {new} replaces {old} ({rotation.kind}{crossed})"]
    if rotation.kind == "root":
        pending = [n for n in rotation.without_new if n != TRUST_BUNDLE]
        files = [f"ca.pem of {_names(pending)}"] if pending else []
        files += [TRUST_BUNDLE] if TRUST_BUNDLE in rotation.without_new else []
        todo = "this apply writes it into them" if planned else "run pkiform apply"
        lines.append(
            f"trust files without {new}: {'; '.join(files)} ({todo})"
            if files
            else f"every trust file holds {new}"
        )
    if rotation.moving:
        lines.append(
            f"this apply moves under {new}: {_names(rotation.moving)}"
            if planned
            else f"below {new} in the spec, still chained to {old} on disk: "
            f"{_names(rotation.moving)} (run pkiform apply)"
        )
    lines.append(
        f"still below {old}: {_names(rotation.on_old)}"
        if rotation.on_old
        else f"nothing is below {old} any more"
    )
    lines += [f"next step: {rotation.next}", f"before it, deploy {rotation.deploy}"]
    return [lines[0], *(f"      {line}" for line in lines[1:])]


def _names(names: Sequence[str], limit: int = 8) -> str:
    """Names for people: a long list ends with how many more there are."""
    if len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:limit])} and {len(names) - limit} more"


def rotation_json(rotation: Rotation) -> dict[str, Any]:
    return {
        "new": rotation.new,
        "old": rotation.old,
        "kind": rotation.kind,
        "cross_sign": rotation.cross_sign,
        "still_below_old": list(rotation.on_old),
        "moving": list(rotation.moving),
        "trust_files_without_new": list(rotation.without_new),
        "next_step": rotation.next_step,
        "next": rotation.next,
        "deploy": rotation.deploy,
    }


def cross_json(action: CrossAction) -> dict[str, Any]:
    return {
        "name": action.name,
        "file": f"{action.name}/cross.pem",
        "signer": None if action.verb is CrossVerb.ARCHIVE else action.signer,
        "verb": str(action.verb),
        "reasons": list(action.reasons),
    }


def _revocation_row(action: RevocationAction) -> Row:
    symbol = "+" if action.verb is ListVerb.CREATE else "~"
    what = f"{action.verb} {action.file}"
    if action.kind is ListKind.CRL and action.verb is not ListVerb.REWRITE:
        what += f" (CRL number {action.number}, {len(action.entries)} revoked)"
    elif action.kind is ListKind.OCSP:
        what += f" ({'revoked' if action.revoked else 'good'}, signed by {action.signer})"
    return Row(symbol=symbol, name=action.name, kind=None, change=what, reasons=action.reasons)


def _revocation_line(action: RevocationAction, palette: Palette) -> str:
    return _row_line(_revocation_row(action), palette)


def _on_disk_only_rows(plan: Plan) -> list[Row]:
    return [
        Row(
            symbol="-",
            name=name,
            kind=None,
            change="not in the spec; its folder goes to the archive",
        )
        if name in plan.retire
        else Row(
            symbol="?",
            name=name,
            kind=None,
            change="on disk but not in the spec; left in place (apply --prune archives it)",
        )
        for name in plan.on_disk_only
    ]


def _on_disk_only_lines(plan: Plan, palette: Palette) -> list[str]:
    return [_row_line(row, palette) for row in _on_disk_only_rows(plan)]


def revocation_json(action: RevocationAction) -> dict[str, Any]:
    return {
        "kind": str(action.kind),
        "name": action.name,
        "signer": action.signer,
        "verb": str(action.verb),
        "reasons": list(action.reasons),
        "crl_number": action.number if action.kind is ListKind.CRL else None,
        "revoked_serials": [serial_text(e.serial) for e in action.entries],
        "status": None
        if action.kind is ListKind.CRL
        else ("revoked" if action.revoked else "good"),
    }


def _tighten_json(t: Tighten) -> dict[str, Any]:
    return {"file": t.path, "mode": f"{t.mode:04o}", "to": f"{t.to:04o}"}


def action_json(action: Action) -> dict[str, Any]:
    return {
        "name": action.name,
        "verb": str(action.verb),
        "reasons": list(action.reasons),
        "cascade_from": action.cascade_from,
    }


def plan_json(plan: Plan, warnings: Sequence[Diagnostic] = ()) -> str:
    return _dump(
        {
            "changes": plan.has_changes,
            "actions": [action_json(a) for a in plan.actions],
            "revocations": [revocation_json(r) for r in plan.revocations],
            "crosses": [cross_json(c) for c in plan.crosses],
            "on_disk_only": list(plan.on_disk_only),
            "retire": list(plan.retire),
            "trust_bundle": plan.trust_bundle,
            "rotations": [rotation_json(r) for r in plan.rotations],
            "notes": [{"name": name, "note": note} for name, note in plan.notes],
            "git_files": [{"file": f, "reason": why} for f, why in plan.git_files],
            "tighten": [_tighten_json(t) for t in plan.tighten],
            "warnings": [str(w) for w in warnings],
        }
    )


def applied_text(
    plan: Plan, runtime_warnings: Sequence[str], out: Path, palette: Palette = PLAIN
) -> str:
    """What apply did; its last line names the directory, as the user gave it, so a run
    into the default ./pki or a mistyped -o does not go unnoticed."""
    lines = [
        f"{palette.paint(f'{SYMBOLS[a.verb]:>3}')} {a.name}: {_LABELS[a.verb]}"
        + (f" ({'; '.join(a.reasons)})" if a.reasons else "")
        for a in plan.actions
        if a.verb in CHANGES or a.verb is Verb.SKIP
    ]
    lines += [_cross_line(c, palette) for c in plan.crosses]
    lines += [_revocation_line(r, palette) for r in plan.revocations]
    if plan.trust_bundle is not None:
        lines.append(f"{palette.paint('  ~')} {TRUST_BUNDLE}: written ({plan.trust_bundle})")
    lines += [
        f"{palette.paint(f'{_git_file_symbol(why):>3}')} {file}: written ({why})"
        for file, why in plan.git_files
    ]
    if plan.tighten:
        done = "; ".join(_tightened(t) for t in plan.tighten)
        lines.append(f"{palette.paint('  ~')} {KEY_FILES}: modes tightened in place ({done})")
    lines += [f"warning: {w}" for w in runtime_warnings]
    lines += _on_disk_only_lines(plan, palette)
    lines += [f"{palette.paint('  ?')} {name}: {note}" for name, note in plan.notes]
    for rotation in _after_apply(plan):
        lines += rotation_lines(rotation, planned=False)
    n = len(plan.changes)
    unchanged = sum(1 for a in plan.actions if a.verb is Verb.UNCHANGED)
    extra = _skipped(plan)
    extra += "".join(
        f", {n} cross certificate{'s' if n > 1 else ''} {verb}{'d' if verb[-1] == 'e' else 'ed'}"
        for verb, n in _cross_counts(plan).items()
    )
    extra += f", {len(plan.revocations)} CRL/OCSP signed" if plan.revocations else ""
    extra += f", {len(plan.retire)} archived" if plan.retire else ""
    extra += f", {_tighten_note(plan, done=True)}" if plan.tighten else ""
    lines.append(f"Apply complete in {out}: {n} changed, {unchanged} unchanged{extra}.")
    return "\n".join(lines) + "\n"


def applied_json(plan: Plan, runtime_warnings: Sequence[str]) -> str:
    return _dump(
        {
            "changed": [action_json(a) for a in plan.changes],
            "unchanged": [a.name for a in plan.actions if a.verb is Verb.UNCHANGED],
            "skipped": [action_json(a) for a in plan.actions if a.verb is Verb.SKIP],
            "revocations": [revocation_json(r) for r in plan.revocations],
            "crosses": [cross_json(c) for c in plan.crosses],
            "on_disk_only": list(plan.on_disk_only),
            "retired": list(plan.retire),
            "git_files": [{"file": f, "reason": why} for f, why in plan.git_files],
            "tightened": [_tighten_json(t) for t in plan.tighten],
            "rotations": [rotation_json(r) for r in _after_apply(plan)],
            "notes": [{"name": name, "note": note} for name, note in plan.notes],
            "warnings": list(runtime_warnings),
        }
    )


def _after_apply(plan: Plan) -> list[Rotation]:
    """Where each rotation stands once the apply that carried `plan` out is complete:
    every trust file holds the new CA, and what the plan moved has moved."""
    return [replace(r, without_new=(), moving=()) for r in plan.rotations]


def kubernetes_stream(secrets: Sequence[bytes]) -> str:
    """`apply --emit kubernetes`: every Secret, one multi-document stream for kubectl."""
    return kubernetes.stream(secrets)


def status_text(report: StatusReport, palette: Palette = PLAIN) -> str:
    width = max((len(r.name) for r in report), default=4)
    lines = []
    for r in report:
        until = f"until {r.not_after:%Y-%m-%d %H:%M}Z" if r.not_after else "-"
        health = palette.paint(f"{r.health:<7}")
        lines.append(f"{health} {r.name:<{width}}  {r.kind:<12} {until}")
        lines += [f"        {p}" for p in r.problems]
    if report.trust_bundle:
        lines.append(f"{palette.paint(f'{_ERROR:<7}')} {TRUST_BUNDLE}")
        lines += [f"        {p}" for p in report.trust_bundle]
    for rotation in report.rotations:
        lines += rotation_lines(rotation, planned=False)
    bad = sum(1 for r in report if r.health == _ERROR)
    expiring = sum(1 for r in report if r.expiring)
    soon = f", {expiring} expiring within the window" if expiring else ""
    bundle = f"; {TRUST_BUNDLE} has errors" if report.trust_bundle else ""
    lines.append(f"{len(report)} identities, {bad} with errors{soon}{bundle}.")
    if report.lint is not None:
        lines += _lint_text(report.lint, palette)
    lines += _public_text(report, palette)
    return "\n".join(lines) + "\n"


# what `status --public` says to do about the secrets it found
PUBLIC_FIX = (
    "encrypt keys (key.encrypt), keep CA keys in a token (key.pkcs11), sign CSRs for "
    "leaves whose keys stay on their hosts, leave out the outputs that hold a key in "
    "plain (kubernetes, combined), and keep password files out of the directory"
)


def _public_text(report: StatusReport, palette: Palette) -> list[str]:
    found = report.public
    if found is None:
        return []
    lines = []
    for offender in found.offenders:
        lines.append(f"{palette.paint(f'{_ERROR:<7}')} {offender.path}")
        lines.append(f"        {offender.reason}")
    locked = ""
    if found.encrypted:
        locked = f" ({_many(found.encrypted, 'holds', 'hold')} an encrypted key)"
    if found.ok:
        lines.append(f"public: no secret in {_many(found.files, 'file')}{locked}.")
    else:
        lines.append(
            f"public: {len(found.offenders)} of {_many(found.files, 'file')} "
            f"{'holds' if len(found.offenders) == 1 else 'hold'} a secret; "
            f"a directory anyone may read holds none: {PUBLIC_FIX}."
        )
    return lines


def _lint_label(finding: LintFinding) -> str:
    """error (breaks RFC 5280), excused (a known false positive), or pkilint's severity."""
    if finding.excuse is not None:
        return "excused"
    return _ERROR if finding.fails else finding.severity.lower()


def _lint_text(report: LintReport, palette: Palette) -> list[str]:
    lines = []
    # pkilint's INFO findings only say what it noticed (which SKI method, say): they
    # are counted here and listed in --json
    shown = [f for f in report.findings if f.severity != "INFO"]
    for f in shown:
        label = palette.paint(f"{_lint_label(f):<7}")
        said = f": {f.message}" if f.message else ""
        lines.append(f"{label} {f.identity}/{f.file}  {f.code}{said}")
        lines.append(f"        at {f.at}")
        if f.excuse is not None:
            lines.append(f"        {f.excuse}")
    failing = sum(1 for f in shown if f.fails)
    excused = sum(1 for f in shown if f.excuse is not None)
    advice = len(shown) - failing - excused
    info = len(report.findings) - len(shown)
    lines.append(
        f"pkilint: {_many(report.certificates, 'certificate')} and {_many(report.crls, 'CRL')}; "
        f"{_many(failing, 'error')}, {_many(excused, 'known false positive')}, "
        f"{_many(advice, 'warning or notice', 'warnings or notices')}, "
        f"{info} informational (listed in --json)."
    )
    return lines


def _many(n: int, one: str, more: str | None = None) -> str:
    return f"{n} {one if n == 1 else more or one + 's'}"


def status_json(report: StatusReport) -> str:
    return _dump(
        {
            "ok": report.ok,
            "identities": [
                {
                    "name": r.name,
                    "kind": r.kind,
                    "health": str(r.health),
                    "problems": list(r.problems),
                    "not_after": r.not_after.isoformat() if r.not_after else None,
                    "serial": r.serial,
                    "crl_next_update": (
                        r.crl_next_update.isoformat() if r.crl_next_update else None
                    ),
                    "expiring": list(r.expiring),
                }
                for r in report
            ],
            "trust_bundle": {
                "health": _ERROR if report.trust_bundle else _OK,
                "problems": list(report.trust_bundle),
            },
            "rotations": [rotation_json(r) for r in report.rotations],
            "lint": None if report.lint is None else _lint_json(report.lint),
            "public": None
            if report.public is None
            else {
                "ok": report.public.ok,
                "files": report.public.files,
                "encrypted_keys": report.public.encrypted,
                "secrets": [{"file": o.path, "reason": o.reason} for o in report.public.offenders],
            },
        }
    )


def _lint_json(report: LintReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "certificates": report.certificates,
        "crls": report.crls,
        "findings": [
            {
                "identity": f.identity,
                "file": f.file,
                "severity": f.severity,
                "code": f.code,
                "message": f.message,
                "at": f.at,
                "fails": f.fails,
                "known_false_positive": f.excuse,
            }
            for f in report.findings
        ],
    }


def graph_text(spec: ResolvedSpec, graph: IssuerGraph) -> str:
    lines: list[str] = []

    def describe(name: str) -> str:
        ident = spec.identities[name]  # type: ignore[index]
        rotation = "".join(f", {part}" for part in _rotation(ident))
        return f"{name} ({ident.kind}, {ident.key}, {ident.validity}{rotation})"

    def walk(name: str, prefix: str, last: bool) -> None:
        lines.append(f"{prefix}{'└── ' if last else '├── '}{describe(name)}")
        children = graph.children(name)  # type: ignore[arg-type]
        for i, child in enumerate(children):
            walk(child, prefix + ("    " if last else "│   "), i == len(children) - 1)

    roots = [n for n in graph.order() if graph.issuer_of[n] is None]
    for root in roots:
        lines.append(describe(root))
        children = graph.children(root)
        for i, child in enumerate(children):
            walk(child, "", i == len(children) - 1)
    return "\n".join(lines) + "\n"


def graph_dot(spec: ResolvedSpec, graph: IssuerGraph) -> str:
    lines = ["digraph pkiform {", "  rankdir=TB;", "  node [shape=box];"]
    for name in graph.order():
        ident = spec.identities[name]
        shape = "box, style=bold" if ident.kind.is_ca else "ellipse"
        lines.append(f'  "{name}" [label="{name}\\n{ident.kind}", shape={shape}];')
    for name in graph.order():
        issuer = graph.issuer_of[name]
        if issuer is not None:
            lines.append(f'  "{issuer}" -> "{name}";')
    for ident in _successors(spec, graph):
        label = "\\n".join(_handover(ident))
        lines.append(f'  "{ident.replaces}" -> "{ident.name}" [style=dashed, label="{label}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def graph_mermaid(spec: ResolvedSpec, graph: IssuerGraph) -> str:
    lines = ["graph TD"]
    ids = {name: f"n{i}" for i, name in enumerate(graph.order())}
    for name, node in ids.items():
        ident = spec.identities[name]
        open_, close = ("[", "]") if ident.kind.is_ca else ("(", ")")
        lines.append(f'  {node}{open_}"{name}<br/>{ident.kind}"{close}')
    for name, node in ids.items():
        issuer = graph.issuer_of[name]
        if issuer is not None:
            lines.append(f"  {ids[issuer]} --> {node}")
    for ident in _successors(spec, graph):
        label = ", ".join(_handover(ident))
        lines.append(f"  {ids[ident.replaces]} -.->|{label}| {ids[ident.name]}")  # type: ignore[index]
    return "\n".join(lines) + "\n"


def _successors(spec: ResolvedSpec, graph: IssuerGraph) -> list[Identity]:
    """The CAs of a rotation that replace another, in issuing order."""
    return [spec.identities[n] for n in graph.order() if spec.identities[n].replaces]


def _handover(ident: Identity) -> list[str]:
    """A rotation as the edge from the CA replaced to its successor says it."""
    return ["replaced by", *(["cross-signs it"] if ident.cross_sign else [])]


def _rotation(ident: Identity) -> list[str]:
    """What a CA of a rotation says of the CA it replaces (the graph draws it dashed)."""
    if ident.replaces is None:
        return []
    return [f"replaces {ident.replaces}", *(["cross-signed by it"] if ident.cross_sign else [])]


def _dump(document: Any) -> str:
    return json.dumps(document, indent=2) + "\n"
