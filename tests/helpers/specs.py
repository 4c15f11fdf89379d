"""Specs the tests share: every key type, big PKIs of many leaves, the e2e matrix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# every key type of design.md §1, as a spec writes it
KEY_TYPES: dict[str, dict[str, Any]] = {
    "rsa2048": {"type": "rsa", "size": 2048},
    "rsa3072": {"type": "rsa", "size": 3072},
    "rsa4096": {"type": "rsa", "size": 4096},
    "p256": {"type": "ec", "curve": "P-256"},
    "p384": {"type": "ec", "curve": "P-384"},
    "p521": {"type": "ec", "curve": "P-521"},
    "ed25519": {"type": "ed25519"},
    "ed448": {"type": "ed448"},
}


def leaf_lines(names: Sequence[str], *, client_every: int, domain: str) -> list[str]:
    """Spec lines for leaves under `issuing`: a client at every index divisible by
    `client_every`, elsewhere a server named NAME.DOMAIN (big PKIs for the crash tests)."""
    return [
        f"  {name}: {{kind: client, issuer: issuing}}"
        if i % client_every == 0
        else f"  {name}: {{kind: server, issuer: issuing, dns: [{name}.{domain}]}}"
        for i, name in enumerate(names)
    ]


def matrix_spec() -> dict[str, Any]:
    """Every key type as a root, an intermediate, a server and a client; a few identities
    whose key type differs from their issuer's (the signature hash follows the issuer);
    and a chain with two intermediates (so chain.pem's order shows)."""
    ids: dict[str, dict[str, Any]] = {}
    for k, key in KEY_TYPES.items():
        ids[f"{k}-root"] = {
            "kind": "root",
            "key": key,
            "subject": {"CN": f"{k} Root CA", "OU": "Roots"},
            "validity": "10y",
            "path_length": 1,
        }
        ids[f"{k}-int"] = {
            "kind": "intermediate",
            "issuer": f"{k}-root",
            "key": key,
            "validity": "5y",
            "path_length": 0,
            "name_constraints": {
                "permitted": {
                    "dns": ["example.com"],
                    "ip": ["127.0.0.0/8", "::1/128"],
                    "email": ["example.com"],
                },
                "excluded": {"dns": ["forbidden.example.com"], "ip": ["127.0.0.128/25"]},
            },
        }
        ids[f"{k}-server"] = {
            "kind": "server",
            "issuer": f"{k}-int",
            "key": key,
            "dns": [f"{k}.example.com", f"www.{k}.example.com"],
            "ip": ["127.0.0.1", "::1"],
            "uri": [f"https://{k}.example.com/service"],
        }
        ids[f"{k}-client"] = {
            "kind": "client",
            "issuer": f"{k}-int",
            "key": key,
            "subject": {"CN": f"client {k}", "L": "Tokyo"},
            "email": [f"{k}@example.com"],
            "uri": [f"https://example.com/clients/{k}"],
        }
    ids |= {
        "mix-p521-int": {
            "kind": "intermediate",
            "issuer": "rsa3072-root",
            "key": KEY_TYPES["p521"],
            "validity": "1y",
        },
        "mix-rsa-server": {
            "kind": "server",
            "issuer": "mix-p521-int",
            "key": KEY_TYPES["rsa2048"],
            "dns": ["mix-rsa.example.net"],
        },
        # with no DNS name under a name-constrained CA, a CN that reads as a host name
        # would be refused by Java (tests/test_java_pkix.py): these CNs have spaces
        "mix-ed25519-client": {
            "kind": "client",
            "issuer": "rsa4096-int",
            "key": KEY_TYPES["ed25519"],
            "subject": {"CN": "mix ed25519 client"},
        },
        "mix-p256-server": {
            "kind": "server",
            "issuer": "ed448-int",
            "key": KEY_TYPES["p256"],
            "subject": {"CN": "mix p256 server"},
            "ip": ["127.0.0.2"],
        },
        "deep-root": {"kind": "root", "key": KEY_TYPES["p256"], "validity": "10y"},
        "deep-int1": {
            "kind": "intermediate",
            "issuer": "deep-root",
            "key": KEY_TYPES["p384"],
            "validity": "3y",
        },
        "deep-int2": {
            "kind": "intermediate",
            "issuer": "deep-int1",
            "key": KEY_TYPES["rsa2048"],
            "validity": "2y",
            "path_length": 0,
        },
        "deep-server": {
            "kind": "server",
            "issuer": "deep-int2",
            "key": KEY_TYPES["ed448"],
            "dns": ["deep.example.org"],
        },
    }
    return {
        "version": 1,
        "defaults": {"subject": {"C": "JP", "O": "pkiform e2e"}, "validity": "90d"},
        "identities": ids,
    }
