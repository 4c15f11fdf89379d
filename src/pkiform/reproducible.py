"""Reproducible mode as plan and apply run it: the seed as the command line and the API
give it, the spec it derives from, what it warns of, and the guard that never lets
derived keys mix with random ones."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from pkiform.disk import manifest
from pkiform.disk.observe import Observed
from pkiform.disk.store import Store
from pkiform.errors import PkiformError
from pkiform.formats.seed_id import seed_id_of
from pkiform.layout import CERT_FILE, KEY_FILE, SEED_ID
from pkiform.secrets.read import Refused, read_small_file
from pkiform.spec.model import ResolvedSpec
from pkiform.x509 import keys
from pkiform.x509.derive import Seed, SeedError

# what the API takes as a seed: the Seed, or its material
SeedLike = Seed | bytes | str


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


def _seed_from(origin: str, material: bytes) -> Seed:
    try:
        return Seed.from_bytes(material)
    except SeedError as e:
        raise PkiformError(f"{origin}: {e}") from None


def as_seed(seed: SeedLike | None) -> Seed | None:
    """The seed the API was given (None: random keys), checked; errors never quote it."""
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
    return _seed_from("seed", seed)


def for_seed(spec: ResolvedSpec, seed: Seed | None) -> ResolvedSpec:
    """A derived key depends on the seed, name and key spec only, so `rotate_key` could
    only ever give the same key back: in reproducible mode it is off (and said so)."""
    if seed is None or not any(i.rotate_key for i in spec.identities.values()):
        return spec
    identities = {n: dataclasses.replace(i, rotate_key=False) for n, i in spec.identities.items()}
    return dataclasses.replace(spec, identities=identities)


def seed_warnings(spec: ResolvedSpec, seed: Seed | None) -> tuple[str, ...]:
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


def refuse_mixing(store: Store, observed: Observed, seed: Seed | None) -> None:
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
