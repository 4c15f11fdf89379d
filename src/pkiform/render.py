"""Text and JSON for people and pipelines. Formats only: every decision is made elsewhere."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pkiform.errors import Diagnostic
from pkiform.formats import kubernetes
from pkiform.layout import TRUST_BUNDLE
from pkiform.plan.types import CHANGES, Action, ListKind, ListVerb, Plan, RevocationAction, Verb
from pkiform.spec.graph import IssuerGraph
from pkiform.spec.model import ResolvedSpec, serial_text

if TYPE_CHECKING:  # status loads cryptography; a plan is rendered without it
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


def plan_text(plan: Plan, spec: ResolvedSpec | None) -> str:
    """The plan for people: each change with its reasons, then a summary line. `spec`
    gives each identity's kind; the settled mark's answer, which has no spec, holds no
    change that would show one."""
    lines = []
    for action in plan.actions:
        if action.verb is Verb.UNCHANGED:
            continue
        ident = spec.identities.get(action.name) if spec else None
        kind = f" ({ident.kind})" if ident is not None and action.verb is not Verb.SKIP else ""
        lines.append(f"{SYMBOLS[action.verb]:>3} {action.name}{kind}: {_LABELS[action.verb]}")
        lines += [f"      {reason}" for reason in action.reasons]
    for revocation in plan.revocations:
        lines.append(_revocation_line(revocation))
        lines += [f"      {reason}" for reason in revocation.reasons]
    if plan.trust_bundle is not None:
        lines += [f"  ~ {TRUST_BUNDLE}: write", f"      {plan.trust_bundle}"]
    lines += _on_disk_only_lines(plan)
    lines += [f"  ? {name}: {note}" for name, note in plan.notes]
    counts = {verb: sum(1 for a in plan.actions if a.verb is verb) for verb in Verb}
    skipped = _skipped(plan)
    if plan.has_changes or plan.blocked:
        parts = [
            f"{counts[verb]} to {_LABELS[verb]}"
            for verb in (Verb.CREATE, Verb.ADOPT, Verb.REKEY, Verb.REISSUE, Verb.REPAIR)
            if counts[verb]
        ]
        if plan.revocations:
            parts.append(f"{len(plan.revocations)} CRL/OCSP to sign")
        if plan.trust_bundle is not None:
            parts.append(f"{TRUST_BUNDLE} to write")
        if plan.retire:
            parts.append(f"{len(plan.retire)} to archive")
        if plan.blocked:
            parts.append(f"{counts[Verb.BLOCKED]} blocked")
        lines.append(f"Plan: {', '.join(parts)}; {counts[Verb.UNCHANGED]} unchanged{skipped}.")
    else:
        lines.append(f"No changes: {counts[Verb.UNCHANGED]} identities up to date{skipped}.")
    return "\n".join(lines) + "\n"


def _skipped(plan: Plan) -> str:
    count = sum(1 for a in plan.actions if a.verb is Verb.SKIP)
    return f", {count} skipped" if count else ""


def _revocation_line(action: RevocationAction) -> str:
    symbol = "+" if action.verb is ListVerb.CREATE else "~"
    what = f"{action.verb} {action.file}"
    if action.kind is ListKind.CRL and action.verb is not ListVerb.REWRITE:
        what += f" (CRL number {action.number}, {len(action.entries)} revoked)"
    elif action.kind is ListKind.OCSP:
        what += f" ({'revoked' if action.revoked else 'good'}, signed by {action.signer})"
    return f"{symbol:>3} {action.name}: {what}"


def _on_disk_only_lines(plan: Plan) -> list[str]:
    return [
        f"  - {name}: not in the spec; its folder goes to the archive"
        if name in plan.retire
        else f"  ? {name}: on disk but not in the spec; left in place (apply --prune archives it)"
        for name in plan.on_disk_only
    ]


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
            "on_disk_only": list(plan.on_disk_only),
            "retire": list(plan.retire),
            "trust_bundle": plan.trust_bundle,
            "notes": [{"name": name, "note": note} for name, note in plan.notes],
            "warnings": [str(w) for w in warnings],
        }
    )


def applied_text(plan: Plan, runtime_warnings: Sequence[str], out: Path) -> str:
    """What apply did; its last line names the directory, as the user gave it, so a run
    into the default ./pki or a mistyped -o does not go unnoticed."""
    lines = [
        f"{SYMBOLS[a.verb]:>3} {a.name}: {_LABELS[a.verb]}"
        + (f" ({'; '.join(a.reasons)})" if a.reasons else "")
        for a in plan.actions
        if a.verb in CHANGES or a.verb is Verb.SKIP
    ]
    lines += [_revocation_line(r) for r in plan.revocations]
    if plan.trust_bundle is not None:
        lines.append(f"  ~ {TRUST_BUNDLE}: written ({plan.trust_bundle})")
    lines += [f"warning: {w}" for w in runtime_warnings]
    lines += _on_disk_only_lines(plan)
    n = len(plan.changes)
    unchanged = sum(1 for a in plan.actions if a.verb is Verb.UNCHANGED)
    extra = _skipped(plan)
    extra += f", {len(plan.revocations)} CRL/OCSP signed" if plan.revocations else ""
    extra += f", {len(plan.retire)} archived" if plan.retire else ""
    lines.append(f"Apply complete in {out}: {n} changed, {unchanged} unchanged{extra}.")
    return "\n".join(lines) + "\n"


def applied_json(plan: Plan, runtime_warnings: Sequence[str]) -> str:
    return _dump(
        {
            "changed": [action_json(a) for a in plan.changes],
            "unchanged": [a.name for a in plan.actions if a.verb is Verb.UNCHANGED],
            "skipped": [action_json(a) for a in plan.actions if a.verb is Verb.SKIP],
            "revocations": [revocation_json(r) for r in plan.revocations],
            "on_disk_only": list(plan.on_disk_only),
            "retired": list(plan.retire),
            "warnings": list(runtime_warnings),
        }
    )


def kubernetes_stream(secrets: Sequence[bytes]) -> str:
    """`apply --emit kubernetes`: every Secret, one multi-document stream for kubectl."""
    return kubernetes.stream(secrets)


def status_text(report: StatusReport) -> str:
    width = max((len(r.name) for r in report), default=4)
    lines = []
    for r in report:
        until = f"until {r.not_after:%Y-%m-%d %H:%M}Z" if r.not_after else "-"
        lines.append(f"{r.health:<7} {r.name:<{width}}  {r.kind:<12} {until}")
        lines += [f"        {p}" for p in r.problems]
    if report.trust_bundle:
        lines.append(f"{_ERROR:<7} {TRUST_BUNDLE}")
        lines += [f"        {p}" for p in report.trust_bundle]
    bad = sum(1 for r in report if r.health == _ERROR)
    expiring = sum(1 for r in report if r.expiring)
    soon = f", {expiring} expiring within the window" if expiring else ""
    bundle = f"; {TRUST_BUNDLE} has errors" if report.trust_bundle else ""
    lines.append(f"{len(report)} identities, {bad} with errors{soon}{bundle}.")
    return "\n".join(lines) + "\n"


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
        }
    )


def graph_text(spec: ResolvedSpec, graph: IssuerGraph) -> str:
    lines: list[str] = []

    def describe(name: str) -> str:
        ident = spec.identities[name]  # type: ignore[index]
        return f"{name} ({ident.kind}, {ident.key}, {ident.validity})"

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
    return "\n".join(lines) + "\n"


def _dump(document: Any) -> str:
    return json.dumps(document, indent=2) + "\n"
