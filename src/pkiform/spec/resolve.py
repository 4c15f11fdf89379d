"""Turn a schema-valid Document into a Spec: defaults merged, strings parsed into values.

Values the schema cannot judge (IP addresses, DNS names, emails) are checked
here, where each one's position is still known, and reported together.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Mapping
from datetime import UTC, timedelta
from typing import Any

from pkiform import durations
from pkiform.errors import Diagnostic
from pkiform.spec.model import (
    DEFAULT_CRL_VALIDITY,
    NO_OUTPUTS,
    SUBJECT_FIELDS,
    AdoptSource,
    CsrKey,
    Duration,
    Identity,
    IdentityName,
    IpAddress,
    IpNetwork,
    KeySpec,
    KeyType,
    Kind,
    KubernetesOutput,
    NameConstraints,
    NameSet,
    Outputs,
    PasswordSource,
    Pkcs12Output,
    ResolvedSpec,
    Revocation,
    TokenKey,
)
from pkiform.spec.source import Document, JsonPath, describe, dotted
from pkiform.spec.token_uri import TokenUriError, parse_token_uri

DEFAULT_VALIDITY = {
    Kind.ROOT: "10y",
    Kind.INTERMEDIATE: "5y",
    Kind.SERVER: "90d",
    Kind.CLIENT: "90d",
}
DEFAULT_KEY = KeySpec(type=KeyType.EC, curve="P-256")
DEFAULT_RSA_SIZE = 3072
DEFAULT_CURVE = "P-256"

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")
# a whole name of such labels: one match clears a valid name without splitting it
_NAME = re.compile(
    r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z"
)
_LABEL_RULE = "lowercase letters, digits and '-', not at either end, at most 63"
# each arc must fit the 64 bits cryptography's DER encoder takes
_MAX_ARC = 2**64 - 1 - 80


def parse_duration(text: str) -> Duration:
    """`90d` -> Duration; the schema has already checked the form."""
    return Duration(text=text, delta=durations.span(text))


def dns_problem(name: str, *, constraint: bool = False) -> str | None:
    """Why `name` is not a valid DNS name (or name constraint), or None."""
    if name != name.lower():
        return f"expected a DNS name in lowercase; got {describe(name)}"
    body = name
    if constraint and body.startswith("."):
        body = body[1:]
    elif not constraint and body.startswith("*."):
        body = body[2:]
    if len(body) > 253 or not body:
        return f"expected a DNS name; got {describe(name)}"
    if _NAME.match(body):
        return None  # every label matches _LABEL
    for label in body.split("."):
        if not _LABEL.match(label):
            if not label.isascii():
                return (
                    f"expected a DNS name in ASCII; got {describe(name)} "
                    "(write internationalised names in punycode: xn--...)"
                )
            if not label:
                return f"expected a DNS name; got {describe(name)} (empty label)"
            return (
                f"expected a DNS name; got {describe(name)} "
                f"(label {describe(label)}: use {_LABEL_RULE} characters)"
            )
    return None


def email_problem(address: str) -> str | None:
    """Why `address` is not a usable rfc822Name, or None."""
    local, sep, domain = address.rpartition("@")
    expected = f"expected an email address like alice@example.com; got {describe(address)}"
    if not sep or not local or not domain:
        return expected
    if not address.isascii():
        return f"expected an email address in ASCII; got {describe(address)}"
    from email.utils import parseaddr  # here: `validate` of a spec without emails skips it

    display, parsed = parseaddr(address)
    if display or parsed != address or any(c in local for c in ' "@<>()[]\\,;:'):
        return expected
    if dns_problem(domain) is not None or domain.startswith("*."):
        hint = " (write the domain in lowercase)" if domain != domain.lower() else ""
        return f"expected an email address with a valid domain; got {describe(address)}{hint}"
    return None


def oid_problem(text: str) -> str | None:
    """Why a dotted OID (already matching the schema's pattern) cannot be encoded, or None."""
    arcs = text.split(".")
    if any(len(arc) > 1 and arc.startswith("0") for arc in arcs):
        return f"expected a dotted OID without leading zeros; got {describe(text)}"
    if any(len(arc) > 20 or int(arc) > _MAX_ARC for arc in arcs):
        return f"expected a dotted OID with numbers under 2^64; got {describe(text)}"
    if arcs[0] in ("0", "1") and int(arcs[1]) >= 40:
        # X.660: under the arcs 0 and 1 the second number is 0 to 39
        return (
            f"expected a dotted OID whose second number is under 40 after "
            f"{arcs[0]}; got {describe(text)}"
        )
    return None


_PASSWORD_FIELDS = frozenset({"password_env", "password_file"})
# the schema allows only these kinds; a dict lookup is several times faster than Kind(...)
_KINDS = {kind.value: kind for kind in Kind}


class _Resolver:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.diagnostics: list[Diagnostic] = []
        self.defaults: Mapping[str, Any] = _defaults(doc)
        # Thousands of identities share a few keys and durations: each distinct one is
        # parsed once (the values are frozen, so sharing them is safe)
        self.keys: dict[tuple[Any, Any, Any], KeySpec] = {}
        self.durations: dict[str, Duration] = {}
        self.thirds: dict[timedelta, Duration] = {}  # validity -> default renew_before

    def error(self, path: JsonPath, message: str) -> None:
        self.diagnostics.append(
            Diagnostic(loc=self.doc.loc(path), path=dotted(path), message=message)
        )

    def key(self, raw: Mapping[str, Any] | None) -> KeySpec | None:
        if raw is None:
            return None
        memo = (raw["type"], raw.get("size"), raw.get("curve"))
        found = self.keys.get(memo)
        if found is None:
            found = self.keys[memo] = self.parse_key(raw)
        return found

    def parse_key(self, raw: Mapping[str, Any]) -> KeySpec:
        kind = KeyType(raw["type"])
        if kind is KeyType.RSA:
            return KeySpec(type=kind, size=int(raw.get("size", DEFAULT_RSA_SIZE)))
        if kind is KeyType.EC:
            return KeySpec(type=kind, curve=str(raw.get("curve", DEFAULT_CURVE)))
        return KeySpec(type=kind)

    def duration(self, path: JsonPath, text: str) -> Duration:
        value = self.durations.get(text)
        if value is None:
            value = self.durations[text] = parse_duration(text)
        # longer is never meant, and not_after must stay inside X.509's year 9999
        if value.delta > durations.MAX:
            self.error(path, f"expected a duration of at most 100y; got {describe(text)}")
        return value

    def ips(self, path: JsonPath, raw: list[str]) -> tuple[IpAddress, ...]:
        out: list[IpAddress] = []
        for index, text in enumerate(raw):
            if "%" in text:
                self.error(
                    (*path, index),
                    f"expected an IP address without a zone; got {describe(text)} "
                    "(certificates carry no '%zone')",
                )
                continue
            try:
                out.append(ipaddress.ip_address(text))
            except ValueError:
                self.error(
                    (*path, index), f"expected an IPv4 or IPv6 address; got {describe(text)}"
                )
        return tuple(out)

    def networks(self, path: JsonPath, raw: list[str]) -> tuple[IpNetwork, ...]:
        out: list[IpNetwork] = []
        for index, text in enumerate(raw):
            expected = f"expected a network in CIDR form like 10.0.0.0/8; got {describe(text)}"
            if "/" not in text or "%" in text:
                self.error((*path, index), expected)
                continue
            try:
                out.append(ipaddress.ip_network(text))
            except ValueError as e:
                hint = " (host bits are set)" if "host bits" in str(e) else ""
                self.error((*path, index), expected + hint)
        return tuple(out)

    def names(self, path: JsonPath, raw: list[str], *, constraint: bool = False) -> tuple[str, ...]:
        # a refused name is left out, as a refused address is: reported once, never judged
        refused = False
        for index, name in enumerate(raw):
            problem = dns_problem(name, constraint=constraint)
            if problem:
                self.error((*path, index), problem)
                refused = True
        if refused:
            return tuple(n for n in raw if dns_problem(n, constraint=constraint) is None)
        return tuple(raw)

    def emails(
        self, path: JsonPath, raw: list[str], *, constraint: bool = False
    ) -> tuple[str, ...]:
        accepted = []
        for index, address in enumerate(raw):
            if constraint and "@" not in address:
                problem = dns_problem(address, constraint=True)
            else:
                problem = email_problem(address)
            if problem:
                self.error((*path, index), problem)
            else:
                accepted.append(address)
        return tuple(accepted)

    def usages(self, path: JsonPath, raw: list[str]) -> tuple[str, ...]:
        for index, usage in enumerate(raw):
            problem = oid_problem(usage) if usage[0].isdigit() else None
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

    def inherited(self, name: str, raw: Mapping[str, Any], field: str) -> JsonPath:
        """Where an identity's field was written: on the identity, else in defaults."""
        if field in raw or field not in self.defaults:
            return ("identities", name, field)
        return ("defaults", field)

    def identity(self, name: str, raw: Mapping[str, Any], defaults: Mapping[str, Any]) -> Identity:
        path: JsonPath = ("identities", name)
        kind = _KINDS[raw["kind"]]
        subject = {**defaults.get("subject", {}), **raw.get("subject", {})}
        subject.setdefault("CN", name)
        validity_text = raw.get("validity", defaults.get("validity", DEFAULT_VALIDITY[kind]))
        validity = self.duration(self.inherited(name, raw, "validity"), validity_text)
        renew_text = raw.get("renew_before", defaults.get("renew_before"))
        if renew_text is None:
            renew_before = self.thirds.get(validity.delta)
            if renew_before is None:
                renew_before = self.thirds[validity.delta] = validity.third()
        else:
            renew_before = self.duration(self.inherited(name, raw, "renew_before"), renew_text)
        nc_raw = raw.get("name_constraints")
        nc = None
        if nc_raw is not None:
            nc_path = (*path, "name_constraints")
            nc = NameConstraints(
                permitted=self.name_set((*nc_path, "permitted"), nc_raw.get("permitted")),
                excluded=self.name_set((*nc_path, "excluded"), nc_raw.get("excluded")),
            )
        revoked = raw.get("revoked")
        path_length = raw.get("path_length")
        key_path = self.inherited(name, raw, "key")
        key_raw = raw.get("key") or defaults.get("key")
        return Identity(
            name=IdentityName(name),
            kind=kind,
            loc=self.doc.loc(path, key=True),
            issuer=IdentityName(raw["issuer"]) if "issuer" in raw else None,
            subject=tuple((f, subject[f]) for f in SUBJECT_FIELDS if f in subject),
            key=self.key(key_raw) or DEFAULT_KEY,
            validity=validity,
            renew_before=renew_before,
            dns=self.names((*path, "dns"), raw.get("dns", [])),
            ip=self.ips((*path, "ip"), raw.get("ip", [])),
            email=self.emails((*path, "email"), raw.get("email", [])),
            uri=tuple(raw.get("uri", [])),
            # JSON Schema counts 1.0 as an integer; cryptography wants an int
            path_length=None if path_length is None else int(path_length),
            name_constraints=nc,
            extended_key_usage=self.usages(
                (*path, "extended_key_usage"), raw.get("extended_key_usage", [])
            ),
            crl_url=raw.get("crl_url"),
            ocsp_url=raw.get("ocsp_url"),
            revoked=self.revocation((*path, "revoked"), revoked),
            rotate_key=bool(raw.get("rotate_key", defaults.get("rotate_key", False))),
            crl_validity=(
                self.duration((*path, "crl_validity"), raw["crl_validity"])
                if "crl_validity" in raw
                else DEFAULT_CRL_VALIDITY
            ),
            revoke_superseded=bool(raw.get("revoke_superseded", False)),
            ocsp=bool(raw.get("ocsp", False)),
            key_password=self.password_source(
                (*key_path, "encrypt"), (key_raw or {}).get("encrypt")
            ),
            outputs=self.outputs(name, raw, defaults),
            key_source=self.token_key(key_path, key_raw or {}) or self.csr_key(path, raw),
            replaces=IdentityName(raw["replaces"]) if "replaces" in raw else None,
            cross_sign=bool(raw.get("cross_sign", False)),
            adopt=self.adopt_source((*path, "adopt"), raw.get("adopt")),
        )

    def csr_key(self, path: JsonPath, raw: Mapping[str, Any]) -> CsrKey | None:
        """csr: the certificate request to sign, whose key pkiform never holds."""
        if "csr" not in raw:
            return None
        return CsrKey(path=raw["csr"], loc=self.doc.loc((*path, "csr")))

    def adopt_source(self, path: JsonPath, raw: Mapping[str, Any] | None) -> AdoptSource | None:
        """adopt: an existing CA's files, and the password of its key if it is encrypted."""
        if raw is None:
            return None
        password = None
        if _PASSWORD_FIELDS & raw.keys():
            password = self.password_source(path, raw)
        return AdoptSource(
            cert=raw["cert"],
            key=raw["key"],
            chain=raw.get("chain"),
            password=password,
            loc=self.doc.loc(path),
        )

    def token_key(self, path: JsonPath, raw: Mapping[str, Any]) -> TokenKey | None:
        """key.pkcs11: the URI, checked, and where the token's PIN comes from (pin_env,
        pin_file, or the URI's pin-source)."""
        text = raw.get("pkcs11")
        if text is None:
            return None
        where = (*path, "pkcs11")
        try:
            uri = parse_token_uri(text)
        except TokenUriError as e:
            self.error(where, str(e))
            return None
        given = [f for f in ("pin_env", "pin_file") if f in raw]
        if len(given) > 1 or (given and uri.pin_source is not None):
            self.error(path, "give one of pin_env, pin_file or the URI's pin-source, not several")
            return None
        pin = None
        if given:
            pin_path = (*path, given[0])
            pin = PasswordSource(
                env=raw.get("pin_env"),
                file=raw.get("pin_file"),
                path=dotted(pin_path),
                loc=self.doc.loc(pin_path),
            )
        elif uri.pin_file is not None:
            pin = PasswordSource(file=uri.pin_file, path=dotted(where), loc=self.doc.loc(where))
        return TokenKey(uri=text, pin=pin, loc=self.doc.loc(where))

    def password_source(
        self, path: JsonPath, raw: Mapping[str, Any] | None
    ) -> PasswordSource | None:
        """Exactly one of password_env and password_file, remembered with where it is written."""
        if raw is None:
            return None
        given = [f for f in ("password_env", "password_file") if f in raw]
        if len(given) != 1:
            self.error(
                path,
                "give one of password_env or password_file (where the password comes from)"
                if not given
                else "give one of password_env or password_file, not both",
            )
            return None
        where = (*path, given[0])
        return PasswordSource(
            env=raw.get("password_env"),
            file=raw.get("password_file"),
            path=dotted(where),
            loc=self.doc.loc(where),
        )

    def outputs(self, name: str, raw: Mapping[str, Any], defaults: Mapping[str, Any]) -> Outputs:
        """defaults.outputs with the identity's own merged over them, output by output."""
        own = raw.get("outputs") or {}
        base = defaults.get("outputs") or {}
        if not own and not base:
            return NO_OUTPUTS  # what the code below makes of no outputs at all

        def merged(field: str) -> tuple[Any, JsonPath]:
            """One output's merged value, and where its password source is written."""
            mine: JsonPath = ("identities", name, "outputs", field)
            if field not in own:
                return base.get(field), ("defaults", "outputs", field)
            value, default = own[field], base.get(field)
            if not (isinstance(value, dict) and isinstance(default, dict)):
                return value, mine
            if _PASSWORD_FIELDS & value.keys():  # a password source replaces the default's
                default = {k: v for k, v in default.items() if k not in _PASSWORD_FIELDS}
            elif _PASSWORD_FIELDS & default.keys():
                return {**default, **value}, ("defaults", "outputs", field)
            return {**default, **value}, mine

        def pkcs12(field: str) -> Pkcs12Output | None:
            value, path = merged(field)
            source = self.password_source(path, value) if isinstance(value, dict) else None
            if source is None:
                return None
            return Pkcs12Output(password=source, legacy=bool(value.get("legacy", False)))

        kubernetes, _ = merged("kubernetes")
        if "kubernetes" not in own and _KINDS[raw["kind"]].is_ca:
            # a Secret carries the private key into the cluster: a CA's goes there only
            # when the CA asks itself (rules.py warns about the default it skips)
            kubernetes = None
        return Outputs(
            pkcs12=pkcs12("pkcs12"),
            truststore=pkcs12("truststore"),
            der=bool(merged("der")[0]),
            combined=bool(merged("combined")[0]),
            kubernetes=KubernetesOutput(
                name=kubernetes.get("name", name), namespace=kubernetes.get("namespace")
            )
            if isinstance(kubernetes, dict)  # {} asks for one with the defaults
            else None,
        )

    def revocation(self, path: JsonPath, raw: Mapping[str, Any] | None) -> Revocation | None:
        if raw is None:
            return None
        at = None
        if "at" in raw:
            try:
                at = durations.parse_instant(raw["at"])
            except ValueError:
                self.error((*path, "at"), f"not a valid date and time: {raw['at']!r}")
            else:
                at = at.astimezone(UTC)
        if at is None:
            return Revocation(reason=raw["reason"])
        where = (*path, "at")
        return Revocation(
            reason=raw["reason"], at=at, at_text=raw["at"], at_loc=self.doc.loc(where)
        )


def build(
    doc: Document, only: Collection[str] | None = None
) -> tuple[ResolvedSpec, list[Diagnostic]]:
    """The Spec of a schema-valid document, and the value problems found on the way.
    With `only`, of those identities alone: the ones whose part of a document the schema
    refused elsewhere accepted (each of them, and the defaults it takes, schema-valid)."""
    resolver = _Resolver(doc)
    defaults = resolver.defaults
    if only is None:
        raw_identities: Mapping[str, Any] = doc.data["identities"]
    else:
        raw_identities = {name: doc.data["identities"][name] for name in only}
    identities = {
        IdentityName(name): resolver.identity(name, raw, defaults)
        for name, raw in raw_identities.items()
    }
    return ResolvedSpec(file=doc.file, identities=identities), resolver.diagnostics


def _defaults(doc: Document) -> Mapping[str, Any]:
    defaults = doc.data.get("defaults")
    # not a mapping only in a document the schema refused: no identity then takes them
    return defaults if isinstance(defaults, dict) else {}
