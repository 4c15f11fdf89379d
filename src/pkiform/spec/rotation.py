"""CA rotation in the spec: what `replaces` and `cross_sign` mean for every identity's
files, and the rules they must follow (issue 16).

A CA that `replaces` another is its successor. For a root, both roots are the trust
anchors of both hierarchies while the two are in the spec: every ca.pem below either root
holds both (its own first), so relying parties learn the new root before anything depends
on it. With `cross_sign`, the old root also signs a certificate for the new root's subject
and key (`cross.pem`), and the chain.pem of everything below the new root ends with it:
a relying party that trusts only the old root then accepts those chains too.

An intermediate's successor chains to the same root (or to the root that replaces the
old one's root), so its relying parties need no new trust: it changes no file but its own.
Only facts of the spec live here; plan/rotation.py compares them with what is on disk.
"""

from __future__ import annotations

from collections.abc import Container, Iterator, Mapping
from dataclasses import dataclass, field

from pkiform.layout import CERT_FILE, CROSS_FILE
from pkiform.spec.graph import IssuerGraph
from pkiform.spec.model import Identity, IdentityName, Kind, ResolvedSpec
from pkiform.spec.schema import did_you_mean
from pkiform.spec.source import JsonPath


@dataclass(frozen=True, slots=True, kw_only=True)
class Pair:
    """One rotation in progress: `new` replaces `old`."""

    new: IdentityName
    old: IdentityName
    roots: bool  # both are roots (else both intermediates)
    cross_sign: bool  # a root pair whose new root carries a cross certificate


@dataclass(frozen=True, slots=True)
class Rotations:
    """Every rotation of a valid spec, and what each means for each identity's files."""

    pairs: tuple[Pair, ...] = ()
    # identity -> the other root of its root's rotation, which its ca.pem holds too
    _partner: Mapping[IdentityName, IdentityName] = field(default_factory=dict)
    # identity -> the new root whose cross.pem ends its chain.pem
    _cross_from: Mapping[IdentityName, IdentityName] = field(default_factory=dict)

    @classmethod
    def of(cls, spec: ResolvedSpec, graph: IssuerGraph) -> Rotations:
        """The rotations of a valid spec (nothing to compute in the common case: none)."""
        ids = spec.identities
        pairs = tuple(
            Pair(
                new=i.name,
                old=old,
                roots=i.kind is Kind.ROOT,
                cross_sign=i.cross_sign and i.kind is Kind.ROOT,
            )
            for i, old in _successors(ids)
        )
        if not any(p.roots for p in pairs):
            return cls(pairs)
        other: dict[IdentityName, IdentityName] = {}
        crossing: set[IdentityName] = set()
        for pair in pairs:
            if pair.roots:
                other[pair.new], other[pair.old] = pair.old, pair.new
                if pair.cross_sign:
                    crossing.add(pair.new)
        partner: dict[IdentityName, IdentityName] = {}
        cross_from: dict[IdentityName, IdentityName] = {}
        for name in ids:
            anchor = graph.anchor(name)
            if anchor in other:
                partner[name] = other[anchor]
                if anchor in crossing and name != anchor:
                    cross_from[name] = anchor
        return cls(pairs, partner, cross_from)

    def __bool__(self) -> bool:
        return bool(self.pairs)

    def partners(self, name: IdentityName) -> tuple[IdentityName, ...]:
        """The roots besides its own that an identity's ca.pem holds."""
        found = self._partner.get(name)
        return (found,) if found is not None else ()

    def cross_from(self, name: IdentityName) -> IdentityName | None:
        """The new root whose cross certificate ends the identity's chain.pem, if any."""
        return self._cross_from.get(name)

    def cross_signer(self, name: IdentityName) -> IdentityName | None:
        """For a new root that carries a cross certificate: the old root that signs it."""
        return next((p.old for p in self.pairs if p.new == name and p.cross_sign), None)

    def inputs(self, name: IdentityName) -> tuple[tuple[IdentityName, str], ...]:
        """The files of other identities that the identity's files are made from in its
        rotation: its partner's cert.pem, its new root's cross.pem (cache/seals.py)."""
        found = tuple((p, CERT_FILE) for p in self.partners(name))
        cross = self.cross_from(name)
        return found + (((cross, CROSS_FILE),) if cross is not None else ())

    def involves(self, name: IdentityName) -> bool:
        """Whether the identity is a root of a rotation (others' files hold its own)."""
        return any(name in (p.new, p.old) for p in self.pairs if p.roots)

    def needs_unseen(self, name: IdentityName, seen: Container[IdentityName]) -> bool:
        """Whether a file the identity takes from its rotation belongs to an identity not
        in `seen` (an apply seals in issuing order, and two roots come in name order)."""
        return any(other not in seen for other, _ in self.inputs(name))

    def cross_signers(self) -> frozenset[IdentityName]:
        """The old roots that sign a cross certificate: each keeps its CRL, as a CA that
        issues anything does, even once nothing of the spec is below it."""
        return frozenset(p.old for p in self.pairs if p.cross_sign)

    def context(self, name: IdentityName) -> str:
        """What the identity's files take from its rotation, as text (cache/seals.py binds
        it): empty when it is in none."""
        partners, cross = self.partners(name), self.cross_from(name)
        if not partners and cross is None:
            return ""
        return f"partners={','.join(partners)};cross={cross or '-'}"


def _successors(ids: Mapping[IdentityName, Identity]) -> Iterator[tuple[Identity, IdentityName]]:
    """Each CA whose `replaces` names a CA of its own kind, with that CA's name."""
    for ident in ids.values():
        old = ids.get(ident.replaces) if ident.replaces is not None else None
        if old is not None and ident.kind.is_ca and ident.kind is old.kind:
            yield ident, old.name


# -- the rules ----------------------------------------------------------------------


def problems(
    spec: ResolvedSpec,
    graph: IssuerGraph,
    unjudged: Mapping[str, object],
    *,
    acyclic: bool,
) -> Iterator[tuple[JsonPath, str]]:
    """Every problem of `replaces` and `cross_sign`, as (field path, message). The checks
    that follow chains to their roots run only on an `acyclic` issuer graph."""
    ids = spec.identities
    edges = {i.name: old for i, old in _successors(ids) if old != i.name}
    in_cycle: set[IdentityName] = set()
    for cycle in IssuerGraph(edges).cycles():
        in_cycle.update(cycle)
        yield ("identities", cycle[0], "replaces"), f"replaces cycle: {' -> '.join(cycle)}"
    successor: dict[IdentityName, IdentityName] = {}
    for name, ident in ids.items():
        if not ident.kind.is_ca:
            continue  # rules.py: replaces and cross_sign are for CAs only
        yield from _cross_sign_problem(ident)
        if ident.replaces is None:
            continue
        where: JsonPath = ("identities", name, "replaces")
        message = _target_problem(spec, ident, unjudged)
        if message is not None:
            yield where, message
            continue
        old = ids.get(ident.replaces)
        if old is None or name in in_cycle:
            continue  # None: a CA with errors of its own, reported, not judged here
        if old.name in successor:
            yield (
                where,
                (
                    f"{old.name!r} is already replaced by {successor[old.name]!r}: a CA has one "
                    "successor at a time"
                ),
            )
            continue
        successor[old.name] = ident.name
        if old.name in edges:
            yield (
                where,
                (
                    f"{old.name!r} itself replaces {edges[old.name]!r}: finish that rotation "
                    f"(retire {edges[old.name]!r}) before {old.name!r} is replaced"
                ),
            )
            continue
        if acyclic:
            yield from _anchor_problems(spec, graph, ident, old, where)


def _target_problem(
    spec: ResolvedSpec, ident: Identity, unjudged: Mapping[str, object]
) -> str | None:
    """What is wrong with the CA `replaces` names, or None."""
    target = ident.replaces
    assert target is not None
    if target == ident.name:
        return "a CA cannot replace itself; name the CA this one succeeds"
    old = spec.identities.get(target)
    if old is None:
        if target in unjudged:
            return None  # its own errors are reported; whether it can be replaced is not known
        names = sorted(n for n, i in spec.identities.items() if i.kind.is_ca and n != ident.name)
        hint = did_you_mean(target, names, cutoff=0.6)
        return f"unknown identity {target!r}{hint or ' (to retire a CA, remove replaces too)'}"
    if not old.kind.is_ca:
        return f"{target!r} is a {old.kind}, not a CA: only a root or intermediate is replaced"
    if old.kind is not ident.kind:
        return (
            f"{target!r} is a{'n' if old.kind is Kind.INTERMEDIATE else ''} {old.kind}: a root "
            "replaces a root, an intermediate replaces an intermediate"
        )
    return None


def _cross_sign_problem(ident: Identity) -> Iterator[tuple[JsonPath, str]]:
    if not ident.cross_sign:
        return
    where: JsonPath = ("identities", ident.name, "cross_sign")
    if ident.replaces is None:
        yield (
            where,
            "cross_sign needs replaces: the CA this one replaces signs the cross certificate",
        )
    elif ident.kind is Kind.INTERMEDIATE:
        yield (
            where,
            (
                "cross_sign is for a root that replaces a root: relying parties trust roots, and "
                "an intermediate's successor chains to the same root (or to the root that "
                "replaces it, whose cross certificate serves everything below it); remove it"
            ),
        )


def _anchor_problems(
    spec: ResolvedSpec, graph: IssuerGraph, new: Identity, old: Identity, where: JsonPath
) -> Iterator[tuple[JsonPath, str]]:
    """An intermediate's successor keeps its relying parties' trust; a root's cross
    certificate fits under the old root's path length."""
    if new.kind is Kind.INTERMEDIATE:
        new_root, old_root = graph.anchor(new.name), graph.anchor(old.name)
        rotated = spec.identities[new_root].replaces == old_root
        if new_root != old_root and not rotated:
            yield (
                where,
                (
                    f"{new.name!r} chains to root {new_root!r} and {old.name!r} to root "
                    f"{old_root!r}: an intermediate's successor chains to the same root, or to "
                    f"the root that replaces it (give {new_root!r} replaces: {old_root})"
                ),
            )
        return
    if not new.cross_sign or old.path_length is None:
        return
    following = 1 + _intermediates_below(spec, graph, new.name)
    if following > old.path_length:
        yield (
            ("identities", new.name, "cross_sign"),
            (
                f"{old.name!r} has path_length {old.path_length}, but through the cross "
                f"certificate {following} CA certificate{'s' if following > 1 else ''} would "
                f"follow it (the cross certificate and the intermediates below {new.name!r}); "
                "relying parties of the old root would refuse those chains: remove cross_sign"
            ),
        )


def _intermediates_below(spec: ResolvedSpec, graph: IssuerGraph, root: IdentityName) -> int:
    """The longest run of intermediates below `root` in the spec."""
    deepest, todo = 0, [(root, 0)]
    while todo:
        name, depth = todo.pop()
        deepest = max(deepest, depth)
        todo += [
            (child, depth + 1)
            for child in graph.children(name)
            if spec.identities[child].kind is Kind.INTERMEDIATE
        ]
    return deepest
