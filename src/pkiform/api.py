"""The Python API: load a spec, plan, apply, and read back what was issued.

    import pkiform

    spec = pkiform.load("pki.yaml")          # or pkiform.loads(text), pkiform.from_dict(data)
    print(spec.plan("pki").changes)          # typed actions, each with its reasons
    pki = spec.apply("pki").pki
    context = pki["web"].server_context()    # a ready ssl.SSLContext

Every problem with a spec is raised as one `SpecError` carrying all of them; every
other failure is a `PkiformError`. The command line is a thin layer over this module.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from cryptography import x509

from pkiform import render
from pkiform.apply import run as execute
from pkiform.cache import seals
from pkiform.disk import manifest
from pkiform.disk.observe import KeyElsewhere, Observed, observe
from pkiform.disk.public import check as check_public
from pkiform.disk.store import Store
from pkiform.errors import Diagnostic, Location, PkiformError, SpecError, StoreError
from pkiform.formats.kubernetes import identity_of
from pkiform.formats.seed_id import seed_id_of
from pkiform.issued import PKI as PKI  # re-exported
from pkiform.issued import IssuedIdentity as IssuedIdentity  # re-exported
from pkiform.layout import CERT_FILE, KEY_FILE, SEED_ID
from pkiform.lint import lint as lint_observed
from pkiform.lint import require_pkilint
from pkiform.plan.planner import archives_to_read
from pkiform.plan.planner import plan as make_plan
from pkiform.plan.rotation_state import reports as rotation_reports
from pkiform.plan.types import Plan, Verb
from pkiform.secrets.passwords import (
    Password,
    PasswordError,
    Passwords,
    by_identity,
    require_upfront,
    sources,
)
from pkiform.secrets.read import Refused, read_password, read_passwords, read_small_file
from pkiform.spec.load import ValidSpec, validate_document, validate_path, validate_text
from pkiform.spec.model import CsrKey, IdentityName, PasswordSource, ResolvedSpec
from pkiform.spec.rotation import Rotations
from pkiform.spec.schema import schema_text
from pkiform.status import StatusReport, trust_bundle_problems
from pkiform.status import check as check_status
from pkiform.x509 import keys
from pkiform.x509.derive import Seed as Seed  # re-exported: the type of seeds
from pkiform.x509.derive import SeedError
from pkiform.x509.inputs import NO_INPUTS, Inputs, Reader

if TYPE_CHECKING:  # imported by the two methods that use it: the CLI never does
    from pkiform.x509.token_use import TokenKeys

DEFAULT_OUT = Path("pki")

StrPath = str | os.PathLike[str]
SeedLike = Seed | bytes | str


GRAPH_FORMATS = {
    "text": render.graph_text,
    "dot": render.graph_dot,
    "mermaid": render.graph_mermaid,
}


def json_schema() -> str:
    """The JSON Schema specs are checked against, as `pkiform schema` prints it."""
    return schema_text()


def load(path: StrPath, *, allow_paths: Sequence[StrPath] = ()) -> Spec:
    """Read and check a spec file; raise SpecError with every problem found. Its
    `password_file`s (and the requests and CA files it names) are read only inside its
    folder or one of `allow_paths`."""
    base = Path(path).parent
    valid = validate_path(Path(path), inputs=files_reader(base, allow_paths))
    return Spec(valid, base=base, allow_paths=allow_paths)


def loads(
    text: str,
    *,
    file: str = "<string>",
    base: StrPath | None = None,
    allow_paths: Sequence[StrPath] = (),
) -> Spec:
    """Check spec text; `file` names it in error locations, `base` is the folder its
    `password_file`s are relative to and read from (default: the working directory),
    beside `allow_paths`."""
    base_path = Path(base) if base is not None else None
    valid = validate_text(text, file, inputs=files_reader(base_path, allow_paths))
    return Spec(valid, base=base_path, allow_paths=allow_paths)


def from_dict(
    data: Mapping[str, Any],
    *,
    file: str = "<dict>",
    base: StrPath | None = None,
    allow_paths: Sequence[StrPath] = (),
) -> Spec:
    """Check a spec given as Python data (what the YAML would load to). Error
    locations count lines in the data's YAML rendering; the field path says where."""
    try:
        text = yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True)
    except yaml.YAMLError as e:
        message = f"holds a value YAML cannot represent: {e}"
        start = Location(file=file, line=1, col=1)
        raise SpecError([Diagnostic(loc=start, path="", message=message)]) from None
    return loads(text, file=file, base=base, allow_paths=allow_paths)


def files_reader(
    base: Path | None,
    allow_paths: Sequence[StrPath] = (),
    environ: Mapping[str, str] | None = None,
    on_disk: Mapping[IdentityName, bytes] | None = None,
) -> Reader:
    """What validation calls to read the certificate requests and CA files a spec names,
    relative to `base` (default: the working directory) and inside it or `allow_paths`.
    `on_disk`: each adopted CA's cert.pem in the output directory, if there is one."""
    allow = [Path(p) for p in allow_paths]
    return Reader(base if base is not None else Path.cwd(), allow, environ, on_disk)


class Spec:
    """A checked spec and its issuer graph: what plan, apply and status work from.
    Passwords are read when needed, from the environment (or `environ`) and from
    files relative to `base` (the spec file's folder; else the working directory),
    which must lie inside it or inside a folder of `allow_paths` (links resolved)."""

    def __init__(
        self,
        valid: ValidSpec,
        *,
        base: Path | None = None,
        environ: Mapping[str, str] | None = None,
        allow_paths: Sequence[StrPath] = (),
    ) -> None:
        self.valid = valid
        self.base = base
        self.environ = environ
        self.allow_paths = tuple(Path(p) for p in allow_paths)

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        """Problems that do not stop issuing, e.g. a validity clamped to its issuer's."""
        return self.valid.warnings

    @property
    def names(self) -> list[str]:
        """Identity names, issuers before what they issue."""
        return list(self.valid.graph.order())

    def plan(
        self,
        out: StrPath = DEFAULT_OUT,
        *,
        at: datetime | None = None,
        rekey: Sequence[str] = (),
        prune: bool = False,
        seed: SeedLike | None = None,
        key_passwords: bool = True,
        renew: Sequence[str] = (),
    ) -> Plan:
        """What apply would do to `out`; changes nothing. With `key_passwords=False`, it
        plans as a job that must not hold the keys' passwords (key.encrypt) or tokens'
        PINs does, a CI job planning a pull request: none is read, no token is opened
        (its keys are taken to be their certificates'), and the plan's `password_problems`
        say what apply will need each for, instead of raising PasswordError. (A wrong
        one then shows only at apply.)"""
        store, the_seed = Store(Path(out)), _seed(seed)
        store.check_usable()
        self._refuse_seed(the_seed)
        passwords = self._passwords(store, keys=key_passwords)
        ready = self._ready(store, rekey)
        _require_adoptable(store, ready, rekey)
        spec = _for_seed(ready.valid.spec, the_seed)
        asked = _Asked(rekey=rekey, renew=renew, prune=prune)
        with self._tokens(spec, passwords, the_seed) as tokens:
            return self._observe_and_plan(
                store,
                spec,
                ready,
                _now(at),
                asked,
                the_seed,
                passwords,
                tokens,
                strict=key_passwords,
            )[1]

    def apply(
        self,
        out: StrPath = DEFAULT_OUT,
        *,
        at: datetime | None = None,
        rekey: Sequence[str] = (),
        prune: bool = False,
        seed: SeedLike | None = None,
        lock_timeout: float = 0.0,
        on_planned: Callable[[Plan], None] | None = None,
        on_done: Callable[[str], None] | None = None,
        renew: Sequence[str] = (),
    ) -> Applied:
        """Make `out` match the spec, and return the plan carried out and the result.
        `at` pretends the clock reads that time; `rekey` names CAs whose key may be
        replaced (an adopted CA's: adopted again from its files); `renew` names identities
        to re-sign now with the same key (the only way an adopted CA's certificate is
        re-signed); `prune` archives folders the spec no longer names; `seed` derives
        every key, serial and signature from it (reproducible mode: development only)."""
        clock = datetime.now(UTC)
        now = _now(at, clock)
        store, the_seed = Store(Path(out)), _seed(seed)
        self._refuse_seed(the_seed)
        passwords = self._passwords(store)  # before the lock creates the directory
        _require_adoptable(store, self._ready(store, rekey), rekey)  # likewise
        asked = _Asked(rekey=rekey, renew=renew, prune=prune)
        tokens_of = _for_seed(self.valid.spec, the_seed)
        # the tokens first: a spec they refuse leaves no directory behind
        with (
            self._tokens(tokens_of, passwords, the_seed) as tokens,
            store.locked(timeout=lock_timeout),
        ):
            store.recover()
            recovered = tokens.recover(now) if tokens else []
            ready = self._ready(store, rekey)
            spec = _for_seed(ready.valid.spec, the_seed)
            observed, the_plan, found = self._observe_and_plan(
                store, spec, ready, now, asked, the_seed, passwords, tokens
            )
            if on_planned is not None:
                on_planned(the_plan)
            if the_seed and manifest.seed(observed.manifest) is None:
                # marked before the first key is written: an interrupted apply resumes
                # as the reproducible PKI it began as
                store.write_manifest(manifest.close(manifest.body([], seed=the_seed.fingerprint)))
            applied = execute.apply(
                the_plan,
                spec,
                ready.valid.graph,
                observed,
                store,
                now,
                stamp=f"{clock:%Y%m%dT%H%M%SZ}",
                seed=the_seed,
                on_done=on_done,
                passwords=passwords,
                settle=self._settle(the_seed),
                sealed=seals.Writer(spec, ready.valid.graph, found.found),
                tokens=tokens if tokens else None,
                inputs=ready.inputs,
            )
        warnings = (*recovered, *_seed_warnings(self.valid.spec, the_seed), *applied.warnings)
        return Applied(
            plan=the_plan, warnings=warnings, pki=self.read(out), secrets=applied.secrets
        )

    def status(
        self,
        out: StrPath = DEFAULT_OUT,
        *,
        at: datetime | None = None,
        warn_within: timedelta | None = None,
        lint: bool = False,
        public: bool = False,
    ) -> StatusReport:
        """Check what is on disk: key/cert pairs, chains, expiry, CRLs and OCSP, and
        trust-bundle.pem; with `lint`, pkilint's findings on every certificate and CRL
        (needs `pkiform[lint]`); with `public`, every file of the directory for secrets
        (a private key in plain, a password file), so that it may be committed. The
        report is a sequence of IdentityHealth, one per identity."""
        if lint:
            require_pkilint()
        # status checks only what opens; a missing password is not an error here (one
        # that must not be read is, before the directory is looked at)
        found = self.read_passwords()
        store = Store(Path(out))
        if not store.exists():
            if os.path.lexists(out):
                raise StoreError(f"{out}: exists and is not a directory")
            raise StoreError(f"{out}: no such directory (run pkiform apply first)")
        ready = self._ready(store)
        spec, graph = ready.valid.spec, ready.valid.graph
        with self._tokens(spec, found, None) as tokens:
            observed = observe(
                store,
                spec.identities,
                passwords=by_identity(spec, found),
                elsewhere=_keys_not_in_files(tokens, store, (), ready.inputs, lenient=True),
            )
        return StatusReport(
            identities=tuple(
                check_status(spec, graph, observed, _now(at), warn_within=warn_within)
            ),
            trust_bundle=trust_bundle_problems(spec, observed),
            lint=lint_observed(observed, graph.order()) if lint else None,
            rotations=rotation_reports(spec, graph, Rotations.of(spec, graph), observed),
            public=check_public(store.root, self._secret_files(store.root)) if public else None,
        )

    def _secret_files(self, out: Path) -> dict[str, str]:
        """The files the spec reads a password or PIN from that lie inside `out` (by their
        path below it, links resolved), each with where the spec names it."""
        found = {}
        inside = Path(os.path.realpath(out))
        for source in sources(self.valid.spec):
            if source.file is None:
                continue
            real = Path(os.path.realpath(self._base() / source.file))
            if real.is_relative_to(inside):
                where = source.path or "the spec"
                found[str(real.relative_to(inside))] = f"is a secret the spec reads ({where})"
        return found

    def graph(self, fmt: str = "text") -> str:
        """The issuer tree as `pkiform graph` prints it: "text", "dot" or "mermaid"."""
        if fmt not in GRAPH_FORMATS:
            raise ValueError(f"graph format {fmt!r}: expected one of {', '.join(GRAPH_FORMATS)}")
        return GRAPH_FORMATS[fmt](self.valid.spec, self.valid.graph)

    def read(self, out: StrPath = DEFAULT_OUT) -> PKI:
        """The identities issued into `out`, to read keys, certificates and contexts from."""
        return PKI(self.valid.spec, self.names, Path(out), self._read_password)

    def _base(self) -> Path:
        return self.base if self.base is not None else Path.cwd()

    def read_passwords(self) -> Passwords:
        """Every password the spec names, read from the environment and files now."""
        return read_passwords(self.valid.spec, self._base(), self.environ, allow=self.allow_paths)

    def _read_password(self, source: PasswordSource) -> Password | None:
        return read_password(source, self._base(), self.environ, allow=self.allow_paths)

    def _passwords(self, store: Store, *, keys: bool = True) -> Passwords:
        """Every password the spec names; those that plan and apply need whatever is on
        disk must be there (checked before anything is written). Without `keys`, the
        passwords of keys only are left unread (plan's key_passwords)."""
        spec = self.valid.spec
        found = self.read_passwords()
        if not keys:
            found = _without_key_passwords(spec, found)
            require_upfront(spec, found, new=(), pins=False)
            return found
        # only an encrypted key's password depends on whether its identity is new
        encrypting = (n for n, i in spec.identities.items() if i.key_password is not None)
        require_upfront(spec, found, new=store.absent(encrypting))
        return found

    def _tokens(self, spec: ResolvedSpec, passwords: Passwords, seed: Seed | None) -> TokenKeys:
        """The run's keys in PKCS#11 tokens (none: nothing is opened, nor imported)."""
        from pkiform.x509.token_use import TokenKeys, token_keys

        keys = token_keys(spec)
        if keys and seed is not None:
            raise PkiformError(
                f"reproducible mode derives every key from the seed, and the key of "
                f"{', '.join(keys)} lives in a PKCS#11 token, where it cannot be derived: "
                "plan and apply such a spec without a seed"
            )
        pins = {name: passwords.get(key.pin) for name, key in keys.items()}
        environ = os.environ if self.environ is None else self.environ
        return TokenKeys(spec, pins, module_env=environ.get("PKCS11_MODULE"))

    def _settle(self, seed: Seed | None) -> str | None:
        """The digest of the spec's source, if the directory an apply leaves may carry
        the settled mark: plan and apply print nothing but what a mark records (so no
        warnings), and a seed is a flag the mark does not record."""
        valid = self.valid
        # a request or an adopted CA's files may change under an unchanged spec: no mark
        # could vouch for them without reading them, so there is none
        if seed is not None or valid.warnings or valid.doc is not None:
            return None
        return valid.source_digest

    def _refuse_seed(self, seed: Seed | None) -> None:
        """Reproducible mode derives every key from the seed; a request's key and an
        adopted CA's were not, and would mix with derived ones."""
        if seed is not None and self.valid.doc is not None:
            raise PkiformError(
                "reproducible mode derives every key from the seed, and this spec signs "
                "requests or adopts CAs (csr, adopt), whose keys no seed derives; plan and "
                "apply it without a seed"
            )

    def _ready(self, store: Store, rekey: Sequence[str] = ()) -> _Ready:
        """The spec and what was read of the files it names, for the output directory
        `store`: an adopted CA is completed from (and checked against) the certificate
        adopted there, which validation without a directory could not see, unless
        `rekey` adopts its files again."""
        valid = self.valid
        if valid.doc is None:
            return _Ready(valid=valid, inputs=NO_INPUTS)
        inputs = valid.inputs if isinstance(valid.inputs, Inputs) else None
        adopted = [
            n for n, i in valid.spec.identities.items() if i.adopt is not None and n not in rekey
        ]
        on_disk = {n: data for n in adopted if (data := store.read(n, CERT_FILE)) is not None}
        if inputs is not None and not inputs.pending and not on_disk:
            return _Ready(valid=valid, inputs=inputs)
        reader = files_reader(self.base, self.allow_paths, self.environ, on_disk)
        again = validate_document(valid.doc, inputs=reader)
        assert isinstance(again.inputs, Inputs)
        return _Ready(valid=again, inputs=again.inputs)

    def _observe_and_plan(
        self,
        store: Store,
        spec: ResolvedSpec,
        ready: _Ready,
        now: datetime,
        asked: _Asked,
        seed: Seed | None,
        passwords: Passwords,
        tokens: TokenKeys,
        *,
        strict: bool = True,
    ) -> tuple[Observed, Plan, seals.Reader]:
        # plan and apply share this step: apply runs exactly the plan that plan shows;
        # a password it needs and lacks is an error here
        graph, inputs = ready.valid.graph, ready.inputs
        _check_asked(spec, asked)
        found = seals.Reader(spec, graph)
        adopted = {n for n, ident in spec.identities.items() if ident.adopt is not None}
        observed = observe(
            store,
            spec.identities,
            with_archive=archives_to_read(spec, graph) | adopted,
            keep_keys={n for n, ident in spec.identities.items() if ident.kind.is_ca},
            passwords=by_identity(spec, passwords),
            vouch=found.vouch,
            elsewhere=_keys_not_in_files(tokens, store, asked.rekey, inputs, lenient=not strict),
        )
        _refuse_mixing(store, observed, seed)
        the_plan = make_plan(
            spec,
            graph,
            observed,
            now,
            rekey=[IdentityName(n) for n in asked.rekey],
            renew=[IdentityName(n) for n in asked.renew],
            prune=asked.prune,
            passwords=passwords,
            seed_id=seed.fingerprint if seed is not None else None,
            inputs=inputs,
        )
        _require_adopted_files(the_plan, inputs)
        password_problems = the_plan.password_problems if strict else ()
        # a spec problem first: all of them together
        if the_plan.revoked_at_problems or the_plan.rotation_problems:
            problems = [*the_plan.revoked_at_problems, *the_plan.rotation_problems]
            raise SpecError([*problems, *password_problems])
        if password_problems:
            raise PasswordError(password_problems)
        return observed, the_plan, found


def _without_key_passwords(spec: ResolvedSpec, found: Passwords) -> Passwords:
    """`found` without the passwords only keys use, encrypted keys' and tokens' PINs (an
    output's are still needed: plan opens bundle.p12 to compare it), each missing as left
    to apply: a pull request's plan opens no token, and needs none on its runner."""
    outputs = {
        output.password
        for ident in spec.identities.values()
        for output in (ident.outputs.pkcs12, ident.outputs.truststore)
        if output is not None
    }
    left = {
        source
        for ident in spec.identities.values()
        for what, source in ident.password_sources()
        if what in ("key", "pin") and source not in outputs
    }
    return Passwords(
        found={s: p for s, p in found.found.items() if s not in left},
        missing={**found.missing, **dict.fromkeys(left, KEY_PASSWORD_LEFT)},
    )


# why a key's password is missing from a plan --no-key-passwords (Passwords.why_missing)
KEY_PASSWORD_LEFT = "is not read by this plan (--no-key-passwords)"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Ready:
    """A spec completed from the files it names, for one output directory."""

    valid: ValidSpec
    inputs: Inputs


@dataclass(frozen=True, slots=True, kw_only=True)
class _Asked:
    """What the command line asks of one plan beyond the spec."""

    rekey: Sequence[str] = ()
    renew: Sequence[str] = ()
    prune: bool = False


def _check_asked(spec: ResolvedSpec, asked: _Asked) -> None:
    """--rekey and --renew name identities they can act on, or nothing is planned."""
    for flag, names in (("--rekey", asked.rekey), ("--renew", asked.renew)):
        unknown = [n for n in names if n not in spec.identities]
        if unknown:
            raise PkiformError(f"{flag} names no identity of the spec: {', '.join(unknown)}")
    for name in asked.rekey:
        source = spec.identities[IdentityName(name)].key_source
        if isinstance(source, CsrKey):
            raise PkiformError(
                f"--rekey {name}: its key is with the owner of the request {source.path}; "
                "make a new request there (a new key in it reissues the certificate)"
            )
    for name in asked.renew:
        ident = spec.identities[IdentityName(name)]
        if ident.revoked is not None:
            raise PkiformError(f"--renew {name}: it is revoked; nothing revoked is signed again")
        if ident.adopt is not None and ident.adopt.chain is not None:
            raise PkiformError(
                f"--renew {name}: its issuer lives elsewhere (adopt.chain), which pkiform "
                f"cannot sign with; renew it there, then adopt the new certificate with "
                f"--rekey {name}"
            )


def _require_adoptable(store: Store, ready: _Ready, rekey: Sequence[str]) -> None:
    """Raise SpecError where a CA is to be adopted now (no folder yet, or --rekey) and
    its files cannot be taken (missing, a key's password not given), before anything is
    written, as for a missing password. The plan checks it again under the lock."""
    adoptions = ready.inputs.adoptions
    if not adoptions:
        return
    now = {*store.absent(adoptions), *(n for n in rekey if n in adoptions)}
    missing = [d for n in sorted(now) for d in adoptions[IdentityName(n)].unavailable]
    if missing:
        raise SpecError(missing)


def _keys_not_in_files(
    tokens: TokenKeys, store: Store, rekey: Sequence[str], inputs: Inputs, *, lenient: bool = False
) -> dict[IdentityName, KeyElsewhere]:
    """The keys pkiform does not keep in key.pem: in tokens, with requests' owners."""
    found = _keys_elsewhere(inputs)
    if tokens:
        found.update(_keys_in_tokens(tokens, store, rekey, lenient=lenient))
    return found


def _keys_elsewhere(inputs: Inputs) -> dict[IdentityName, KeyElsewhere]:
    """The keys of identities signed from requests: with the requests' owners."""
    return {
        name: KeyElsewhere(where=request.where, public_key=request.public_key)
        for name, request in inputs.requests.items()
    }


def _require_adopted_files(plan: Plan, inputs: Inputs) -> None:
    """An adoption this plan makes needs adopt's files, readable now: why they are not,
    located in the spec (nothing is written)."""
    missing = [
        diagnostic
        for action in plan.actions
        if action.verb is Verb.ADOPT
        for diagnostic in inputs.adoptions[action.name].unavailable
    ]
    if missing:
        raise SpecError(missing)


@dataclass(frozen=True, slots=True, kw_only=True)
class Applied:
    """What an apply did: the plan it carried out, warnings, and the result on disk."""

    plan: Plan
    warnings: tuple[str, ...]
    pki: PKI
    secrets: tuple[bytes, ...] = ()  # every secret.yaml (Kubernetes Secret), issuing order


def read_seed(seed_file: Path | None, variable: tuple[str, str | None]) -> Seed | None:
    """The reproducible-mode seed the command line names: the file wins over the
    environment `variable` (name, value); None when neither gives one. Errors say where
    it came from, never what it is."""
    name, value = variable
    if seed_file is None:
        if not value:
            return None
        # the variable's own bytes, UTF-8 or not (os.environ escapes what is not)
        return _seed_from(name, os.fsencode(value))
    try:
        material = read_small_file(seed_file, holding="the seed")
    except Refused as e:
        raise PkiformError(f"--seed-file {seed_file}: {e}") from None
    except OSError as e:
        raise PkiformError(f"--seed-file {seed_file}: cannot read: {e.strerror}") from None
    return _seed_from(f"--seed-file {seed_file}", material)


def _keys_in_tokens(
    tokens: TokenKeys, store: Store, rekey: Sequence[str], *, lenient: bool = False
) -> dict[IdentityName, KeyElsewhere]:
    """What the tokens hold for the spec's token keys, as observe takes it (`lenient`:
    a key whose PIN was not read is left unchecked, for status). A key that does not
    match its cert.pem is told apart: one a --rekey by pkiform made, in a run that
    stopped before it reissued the certificates, replaces the certificate, not the key."""
    facts = {
        n: KeyElsewhere(where=tokens.where(n), public_key=None, unchecked=True)
        for n in tokens.names
    }
    for name, found in tokens.find(rekey=rekey, pinned_only=lenient).items():
        where = tokens.where(name)
        if found.interrupted:
            pending = f"an interrupted key change in {where} is finished by apply first"
            facts[name] = KeyElsewhere(where=where, public_key=None, pending=pending)
            continue
        key = found.key
        replaced = False
        if key is not None:
            cert = _cert_on_disk(store, name)
            if cert is not None and keys.spki_der(cert.public_key()) != keys.spki_der(
                key.public_key
            ):
                replaced = tokens.replaced_by_pkiform(name, cert.public_key())
        facts[name] = KeyElsewhere(
            where=where,
            public_key=key.public_key if key is not None else None,
            private_key=key.private_key if key is not None else None,
            replaced_cert=replaced,
        )
    return facts


def _cert_on_disk(store: Store, name: IdentityName) -> x509.Certificate | None:
    data = store.read(name, CERT_FILE)
    try:
        return x509.load_pem_x509_certificate(data) if data is not None else None
    except ValueError:
        return None


def _seed_from(origin: str, material: bytes) -> Seed:
    try:
        return Seed.from_bytes(material)
    except SeedError as e:
        raise PkiformError(f"{origin}: {e}") from None


def ca_secrets(spec: Spec, secrets: Sequence[bytes]) -> list[str]:
    """A warning for each Secret printed that holds a CA's key (the CA asked for it)."""
    identities = spec.valid.spec.identities
    found = []
    for document in secrets:
        ident = identities.get(IdentityName(identity_of(document) or ""))
        if ident is not None and ident.kind.is_ca and ident.outputs.kubernetes is not None:
            found.append(
                f"Secret {ident.outputs.kubernetes.name!r} holds the private key of CA "
                f"{ident.name!r}; whoever can read it in the cluster can issue certificates "
                "in the CA's name"
            )
    return found


def _seed(seed: SeedLike | None) -> Seed | None:
    if seed is None:
        return None
    if not keys.deterministic_ecdsa_supported():
        raise PkiformError(
            "reproducible mode needs RFC 6979 ECDSA, which this cryptography's OpenSSL "
            "lacks (3.2 or later has it; cryptography's own wheels bundle one)"
        )
    if isinstance(seed, Seed):
        return seed
    if isinstance(seed, str):
        try:  # a str from os.environ holds undecodable bytes as surrogate escapes
            seed = seed.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # its message quotes the character: not kept
            raise PkiformError(
                "seed: the seed is text that is not valid UTF-8 (a lone surrogate); "
                "pass it as bytes"
            ) from None
    try:
        return Seed.from_bytes(seed)
    except SeedError as e:
        raise PkiformError(f"seed: {e}") from None


def _for_seed(spec: ResolvedSpec, seed: Seed | None) -> ResolvedSpec:
    """A derived key depends on the seed, name and key spec only, so `rotate_key` could
    only ever give the same key back: in reproducible mode it is off (and said so)."""
    if seed is None or not any(i.rotate_key for i in spec.identities.values()):
        return spec
    identities = {n: dataclasses.replace(i, rotate_key=False) for n, i in spec.identities.items()}
    return dataclasses.replace(spec, identities=identities)


def _seed_warnings(spec: ResolvedSpec, seed: Seed | None) -> tuple[str, ...]:
    if seed is None:
        return ()
    warnings = []
    rotating = [n for n, i in spec.identities.items() if i.rotate_key]
    if rotating:
        warnings.append(
            f"rotate_key is ignored with a seed ({', '.join(rotating)}): a derived key is a "
            "function of the seed, the name and the key spec"
        )
    salted = [
        n
        for n, i in spec.identities.items()
        if i.key_password or i.outputs.pkcs12 or i.outputs.truststore
    ]
    if salted:
        warnings.append(
            f"encrypted files ({', '.join(salted)}: key.encrypt, pkcs12, truststore) take "
            "random salts: they hold the same keys everywhere, but their bytes differ"
        )
    return tuple(warnings)


def _refuse_mixing(store: Store, observed: Observed, seed: Seed | None) -> None:
    """Reproducible mode never mixes with keys it did not derive. Each derived folder
    says which seed made it (its seed-id, written with its key); manifest.json says so
    for the whole directory, and alone vouches for folders an older pkiform derived
    without a seed-id."""
    marked = manifest.seed(observed.manifest)
    where = store.root
    same = " (--seed-file or PKIFORM_SEED), or use another output directory"
    if seed is None and marked is not None:
        raise PkiformError(
            f"{where} was made in reproducible mode (manifest.json names seed {marked}); "
            f"pass the same seed{same}"
        )
    if seed is not None and marked is not None and marked != seed.fingerprint:
        raise PkiformError(
            f"{where} was made from another seed ({marked}, not {seed.fingerprint}); "
            "reproducible mode does not mix keys: use another output directory"
        )
    folders = _seed_ids(store, observed)
    if seed is None:
        derived = next(((n, i) for n, i in folders.items() if i is not None), None)
        if derived is not None:
            raise PkiformError(
                f"{where} holds keys derived from a seed ({derived[0]}/{SEED_ID} names seed "
                f"{derived[1]}); pass the same seed{same}"
            )
        return
    other = next(((n, i) for n, i in folders.items() if i not in (None, seed.fingerprint)), None)
    if other is not None:
        raise PkiformError(
            f"{where} was made from another seed ({other[0]}/{SEED_ID} names {other[1]}, "
            f"not {seed.fingerprint}); reproducible mode does not mix keys: use another "
            "output directory"
        )
    plain = next((n for n, i in folders.items() if i is None), None)
    if marked is None and plain is not None:
        raise PkiformError(
            f"{where} holds keys that were not derived from a seed ({plain} has no "
            f"{SEED_ID}); reproducible mode does not mix with them: use another output "
            "directory"
        )


def _seed_ids(store: Store, observed: Observed) -> dict[str, str | None]:
    """Every identity folder with keys or a seed-id, in plan order and then the folders
    the spec does not name: the seed fingerprint its seed-id names, or None."""
    found: dict[str, str | None] = {
        name: seed_id_of(obs.files.get(SEED_ID))
        for name, obs in observed.identities.items()
        if obs.files.keys() & {KEY_FILE, CERT_FILE, SEED_ID}
    }
    for other in observed.on_disk_only:  # rare: a folder a spec once named
        found[other] = seed_id_of(store.read(other, SEED_ID))
    return found


def _now(at: datetime | None, clock: datetime | None = None) -> datetime:
    if at is None:
        return clock or datetime.now(UTC)
    if at.tzinfo is None:
        raise PkiformError(f"at={at.isoformat()} has no time zone; give one (e.g. UTC)")
    return at.astimezone(UTC)
