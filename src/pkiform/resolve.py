"""Turn a schema-valid Document into a Spec: defaults merged, strings parsed into values.

Values the schema cannot judge (IP addresses, DNS names, emails) are checked
here, where each one's position is still known, and reported together.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from pkiform.errors import Diagnostic
from pkiform.model import (
    SUBJECT_FIELDS,
    Duration,
    Identity,
    IdentityName,
    IpAddress,
    IpNetwork,
    KeySpec,
    KeyType,
    Kind,
    NameConstraints,
    NameSet,
    Revocation,
    Spec,
)
from pkiform.source import Document, JsonPath, dotted

_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_UNITS["y"] = 365 * _UNITS["d"]

DEFAULT_VALIDITY = {
    Kind.ROOT: "10y",
    Kind.INTERMEDIATE: "5y",
    Kind.SERVER: "90d",
    Kind.CLIENT: "90d",
}
DEFAULT_KEY = KeySpec(type=KeyType.EC, curve="P-256")
DEFAULT_RSA_SIZE = 3072
DEFAULT_CURVE = "P-256"

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def parse_duration(text: str) -> Duration:
    """`90d` -> Duration; the schema has already checked the form."""
    return Duration(text=text, delta=int(text[:-1]) * _UNITS[text[-1]])


def dns_problem(name: str, *, constraint: bool = False) -> str | None:
    """Why `name` is not a valid DNS name (or name constraint), or None."""
    if name != name.lower():
        return f"DNS names are written in lowercase; got {name!r}"
    body = name
    if constraint and body.startswith("."):
        body = body[1:]
    elif not constraint and body.startswith("*."):
        body = body[2:]
    if len(body) > 253 or not body:
        return f"not a valid DNS name: {name!r}"
    for label in body.split("."):
        if not _LABEL.match(label):
            if not label.isascii():
                return f"not a valid DNS name: {name!r} (write internationalised names in punycode)"
            return f"not a valid DNS name: {name!r} (label {label!r})"
    return None


def email_problem(address: str) -> str | None:
    """Why `address` is not a usable rfc822Name, or None."""
    local, sep, domain = address.rpartition("@")
    if not sep or not local or not domain:
        return f"not an email address: {address!r}"
    if not address.isascii() or any(c.isspace() for c in local):
        return f"not an ASCII email address: {address!r}"
    if dns_problem(domain) is not None or domain.startswith("*."):
        return f"not a valid email domain in {address!r}"
    return None


class _Resolver:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.diagnostics: list[Diagnostic] = []

    def error(self, path: JsonPath, message: str) -> None:
        self.diagnostics.append(
            Diagnostic(loc=self.doc.loc(path), path=dotted(path), message=message)
        )

    def key(self, raw: Mapping[str, Any] | None) -> KeySpec | None:
        if raw is None:
            return None
        kind = KeyType(raw["type"])
        if kind is KeyType.RSA:
            return KeySpec(type=kind, size=int(raw.get("size", DEFAULT_RSA_SIZE)))
        if kind is KeyType.EC:
            return KeySpec(type=kind, curve=str(raw.get("curve", DEFAULT_CURVE)))
        return KeySpec(type=kind)

    def ips(self, path: JsonPath, raw: list[str]) -> tuple[IpAddress, ...]:
        out: list[IpAddress] = []
        for index, text in enumerate(raw):
            try:
                out.append(ipaddress.ip_address(text))
            except ValueError:
                self.error((*path, index), f"not an IP address: {text!r}")
        return tuple(out)

    def networks(self, path: JsonPath, raw: list[str]) -> tuple[IpNetwork, ...]:
        out: list[IpNetwork] = []
        for index, text in enumerate(raw):
            if "/" not in text:
                self.error(
                    (*path, index), f"expected a network in CIDR form like 10.0.0.0/8; got {text!r}"
                )
                continue
            try:
                out.append(ipaddress.ip_network(text))
            except ValueError as e:
                self.error((*path, index), f"not an IP network: {text!r} ({e})")
        return tuple(out)

    def names(self, path: JsonPath, raw: list[str], *, constraint: bool = False) -> tuple[str, ...]:
        for index, name in enumerate(raw):
            problem = dns_problem(name, constraint=constraint)
            if problem:
                self.error((*path, index), problem)
        return tuple(raw)

    def emails(
        self, path: JsonPath, raw: list[str], *, constraint: bool = False
    ) -> tuple[str, ...]:
        for index, address in enumerate(raw):
            if constraint and "@" not in address:
                problem = dns_problem(address, constraint=True)
            else:
                problem = email_problem(address)
            if problem:
                self.error((*path, index), problem)
        return tuple(raw)

    def name_set(self, path: JsonPath, raw: Mapping[str, Any] | None) -> NameSet:
        raw = raw or {}
        return NameSet(
            dns=self.names((*path, "dns"), raw.get("dns", []), constraint=True),
            ip=self.networks((*path, "ip"), raw.get("ip", [])),
            email=self.emails((*path, "email"), raw.get("email", []), constraint=True),
        )

    def identity(self, name: str, raw: Mapping[str, Any], defaults: Mapping[str, Any]) -> Identity:
        path: JsonPath = ("identities", name)
        kind = Kind(raw["kind"])
        subject = {**defaults.get("subject", {}), **raw.get("subject", {})}
        subject.setdefault("CN", name)
        validity_text = raw.get("validity", defaults.get("validity", DEFAULT_VALIDITY[kind]))
        validity = parse_duration(validity_text)
        renew_text = raw.get("renew_before", defaults.get("renew_before"))
        if renew_text is None:
            third = validity.delta / 3
            text = f"{third.days}d" if third.days >= 2 else f"{third // timedelta(hours=1)}h"
            renew_before = Duration(text=text, delta=third)
        else:
            renew_before = parse_duration(renew_text)
        nc_raw = raw.get("name_constraints")
        nc = None
        if nc_raw is not None:
            nc_path = (*path, "name_constraints")
            nc = NameConstraints(
                permitted=self.name_set((*nc_path, "permitted"), nc_raw.get("permitted")),
                excluded=self.name_set((*nc_path, "excluded"), nc_raw.get("excluded")),
            )
        revoked = raw.get("revoked")
        return Identity(
            name=IdentityName(name),
            kind=kind,
            loc=self.doc.loc(path, key=True),
            issuer=IdentityName(raw["issuer"]) if "issuer" in raw else None,
            subject=tuple((f, subject[f]) for f in SUBJECT_FIELDS if f in subject),
            key=self.key(raw.get("key")) or self.key(defaults.get("key")) or DEFAULT_KEY,
            validity=validity,
            renew_before=renew_before,
            dns=self.names((*path, "dns"), raw.get("dns", [])),
            ip=self.ips((*path, "ip"), raw.get("ip", [])),
            email=self.emails((*path, "email"), raw.get("email", [])),
            uri=tuple(raw.get("uri", [])),
            path_length=raw.get("path_length"),
            name_constraints=nc,
            extended_key_usage=tuple(raw.get("extended_key_usage", ())),
            crl_url=raw.get("crl_url"),
            ocsp_url=raw.get("ocsp_url"),
            revoked=Revocation(reason=revoked["reason"]) if revoked else None,
        )


def build(doc: Document) -> tuple[Spec, list[Diagnostic]]:
    """The Spec of a schema-valid document, and the value problems found on the way."""
    resolver = _Resolver(doc)
    defaults = doc.data.get("defaults") or {}
    identities = {
        IdentityName(name): resolver.identity(name, raw, defaults)
        for name, raw in doc.data["identities"].items()
    }
    return Spec(file=doc.file, identities=identities), resolver.diagnostics
