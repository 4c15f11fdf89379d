"""The private keys pkiform does not keep in key.pem, as observe takes them: in PKCS#11
tokens (found, checked against cert.pem, or left unchecked without a PIN), and with the
owners of the requests pkiform signs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cryptography import x509

from pkiform.disk.observe import KeyElsewhere
from pkiform.disk.store import Store
from pkiform.layout import CERT_FILE
from pkiform.spec.model import IdentityName
from pkiform.x509 import keys
from pkiform.x509.inputs import Inputs

if TYPE_CHECKING:  # a run without token keys never imports the token layer
    from pkiform.x509.token_use import TokenKeys


def keys_not_in_files(
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
