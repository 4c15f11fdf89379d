"""The issuer graph: who signs whom, in an order where issuers come first."""

from __future__ import annotations

import graphlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from pkiform.spec.model import IdentityName, Kind, ResolvedSpec


class CycleFound(Exception):
    def __init__(self, cycle: list[IdentityName]) -> None:
        super().__init__(" -> ".join(cycle))
        self.cycle = cycle


@dataclass(frozen=True, slots=True)
class IssuerGraph:
    """Edges from each identity to its issuer; only to CAs that exist in the spec."""

    issuer_of: Mapping[IdentityName, IdentityName | None]
    _children: Mapping[IdentityName, list[IdentityName]] = field(
        init=False, repr=False, compare=False
    )
    _order: list[IdentityName] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        children: dict[IdentityName, list[IdentityName]] = {}
        for name, issuer in sorted(self.issuer_of.items()):
            if issuer is not None and issuer != name:
                children.setdefault(issuer, []).append(name)
        object.__setattr__(self, "_children", children)

    @classmethod
    def of(cls, spec: ResolvedSpec) -> IssuerGraph:
        """The graph of a spec. A root's `issuer`, and an issuer that is unknown or not a
        CA, are errors rules.py reports, not edges."""
        edges: dict[IdentityName, IdentityName | None] = {}
        for name, ident in spec.identities.items():
            issuer = spec.identities.get(ident.issuer) if ident.issuer else None
            usable = issuer is not None and issuer.kind.is_ca and ident.kind is not Kind.ROOT
            edges[name] = ident.issuer if usable else None
        return cls(edges)

    def order(self) -> list[IdentityName]:
        """Issuers before subjects; among those ready together, by name (stable plan diffs).
        Sorted once (plan, revocation and render all walk it); a cycle raises every time."""
        if self._order is None:
            object.__setattr__(self, "_order", self._sorted())
        assert self._order is not None
        return list(self._order)

    def _sorted(self) -> list[IdentityName]:
        sorter: graphlib.TopologicalSorter[IdentityName] = graphlib.TopologicalSorter()
        for name, issuer in self.issuer_of.items():
            if issuer is None or issuer == name:
                sorter.add(name)
            else:
                sorter.add(name, issuer)
        try:
            sorter.prepare()
        except graphlib.CycleError as e:
            cycle: list[IdentityName] = list(reversed(e.args[1]))
            raise CycleFound(_rotate(cycle)) from None
        ordered: list[IdentityName] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready())
            ordered.extend(ready)
            sorter.done(*ready)
        return ordered

    def cycles(self) -> list[list[IdentityName]]:
        """Every issuer cycle, each as `a -> b -> a` starting at its smallest name.

        Linear time: each identity is walked once (a spec may hold thousands)."""
        done: set[IdentityName] = set()
        found: list[list[IdentityName]] = []
        for start in sorted(self.issuer_of):
            walk: list[IdentityName] = []
            on_walk: dict[IdentityName, int] = {}
            node: IdentityName | None = start
            while node is not None and node not in done and node not in on_walk:
                on_walk[node] = len(walk)
                walk.append(node)
                node = self.issuer_of.get(node)
            if node is not None and node in on_walk:
                loop = walk[on_walk[node] :]
                found.append(_rotate([*loop, loop[0]]))
            done.update(walk)
        return sorted(found)

    def chain(self, name: IdentityName) -> list[IdentityName]:
        """The issuers above `name`, nearest first, ending at the root (cycle-free graphs only)."""
        out: list[IdentityName] = []
        seen = {name}
        issuer = self.issuer_of.get(name)
        while issuer is not None and issuer not in seen:
            out.append(issuer)
            seen.add(issuer)
            issuer = self.issuer_of.get(issuer)
        return out

    def anchor(self, name: IdentityName) -> IdentityName:
        """The root at the top of `name`'s chain: itself, when it has no issuer."""
        chain = self.chain(name)
        return chain[-1] if chain else name

    def depths(self) -> dict[IdentityName, int]:
        """How many issuers each identity has above it (cycle-free graphs only); linear time."""
        depth: dict[IdentityName, int] = {}
        for start in self.issuer_of:
            walk: list[IdentityName] = []
            on_walk: set[IdentityName] = set()
            node: IdentityName | None = start
            while node is not None and node not in depth and node not in on_walk:
                walk.append(node)
                on_walk.add(node)
                node = self.issuer_of.get(node)
            below = depth[node] if node is not None and node in depth else -1
            for name in reversed(walk):
                below += 1
                depth[name] = below
        return depth

    def children(self, name: IdentityName) -> list[IdentityName]:
        """The identities `name` issues, by name."""
        return list(self._children.get(name, ()))


def _rotate(cycle: list[IdentityName]) -> list[IdentityName]:
    """Start a closed cycle (a, b, a) at its smallest name so each cycle reads one way."""
    body = cycle[:-1]
    if not body:
        return cycle
    start = body.index(min(body))
    body = body[start:] + body[:start]
    return [*body, body[0]]
