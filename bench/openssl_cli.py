"""The tutorial's workflow: one openssl process per step, three steps per certificate.

For every identity of an EC benchmark shape: `openssl genpkey` (a PKCS#8 key),
`openssl req -new` (a CSR) and `openssl x509 -req` with an extension file,
self-signed for the root and signed by the issuing CA's files otherwise, leaving
key.pem, req.csr, ext.cnf and cert.pem in OUT/<name>/. The extensions are
pkiform's profile (see floor.py); unlike pkiform, not_before is not backdated
(x509 -req has no option for it before OpenSSL 3.4). This script only drives
the processes.

Usage: python bench/openssl_cli.py SHAPE OUT
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import specs

CA_USAGE = "keyUsage = critical,keyCertSign,cRLSign\n"
SKI = "subjectKeyIdentifier = hash\n"
AKI = "authorityKeyIdentifier = keyid\n"


def openssl(*args: str | Path) -> None:
    argv = ["openssl", *map(str, args)]
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: exit {done.returncode}\n{done.stderr.decode()}")


def root_ext() -> str:
    return "basicConstraints = critical,CA:TRUE\n" + CA_USAGE + SKI


def intermediate_ext() -> str:
    return "basicConstraints = critical,CA:TRUE,pathlen:0\n" + CA_USAGE + SKI + AKI


def leaf_ext(index: int) -> str:
    usage = "serverAuth" if specs.leaf_is_server(index) else "clientAuth"
    return (
        "basicConstraints = critical,CA:FALSE\n"
        "keyUsage = critical,digitalSignature\n"
        f"extendedKeyUsage = {usage}\n"
        f"subjectAltName = DNS:{specs.leaf_dns(index)}\n" + SKI + AKI
    )


def signed_by(ca: Path) -> list[str | Path]:
    """x509 -req options to sign with the CA whose files are in folder `ca`."""
    serial: list[str | Path] = ["-CAserial", ca / "serial.srl", "-CAcreateserial"]
    return ["-CA", ca / "cert.pem", "-CAkey", ca / "key.pem", *serial]


def issue(folder: Path, ext: str, days: int, ca: Path | None) -> None:
    """Key, CSR and certificate of one identity, signed by the CA in folder `ca`."""
    folder.mkdir(parents=True)
    key, csr, cnf = folder / "key.pem", folder / "req.csr", folder / "ext.cnf"
    cert = folder / "cert.pem"
    cnf.write_text(ext)
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
    subj = f"/O={specs.ORGANIZATION}/CN={folder.name}"
    openssl("req", "-new", "-key", key, "-subj", subj, "-out", csr)
    sign = signed_by(ca) if ca else ["-signkey", key]
    period = ["-days", str(days), "-sha256"]
    openssl("x509", "-req", "-in", csr, *sign, *period, "-extfile", cnf, "-out", cert)


def main(argv: list[str]) -> int:
    shape = specs.SHAPES[argv[0]]
    out = Path(argv[1])
    if shape.leaf_key != specs.EC_P256 or shape.root_key != specs.EC_P256:
        raise SystemExit(f"{shape.name}: the openssl workflow covers EC P-256 shapes only")
    root, issuing = out / specs.ROOT, out / specs.INTERMEDIATE
    issue(root, root_ext(), specs.ROOT_VALIDITY.days, None)
    issue(issuing, intermediate_ext(), specs.INTERMEDIATE_VALIDITY.days, root)
    for index in range(1, shape.leaves + 1):
        issue(out / specs.leaf_name(index), leaf_ext(index), specs.LEAF_VALIDITY.days, issuing)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
