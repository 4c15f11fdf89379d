"""A real panic in native code (pyo3's PanicException), to show what pkiform does with it."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12


def panic_type() -> type[BaseException]:
    """pyo3's PanicException, made by a real panic: what native code raises past
    `except Exception`."""
    key = ec.generate_private_key(ec.SECP256R1())
    blob = pkcs12.serialize_key_and_certificates(
        b"k", key, None, None, BestAvailableEncryption(b"pw")
    )
    try:
        pkcs12.load_pkcs12(blob, b"a\0b")
    except BaseException as e:  # a panic is a BaseException by design
        assert not isinstance(e, Exception)
        return type(e)
    pytest.fail("cryptography no longer panics on a NUL in a PKCS#12 password")
