"""An output directory read back through its spec (`Spec.read`, the pytest fixture):
each identity's paths, PEM bytes, cryptography objects and ssl contexts."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509

from pkiform.disk.store import Store
from pkiform.errors import StoreError
from pkiform.layout import CA_FILE, CERT_FILE, CHAIN_FILE, FULLCHAIN_FILE, KEY_FILE
from pkiform.secrets.passwords import Password, guard
from pkiform.spec.model import (
    CsrKey,
    IdentityName,
    KeySource,
    Kind,
    PasswordSource,
    ResolvedSpec,
    TokenKey,
)
from pkiform.spec.token_uri import parse_token_uri
from pkiform.x509 import keys

if TYPE_CHECKING:
    import ssl


class PKI(Mapping[str, "IssuedIdentity"]):
    """An output directory, read through the spec that made it: `pki["web"].cert`."""

    def __init__(
        self,
        spec: ResolvedSpec,
        names: Sequence[str],
        root: Path,
        read_password: Callable[[PasswordSource], Password | None],
    ) -> None:
        self.root = root
        self._spec = spec
        self._names = list(names)
        self._read_password = read_password
        self._store = Store(root)

    def __getitem__(self, name: str) -> IssuedIdentity:
        ident = self._spec.identities.get(IdentityName(name))
        if ident is None:
            raise KeyError(name)
        password = None
        if ident.key_password is not None:  # key.encrypt: read the one password it names
            password = self._read_password(ident.key_password)
        return IssuedIdentity(
            name=name,
            kind=ident.kind,
            store=self._store,
            password=password,
            key_elsewhere=_where_the_key_is(ident.key_source),
        )

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"PKI({str(self.root)!r}, {len(self)} identities)"


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedIdentity:
    """One identity's files: paths, PEM bytes, cryptography objects, ssl contexts.
    Each property reads the file when asked, so it always shows what is on disk."""

    name: str
    kind: Kind
    store: Store
    password: Password | None = field(default=None, repr=False)  # of an encrypted key.pem
    # where the key is when it is in no key.pem: with a request's owner, in a token
    key_elsewhere: str | None = None

    @property
    def dir(self) -> Path:
        return self.store.root / self.name

    @property
    def key_path(self) -> Path:
        return self.dir / KEY_FILE

    @property
    def cert_path(self) -> Path:
        return self.dir / CERT_FILE

    @property
    def chain_path(self) -> Path:
        return self.dir / CHAIN_FILE

    @property
    def fullchain_path(self) -> Path:
        return self.dir / FULLCHAIN_FILE

    @property
    def ca_path(self) -> Path:
        return self.dir / CA_FILE

    @property
    def key_pem(self) -> bytes:
        return self._file(KEY_FILE)

    @property
    def cert_pem(self) -> bytes:
        return self._file(CERT_FILE)

    @property
    def chain_pem(self) -> bytes:
        return self._file(CHAIN_FILE)

    @property
    def fullchain_pem(self) -> bytes:
        return self._file(FULLCHAIN_FILE)

    @property
    def ca_pem(self) -> bytes:
        return self._file(CA_FILE)

    @property
    def key(self) -> keys.PrivateKey:
        """The private key, decrypted with the spec's password when key.pem is encrypted."""
        data, password = self.key_pem, self._password()
        try:
            return guard(
                lambda: keys.load_pem(data, password),
                path=self.key_path,
                doing=f"opening the key.pem of {self.name!r}",
                passwords=[password],
                keep=(keys.KeyLoadError,),
            )
        except keys.KeyLoadError as e:
            raise StoreError(f"{self.key_path}: {e}") from None

    @property
    def cert(self) -> x509.Certificate:
        return self._certs(CERT_FILE)[0]

    @property
    def chain(self) -> list[x509.Certificate]:
        """The issuing CAs above this identity, nearest first, root excluded (and, during a
        root rotation with cross_sign, the new root's cross certificate last)."""
        return self._certs(CHAIN_FILE, empty_ok=True)

    @property
    def ca(self) -> x509.Certificate:
        """The root certificate this identity's chain ends in: its trust anchor."""
        return self._certs(CA_FILE)[0]

    def server_context(
        self, *, client_auth: bool = True, trust: IssuedIdentity | None = None
    ) -> ssl.SSLContext:
        """A TLS server context presenting this identity's full chain. With
        `client_auth`, clients must present a certificate that chains to `trust`'s
        root (this identity's own root by default)."""
        import ssl

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._load_cert_chain(context)
        if client_auth:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cafile=(trust or self).ca_path)
        return context

    def client_context(self, *, trust: IssuedIdentity | None = None) -> ssl.SSLContext:
        """A TLS client context that trusts `trust`'s root (this identity's own root by
        default) and checks host names; a leaf identity also presents its certificate."""
        import ssl

        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cafile=(trust or self).ca_path
        )
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if not self.kind.is_ca:
            self._load_cert_chain(context)
        return context

    def _load_cert_chain(self, context: ssl.SSLContext) -> None:
        if self.key_elsewhere is not None:
            self._file(KEY_FILE)  # says where its key is
        password = self._password()
        guard(
            lambda: context.load_cert_chain(self.fullchain_path, self.key_path, password),
            path=self.key_path,
            doing=f"loading the key.pem of {self.name!r} into an ssl context",
            passwords=[password],
            keep=(OSError,),  # ssl.SSLError: a wrong password, a missing file
        )

    def _password(self) -> bytes | None:
        return self.password.reveal() if self.password is not None else None

    def _file(self, filename: str) -> bytes:
        if filename == KEY_FILE and self.key_elsewhere is not None:
            raise StoreError(
                f"{self.name}: its key is {self.key_elsewhere}, never in {self.store.root}"
            )
        data = self.store.read(self.name, filename)
        if data is None:
            raise StoreError(f"{self.dir / filename}: missing (run pkiform apply first)")
        return data

    def _certs(self, filename: str, *, empty_ok: bool = False) -> list[x509.Certificate]:
        data = self._file(filename)
        if empty_ok and not data:
            return []  # a root's chain.pem
        try:
            return x509.load_pem_x509_certificates(data)
        except ValueError:
            raise StoreError(f"{self.dir / filename}: not a PEM certificate file") from None


def _where_the_key_is(source: KeySource | None) -> str | None:
    """For messages: where a key kept in no key.pem is."""
    if isinstance(source, CsrKey):
        return f"with the owner of the request {source.path}"
    if isinstance(source, TokenKey):
        return f"in the token {parse_token_uri(source.uri).canonical}"
    return None
