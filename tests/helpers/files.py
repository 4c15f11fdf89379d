"""What an output directory holds: to prove what changed and what did not, and to read
an identity's certificate, its archive and a file's mode."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

from cryptography import x509


def snapshot(directory: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file below `directory`: bytes, mtime (ns) and mode, to prove nothing changed."""
    found = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            st = path.stat()
            found[str(path.relative_to(directory))] = (
                path.read_bytes(),
                st.st_mtime_ns,
                st.st_mode,
            )
    return found


def digests(tree: Path) -> dict[str, str]:
    """Every file below `tree` -> the SHA-256 of its bytes (hex)."""
    return {
        str(p.relative_to(tree)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(tree.rglob("*"))
        if p.is_file()
    }


def cert_of(out: Path, name: str) -> x509.Certificate:
    """Identity `name`'s live certificate in the output directory `out`."""
    return x509.load_pem_x509_certificate((out / name / "cert.pem").read_bytes())


def archived(out: Path, name: str, pattern: str = "*.pem") -> list[Path]:
    """The files matching `pattern` that identity `name` replaced (its archive/<stamp>/),
    sorted: by stamp, so the oldest first."""
    folder = out / name / "archive"
    found = sorted(folder.rglob(pattern)) if folder.exists() else []
    misplaced = [str(p) for p in found if p.parent.parent != folder]
    assert misplaced == [], f"archived outside archive/<stamp>/: {misplaced}"
    return found


def mode(path: Path) -> int:
    """The permission bits of `path` (setuid, setgid and sticky included)."""
    return stat.S_IMODE(path.stat().st_mode)
