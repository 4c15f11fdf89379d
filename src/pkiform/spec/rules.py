"""Semantic rules over the whole spec: what a schema cannot express. All problems, located."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Protocol

from pkiform.errors import Diagnostic, Severity
from pkiform.layout import RESERVED_NAMES
from pkiform.spec import name_constraints, own_keys, rotation
from pkiform.spec.graph import IssuerGraph
from pkiform.spec.model import Identity, IdentityName, Kind, NameConstraints, ResolvedSpec, TokenKey
from pkiform.spec.schema import did_you_mean
from pkiform.spec.schema_fast import ecma_regex
from pkiform.spec.source import Document, JsonPath, dotted
from pkiform.spec.token_uri import PKCS11_EXTRA, pkcs11_installed

# OpenSSL's default verify depth: intermediates allowed between a leaf and its root
MAX_INTERMEDIATES = 100


# a Secret's name is a DNS subdomain (RFC 1123), as the schema's outputs.kubernetes.name
_KUBERNETES_NAME = ecma_regex(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

_CA_ONLY = (
    "path_length",
    "name_constraints",
    "crl_url",
    "ocsp_url",
    "crl_validity",
    "revoke_superseded",
    "ocsp",
    "replaces",
    "cross_sign",
)
_SANS = ("dns", "ip", "email", "uri")
_CA_KINDS = frozenset(kind.value for kind in Kind if kind.is_ca)


def check(
    spec: ResolvedSpec,
    graph: IssuerGraph,
    doc: Document,
    *,
    unjudged: Mapping[str, object] | None = None,
) -> list[Diagnostic]:
    """Errors and warnings for the spec; an empty list of errors means it can be issued.

    `unjudged`: the identities of the document left out of `spec` because the schema
    refused their part, with the `kind` each is written with. Naming one as an issuer is
    no error here, and nothing is checked through it: its own errors say what is wrong.
    """
    unjudged = unjudged or {}
    out: list[Diagnostic] = []

    def report(path: JsonPath, message: str, *, warning: bool = False, key: bool = False) -> None:
        out.append(
            Diagnostic(
                loc=doc.loc(path, key=key),
                path=dotted(path),
                message=message,
                severity=Severity.WARNING if warning else Severity.ERROR,
            )
        )

    for name, ident in spec.identities.items():
        base: JsonPath = ("identities", name)
        fields = doc.data["identities"][name]
        if name in RESERVED_NAMES:
            report(
                base,
                f"invalid identity name {name!r}: the output directory keeps its own {name} "
                "there; choose another name",
                key=True,
            )
        for problem_path, message in _kind_fields(ident, fields):
            report((*base, *problem_path), message, key=True)
        if ident.issuer is not None and ident.kind is not Kind.ROOT:
            _check_issuer(spec, ident, report, unjudged)
            issuer = spec.identities.get(ident.issuer)
            if issuer is not None and issuer.revoked is not None and ident.revoked is None:
                report(
                    (*base, "issuer"),
                    f"issuer {issuer.name!r} is revoked: nothing it signs can be trusted; "
                    f"revoke {name!r} too or move it to another issuer",
                )
        if ident.renew_before.delta >= ident.validity.delta:
            own = [(*base, f) for f in ("renew_before", "validity") if doc.written((*base, f))]
            report(
                own[0] if own else base,
                f"renew_before ({ident.renew_before}) must be shorter than validity "
                f"({ident.validity}), or every apply would reissue it",
                key=not own,
            )

    for path, message, warning in _output_problems(spec, doc):
        report(path, message, warning=warning, key=True)

    cycles = graph.cycles()
    for cycle in cycles:
        report(("identities", cycle[0], "issuer"), f"issuer cycle: {' -> '.join(cycle)}")
    for path, message in rotation.problems(spec, graph, unjudged, acyclic=not cycles):
        report(path, message)
    if cycles:
        return out
    depths = graph.depths()
    for name, ident in spec.identities.items():
        if ident.kind is Kind.INTERMEDIATE and depths[name] == MAX_INTERMEDIATES + 1:
            report(
                ("identities", name, "issuer"),
                f"{MAX_INTERMEDIATES + 1} intermediate CAs in a row down to here; "
                f"OpenSSL verifies chains of at most {MAX_INTERMEDIATES}",
            )
    if any(depth > MAX_INTERMEDIATES + 1 for depth in depths.values()):
        return out  # chains that long are not walked for the rules below

    constraining: dict[IdentityName, name_constraints.Constraining | None] = {}
    cross_signer = rotation.Rotations.of(spec, graph).cross_signer
    for name, ident in spec.identities.items():
        issuer = spec.identities.get(ident.issuer) if ident.issuer else None
        if issuer is None or not issuer.kind.is_ca:
            continue
        if ident.validity.delta > issuer.validity.delta:
            validity_path: JsonPath = ("identities", name, "validity")
            written = doc.written(validity_path)
            from_defaults = not written and doc.written(("defaults", "validity"))
            inherited = " (from defaults.validity)" if from_defaults else ""
            report(
                validity_path if written else ("identities", name),
                f"{ident.validity}{inherited} outlives its issuer {issuer.name!r} "
                f"({issuer.validity}); its certificate will end when the issuer's does",
                warning=True,
                key=not written,
            )
        if ident.kind is Kind.INTERMEDIATE:
            for message in _path_length_problems(spec, graph, ident.name):
                report(("identities", name, "issuer"), message)
        cas = _constraining(spec, graph, doc, ident.name, constraining, cross_signer)
        if cas:  # most chains have none
            for path, message in name_constraints.problems(ident, cas):
                where: JsonPath = ("identities", name, *path)
                if path == ("subject", "CN") and not doc.written(where):
                    report(("identities", name), message, key=True)  # the CN is its name
                else:
                    report(where, message)
    return out


def _constraining(
    spec: ResolvedSpec,
    graph: IssuerGraph,
    doc: Document,
    name: IdentityName,
    known: dict[IdentityName, name_constraints.Constraining | None],
    cross_signer: Callable[[IdentityName], IdentityName | None],
) -> list[name_constraints.Constraining]:
    """The CAs above `name` with name constraints, nearest first (and last, the root its
    root's cross certificate chains to: relying parties of that root apply its
    constraints); each CA's subtrees are indexed once (`known`), however many
    certificates it issues."""
    found = []
    chain = graph.chain(name)
    signer = cross_signer(chain[-1]) if chain else None
    for ca_name in chain if signer is None else [*chain, signer]:
        if ca_name not in known:
            ident = spec.identities[ca_name]
            nc = ident.name_constraints
            complete = nc is not None and _all_resolved(doc, ca_name, nc)
            known[ca_name] = name_constraints.Constraining.of(ident) if complete else None
        ca = known[ca_name]
        if ca is not None:
            found.append(ca)
    return found


def _all_resolved(doc: Document, name: str, nc: NameConstraints) -> bool:
    """Whether resolve took every subtree the CA lists: with one refused (its own error),
    names meant to be inside it would only be reported again as outside the rest."""
    raw = doc.data["identities"][name].get("name_constraints")
    if raw is None:
        return True  # an adopted CA's, from its certificate: all of them taken
    return all(
        len((raw.get(side) or {}).get(kind, [])) == len(getattr(getattr(nc, side), kind))
        for side in ("permitted", "excluded")
        for kind in ("dns", "ip", "email")
    )


def _kind_fields(ident: Identity, fields: dict[str, object]) -> Iterator[tuple[JsonPath, str]]:
    kind = ident.kind
    if kind is Kind.ROOT:
        if "issuer" in fields:
            yield ("issuer",), "a root is self-signed and takes no issuer"
        if "revoked" in fields:
            yield ("revoked",), "a root cannot be revoked by a CRL; remove it from the spec instead"
    elif "issuer" not in fields and not own_keys.issued_elsewhere(fields):
        yield (), f"missing required field 'issuer' (every {kind} needs one)"
    if kind.is_ca:
        if "extended_key_usage" in fields:
            yield ("extended_key_usage",), "extended_key_usage is for leaves, not CAs"
        for san in _SANS:
            if san in fields:
                yield (san,), "subject alternative names are for leaves; CAs carry none"
    else:
        for field in _CA_ONLY:
            if field in fields:
                yield (field,), f"{field} applies to CAs only, not to a {kind}"
    # as written: an address refused as invalid is its own error, not a missing one
    if kind is Kind.SERVER and not (fields.get("dns") or fields.get("ip")):
        yield (), "a server needs at least one 'dns' or 'ip' name (TLS clients check it)"
    yield from _token_key_fields(ident, fields.get("key"))
    yield from _outputs_of_a_token_key(ident, fields)
    yield from own_keys.problems(ident, fields)


def _outputs_of_a_token_key(
    ident: Identity, fields: Mapping[str, object]
) -> Iterator[tuple[JsonPath, str]]:
    """Outputs that hold the private key, asked of an identity whose key is in a token
    (own_keys.py says the same of a certificate request's)."""
    if not isinstance(ident.key_source, TokenKey):
        return
    own = fields.get("outputs")
    written = own if isinstance(own, dict) else {}
    wants = {
        "pkcs12": ident.outputs.pkcs12 is not None,
        "kubernetes": ident.outputs.kubernetes is not None,
        "der": ident.outputs.der,
        "combined": ident.outputs.combined,
    }
    for output, asked in wants.items():
        if asked:
            path: JsonPath = ("outputs", output) if output in written else ()
            yield (
                path,
                f"outputs.{output} holds the private key, and this identity's key is in a "
                f"PKCS#11 token: pkiform never holds it; turn the output off ({output}: false)",
            )


def _token_key_fields(ident: Identity, key: object) -> Iterator[tuple[JsonPath, str]]:
    """key.pkcs11 and its PIN: a CA's key in a PKCS#11 token (resolve.py parsed the URI)."""
    if not isinstance(key, dict):
        return
    for pin in ("pin_env", "pin_file"):
        if pin in key and "pkcs11" not in key:
            yield ("key", pin), f"{pin} is the PIN of a token: it goes with key.pkcs11"
    if "pkcs11" not in key:
        return
    if not ident.kind.is_ca:
        yield (
            ("key", "pkcs11"),
            f"a key in a PKCS#11 token is for CAs (roots and intermediates); a {ident.kind}'s "
            "key lives on the host that uses it",
        )
    if "encrypt" in key:
        yield ("key", "encrypt"), "a key in a token has no key.pem to encrypt; remove encrypt"
    token = ident.key_source
    if isinstance(token, TokenKey) and token.pin is None:
        yield (
            ("key", "pkcs11"),
            "the token's PIN comes from pin_env, pin_file or the URI's pin-source; give one "
            "(never the PIN itself)",
        )
    if not pkcs11_installed():
        yield (
            ("key", "pkcs11"),
            f"a key in a PKCS#11 token needs python-pkcs11, which is not installed: {PKCS11_EXTRA}",
        )


def _check_issuer(
    spec: ResolvedSpec, ident: Identity, report: _Report, unjudged: Mapping[str, object]
) -> None:
    path: JsonPath = ("identities", ident.name, "issuer")
    assert ident.issuer is not None
    issuer = spec.identities.get(ident.issuer)
    if issuer is None and ident.issuer in unjudged:
        pass  # its own errors are reported; whether it can issue is not known
    elif issuer is None:
        names: list[str] = [n for n, i in spec.identities.items() if i.kind.is_ca]
        names += [n for n, kind in unjudged.items() if kind in _CA_KINDS]
        names = sorted(n for n in names if n != ident.name)
        hint = did_you_mean(ident.issuer, names, cutoff=0.6)
        report(path, f"unknown identity {ident.issuer!r}{hint}")
    elif issuer.name == ident.name and ident.kind is Kind.INTERMEDIATE:
        pass  # reported as a cycle
    elif not issuer.kind.is_ca:
        report(
            path,
            f"{issuer.name!r} is a {issuer.kind}, not a CA: only a root or intermediate can issue",
        )
    elif (keyless := own_keys.issuer_problem(issuer)) is not None:
        report(path, keyless)


class _Report(Protocol):
    def __call__(
        self, path: JsonPath, message: str, *, warning: bool = False, key: bool = False
    ) -> None: ...


def _path_length_problems(
    spec: ResolvedSpec, graph: IssuerGraph, name: IdentityName
) -> Iterator[str]:
    """pathLenConstraint: how many intermediates may follow a CA in a chain (RFC 5280 §4.2.1.9)."""
    following = 1  # intermediates between the CA being checked and `name`, `name` included
    for ca_name in graph.chain(name):
        ca = spec.identities[ca_name]
        if ca.path_length is not None and following > ca.path_length:
            if following == 1:
                yield f"{ca_name!r} has path_length 0: it cannot issue an intermediate CA"
            else:
                yield (
                    f"{following} intermediate CAs would follow {ca_name!r}, "
                    f"whose path_length is {ca.path_length}"
                )
        if ca.kind is Kind.INTERMEDIATE:
            following += 1


def _output_problems(spec: ResolvedSpec, doc: Document) -> Iterator[tuple[JsonPath, str, bool]]:
    """Outputs that cannot be written as asked; legacy encryption, and a CA skipped by
    defaults.outputs.kubernetes (warnings)."""
    secrets: dict[tuple[str | None, str], str] = {}
    for name, ident in spec.identities.items():
        if ident.kind.is_ca and _kubernetes_by_default_only(doc, name):
            yield (
                _first_written(doc, ("identities", name, "outputs"), ("identities", name)),
                f"defaults.outputs.kubernetes is not applied to CA {name!r}: a Secret would "
                "carry its private key into the cluster; set outputs: {kubernetes: false} on "
                "it to say so, or outputs: {kubernetes: {}} if its key must go there",
                True,
            )
        if ident.outputs.combined and ident.key_password is not None:
            yield (
                _first_written(
                    doc,
                    ("identities", name, "outputs", "combined"),
                    ("identities", name, "key", "encrypt"),
                    ("identities", name),
                ),
                "combined.pem holds the key unencrypted for the servers that read one file "
                "(they cannot open an encrypted key), so it cannot go with key.encrypt; turn "
                "one of them off (outputs: {combined: false})",
                False,
            )
        kubernetes = ident.outputs.kubernetes
        if kubernetes is None:
            continue
        written = _first_written(
            doc,
            ("identities", name, "outputs", "kubernetes"),
            ("identities", name, "key", "encrypt"),
            ("identities", name),
        )
        if ident.key_password is not None:
            yield (
                written,
                "a Kubernetes Secret holds the key unencrypted (tls.key), so it cannot go "
                "with key.encrypt; turn one of them off (outputs: {kubernetes: false})",
                False,
            )
        if not _KUBERNETES_NAME.match(kubernetes.name):
            yield (
                written,
                f"the Secret's name defaults to the identity's, and {name!r} is no Kubernetes "
                "name (lowercase letters, digits, '-' and '.'); set outputs.kubernetes.name",
                False,
            )
        where = (kubernetes.namespace, kubernetes.name)
        if where in secrets:
            namespace = f" in namespace {kubernetes.namespace!r}" if kubernetes.namespace else ""
            yield (
                written,
                f"identity {secrets[where]!r} already writes the Secret {kubernetes.name!r}"
                f"{namespace}; set another outputs.kubernetes.name",
                False,
            )
        secrets.setdefault(where, name)
    for path in _legacy_paths(doc, spec):
        yield (
            path,
            "legacy PKCS#12 encryption (3DES, SHA-1) is weak: use it only for readers that "
            "cannot open AES-256 bundles (old Java, Windows and macOS)",
            True,
        )


def _kubernetes_by_default_only(doc: Document, name: str) -> bool:
    """defaults.outputs.kubernetes asks for a Secret, and the identity says nothing of it
    (resolve.py then leaves a CA without one)."""
    default = ((doc.data.get("defaults") or {}).get("outputs") or {}).get("kubernetes")
    own = doc.data["identities"][name].get("outputs") or {}
    return isinstance(default, dict) and "kubernetes" not in own


def _first_written(doc: Document, *paths: JsonPath) -> JsonPath:
    return next((p for p in paths if doc.written(p)), paths[-1])


def _legacy_paths(doc: Document, spec: ResolvedSpec) -> Iterator[JsonPath]:
    """Every `legacy: true` written under an outputs mapping, in defaults or on an identity."""
    places: list[tuple[JsonPath, object]] = [
        (("defaults", "outputs"), _mapping(doc.data.get("defaults")).get("outputs"))
    ]
    places += [
        (("identities", name, "outputs"), doc.data["identities"][name].get("outputs"))
        for name in spec.identities
    ]
    for base, outputs in places:
        if not isinstance(outputs, dict):
            continue
        for field in ("pkcs12", "truststore"):
            value = outputs.get(field)
            if isinstance(value, dict) and value.get("legacy") is True:
                yield (*base, field, "legacy")


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, dict) else {}
