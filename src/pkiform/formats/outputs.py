"""The files made from an identity's certificate and key: the PEM files every identity
has, and the outputs it may ask for (DER, PKCS#12, truststore, Kubernetes Secret).

Pure: the planner asks which are out of date and why, execute asks for their bytes,
and both go through `stale()`, so apply rewrites exactly what plan said it would.
PKCS#12 files are judged by what they hold, not by their bytes: their salts are
random, so a file with the right contents is kept as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pkiform.formats import git_files, kubernetes, pkcs12
from pkiform.formats.pem import derived_files
from pkiform.layout import (
    BUNDLE,
    CA_FILE,
    CERT_DER,
    COMBINED,
    FULLCHAIN_FILE,
    KEY_DER,
    KEY_FILE,
    SECRET,
    TRUSTSTORE,
)
from pkiform.secrets.passwords import Passwords
from pkiform.spec.model import Identity, Pkcs12Output, serial_text
from pkiform.x509.keys import PrivateKey, PublicKey, pem_to_der


class Found(Protocol):
    """What the outputs are judged against: an identity's folder as found (disk.observe's
    ObservedIdentity is one)."""

    @property
    def files(self) -> Mapping[str, bytes]: ...  # every file read, by name

    @property
    def p12(self) -> Mapping[str, pkcs12.Contents | None]: ...  # opened PKCS#12 files

    @property
    def public_key(self) -> PublicKey | None: ...  # of key.pem, when it is usable

    @property
    def key_encrypted(self) -> bool: ...  # key.pem is encrypted PKCS#8


@dataclass(frozen=True, slots=True, kw_only=True)
class Material:
    """What an identity's files are made of, as they stand after this apply."""

    cert: x509.Certificate
    issuers: Sequence[x509.Certificate]  # nearest first, root last; empty for a root
    anchor: str  # the name of the root identity of its chain
    key_pem: bytes | None  # key.pem as it is, or will be, on disk
    # a root rotation (spec/rotation.py): the cross certificate that ends its chain, and
    # the other root its trust files hold beside its own, by name
    cross: x509.Certificate | None = None
    partners: tuple[tuple[str, x509.Certificate], ...] = ()

    @property
    def root(self) -> x509.Certificate:
        return self.issuers[-1] if self.issuers else self.cert

    def pem_files(self) -> dict[str, bytes]:
        """cert.pem, chain.pem, fullchain.pem and ca.pem made of this material."""
        partners = [cert for _, cert in self.partners]
        return derived_files(self.cert, self.issuers, cross=self.cross, partners=partners)

    def anchors(self) -> list[tuple[str, x509.Certificate]]:
        """The roots its relying parties trust, by name: its own, then its partner's."""
        return [(self.anchor, self.root), *self.partners]

    def bundle_chain(self) -> list[x509.Certificate]:
        """The issuers a PKCS#12 bundle holds after the certificate: its chain, the cross
        certificate last among them, then the root (what a server presents, and its anchor)."""
        if self.cross is None:
            return list(self.issuers)
        return [*self.issuers[:-1], self.cross, *self.issuers[-1:]]


def manifest_files(ident: Identity) -> dict[str, str]:
    """The outputs an identity asks for, by the name manifest.json gives each."""
    wanted = {
        "cert_der": CERT_DER if ident.outputs.der else None,
        "key_der": KEY_DER if ident.outputs.der else None,
        "pkcs12": BUNDLE if ident.outputs.pkcs12 else None,
        "truststore": TRUSTSTORE if ident.outputs.truststore else None,
        "kubernetes": SECRET if ident.outputs.kubernetes else None,
        "combined": COMBINED if ident.outputs.combined else None,
    }
    return {label: filename for label, filename in wanted.items() if filename}


def needs_encryption(ident: Identity, obs: Found) -> bool:
    """key.pem is a plain key the spec now wants encrypted: rewritten, same key."""
    return (
        ident.key_password is not None
        and obs.public_key is not None
        and KEY_FILE in obs.files
        and not obs.key_encrypted
    )


# what apply puts in place of each plain copy of a key that key.encrypt protects
_REPLACED_BY = {
    KEY_DER: "rewritten encrypted, {}",
    SECRET: "a Secret cannot hold it encrypted, so a note replaces it",
    COMBINED: "the servers that read it cannot open it encrypted, so a note replaces it",
}


def plain_copies(ident: Identity, files: Mapping[str, bytes]) -> tuple[str, ...]:
    """The files that hold a private key unencrypted beside a key.pem that key.encrypt
    protects: each would defeat the password, whether or not the spec still asks for it.
    key.der unless it is encrypted PKCS#8; secret.yaml unless it is the note that replaced
    one (no Secret is written for an encrypted key, so any other is a leftover holding it)."""
    if ident.key_password is None:
        return ()
    found = []
    der = files.get(KEY_DER)
    if der is not None and not _encrypted_pkcs8(der):
        found.append(KEY_DER)
    secret = files.get(SECRET)
    if secret is not None and secret != kubernetes.withdrawn(ident.name):
        found.append(SECRET)
    combined = files.get(COMBINED)
    if combined is not None and combined != _COMBINED_WITHDRAWN:
        found.append(COMBINED)
    return tuple(found)


def plain_copy_repairs(ident: Identity, files: Mapping[str, bytes], *, new_key: bool) -> list[str]:
    """What plan says about each plain copy: what it is and what apply does with it. A copy
    of the key that stays is not archived; one of a key that a new one replaces goes to
    the archive as it was, with that key's key.pem (no key that ever existed is lost)."""
    how = "with the new key" if new_key else "as key.pem"
    fate = "the old one is archived with key.pem" if new_key else "the plain copy is not archived"
    return [
        f"{f} holds a private key unencrypted; {_REPLACED_BY[f].format(how)} ({fate})"
        for f in plain_copies(ident, files)
    ]


def plain_copy_problems(ident: Identity, files: Mapping[str, bytes]) -> list[str]:
    """What status says about each plain copy (an error until apply replaces it)."""
    return [
        f"{f} holds a private key unencrypted, and key.encrypt asks for the key encrypted "
        "(run pkiform apply)"
        for f in plain_copies(ident, files)
    ]


def plain_copy_replacements(
    ident: Identity, files: Mapping[str, bytes], key_pem: bytes | None
) -> dict[str, bytes]:
    """The bytes that replace each plain copy. `key_pem`: the encrypted key.pem as this
    apply leaves it. (Where the key stays, the caller replaces them in place: archived,
    they would keep what the password is there to protect.)"""
    out = {}
    for filename in plain_copies(ident, files):
        if filename == KEY_DER:
            assert key_pem is not None, "a missing key.pem is planned as a new key"
            out[filename] = pem_to_der(key_pem)
        elif filename == COMBINED:
            out[filename] = _COMBINED_WITHDRAWN
        else:
            out[filename] = kubernetes.withdrawn(ident.name)
    return out


# what replaces a combined.pem that held a key key.encrypt now protects: text outside any
# PEM block, which a server refuses rather than serving a stale certificate
_COMBINED_WITHDRAWN = (
    b"pkiform withdrew the combined.pem that was here: it held the private key\n"
    b"unencrypted, and key.encrypt asks for the key encrypted, which the servers that\n"
    b"read one file cannot open. key.pem keeps the key (encrypted), fullchain.pem the\n"
    b"certificates.\n"
)


def _encrypted_pkcs8(der: bytes) -> bool:
    """Whether DER is an EncryptedPrivateKeyInfo (RFC 5958 §3): its SEQUENCE opens with an
    AlgorithmIdentifier (a SEQUENCE), a PrivateKeyInfo's with its version (an INTEGER).
    Anything else, garbage included, may be a key in plain and is treated as one."""
    if len(der) < 2 or der[0] != 0x30:
        return False
    first = 2 + (der[1] & 0x7F if der[1] & 0x80 else 0)
    return len(der) > first and der[first] == 0x30


def fixed(ident: Identity, m: Material) -> dict[str, bytes]:
    """The outputs whose bytes follow from their contents alone (DER, Secret, one PEM)."""
    files = {}
    if ident.outputs.combined and m.key_pem is not None:
        # key first, then the certificate and the issuers above it: HAProxy's crt file
        files[COMBINED] = m.key_pem + derived_files(m.cert, m.issuers)[FULLCHAIN_FILE]
    if ident.outputs.der:
        files[CERT_DER] = m.cert.public_bytes(serialization.Encoding.DER)
        if m.key_pem is not None:
            files[KEY_DER] = pem_to_der(m.key_pem)
    secret = ident.outputs.kubernetes
    if secret is not None and m.key_pem is not None:
        pem = m.pem_files()
        files[SECRET] = kubernetes.secret(
            name=secret.name,
            namespace=secret.namespace,
            identity=ident.name,
            serial=serial_text(m.cert.serial_number),
            not_after=m.cert.not_valid_after_utc,
            fullchain_pem=pem[FULLCHAIN_FILE],
            key_pem=m.key_pem,
            ca_pem=pem[CA_FILE],
        )
    return files


def _password_protected(
    ident: Identity, m: Material
) -> dict[str, tuple[Pkcs12Output, pkcs12.Contents]]:
    """The PKCS#12 outputs asked for, with what each must hold."""
    out = {}
    bundle, store = ident.outputs.pkcs12, ident.outputs.truststore
    if bundle is not None:
        out[BUNDLE] = (
            bundle,
            pkcs12.expected_bundle(ident.name, m.cert, m.bundle_chain(), legacy=bundle.legacy),
        )
    if store is not None:
        out[TRUSTSTORE] = (
            store,
            pkcs12.expected_truststore(m.anchors(), legacy=store.legacy),
        )
    return out


def file_problems(wanted: Mapping[str, bytes], files: Mapping[str, bytes]) -> dict[str, str]:
    """Each file of `wanted` whose bytes on disk (`files`) differ, with why."""
    out = {}
    for filename, data in wanted.items():
        have = files.get(filename)
        if have is None:
            out[filename] = f"{filename} is missing"
        elif git_files.crlf_only(have, data):
            out[filename] = f"{filename} {git_files.CRLF_REASON}"
        elif have != data:
            out[filename] = f"{filename} is out of date"
    return out


def stale(ident: Identity, obs: Found, m: Material) -> dict[str, str]:
    """Every output that does not hold what it should, with why; empty when all do. A plain
    copy of the key is left out: plain_copy_repairs and plain_copy_problems say more."""
    problems = file_problems(fixed(ident, m), obs.files) | stale_protected(ident, obs, m)
    for filename in plain_copies(ident, obs.files):
        problems.pop(filename, None)
    return problems


def stale_protected(ident: Identity, obs: Found, m: Material) -> dict[str, str]:
    """The PKCS#12 outputs that do not hold what they should, with why: the only ones
    apply must be told to rewrite (the others it compares byte for byte)."""
    out = {}
    for filename, (output, expected) in _password_protected(ident, m).items():
        if filename not in obs.files:
            out[filename] = f"{filename} is missing"
        elif filename not in obs.p12:
            out[filename] = f"{filename} is not checked without {output.password}"
        elif (opened := obs.p12[filename]) is None:
            out[filename] = (
                f"{filename} does not open with {output.password} "
                "(a new password, or a damaged file)"
            )
        elif opened != expected:
            out[filename] = f"{filename} {_difference(opened, expected)}"
    return out


def _difference(have: pkcs12.Contents, want: pkcs12.Contents) -> str:
    if have.key != want.key:
        return "holds another key" if have.key else "holds no key"
    if [der for der, _ in have.certs] != [der for der, _ in want.certs]:
        return "holds other certificates"
    if have.certs != want.certs:
        names = ", ".join((n or b"none").decode(errors="replace") for _, n in have.certs)
        return f"has other friendly names ({names})"
    return f"encryption: {have.encryption or 'another scheme'} -> {want.encryption}"


def build(
    ident: Identity,
    m: Material,
    rewrite: Sequence[str],
    passwords: Passwords,
    key: Callable[[], PrivateKey],
) -> dict[str, bytes]:
    """The bytes of every output asked for: the fixed ones always (the caller writes those
    that differ), the PKCS#12 ones only when named in `rewrite`. `key` is called only when a
    bundle needs the private key."""
    files = fixed(ident, m)
    for filename, (output, _) in _password_protected(ident, m).items():
        if filename not in rewrite:
            continue
        password = passwords.get(output.password)
        assert password is not None, "plan and apply check for missing passwords first"
        if filename == BUNDLE:
            files[filename] = pkcs12.bundle(
                ident.name, key(), m.cert, m.bundle_chain(), password.reveal(), legacy=output.legacy
            )
        else:
            files[filename] = pkcs12.truststore(
                m.anchors(), password.reveal(), legacy=output.legacy
            )
    return files
