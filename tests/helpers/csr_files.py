"""Certificate requests for the spec examples (docs/spec.md, README) that name one."""

from __future__ import annotations

from pathlib import Path

import yaml


def requests_named(text: str) -> list[str]:
    """The certificate request files (csr) a spec example names."""
    data = yaml.safe_load(text)
    identities = data.get("identities") if isinstance(data, dict) else None
    if not isinstance(identities, dict):
        return []
    return [i["csr"] for i in identities.values() if isinstance(i, dict) and "csr" in i]


def write_request(path: Path) -> None:
    """A certificate request with an empty subject (so it asks for nothing more than the
    example says), for a key its maker keeps."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    request = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(request.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
