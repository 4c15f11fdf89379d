"""Reading a CA a spec adopts: its certificate, key (opened with its password) and the
chain above it, each problem located in the spec. What is missing is an error only where
an apply must adopt the files (the first time, or --rekey): once adopted, they may go."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from pkiform.errors import Diagnostic
from pkiform.secrets.passwords import PasswordError, diagnostic, guard
from pkiform.secrets.read import Refused, password_or_why, read_input
from pkiform.spec.model import AdoptSource, Identity
from pkiform.spec.source import Document, JsonPath, dotted
from pkiform.x509 import adopted as adopting
from pkiform.x509.keys import PrivateKey


@dataclass(frozen=True, slots=True, kw_only=True)
class Adoption:
    """What was read of a CA a spec adopts: each file where it could be read."""

    source: AdoptSource
    cert: x509.Certificate | None = None
    key: PrivateKey | None = None
    chain: tuple[x509.Certificate, ...] = ()
    # why the files cannot be taken now (one is missing, a key's password is not given):
    # an error only where an apply must take them (the first time, or --rekey)
    unavailable: tuple[Diagnostic, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class FileAccess:
    """Where the files a spec names are read from: relative to `base` (the spec's folder),
    inside it or a folder of `allow`; passwords from `environ` too."""

    base: Path
    allow: tuple[Path, ...]
    environ: Mapping[str, str]

    def read(self, file: str, holding: str) -> bytes:
        return read_input(file, self.base, self.allow, holding=holding)


class Reporter:
    """Errors located at fields below one identity."""

    def __init__(self, doc: Document, base: JsonPath, out: list[Diagnostic]) -> None:
        self.doc, self.base, self.out = doc, base, out

    def make(self, path: JsonPath, message: str) -> Diagnostic:
        where = (*self.base, *path)
        return Diagnostic(loc=self.doc.loc(where), path=dotted(where), message=message)

    def __call__(self, path: JsonPath, message: str) -> None:
        self.out.append(self.make(path, message))

    def extend(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.out.extend(diagnostics)


def read_adoption(
    ident: Identity, source: AdoptSource, files: FileAccess, report: Reporter
) -> Adoption:
    """What can be read of a CA to adopt; what is wrong with it reported, and what is
    missing (needed only to adopt) kept in `unavailable`."""
    unavailable: list[Diagnostic] = []
    cert = _adopted_file(files, source.cert, "cert", "a CA certificate", report, unavailable)
    parsed_cert = None
    if cert is not None:
        try:
            parsed_cert = adopting.load_certificate(cert)
        except adopting.InputError as e:
            report(("adopt", "cert"), f"{source.cert} {e}")
        else:
            problem = adopting.ca_problem(parsed_cert, ident.kind)
            if problem is not None:
                report(("adopt", "cert"), f"{source.cert} {problem}")
                parsed_cert = None
    key = _adopted_key(files, ident, source, report, unavailable)
    if key is not None and parsed_cert is not None and not adopting.key_matches(key, parsed_cert):
        report(
            ("adopt", "key"),
            f"{source.key} is not the key of {source.cert}: their public keys differ",
        )
        key = None
    chain: tuple[x509.Certificate, ...] = ()
    if source.chain is not None:
        chain = _adopted_chain(files, source, parsed_cert, report, unavailable)
    return Adoption(
        source=source,
        cert=parsed_cert,
        key=key,
        chain=chain,
        unavailable=tuple(unavailable),
    )


def _adopted_file(
    files: FileAccess,
    file: str,
    field_name: str,
    holding: str,
    report: Reporter,
    unavailable: list[Diagnostic],
) -> bytes | None:
    try:
        return files.read(file, holding)
    except Refused as e:
        report(("adopt", field_name), f"{file} {e}")
    except FileNotFoundError as e:
        # gone once adopted is fine; needed only to adopt
        unavailable.append(
            report.make(
                ("adopt", field_name),
                f"{file} cannot be read: {e.strerror}; it is needed to adopt the CA",
            )
        )
    except OSError as e:
        report(("adopt", field_name), f"{file} cannot be read: {e.strerror}")
    return None


def _adopted_key(
    files: FileAccess,
    ident: Identity,
    source: AdoptSource,
    report: Reporter,
    unavailable: list[Diagnostic],
) -> PrivateKey | None:
    data = _adopted_file(files, source.key, "key", "a private key", report, unavailable)
    if data is None:
        return None
    password = None
    if adopting.is_encrypted_key(data):
        if source.password is None:
            report(
                ("adopt", "key"),
                f"{source.key} is encrypted; give its password with adopt.password_env "
                "or adopt.password_file",
            )
            return None
        try:
            found, why = password_or_why(
                source.password, files.base, files.environ, allow=files.allow
            )
        except PasswordError as e:
            report.extend(e.diagnostics)
            return None
        if found is None:
            need = f"{why}; needed to open adopt.key {source.key} of {ident.name!r}"
            unavailable.append(diagnostic(source.password, need))
            return None
        password = found.reveal()
    try:
        return guard(
            lambda: adopting.load_key(data, password),
            path=files.base / source.key,
            doing=f"opening the adopt.key of {ident.name!r}",
            passwords=[password],
            keep=(adopting.InputError,),
        )
    except adopting.WrongPassword:
        assert source.password is not None
        report.extend(
            [diagnostic(source.password, f"{source.key} does not open with {source.password}")]
        )
        return None
    except adopting.InputError as e:
        report(("adopt", "key"), f"{source.key} {e}")
        return None


def _adopted_chain(
    files: FileAccess,
    source: AdoptSource,
    cert: x509.Certificate | None,
    report: Reporter,
    unavailable: list[Diagnostic],
) -> tuple[x509.Certificate, ...]:
    assert source.chain is not None
    data = _adopted_file(files, source.chain, "chain", "certificates", report, unavailable)
    if data is None:
        return ()
    try:
        chain = adopting.load_chain(data)
    except adopting.InputError as e:
        report(("adopt", "chain"), f"{source.chain} {e}")
        return ()
    if cert is not None:
        problem = adopting.chain_problem(cert, chain)
        if problem is not None:
            report(("adopt", "chain"), f"{source.chain} {problem}")
            return ()
    return tuple(chain)
