"""The issuer graph: who signs whom, in an order where issuers come first."""

from __future__ import annotations

import graphlib
from collections.abc import Mapping
from dataclasses import dataclass

from pkiform.model import IdentityName, Spec


class CycleFound(Exception):
    def __init__(self, cycle: list[IdentityName]) -> None:
        super().__init__(" -> ".join(cycle))
        self.cycle = cycle


@dataclass(frozen=True, slots=True)
class IssuerGraph:
    """Edges from each identity to its issuer; only names that exist in the spec."""

    issuer_of: Mapping[IdentityName, IdentityName | None]

    @classmethod
    def of(cls, spec: Spec) -> IssuerGraph:
        return cls(
            {
                name: (ident.issuer if ident.issuer in spec.identities else None)
                for name, ident in spec.identities.items()
            }
        )

    def order(self) -> list[IdentityName]:
        """Issuers before subjects; among those ready together, by name (stable plan diffs)."""
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
        """Every distinct issuer cycle, each as `a -> b -> a` starting at its smallest name."""
        found: dict[tuple[IdentityName, ...], list[IdentityName]] = {}
        for start in self.issuer_of:
            seen: list[IdentityName] = []
            node: IdentityName | None = start
            while node is not None and node not in seen:
                seen.append(node)
                node = self.issuer_of.get(node)
            if node is None:
                continue
            loop = seen[seen.index(node) :]
            loop = _rotate([*loop, loop[0]])
            found[tuple(loop)] = loop
        return list(found.values())

    def chain(self, name: IdentityName) -> list[IdentityName]:
        """The issuers above `name`, nearest first, ending at the root (cycle-free graphs only)."""
        out: list[IdentityName] = []
        issuer = self.issuer_of.get(name)
        while issuer is not None and issuer not in out and issuer != name:
            out.append(issuer)
            issuer = self.issuer_of.get(issuer)
        return out

    def children(self, name: IdentityName) -> list[IdentityName]:
        return sorted(n for n, issuer in self.issuer_of.items() if issuer == name and n != name)


def _rotate(cycle: list[IdentityName]) -> list[IdentityName]:
    """Start a closed cycle (a, b, a) at its smallest name so each cycle reads one way."""
    body = cycle[:-1]
    if not body:
        return cycle
    start = body.index(min(body))
    body = body[start:] + body[:start]
    return [*body, body[0]]
