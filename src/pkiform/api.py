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

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from cryptography.hazmat.primitives import serialization

from pkiform import render
from pkiform.apply import run as execute
from pkiform.cache import seals
from pkiform.disk import manifest
from pkiform.disk.elsewhere import keys_not_in_files
from pkiform.disk.observe import Observed, observe
from pkiform.disk.public import check as check_public
from pkiform.disk.store import Store
from pkiform.errors import Diagnostic, Location, PkiformError, SpecError, StoreError
from pkiform.formats.kubernetes import identity_of
from pkiform.issued import PKI as PKI  # re-exported
from pkiform.issued import IssuedIdentity as IssuedIdentity  # re-exported
from pkiform.layout import CERT_FILE
from pkiform.lint import lint as lint_observed
from pkiform.lint import require_pkilint
from pkiform.plan.planner import archives_to_read
from pkiform.plan.planner import plan as make_plan
from pkiform.plan.rotation_state import reports as rotation_reports
from pkiform.plan.types import Plan, Verb
from pkiform.reproducible import SeedLike, as_seed, for_seed, refuse_mixing, seed_warnings
from pkiform.reproducible import read_seed as read_seed  # re-exported: the CLI's --seed-file
from pkiform.secrets.passwords import (
    Password,
    PasswordError,
    Passwords,
    by_identity,
    require_upfront,
    sources,
)
from pkiform.secrets.read import read_password, read_passwords
from pkiform.spec.load import ValidSpec, validate_document, validate_path, validate_text
from pkiform.spec.model import CsrKey, IdentityName, PasswordSource, ResolvedSpec
from pkiform.spec.rotation import Rotations
from pkiform.spec.schema import schema_text
from pkiform.status import StatusReport, trust_bundle_problems
from pkiform.status import check as check_status
from pkiform.x509.derive import Seed as Seed  # re-exported: the type of seeds
from pkiform.x509.inputs import NO_INPUTS, Inputs, Reader

if TYPE_CHECKING:  # imported by the two methods that use it: the CLI never does
    from pkiform.x509.token_use import TokenKeys

DEFAULT_OUT = Path("pki")

StrPath = str | os.PathLike[str]


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
        store, the_seed = Store(Path(out)), as_seed(seed)
        store.check_usable()
        self._refuse_seed(the_seed)
        passwords = self._passwords(store, keys=key_passwords)
        ready = self._ready(store, rekey)
        _require_adoptable(store, ready, rekey)
        spec = for_seed(ready.valid.spec, the_seed)
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
        store, the_seed = Store(Path(out)), as_seed(seed)
        self._refuse_seed(the_seed)
        passwords = self._passwords(store)  # before the lock creates the directory
        _require_adoptable(store, self._ready(store, rekey), rekey)  # likewise
        asked = _Asked(rekey=rekey, renew=renew, prune=prune)
        tokens_of = for_seed(self.valid.spec, the_seed)
        # the tokens first: a spec they refuse leaves no directory behind
        with (
            self._tokens(tokens_of, passwords, the_seed) as tokens,
            store.locked(timeout=lock_timeout),
        ):
            store.recover()
            recovered = tokens.recover(now) if tokens else []
            ready = self._ready(store, rekey)
            spec = for_seed(ready.valid.spec, the_seed)
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
        warnings = (*recovered, *seed_warnings(self.valid.spec, the_seed), *applied.warnings)
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
                elsewhere=keys_not_in_files(tokens, store, (), ready.inputs, lenient=True),
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

    def read_passwords(self, *, keys: bool = True) -> Passwords:
        """Every password the spec names, read from the environment and files now; without
        `keys`, the passwords of keys only are left unread (plan's key_passwords)."""
        spec = self.valid.spec
        left = None if keys else dict.fromkeys(_key_only_sources(spec), KEY_PASSWORD_LEFT)
        return read_passwords(spec, self._base(), self.environ, allow=self.allow_paths, left=left)

    def _read_password(self, source: PasswordSource) -> Password | None:
        return read_password(source, self._base(), self.environ, allow=self.allow_paths)

    def _passwords(self, store: Store, *, keys: bool = True) -> Passwords:
        """Every password the spec names; those that plan and apply need whatever is on
        disk must be there (checked before anything is written). Without `keys`, the
        passwords of keys only are left unread (plan's key_passwords)."""
        spec = self.valid.spec
        found = self.read_passwords(keys=keys)
        if not keys:
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
        if inputs is not None:  # what adopt's files hold completed the spec the same way
            on_disk = {n: d for n, d in on_disk.items() if not _adopted_as_read(inputs, n, d)}
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
            elsewhere=keys_not_in_files(tokens, store, asked.rekey, inputs, lenient=not strict),
        )
        refuse_mixing(store, observed, seed)
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


def _adopted_as_read(inputs: Inputs, name: IdentityName, cert_pem: bytes) -> bool:
    """Whether the cert.pem of adopted CA `name` is the certificate its adopt files held
    when the spec was validated (then validating it again against the folder changes
    nothing)."""
    adoption = inputs.adoptions.get(name)
    return (
        adoption is not None
        and adoption.cert is not None
        and adoption.cert.public_bytes(serialization.Encoding.PEM) == cert_pem
    )


def _key_only_sources(spec: ResolvedSpec) -> set[PasswordSource]:
    """The passwords only keys use, encrypted keys' and tokens' PINs (an output's are
    still needed: plan opens bundle.p12 to compare it), which a pull request's plan
    leaves to apply: its runner holds none of them, nor the token."""
    outputs = {
        output.password
        for ident in spec.identities.values()
        for output in (ident.outputs.pkcs12, ident.outputs.truststore)
        if output is not None
    }
    return {
        source
        for ident in spec.identities.values()
        for what, source in ident.password_sources()
        if what in ("key", "pin") and source not in outputs
    }


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


def _now(at: datetime | None, clock: datetime | None = None) -> datetime:
    if at is None:
        return clock or datetime.now(UTC)
    if at.tzinfo is None:
        raise PkiformError(f"at={at.isoformat()} has no time zone; give one (e.g. UTC)")
    return at.astimezone(UTC)
