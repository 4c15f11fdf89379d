"""Name constraints (RFC 5280 §4.2.1.10): which names verifiers hold to them, and an index
that matches thousands of names against thousands of subtrees in near-linear time.

dns_within and email_within state the semantics name by name; NameIndex answers the same
question with set lookups (tests/test_rules.py proves them equal). The subject CN is held
to the constraints as OpenSSL 3 and Java 17 to 25 hold it (measured with both, see
tests/test_java_pkix.py), so that a spec passes validation only if both accept it.
"""

from __future__ import annotations

import ipaddress
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pkiform.spec.model import Identity, IpAddress, Kind, NameSet
from pkiform.spec.source import JsonPath

_ALNUM = frozenset(string.ascii_letters + string.digits)
_DIGITS = frozenset(string.digits)


def dns_within(name: str, constraint: str) -> bool:
    """RFC 5280 §4.2.1.10: `example.com` covers itself and its subdomains, `.example.com`
    only the subdomains."""
    name, constraint = name.lower(), constraint.lower()
    if constraint.startswith("."):
        return name.endswith(constraint)
    return name == constraint or name.endswith("." + constraint)


def email_within(address: str, constraint: str) -> bool:
    """A mailbox matches exactly; `host` matches its mailboxes; `.domain` any mailbox below
    it. Domains compare in any case, the local part exactly (RFC 5280 §7.5, as OpenSSL)."""
    domain = address.rpartition("@")[2].lower()
    if "@" in constraint:
        local, _, cdomain = constraint.rpartition("@")
        return address.rpartition("@")[0] == local and domain == cdomain.lower()
    constraint = constraint.lower()
    if constraint.startswith("."):
        return domain.endswith(constraint)
    return domain == constraint


def _dot_suffixes(name: str) -> list[str]:
    """What follows each dot of `name`: `a.b.c` -> `b.c`, `c`."""
    return [name[i + 1 :] for i, char in enumerate(name) if char == "."]


@dataclass(frozen=True, slots=True)
class NameIndex:
    """One NameSet (a CA's permitted or excluded subtrees) as sets to look names up in."""

    dns_and_below: frozenset[str]  # `example.com`: itself and its subdomains
    dns_below: frozenset[str]  # `.example.com`, kept without its dot: subdomains only
    # (version, prefix length) -> the networks of that shape, as integers
    ip: dict[tuple[int, int], frozenset[int]]
    mailboxes: frozenset[tuple[str, str]]  # (local part, domain in lowercase)
    email_hosts: frozenset[str]
    email_below: frozenset[str]  # `.example.com`, kept without its dot
    names: NameSet

    @classmethod
    def of(cls, names: NameSet) -> NameIndex:
        dns = [c.lower() for c in names.dns]
        ip: dict[tuple[int, int], set[int]] = {}
        for network in names.ip:
            ip.setdefault((network.version, network.prefixlen), set()).add(
                int(network.network_address)
            )
        hosts = [c.lower() for c in names.email if "@" not in c]
        return cls(
            dns_and_below=frozenset(c for c in dns if not c.startswith(".")),
            dns_below=frozenset(c[1:] for c in dns if c.startswith(".")),
            ip={shape: frozenset(found) for shape, found in ip.items()},
            mailboxes=frozenset(
                (local, domain.lower())
                for local, _, domain in (c.rpartition("@") for c in names.email if "@" in c)
            ),
            email_hosts=frozenset(c for c in hosts if not c.startswith(".")),
            email_below=frozenset(c[1:] for c in hosts if c.startswith(".")),
            names=names,
        )

    def has(self, kind: str) -> bool:
        """Whether the set names subtrees of this kind (`dns`, `ip` or `email`)."""
        return bool(getattr(self.names, kind))

    def matches(self, kind: str, value: str | IpAddress) -> bool:
        """Whether `value`, a name of `kind`, lies in one of the subtrees."""
        if kind == "dns":
            return self._dns(str(value))
        if kind == "ip":
            address = value if not isinstance(value, str) else ipaddress.ip_address(value)
            return self._ip(address)
        return self._email(str(value))

    def _dns(self, name: str) -> bool:
        name = name.lower()
        if name in self.dns_and_below:
            return True
        return any(s in self.dns_and_below or s in self.dns_below for s in _dot_suffixes(name))

    def _ip(self, address: IpAddress) -> bool:
        bits, value = address.max_prefixlen, int(address)
        for (version, prefix), networks in self.ip.items():
            host_bits = bits - prefix  # cleared, they give the network the address is in
            if version == address.version and value >> host_bits << host_bits in networks:
                return True
        return False

    def _email(self, address: str) -> bool:
        local, _, domain = address.rpartition("@")
        domain = domain.lower()
        if (local, domain) in self.mailboxes:
            return True
        if domain in self.email_hosts:
            return True
        return any(s in self.email_below for s in _dot_suffixes(domain))


# -- the subject CN, as verifiers read it ----------------------------------------------------


def openssl_cn_is_dns(cn: str) -> bool:
    """Whether OpenSSL 3 holds a leaf's CN to DNS constraints (when it has no DNS name):
    cn2dnsid in crypto/x509/v3_ncons.c takes letters, digits and '_', with '-' and '.'
    inside only, no '.' next to '.' or '-', and at least one dot."""
    dotted = False
    last = len(cn) - 1
    for i, char in enumerate(cn):
        if char in _ALNUM or char == "_":
            continue
        if 0 < i < last:
            if char == "-":
                continue
            if char == "." and cn[i + 1] not in ".-" and cn[i - 1] != "-":
                dotted = True
                continue
        return False
    return dotted


def java_cn_name(cn: str, *, has_dns: bool, has_ip: bool) -> tuple[str, str | IpAddress] | None:
    """The name Java holds a certificate's CN to, as (`dns`, cn) or (`ip`, address), or None.

    sun.security.x509.NameConstraintsExtension.verify: a CN that is an IPv4 or IPv6
    literal (IPAddressUtil) is an IP name unless the certificate has an IP SAN, any other
    CN a DNS name unless it has a DNS SAN; a CN that IPAddressName or DNSName refuses is
    ignored. Unlike OpenSSL, Java does this for every certificate below the constraining
    CA, intermediates included, whatever the CN looks like.
    """
    v4 = _java_ipv4(cn)
    v6 = _java_ipv6(cn)
    if v4 is not None or v6 is not None:
        if has_ip:
            return None
        # IPAddressName: IPv6 with a ':', IPv4 with a '.', and a bare number is refused
        if v6 is not None:
            return "ip", v6
        return ("ip", ipaddress.IPv4Address(v4)) if "." in cn else None
    if not has_dns and _java_dns_name(cn):
        return "dns", cn
    return None


def _java_dns_name(name: str) -> bool:
    """sun.security.x509.DNSName(String): labels of ASCII letters, digits and '-', each
    starting with a letter or digit (ending with '-' is allowed), no space, no empty label."""
    if not name or " " in name or name.startswith(".") or name.endswith("."):
        return False
    for label in name.split("."):
        if not label or label[0] not in _ALNUM:
            return False
        if any(c not in _ALNUM and c != "-" for c in label[1:]):
            return False
    return True


def _java_ipv4(text: str) -> int | None:
    """IPAddressUtil.textToNumericFormatV4: 1 to 4 decimal parts (leading zeros are
    decimal), the last one filling the bytes left (`10.2.3` is 10.2.0.3), at most 15
    characters; the address as an integer, or None."""
    if not 0 < len(text) <= 15:
        return None
    parts = text.split(".")
    if len(parts) > 4 or any(not p or not set(p) <= _DIGITS for p in parts):
        return None
    *leading, last = (int(p) for p in parts)
    if any(v > 0xFF for v in leading) or last >= 1 << (8 * (4 - len(leading))):
        return None
    value = last
    for i, v in enumerate(leading):
        value |= v << (24 - 8 * i)
    return value


def _java_ipv6(text: str) -> IpAddress | None:
    """IPAddressUtil.textToNumericFormatV6, then InetAddress: an embedded IPv4 address takes
    four decimal parts, and an IPv4-mapped address is the IPv4 address it maps. Java checks
    an address with a numeric scope (`%1`), and one with an interface name (`%eth0`) only
    where the machine that verifies has that interface: this checks both, always."""
    if ":" not in text:
        return None
    address, percent, scope = text.partition("%")
    if percent and not scope:
        return None
    head, _, tail = address.rpartition(":")
    if "." in tail:
        v4 = _java_ipv4(tail) if tail.count(".") == 3 else None
        if v4 is None:
            return None
        address = f"{head}:{ipaddress.IPv4Address(v4)}"
    try:
        parsed = ipaddress.IPv6Address(address)
    except ValueError:
        return None
    return parsed.ipv4_mapped or parsed


# -- what a spec's identity is refused for ----------------------------------------------------

# how many subtrees, and how many other CAs, one message names before "and N more": a CA
# may permit thousands of names, and each refused name gets its own message
SHOWN = 3


@dataclass(frozen=True, slots=True)
class Constraining:
    """A CA above a certificate, whose name constraints apply to it."""

    name: str
    is_root: bool  # the trust anchor: Java ignores its constraints, OpenSSL does not
    permitted: NameIndex
    excluded: NameIndex

    @classmethod
    def of(cls, ca: Identity) -> Constraining:
        assert ca.name_constraints is not None
        return cls(
            name=ca.name,
            is_root=ca.kind is Kind.ROOT,
            permitted=NameIndex.of(ca.name_constraints.permitted),
            excluded=NameIndex.of(ca.name_constraints.excluded),
        )

    def refuses(self, kind: str, value: str | IpAddress) -> str | None:
        """Why this CA's constraints refuse the name, or None."""
        if self.excluded.matches(kind, value):
            return f"excluded by the name constraints of {self.name!r}"
        if self.permitted.has(kind) and not self.permitted.matches(kind, value):
            allowed = _listing(getattr(self.permitted.names, kind))
            return f"outside the name constraints of {self.name!r} (permitted {kind}: {allowed})"
        return None


def problems(ident: Identity, cas: Sequence[Constraining]) -> Iterator[tuple[JsonPath, str]]:
    """One message for each of the identity's names that a CA above refuses, at its path
    below the identity (a CN: `("subject", "CN")`), naming the nearest such CA."""
    leaf = not ident.kind.is_ca
    if leaf:
        sans: list[tuple[JsonPath, str, str | IpAddress]] = [
            (("dns", i), "dns", n) for i, n in enumerate(ident.dns)
        ]
        sans += [(("ip", i), "ip", a) for i, a in enumerate(ident.ip)]
        sans += [(("email", i), "email", e) for i, e in enumerate(ident.email)]
        for path, kind, value in sans:
            refusals = [(ca.name, why) for ca in cas if (why := ca.refuses(kind, value))]
            if refusals:
                yield path, f"{str(value)!r} is {_with_others(refusals)}"
    message = _cn_problem(ident, cas, leaf=leaf)
    if message:
        yield ("subject", "CN"), message


def _cn_problem(ident: Identity, cas: Sequence[Constraining], *, leaf: bool) -> str | None:
    cn = ident.common_name
    openssl = leaf and not ident.dns and openssl_cn_is_dns(cn)
    java = java_cn_name(cn, has_dns=bool(ident.dns), has_ip=bool(ident.ip))
    if not openssl and java is None:
        return None  # most CNs: a name with a space, or a leaf with a SAN of its kind
    refusals: list[tuple[str, str]] = []  # (CA, why)
    first: tuple[str, str] | None = None  # the kind of name and who checks it
    for ca in cas:
        checked: list[tuple[str, str | IpAddress, str]] = []
        if openssl:
            checked.append(("dns", cn, "OpenSSL"))
        if java is not None and not ca.is_root:
            if openssl and java[0] == "dns":
                checked[0] = ("dns", cn, "OpenSSL and Java")
            else:
                checked.append((java[0], java[1], "Java"))
        for kind, value, who in checked:
            why = ca.refuses(kind, value)
            if why:
                refusals.append((ca.name, why))
                first = first or (kind, who)
                break
    if first is None:
        return None
    kind, who = first
    refused = _with_others(refusals)
    excluded = refusals[0][1].startswith("excluded")
    return (
        f"common name {cn!r} is {refused}: {_cn_rule(kind, who)}; {_cn_fix(kind, leaf, excluded)}"
    )


def _cn_rule(kind: str, who: str) -> str:
    if kind == "ip":
        return (
            f"{who} checks a common name that reads as an IP address against the IP "
            "constraints when the certificate has no IP address"
        )
    looks = "with a dot" if who == "OpenSSL" else "that reads as a host name"
    verb = "check" if " and " in who else "checks"
    return (
        f"{who} {verb} a common name {looks} against the DNS constraints when the "
        "certificate has no DNS name"
    )


def _cn_fix(kind: str, leaf: bool, excluded: bool) -> str:
    if kind == "ip":
        other = "a common name that is no IP address"
        return f"give it an IP address (ip: [...]), or {other}" if leaf else f"give it {other}"
    inside = "outside the excluded names" if excluded else "inside the permitted names"
    other = f"a common name {inside} or one that is no host name (e.g. with a space)"
    return f"give it a DNS name (dns: [...]), or {other}" if leaf else f"give it {other}"


def _with_others(refusals: Sequence[tuple[str, str]]) -> str:
    """The nearest CA's refusal, and which CAs above refuse the name too."""
    why = refusals[0][1]
    if len(refusals) == 1:
        return why
    others = _listing([repr(ca) for ca, _ in refusals[1:]])  # a chain is short
    return f"{why}, and the constraints of {others} refuse it too"


def _listing(values: Sequence[object]) -> str:
    """The first few values, and how many more: only those are turned into text."""
    shown = ", ".join(str(v) for v in values[:SHOWN])
    return shown if len(values) <= SHOWN else f"{shown} and {len(values) - SHOWN} more"
