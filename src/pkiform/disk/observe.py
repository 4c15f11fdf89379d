"""Facts about what is on disk: parsed certificates and keys, and whether they belong together."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from cryptography import x509
from cryptography.x509 import ocsp

from pkiform.disk.store import Store
from pkiform.errors import StoreError
from pkiform.formats import pkcs12
from pkiform.layout import (
    BUNDLE,
    CERT_FILE,
    CRL_PEM,
    GIT_FILES,
    KEY_FILE,
    OCSP_DER,
    TRUST_BUNDLE,
    TRUSTSTORE,
)
from pkiform.secrets.passwords import IdentityPasswords, guard
from pkiform.spec.model import IdentityName
from pkiform.x509.keys import (
    KeyLoadError,
    KeyLocked,
    KeyRefused,
    PrivateKey,
    PublicKey,
    is_encrypted,
    load_pem,
    spki_der,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ObservedIdentity:
    """One identity's folder as found: every field is a fact, none a decision."""

    name: IdentityName
    files: Mapping[str, bytes] = field(default_factory=dict)
    cert: x509.Certificate | None = None
    cert_problem: str | None = None  # present but unusable
    public_key: PublicKey | None = None  # of key.pem, when it is a usable key
    # the private key itself only where it will sign (CAs): a large PKI is never held
    # in memory key by key; execute reloads a leaf's key when it reissues it
    key: PrivateKey | None = None
    key_problem: str | None = None
    key_matches_cert: bool = False
    key_encrypted: bool = False  # key.pem is encrypted PKCS#8
    key_locked: bool = False  # ... and was not opened: no password, or not this one
    key_refused: bool = False  # ... because the password given does not open it
    # bundle.p12 and truststore.p12, opened with their passwords: what they hold, or
    # None when the password does not open them (absent: not there, or no password)
    p12: Mapping[str, pkcs12.Contents | None] = field(default_factory=dict)
    interrupted: bool = False  # an apply stopped half-way through replacing its files
    # a cache (cache/seals.py) vouches that its spec, files and issuers are as an apply
    # that found them consistent left them: what it checked then is not checked again
    vouched: bool = False
    crl: x509.CertificateRevocationList | None = None
    ocsp_response: ocsp.OCSPResponse | None = None
    archived_certs: tuple[x509.Certificate, ...] = ()  # read only where a CA needs them
    # where key.pem and cert.pem do not match, what else on disk knows key.pem's key:
    key_holders: tuple[IdentityName, ...] = ()  # identities whose cert.pem is for this key
    key_issued: tuple[IdentityName, ...] = ()  # identities whose cert.pem it signed (by AKI)
    # a key pkiform does not keep in key.pem: where it is (e.g. "the token pkcs11:...");
    # public_key, key and key_problem then speak of it
    key_elsewhere: str | None = None
    key_pending: str | None = None  # what apply finishes there first (a crashed change)
    # where it is says this key replaced the one cert.pem holds, in a run that stopped
    # before it reissued the certificates: cert.pem is what must change, not the key
    key_replaced_cert: bool = False

    @property
    def has_cert_file(self) -> bool:
        return CERT_FILE in self.files

    @property
    def has_key_file(self) -> bool:
        return KEY_FILE in self.files

    @property
    def has_key(self) -> bool:
        """Whether there is a key to keep: key.pem, or the key where it lives instead."""
        if self.key_elsewhere is not None:
            return self.public_key is not None
        return self.has_key_file


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyElsewhere:
    """What was found of a private key that pkiform does not keep in key.pem (a key in a
    PKCS#11 token; the key behind a certificate request)."""

    where: str  # for messages: "the token pkcs11:token=pki;object=root-ca"
    public_key: PublicKey | None  # None: there is no such key (yet)
    private_key: PrivateKey | None = None  # what signs with it, where pkiform can
    pending: str | None = None  # a crashed change there that apply finishes first
    replaced_cert: bool = False  # it replaced the key cert.pem holds (see ObservedIdentity)
    unchecked: bool = False  # not looked at (status without the token's PIN)


@dataclass(frozen=True, slots=True, kw_only=True)
class Observed:
    identities: Mapping[IdentityName, ObservedIdentity]
    on_disk_only: tuple[str, ...] = ()  # folders with identity files that the spec does not name
    manifest: bytes | None = None
    trust_bundle: bytes | None = None
    # the readable cert.pem of each of those folders: a root the spec retired is one
    # (plan/rotation.py holds back a retirement that would strand what chains to it)
    on_disk_only_certs: Mapping[str, x509.Certificate] = field(default_factory=dict)
    git_files: Mapping[str, bytes | None] = field(default_factory=dict)  # .gitattributes...
    # files holding a private key that others than their owner may read (a git checkout
    # leaves them 0644): (path below the directory, mode)
    loose: tuple[tuple[str, int], ...] = ()


# given the manifest and every identity's files: the identities a cache vouches for
Vouch = Callable[
    [bytes | None, Mapping[IdentityName, Mapping[str, bytes]]], Collection[IdentityName]
]


def observe_one(
    store: Store,
    name: IdentityName,
    *,
    archive: bool = False,
    keep_key: bool = False,
    passwords: IdentityPasswords | None = None,
    read: tuple[dict[str, bytes], bool],
    vouched: bool = False,
    elsewhere: KeyElsewhere | None = None,
) -> ObservedIdentity:
    """Read and parse one identity's files (and the certificates it archived, if asked),
    opening the encrypted ones whose passwords are given.

    A folder that cannot be read (a link, no permission) raises StoreError: planning
    around it would treat its files as missing and replace them, a CA key included."""
    passwords = passwords or IdentityPasswords()
    files, interrupted = read
    cert, cert_problem = _parse_cert(files.get(CERT_FILE))
    key_data = files.get(KEY_FILE)
    key_password = passwords.key.reveal() if passwords.key else None
    key_path = store.root / name / KEY_FILE
    key: PrivateKey | None
    public_key: PublicKey | None
    if elsewhere is not None:
        key, public_key = elsewhere.private_key, elsewhere.public_key
        locked = elsewhere.unchecked  # like an encrypted key.pem left shut
        key_problem = (
            None if public_key is not None or locked else f"{elsewhere.where} holds no key"
        )
    elif vouched and cert is not None:
        # key.pem is the key that matched cert.pem when the seal was made: only a CA's,
        # which signs, is loaded
        key = _parse_key(key_data, key_password, key_path)[0] if keep_key else None
        key_problem, locked, public_key = None, False, cert.public_key()
    else:
        key, key_problem, locked = _parse_key(key_data, key_password, key_path)
        public_key = key.public_key() if key is not None else None
    # vouched: the seal says they matched (and the key is not even parsed)
    matches = (vouched and elsewhere is None and cert is not None) or (
        cert is not None
        and public_key is not None
        and spki_der(public_key) == spki_der(cert.public_key())
    )
    return ObservedIdentity(
        name=name,
        files=files,
        cert=cert,
        cert_problem=cert_problem,
        public_key=public_key,
        key=key if keep_key else None,
        key_problem=key_problem,
        key_matches_cert=matches,
        key_encrypted=key_data is not None and is_encrypted(key_data),
        key_locked=locked,
        key_refused=locked and key_password is not None,
        p12=_open_p12(files, passwords, store.root / name),
        interrupted=interrupted,
        vouched=vouched and cert is not None,
        crl=_parse_crl(files.get(CRL_PEM)),
        ocsp_response=_parse_ocsp(files.get(OCSP_DER)),
        archived_certs=tuple(_archived(store, name)) if archive else (),
        key_elsewhere=elsewhere.where if elsewhere is not None else None,
        key_pending=elsewhere.pending if elsewhere is not None else None,
        key_replaced_cert=elsewhere is not None and elsewhere.replaced_cert,
    )


def observe(
    store: Store,
    names: Iterable[IdentityName],
    *,
    with_archive: Collection[IdentityName] = (),
    keep_keys: Collection[IdentityName] = (),
    passwords: Mapping[IdentityName, IdentityPasswords] | None = None,
    vouch: Vouch | None = None,
    elsewhere: Mapping[IdentityName, KeyElsewhere] | None = None,
) -> Observed:
    """Facts for every named identity, and the identity folders the spec does not name.
    Private keys are kept only for `keep_keys` (the CAs, which sign); encrypted files are
    opened with `passwords` where given; with `vouch`, what a cache vouches for is
    not parsed and compared again; `elsewhere` says what was found of the keys pkiform
    does not keep in key.pem."""
    passwords, elsewhere = passwords or {}, elsewhere or {}
    manifest = store.read_manifest()
    reads = {name: store.read_identity(name) for name in names}
    vouched = (
        vouch(manifest, {n: files for n, (files, stopped) in reads.items() if not stopped})
        if vouch is not None
        else {}
    )
    identities = {
        name: observe_one(
            store,
            name,
            archive=name in with_archive,
            keep_key=name in keep_keys,
            passwords=passwords.get(name),
            read=read,
            vouched=name in vouched and name not in elsewhere,
            elsewhere=elsewhere.get(name),
        )
        for name, read in reads.items()
    }
    identities = _with_key_witnesses(identities)
    others = tuple(store.names_on_disk(skip=identities))
    return Observed(
        identities=identities,
        on_disk_only=others,
        manifest=manifest,
        trust_bundle=store.read_top(TRUST_BUNDLE),
        on_disk_only_certs=_certs_of(store, others),
        git_files={f: store.read_top(f) for f in GIT_FILES},
        loose=tuple(store.loose()),
    )


def _certs_of(store: Store, names: Iterable[str]) -> dict[str, x509.Certificate]:
    """The cert.pem of each folder named, where it is a readable certificate (a folder the
    spec no longer names is no business of the plan's otherwise: a link there is left
    unread, not an error)."""
    found = {}
    for name in names:
        try:
            cert, _ = _parse_cert(store.read(name, CERT_FILE))
        except StoreError:
            continue
        if cert is not None:
            found[name] = cert
    return found


def _with_key_witnesses(
    identities: dict[IdentityName, ObservedIdentity],
) -> dict[IdentityName, ObservedIdentity]:
    """For each identity whose key.pem and cert.pem disagree, the others that say which
    of the two was replaced: certificates for key.pem's key (it is someone else's key),
    and certificates signed by it (it is the key this CA has been issuing with). Only
    tampered directories pay for this."""
    mismatched = [
        o
        for o in identities.values()
        if o.public_key is not None and o.cert is not None and not o.key_matches_cert
    ]
    if not mismatched:
        return identities
    holders: dict[bytes, list[IdentityName]] = {}
    issued: dict[bytes, list[IdentityName]] = {}
    for obs in identities.values():
        if obs.cert is None:
            continue
        holders.setdefault(spki_der(obs.cert.public_key()), []).append(obs.name)
        try:
            aki = obs.cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
        except (x509.ExtensionNotFound, ValueError):
            continue
        if aki.value.key_identifier is not None:
            issued.setdefault(aki.value.key_identifier, []).append(obs.name)
    found = dict(identities)
    for obs in mismatched:
        assert obs.public_key is not None
        public = obs.public_key
        key_id = x509.SubjectKeyIdentifier.from_public_key(public).digest
        found[obs.name] = replace(
            obs,
            key_holders=tuple(n for n in holders.get(spki_der(public), ()) if n != obs.name),
            key_issued=tuple(n for n in issued.get(key_id, ()) if n != obs.name),
        )
    return found


def _parse_cert(data: bytes | None) -> tuple[x509.Certificate | None, str | None]:
    if data is None:
        return None, None
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        return None, "cert.pem is not a readable PEM certificate"
    if len(certs) != 1:
        return None, f"cert.pem holds {len(certs)} certificates, expected 1"
    return certs[0], None


def _parse_crl(data: bytes | None) -> x509.CertificateRevocationList | None:
    if data is None:
        return None
    try:
        return x509.load_pem_x509_crl(data)
    except ValueError:
        return None  # unreadable: planned like a missing one


def _parse_ocsp(data: bytes | None) -> ocsp.OCSPResponse | None:
    if data is None:
        return None
    try:
        response = ocsp.load_der_ocsp_response(data)
    except ValueError:
        return None
    return response if response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL else None


def _archived(store: Store, name: IdentityName) -> list[x509.Certificate]:
    certs = []
    for data in store.archived_certs(name):
        cert, _ = _parse_cert(data)
        if cert is not None:
            certs.append(cert)
    return certs


def _parse_key(
    data: bytes | None, password: bytes | None, path: Path
) -> tuple[PrivateKey | None, str | None, bool]:
    """The key, or why it is unusable, and whether it is encrypted and stayed shut. A
    library failure is an error, never a reason to replace the key."""
    if data is None:
        return None, None, False
    try:
        key = guard(
            lambda: load_pem(data, password),
            path=path,
            doing=f"opening the key.pem of {path.parent.name!r}",
            passwords=[password],
            keep=(KeyLoadError,),
        )
        return key, None, False
    except (KeyLocked, KeyRefused) as e:
        return None, str(e), True
    except KeyLoadError as e:
        return None, str(e), False


def _open_p12(
    files: Mapping[str, bytes], passwords: IdentityPasswords, folder: Path
) -> dict[str, pkcs12.Contents | None]:
    opened: dict[str, pkcs12.Contents | None] = {}
    for filename, password in ((BUNDLE, passwords.pkcs12), (TRUSTSTORE, passwords.truststore)):
        data = files.get(filename)
        if data is None or password is None:
            continue
        secret = password.reveal()
        try:
            opened[filename] = guard(
                lambda: pkcs12.read(data, secret),  # noqa: B023 - called at once
                path=folder / filename,
                doing=f"opening the {filename} of {folder.name!r}",
                passwords=[secret],
                keep=(ValueError,),
            )
        except ValueError:  # a wrong password, or not a PKCS#12 file: rewritten either way
            opened[filename] = None
    return opened
