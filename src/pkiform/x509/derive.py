"""Reproducible mode: private keys and serial numbers derived from a secret seed.

The same seed, identity name and key spec give the same private key on every machine, and
the same certificate content gives the same serial number, so two applies write
byte-identical output directories. This is for development and test PKIs: whoever holds
the seed holds every private key derived from it. The keys are no stronger than the seed,
and the public seed id (like any derived public key) lets anyone check a guess of it, so
the seed must be random bytes (32 from /dev/urandom), never a password.

Construction, version 1 (a change to any output must change the "v1" labels):

* Seed: the secret bytes with one trailing "\\n" or "\\r\\n" removed, so a file written
  by `echo` and the same text in PKIFORM_SEED agree; at least 16 bytes must remain, not
  ending in "\\r" or "\\n" (what `$(cat FILE)` would drop or keep differently), with at
  least 8 distinct byte values and no repetition of a shorter sequence. These checks only
  refuse seeds; a seed they accept is used exactly as before them.
* Master key: PRK = HKDF-Extract(salt = "pkiform reproducible v1", IKM = seed) with
  SHA-256 (RFC 5869 §2.2). Every value below is OKM(info, L) = HKDF-Expand(PRK, info, L)
  where info = "pkiform/v1" 0x00 purpose, and for keys also 0x00 name 0x00 keyspec
  (UTF-8; keyspec as pkiform writes it: "ec P-256", "rsa 3072", "ed25519"). No field may
  contain NUL, so distinct inputs give distinct info strings and independent outputs.
* Seed id (public, for manifests): hex(OKM("pkiform/v1" 0x00 "seed-id", 16)).
* EC P-256/P-384/P-521, FIPS 186-5 A.2.1 ("extra random bits"): c = the big-endian
  integer of OKM(info, ceil((bitlen(n) + 64) / 8)), d = (c mod (n - 1)) + 1.
* Ed25519 / Ed448: the private key is OKM(info, 32) / OKM(info, 57) (RFC 8032 §5.1.5,
  §5.2.5: a private key is a string of random bytes).
* RSA, e = 65537, FIPS 186-5 A.1.3 (random probable primes): an HMAC_DRBG (SP 800-90A
  rev. 1 §10.1.2, HMAC-SHA-256, never reseeded) is instantiated with entropy_input ||
  nonce = OKM(info, 48) and personalization_string = info. Each prime candidate c is one
  Generate call of nlen/2 bits with the top two bits set (so c >= sqrt(2) * 2^(nlen/2-1)
  and n = pq has exactly nlen bits) and the low bit set. c is kept if gcd(c - 1, e) = 1,
  c has no prime factor below 2^16, and c passes Miller-Rabin (FIPS 186-5 B.3.1) with
  6/4/4 rounds at nlen 2048/3072/4096, each base one Generate call of nlen/2 bits,
  redrawn until 1 < b < c - 1. That is at least what FIPS 186-5 Table B.1 asks, and
  bounds the chance of a composite prime below 2^-128 (Damgard, Landrock, Pomerance 1993).
  p is drawn first, then q, redrawn until |p - q| > 2^(nlen/2 - 100); d = e^-1 mod
  lcm(p - 1, q - 1), and if d <= 2^(nlen/2) both are drawn again. Last, p and q are
  swapped if needed so that p > q.
* Serial: S = OKM("pkiform/v1" 0x00 "serial", 32); the serial is the first 20 bytes of
  HMAC-SHA-256(S, name 0x00 material) as a big-endian integer shifted right by one bit
  (159 bits, like x509.random_serial_number), with 0 replaced by 1.
"""

from __future__ import annotations

import functools
import hmac
import math
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from pkiform.spec.model import KeySpec, KeyType
from pkiform.x509.keys import CURVES, RSA_E, PrivateKey

_SALT = b"pkiform reproducible v1"
_LABEL = "pkiform/v1"
MIN_SEED_BYTES = 16
# obviously not random: one letter repeated, "passwordpassword". A random 16-character
# base64 seed has fewer distinct bytes with a probability of about 1e-7
MIN_DISTINCT_BYTES = 8
_SEED_ADVICE = "e.g. `head -c 32 /dev/urandom | base64`"

# each curve's group order n, from SEC 2 v2 §2.4.2, §2.5.1, §2.6.1; tests check them
# against OpenSSL's explicit parameters
_EC_ORDER: dict[str, int] = {
    "P-256": int("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551", 16),
    "P-384": int(
        "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf"
        "581a0db248b0a77aecec196accc52973",
        16,
    ),
    "P-521": int(
        "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
        "fa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409",
        16,
    ),
}

# Miller-Rabin rounds by prime size: the larger of FIPS 186-5 Table B.1's (5/4/4 for
# nlen 2048/3072/4096) and the fewest for which the Damgard-Landrock-Pomerance bound on a
# random candidate passing as prime is below 2^-128 (6/4/3; tests recompute it)
MR_ROUNDS = {1024: 6, 1536: 4, 2048: 4}
_SIEVE_LIMIT = 1 << 16


class SeedError(ValueError):
    """The reproducible-mode seed is unusable (too short, not random, ambiguous). The
    message never quotes it."""


@dataclass(frozen=True, slots=True, eq=False)
class Seed:
    """The secret of reproducible mode. Only the HKDF pseudorandom key is kept, and it is
    never shown: repr gives the public fingerprint."""

    _prk: bytes = field(repr=False)

    @classmethod
    def from_bytes(cls, material: bytes) -> Seed:
        """A seed from a file's or PKIFORM_SEED's bytes; one trailing newline is dropped.
        Raises SeedError for a seed that is too short or obviously not random."""
        for ending in (b"\r\n", b"\n"):
            if material.endswith(ending):
                material = material[: -len(ending)]
                break
        problem = _seed_problem(material)
        if problem is not None:
            raise SeedError(problem)
        # HKDF-Extract (RFC 5869 §2.2) is exactly this HMAC with the salt as key
        return cls(hmac.digest(_SALT, material, "sha256"))

    @property
    def fingerprint(self) -> str:
        """A one-way id of the seed: safe to record, tells which seed made a directory."""
        return _expand(self, _info("seed-id"), 16).hex()

    def __repr__(self) -> str:
        return f"Seed(fingerprint={self.fingerprint!r})"


def _seed_problem(material: bytes) -> str | None:
    """Why these bytes cannot be a seed, without quoting them; None when they can."""
    if material.endswith((b"\r", b"\n")):
        # a file "seed\r\r\n" or "seed\n\n" and PKIFORM_SEED="$(cat FILE)" would
        # otherwise give two seeds, and a 15-character seed would pass as 16
        return (
            "the seed ends with a carriage return or a second newline; only one trailing "
            "newline is ignored: remove the rest, or draw a new seed"
        )
    if len(material) < MIN_SEED_BYTES:
        return f"the seed must be at least {MIN_SEED_BYTES} bytes ({_SEED_ADVICE})"
    distinct = len(set(material))
    if distinct < MIN_DISTINCT_BYTES:
        plural = "byte" if distinct == 1 else "bytes"
        return (
            f"the seed has only {distinct} distinct {plural}; a seed must be random "
            f"({_SEED_ADVICE})"
        )
    period = _shortest_period(material)
    if period <= len(material) // 2:
        return (
            f"the seed repeats a sequence of {period} bytes; a seed must be random ({_SEED_ADVICE})"
        )
    return None


def _shortest_period(data: bytes) -> int:
    """The least p with data[i] == data[i + p] wherever both exist: the length of the
    data minus its longest proper border (the Knuth-Morris-Pratt failure function)."""
    border = [0] * len(data)
    k = 0
    for i in range(1, len(data)):
        while k and data[i] != data[k]:
            k = border[k - 1]
        if data[i] == data[k]:
            k += 1
        border[i] = k
    return len(data) - (border[-1] if data else 0)


def derive_key(seed: Seed, name: str, spec: KeySpec) -> PrivateKey:
    """The private key of identity `name` for `spec`, a pure function of the three."""
    info = _info("key", name, str(spec))
    if spec.type is KeyType.EC:
        curve, order = CURVES[spec.curve or ""], _EC_ORDER[spec.curve or ""]
        c = int.from_bytes(_expand(seed, info, (order.bit_length() + 64 + 7) // 8))
        return ec.derive_private_key(c % (order - 1) + 1, curve())
    if spec.type is KeyType.ED25519:
        return ed25519.Ed25519PrivateKey.from_private_bytes(_expand(seed, info, 32))
    if spec.type is KeyType.ED448:
        return ed448.Ed448PrivateKey.from_private_bytes(_expand(seed, info, 57))
    if spec.size not in (2048, 3072, 4096):
        raise ValueError(f"cannot derive an RSA key of {spec.size} bits")
    # 32 bytes of entropy input and a 16-byte nonce: SP 800-90A's minimums for a
    # 256-bit security strength with HMAC-SHA-256
    drbg = _HmacDrbg(_expand(seed, info, 48), personalization=info)
    return _rsa_key(drbg, spec.size)


def derive_serial(seed: Seed, name: str, material: bytes) -> int:
    """A 159-bit positive serial for the certificate of `name` that `material` identifies."""
    key = _expand(seed, _info("serial"), 32)
    digest = hmac.digest(key, _field(name) + b"\0" + material, "sha256")
    # ASN.1 integers are signed: 159 bits keep the DER at 20 bytes (RFC 5280 §4.1.2.2)
    return (int.from_bytes(digest[:20]) >> 1) or 1


class _HmacDrbg:
    """HMAC_DRBG with HMAC-SHA-256 (NIST SP 800-90A rev. 1 §10.1.2), without reseeding,
    prediction resistance or additional input: it stretches a derived secret, it does not
    gather entropy, and one key needs far fewer than the 2^48 requests allowed."""

    __slots__ = ("_key", "_value")

    MAX_REQUEST_BYTES = 1 << 16  # 2^19 bits (SP 800-90A Table 2)

    def __init__(self, entropy: bytes, nonce: bytes = b"", personalization: bytes = b"") -> None:
        self._key = b"\x00" * 32
        self._value = b"\x01" * 32
        self._update(entropy + nonce + personalization)

    def generate(self, size: int) -> bytes:
        """The next `size` bytes: one Generate call."""
        if not 0 < size <= self.MAX_REQUEST_BYTES:
            raise ValueError(f"an HMAC_DRBG request must be 1..{self.MAX_REQUEST_BYTES} bytes")
        out = bytearray()
        while len(out) < size:
            self._value = hmac.digest(self._key, self._value, "sha256")
            out += self._value
        self._update(b"")
        return bytes(out[:size])

    def _update(self, data: bytes) -> None:
        self._key = hmac.digest(self._key, self._value + b"\x00" + data, "sha256")
        self._value = hmac.digest(self._key, self._value, "sha256")
        if data:
            self._key = hmac.digest(self._key, self._value + b"\x01" + data, "sha256")
            self._value = hmac.digest(self._key, self._value, "sha256")


def _field(text: str) -> bytes:
    # NUL separates the fields of info and of the serial's HMAC input
    if "\0" in text:
        raise ValueError(f"{text!r} contains NUL")
    return text.encode()


def _info(purpose: str, *fields: str) -> bytes:
    return b"\0".join(_field(f) for f in (_LABEL, purpose, *fields))


def _expand(seed: Seed, info: bytes, length: int) -> bytes:
    return HKDFExpand(hashes.SHA256(), length, info).derive(seed._prk)


def _random_bits(drbg: _HmacDrbg, bits: int) -> int:
    """One Generate call, read as a `bits`-bit big-endian integer."""
    size = (bits + 7) // 8
    return int.from_bytes(drbg.generate(size)) >> (8 * size - bits)


def _rsa_key(drbg: _HmacDrbg, nlen: int) -> rsa.RSAPrivateKey:
    half = nlen // 2
    while True:
        p = _prime(drbg, half)
        q = _prime(drbg, half)
        # FIPS 186-5 A.1.3 step 5.5: p and q must not be close (Fermat factoring)
        while abs(p - q) <= 1 << (half - 100):
            q = _prime(drbg, half)
        d = pow(RSA_E, -1, math.lcm(p - 1, q - 1))
        # FIPS 186-5 A.1.1: a small d would allow Wiener/Boneh-Durfee attacks
        if d > 1 << half:
            break
    if p < q:
        p, q = q, p
    public = rsa.RSAPublicNumbers(RSA_E, p * q)
    numbers = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=rsa.rsa_crt_dmp1(d, p),
        dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q),
        public_numbers=public,
    )
    return numbers.private_key()


def _prime(drbg: _HmacDrbg, bits: int) -> int:
    top = 0b11 << (bits - 2)
    while True:
        candidate = _random_bits(drbg, bits) | top | 1
        if (
            (candidate - 1) % RSA_E != 0  # e is prime: gcd(c - 1, e) = 1
            and math.gcd(candidate, _small_primes_product()) == 1
            and _miller_rabin(drbg, candidate, MR_ROUNDS[bits])
        ):
            return candidate


def _miller_rabin(drbg: _HmacDrbg, w: int, rounds: int) -> bool:
    """FIPS 186-5 B.3.1: False if w is composite, True if w is probably prime."""
    a = ((w - 1) & -(w - 1)).bit_length() - 1
    m = (w - 1) >> a
    bits = w.bit_length()
    for _ in range(rounds):
        b = _random_bits(drbg, bits)
        while not 1 < b < w - 1:
            b = _random_bits(drbg, bits)
        z = pow(b, m, w)
        if z in (1, w - 1):
            continue
        for _ in range(a - 1):
            z = z * z % w
            if z == w - 1:
                break
            if z == 1:
                return False
        else:
            return False
    return True


@functools.cache
def _small_primes_product() -> int:
    """The product of the odd primes below 2^16: one gcd replaces 6,541 trial divisions."""
    sieve = bytearray([1]) * _SIEVE_LIMIT
    sieve[0:2] = b"\0\0"
    for i in range(2, math.isqrt(_SIEVE_LIMIT) + 1):
        if sieve[i]:
            sieve[i * i :: i] = bytes(len(range(i * i, _SIEVE_LIMIT, i)))
    return math.prod(i for i in range(3, _SIEVE_LIMIT, 2) if sieve[i])
