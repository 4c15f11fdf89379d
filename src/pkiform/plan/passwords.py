"""Which key passwords an apply needs: pure, like the planner, which calls it.

A key is opened only when it must be: to sign (a certificate, a CRL, an OCSP
response), to be written (a new key, or a plain one encrypted), to be read for
a new certificate, or to go into bundle.p12. A CA that signs nothing in this
run needs no password, so an offline CA's password is asked for only when it
has to sign. A wrong password is always an error: never a reason to replace a key.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from pkiform.disk.observe import Observed
from pkiform.errors import Diagnostic
from pkiform.formats import outputs
from pkiform.formats.outputs import Material
from pkiform.layout import BUNDLE, CROSS_FILE
from pkiform.plan.types import CrossAction, CrossVerb, RevocationAction
from pkiform.secrets.passwords import Passwords, diagnostic, missing
from pkiform.spec.model import IdentityName, PasswordSource, ResolvedSpec, TokenKey


def password_problems(
    spec: ResolvedSpec,
    observed: Observed,
    *,
    new_keys: Collection[IdentityName],
    new_certs: Collection[IdentityName],
    repaired: Mapping[IdentityName, Material | None],
    revocations: Collection[RevocationAction],
    passwords: Passwords,
    crosses: Collection[CrossAction] = (),
) -> tuple[Diagnostic, ...]:
    """The key passwords the plan needs and does not have, each with what needs it, and
    the keys their password does not open. `repaired`: the identities whose certificate
    stays while other files are rewritten, with what those are made of."""
    needs: dict[PasswordSource, list[str]] = {}
    refused: list[Diagnostic] = []

    def locked(name: IdentityName) -> bool:
        return observed.identities[name].key_locked and name not in new_keys

    def need(name: IdentityName, why: str) -> None:
        source = spec.identities[name].key_opener
        if source is not None and source not in passwords.found:
            needs.setdefault(source, []).append(why)

    for name, ident in spec.identities.items():
        obs = observed.identities[name]
        source = ident.key_opener
        if ident.revoked is not None:
            continue  # frozen: its key is read only to sign its CRL (below)
        if obs.key_refused and locked(name) and source is not None:
            refused.append(
                diagnostic(
                    source,
                    f"the key.pem of {name!r} does not open with {source} (a wrong password, "
                    f"or a damaged file: --rekey {name} replaces the key)",
                )
            )
        material = repaired.get(name)
        if name in new_keys and isinstance(ident.key_source, TokenKey):
            need(name, f"to make the key of {name!r} in its token")
        elif name in new_keys or outputs.needs_encryption(ident, obs):
            need(name, f"to encrypt the key of {name!r}")
        elif locked(name) and name in new_certs:
            need(name, f"to read the key of {name!r} for its new certificate")
        elif locked(name) and material and BUNDLE in outputs.stale_protected(ident, obs, material):
            need(name, f"to put the key of {name!r} into {BUNDLE}")
        if name in new_certs and ident.issuer is not None and locked(ident.issuer):
            need(
                ident.issuer,
                f"to sign the certificate of {name!r} with the key of {ident.issuer!r}",
            )
    for revocation in revocations:
        signer = revocation.signer
        if locked(signer):
            need(signer, f"to sign {revocation.name}/{revocation.file} with the key of {signer!r}")
    for cross in crosses:
        if cross.verb is not CrossVerb.ARCHIVE and locked(cross.signer):
            need(
                cross.signer,
                f"to sign {cross.name}/{CROSS_FILE} with the key of {cross.signer!r}",
            )
    return tuple(refused) + tuple(missing(passwords, s, *why) for s, why in needs.items())
