"""secret.yaml: a kubernetes.io/tls Secret, written field by field so that its bytes
depend on its contents alone (a no-op apply leaves it byte-identical)."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import datetime

# annotations under the project's own prefix, as Kubernetes asks of tools
# (kubernetes.io/docs/concepts/overview/working-with-objects/annotations)
ANNOTATION_PREFIX = "pkiform.dev/"
MANAGED_BY = "app.kubernetes.io/managed-by"


def secret(
    *,
    name: str,
    namespace: str | None,
    identity: str,
    serial: str,
    not_after: datetime,
    fullchain_pem: bytes,
    key_pem: bytes,
    ca_pem: bytes,
) -> bytes:
    """The Secret's YAML: tls.crt (fullchain), tls.key and ca.crt, base64 as `data` wants,
    and annotations that say which certificate it holds (`serial` as openssl prints it)."""
    metadata = [f"  name: {_quote(name)}"]
    if namespace is not None:
        metadata.append(f"  namespace: {_quote(namespace)}")
    lines = [
        "apiVersion: v1",
        "kind: Secret",
        "metadata:",
        *metadata,
        "  labels:",
        f"    {MANAGED_BY}: {_quote('pkiform')}",
        "  annotations:",
        f"    {ANNOTATION_PREFIX}identity: {_quote(identity)}",
        f"    {ANNOTATION_PREFIX}serial: {_quote(serial)}",
        f"    {ANNOTATION_PREFIX}not-after: {_quote(f'{not_after:%Y-%m-%dT%H:%M:%SZ}')}",
        "type: kubernetes.io/tls",
        "data:",
        f"  tls.crt: {_base64(fullchain_pem)}",
        f"  tls.key: {_base64(key_pem)}",
        f"  ca.crt: {_base64(ca_pem)}",
    ]
    return ("\n".join(lines) + "\n").encode()


def identity_of(document: bytes) -> str | None:
    """The identity a Secret written by `secret()` holds, from its annotation."""
    prefix = f"    {ANNOTATION_PREFIX}identity: ".encode()
    for line in document.splitlines():
        if line.startswith(prefix):
            name = json.loads(line[len(prefix) :])
            return name if isinstance(name, str) else None
    return None


def withdrawn(identity: str) -> bytes:
    """What replaces a Secret that held a key the spec now wants encrypted: YAML with no
    object in it (`kubectl apply -f` refuses it rather than apply a stale Secret), saying
    why to whoever finds it."""
    return (
        f"# pkiform withdrew the Kubernetes Secret that was here: it held the private key\n"
        f"# of '{identity}' unencrypted, and key.encrypt asks for the key encrypted, which\n"
        "# a Secret cannot hold. key.pem keeps the key (encrypted), fullchain.pem and\n"
        "# ca.pem the certificates.\n"
    ).encode()


def stream(documents: Sequence[bytes]) -> str:
    """Several Secrets as one multi-document YAML stream, for `kubectl apply -f -`."""
    return "".join("---\n" + doc.decode() for doc in documents)


def _quote(text: str) -> str:
    # a JSON string is a YAML double-quoted scalar: "0123" and "true" stay text
    return json.dumps(text)


def _base64(data: bytes) -> str:
    return _quote(base64.b64encode(data).decode("ascii"))
