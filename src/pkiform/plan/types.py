"""What a plan is made of: plain data, no cryptography, so that the settled mark's
answer (commands/up_to_date.py) builds and renders one without loading any."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pkiform.errors import Diagnostic
from pkiform.layout import CRL_PEM, OCSP_DER
from pkiform.spec.names import IdentityName
from pkiform.x509.crl_entry import Revoked

NEVER_ISSUED = "revoked before it was ever issued: nothing to issue, nothing to list"


class Verb(StrEnum):
    CREATE = "create"  # nothing on disk yet
    REISSUE = "reissue"  # new certificate, same key
    REKEY = "rekey"  # new key and new certificate
    ADOPT = "adopt"  # an existing CA's certificate and key taken into its folder as they are
    REPAIR = "repair"  # certificate fine; other files (chain, outputs, key encryption) rewritten
    BLOCKED = "blocked"  # a CA key would have to be replaced; needs --rekey
    UNCHANGED = "unchanged"
    SKIP = "skip"  # revoked before it was ever issued: nothing to issue, nothing to list


CHANGES = frozenset({Verb.CREATE, Verb.ADOPT, Verb.REISSUE, Verb.REKEY, Verb.REPAIR})


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    name: IdentityName
    verb: Verb
    reasons: tuple[str, ...] = ()
    cascade_from: IdentityName | None = None

    @property
    def new_key(self) -> bool:
        return self.verb in (Verb.CREATE, Verb.ADOPT, Verb.REKEY)

    @property
    def new_cert(self) -> bool:
        return self.verb in (Verb.CREATE, Verb.ADOPT, Verb.REKEY, Verb.REISSUE)


class ListKind(StrEnum):
    CRL = "crl"
    OCSP = "ocsp"


class ListVerb(StrEnum):
    CREATE = "create"
    RESIGN = "re-sign"
    REWRITE = "rewrite"  # crl.der out of step with crl.pem: same CRL, no new signature


@dataclass(frozen=True, slots=True, kw_only=True)
class RevocationAction:
    kind: ListKind
    name: IdentityName  # the CA for a CRL, the leaf for an OCSP response
    signer: IdentityName
    verb: ListVerb
    reasons: tuple[str, ...] = ()
    entries: tuple[Revoked, ...] = ()  # CRL: every entry it will list
    number: int = 0  # CRL: its CRL number
    revoked: Revoked | None = None  # OCSP: the certificate's revocation, if any

    @property
    def file(self) -> str:
        return CRL_PEM if self.kind is ListKind.CRL else OCSP_DER


class CrossVerb(StrEnum):
    SIGN = "sign"  # no cross.pem yet
    RESIGN = "re-sign"
    ARCHIVE = "archive"  # the rotation is over: cross.pem goes to the archive, unreplaced


@dataclass(frozen=True, slots=True, kw_only=True)
class CrossAction:
    """A new root's cross.pem (spec/rotation.py): signed by the root it replaces."""

    name: IdentityName  # the new root, whose folder holds it
    signer: IdentityName  # the root it replaces (for ARCHIVE: the root that signed it)
    verb: CrossVerb
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Rotation:
    """Where one rotation stands (plan/rotation.py): what the spec and the disk say, and
    what to deploy before the next step. Names are in issuing order."""

    new: IdentityName
    old: IdentityName
    kind: str  # "root" or "intermediate"
    cross_sign: bool
    # below the old CA in the spec: what is still to move
    on_old: tuple[IdentityName, ...] = ()
    # placed below the new CA by the spec, but chained to the old one on disk: this apply
    # moves them (status: apply has not yet)
    moving: tuple[IdentityName, ...] = ()
    # trust files on disk that do not hold the new root (identity names, and
    # trust-bundle.pem): this apply writes it into them (status: apply has not yet)
    without_new: tuple[str, ...] = ()
    next_step: str = ""  # "move" or "retire"
    deploy: str = ""  # what must reach relying parties and servers before it
    next: str = ""  # the next step, in words


@dataclass(frozen=True, slots=True, kw_only=True)
class Tighten:
    """A file holding a private key that others than its owner may read, as a git
    checkout leaves it (git keeps no modes): apply takes their permissions away in place.
    Not a change to the state: no byte changes, nothing is archived."""

    path: str  # below the output directory: "web/key.pem", "web/archive/<stamp>/key.pem"
    mode: int  # as found

    @property
    def to(self) -> int:
        return self.mode & 0o700


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    actions: tuple[Action, ...]  # every identity, issuers first
    revocations: tuple[RevocationAction, ...] = ()  # CRLs and OCSP responses to (re-)sign
    on_disk_only: tuple[str, ...] = ()  # identity folders the spec no longer names
    retire: tuple[str, ...] = ()  # those of them that apply --prune moves to the archive
    # why trust-bundle.pem is rewritten while no root's certificate changes, else None
    trust_bundle: str | None = None
    # passwords apply needs and does not have, or that do not open a key: it refuses
    password_problems: tuple[Diagnostic, ...] = ()
    # revoked.at times no CRL may state, given the certificates and the clock: it refuses
    revoked_at_problems: tuple[Diagnostic, ...] = ()
    crosses: tuple[CrossAction, ...] = ()  # cross certificates to sign or archive
    rotations: tuple[Rotation, ...] = ()  # where each rotation of the spec stands
    # a root leaving the spec while what chains to it alone is still on disk: it refuses
    rotation_problems: tuple[Diagnostic, ...] = ()
    # what plan found and leaves as it is, for the user to know (adopted files that
    # differ from those adopted), each `(name, text)`
    notes: tuple[tuple[IdentityName, str], ...] = ()
    # .gitattributes and .gitignore to (re)write, each with why (formats/git_files.py)
    git_files: tuple[tuple[str, str], ...] = ()
    # modes apply tightens in place; not counted as changes (a clone has the same state)
    tighten: tuple[Tighten, ...] = ()

    @property
    def has_changes(self) -> bool:
        return bool(
            self.changes
            or self.revocations
            or self.crosses
            or self.retire
            or self.trust_bundle is not None
            or self.git_files
        )

    @property
    def changes(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.verb in CHANGES)

    @property
    def blocked(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.verb is Verb.BLOCKED)
