"""Rules for keys pkiform does not make: a certificate request to sign (`csr`), whose key
stays with its owner, and an existing CA to take over (`adopt`). What the files hold is
checked where they are read (x509/inputs.py); this is what the spec alone can say."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from pkiform.spec.model import CsrKey, Identity, Kind, ResolvedSpec
from pkiform.spec.source import JsonPath

_NO_KEY = "pkiform holds no key for an identity signed from a certificate request"
# the outputs that carry the private key, and what each puts it into
_KEYED_OUTPUTS = (
    ("pkcs12", "puts the private key into bundle.p12"),
    ("der", "writes the private key as key.der"),
    ("kubernetes", "puts the private key into the Secret (tls.key)"),
    ("combined", "puts the private key into combined.pem"),
)


def names_files(spec: ResolvedSpec) -> bool:
    """Whether the spec names a certificate request or a CA to adopt: files to read."""
    return any(
        isinstance(i.key_source, CsrKey) or i.adopt is not None for i in spec.identities.values()
    )


def problems(ident: Identity, fields: Mapping[str, object]) -> Iterator[tuple[JsonPath, str]]:
    """(path below the identity, message) for each way its csr or adopt cannot work."""
    if "csr" in fields:
        yield from _request_problems(ident, fields)
    if "adopt" in fields:
        yield from _adopt_problems(ident, fields)


def _request_problems(
    ident: Identity, fields: Mapping[str, object]
) -> Iterator[tuple[JsonPath, str]]:
    if ident.kind is Kind.ROOT:
        yield (
            ("csr",),
            "a root signs itself, so it has no request to sign; to take over an existing "
            "root, use adopt: {cert: PATH, key: PATH}",
        )
    if "adopt" in fields:
        yield (
            ("csr",),
            "give csr or adopt, not both: csr signs a request whose key stays with its "
            "owner, adopt takes over a CA's certificate and key",
        )
    key = fields.get("key")
    own_key = key if isinstance(key, dict) else {}
    if "pkcs11" in own_key and ident.kind.is_ca:
        yield ("key", "pkcs11"), "give csr or key.pkcs11, not both: the request names the key"
    # from defaults they do not reach it (x509/inputs.py): there is no key.pem to protect
    if "encrypt" in own_key:
        yield (
            ("key", "encrypt"),
            "key.encrypt encrypts key.pem, and an identity signed from a certificate request "
            "has none: its key stays on the host that made the request",
        )
    if fields.get("rotate_key") is True:
        yield (
            ("rotate_key",),
            "rotate_key asks pkiform for a fresh key at every reissue, but the key of an "
            "identity signed from a request is its owner's: make a new request on that host "
            "instead",
        )
    own_outputs = fields.get("outputs")
    own = own_outputs if isinstance(own_outputs, dict) else {}
    asked = {
        "pkcs12": ident.outputs.pkcs12 is not None,
        "der": ident.outputs.der,
        "kubernetes": ident.outputs.kubernetes is not None,
        "combined": ident.outputs.combined,
    }
    for output, what in _KEYED_OUTPUTS:
        if asked[output]:
            where: JsonPath = ("outputs", output) if output in own else ("csr",)
            yield (
                where,
                f"outputs.{output}{_inherited(where, 'outputs')} {what}, and {_NO_KEY}; "
                f"turn it off (outputs: {{{output}: false}}); truststore.p12 needs no key",
            )


def _inherited(where: JsonPath, field: str) -> str:
    """` (from defaults.FIELD)` where a problem is located at csr because it comes from
    defaults, not from anything the identity writes."""
    return f" (from defaults.{field})" if where == ("csr",) else ""


def _adopt_problems(
    ident: Identity, fields: Mapping[str, object]
) -> Iterator[tuple[JsonPath, str]]:
    if not ident.kind.is_ca:
        yield (
            ("adopt",),
            f"adopt takes over a CA (a root or an intermediate); a {ident.kind}'s key stays "
            "on its host: sign its request with csr: PATH instead",
        )
    key = fields.get("key")
    if isinstance(key, dict) and "pkcs11" in key:
        yield (
            ("key", "pkcs11"),
            "an adopted CA's key is taken from adopt.key into key.pem; it cannot live in a "
            "token as well",
        )
    if fields.get("rotate_key") is True:  # defaults.rotate_key does not reach it
        yield (
            ("rotate_key",),
            "rotate_key would replace the adopted key at every reissue; an adopted CA keeps "
            "its key (apply --renew NAME re-signs its certificate)",
        )
    adopt = fields["adopt"]
    if not isinstance(adopt, dict) or "chain" not in adopt:
        return
    if ident.kind is Kind.ROOT:
        yield ("adopt", "chain"), "a root is self-signed: no certificate is above it"
    elif "issuer" in fields:
        yield (
            ("adopt", "chain"),
            "give issuer (a CA of the spec signed it) or adopt.chain (its issuer lives "
            "elsewhere), not both",
        )
    if "revoked" in fields and ident.kind is not Kind.ROOT:
        yield (
            ("revoked",),
            "its issuer lives elsewhere (adopt.chain): revoke it there; pkiform signs no CRL "
            "that could list it",
        )


def issued_elsewhere(fields: Mapping[str, object]) -> bool:
    """An adopted intermediate whose issuer is not in the spec (adopt.chain): it needs no
    `issuer`."""
    adopt = fields.get("adopt")
    return isinstance(adopt, dict) and "chain" in adopt


def issuer_problem(issuer: Identity) -> str | None:
    """Why a CA of the spec cannot sign what names it as issuer, for a CA signed from a
    certificate request (its key stays with its owner), or None."""
    # a root with csr is an error of its own, not of what it issues
    if isinstance(issuer.key_source, CsrKey) and issuer.kind is Kind.INTERMEDIATE:
        return (
            f"{issuer.name!r} is signed from a certificate request: its key stays with its "
            "owner, so pkiform cannot sign with it; issue from a CA whose key pkiform holds "
            "(or adopt this one with adopt: {cert, key})"
        )
    return None
