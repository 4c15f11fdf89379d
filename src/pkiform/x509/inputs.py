"""The files a spec names for pkiform to read besides passwords: certificate requests
(`csr`) and the CA files to adopt (`adopt`). Read with the rules of password files
(secrets/read.py: inside the spec's folder or an allowed one, regular files of bounded
size), parsed and checked here, each problem located in the spec; the spec comes back
completed from them (a request's key type, an adopted certificate's fields).

spec/load.py calls a Reader while it validates, before the rules run, so the rules see
the completed spec; what the run needs later (the requests' keys, the files to adopt)
comes back as Inputs, which the ValidSpec carries."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from pkiform.errors import Diagnostic, Severity
from pkiform.secrets.read import Refused
from pkiform.spec.model import CsrKey, Identity, IdentityName, ResolvedSpec
from pkiform.spec.source import Document, JsonPath, dotted
from pkiform.x509 import adopted as adopting
from pkiform.x509 import adopted_fields, requests
from pkiform.x509.adoption import Adoption, FileAccess, Reporter, read_adoption
from pkiform.x509.keys import PublicKey, spec_of


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """A certificate request a spec's csr names, read and checked."""

    path: str  # as the spec writes it
    csr: x509.CertificateSigningRequest

    @property
    def where(self) -> str:
        """How messages name where the key lives: `the request web.csr`."""
        return f"the request {self.path}"

    @property
    def public_key(self) -> PublicKey:
        return requests.public_key(self.csr)

    @property
    def pem(self) -> bytes:
        return requests.request_pem(self.csr)


@dataclass(frozen=True, slots=True, kw_only=True)
class Inputs:
    """Everything a run needs of the files a spec names."""

    requests: Mapping[IdentityName, Request] = field(default_factory=dict)
    adoptions: Mapping[IdentityName, Adoption] = field(default_factory=dict)
    # adopted CAs whose certificate was found neither at adopt.cert nor in the output
    # directory: their spec could not be completed (validate of a CA adopted elsewhere)
    pending: frozenset[IdentityName] = frozenset()


NO_INPUTS = Inputs()


class Reader:
    """Reads and checks the files a spec names, as validation asks (spec/load.py's
    `inputs`). `base` is the spec's folder, `allow` the folders --allow-path adds;
    `on_disk` holds the cert.pem of each CA already adopted into the output directory
    (none for validate, nor for a CA that --rekey adopts again): what completes the spec,
    rather than adopt.cert, which may be gone or be other files by now."""

    def __init__(
        self,
        base: Path,
        allow: Sequence[Path] = (),
        environ: Mapping[str, str] | None = None,
        on_disk: Mapping[IdentityName, bytes] | None = None,
    ) -> None:
        self.files = FileAccess(
            base=base, allow=tuple(allow), environ=os.environ if environ is None else environ
        )
        self.on_disk = on_disk

    def __call__(
        self, spec: ResolvedSpec, doc: Document
    ) -> tuple[ResolvedSpec, list[Diagnostic], Inputs]:
        found: list[Diagnostic] = []
        identities = dict(spec.identities)
        requests_read: dict[IdentityName, Request] = {}
        adoptions: dict[IdentityName, Adoption] = {}
        pending: set[IdentityName] = set()
        for name, ident in spec.identities.items():
            report = Reporter(doc, ("identities", name), found)
            if isinstance(ident.key_source, CsrKey):
                request = self._request(ident, ident.key_source, report)
                if request is not None:
                    requests_read[name] = request
                    identities[name] = _with_request_key(ident, request, report, doc)
            if ident.adopt is not None:
                adoption = read_adoption(ident, ident.adopt, self.files, report)
                adoptions[name] = adoption
                # what was adopted is what the spec must agree with; the files adopt names
                # complete it only until then (or when --rekey adopts them again)
                cert = self._adopted_on_disk(name) or adoption.cert
                if cert is None:
                    pending.add(name)
                    continue
                identities[name], problems = adopted_fields.completed(
                    ident, cert, _written(doc, name)
                )
                for path, message in problems:
                    report(path, message)
        completed = dataclasses.replace(spec, identities=identities)
        for name, request in requests_read.items():
            self._warn_ignored(completed, name, request, doc, found)
        inputs = Inputs(requests=requests_read, adoptions=adoptions, pending=frozenset(pending))
        return completed, found, inputs

    def _request(self, ident: Identity, source: CsrKey, report: Reporter) -> Request | None:
        try:
            data = self.files.read(source.path, "a certificate request")
            csr = requests.load_request(data)
        except Refused as e:
            report(("csr",), f"{source.path} {e}")
            return None
        except OSError as e:
            report(("csr",), f"{source.path} cannot be read: {e.strerror}")
            return None
        except requests.RequestError as e:
            report(("csr",), f"{source.path} {e}")
            return None
        problem = requests.request_problem(csr)
        if problem is not None:
            report(("csr",), f"{source.path} {problem}")
            return None
        return Request(path=source.path, csr=csr)

    def _warn_ignored(
        self,
        spec: ResolvedSpec,
        name: IdentityName,
        request: Request,
        doc: Document,
        found: list[Diagnostic],
    ) -> None:
        ident = spec.identities[name]
        issuer = spec.identities.get(ident.issuer) if ident.issuer else None
        ignored = requests.ignored(request.csr, ident, issuer)
        if ignored:
            where: JsonPath = ("identities", name, "csr")
            found.append(
                Diagnostic(
                    loc=doc.loc(where),
                    path=dotted(where),
                    message=f"{request.path} asks for what the spec does not say, and the "
                    f"certificate leaves it out: {'; '.join(ignored)}",
                    severity=Severity.WARNING,
                )
            )

    def _adopted_on_disk(self, name: IdentityName) -> x509.Certificate | None:
        data = (self.on_disk or {}).get(name)
        if data is None:
            return None
        try:
            return adopting.load_certificate(data)
        except adopting.InputError:
            return None  # planning says what is wrong with it


def _with_request_key(
    ident: Identity, request: Request, report: Reporter, doc: Document
) -> Identity:
    """The identity with its key type taken from the request; a key: the spec writes for it
    must say the same."""
    have = spec_of(request.public_key)
    assert have is not None, "request_problem refuses other keys"
    field = ident.key.contradicted(
        have, lambda f: doc.written(("identities", ident.name, "key", f))
    )
    if field is not None:
        report(
            ("key", field),
            f"{request.path} holds a {have} key, not {ident.key}; the spec's key must say what "
            "the request holds, or be left out",
        )
    # defaults.key.encrypt and defaults.rotate_key do not reach it: it has no key.pem to
    # protect, and its key is its owner's to replace (written on it, they are errors)
    return dataclasses.replace(ident, key=have, key_password=None, rotate_key=False)


def _written(doc: Document, name: str) -> adopted_fields.Written:
    """Whether the spec writes a field of identity `name` itself."""

    def written(path: tuple[str, ...]) -> bool:
        return doc.written(("identities", name, *path))

    return written
