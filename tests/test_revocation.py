"""Revocation over a PKI's life, judged by independent verifiers (issue 3, "Tests").

CRLs are checked with `openssl verify -crl_check` / `-crl_check_all` and read back with
`openssl crl -text`; OCSP responses with `openssl ocsp -respin`; stapling with a real
`openssl s_server -status_file` handshake judged by `s_client -status`, `gnutls-cli
--ocsp` and `curl --cert-status` (and gnutls-serv to gnutls-cli); CRLs and OCSP responses
are linted with pkilint. Every positive check has a negative twin that shows the same
verifier can fail. Time moves with `--at`, never by sleeping.

OpenSSL note: `openssl ocsp -issuer CERT` does not only say which CA issued the
certificate: when the response does not verify against -CAfile, OpenSSL 3.0 retries with
the -issuer certificates trusted outright (apps/ocsp.c, OCSP_TRUSTOTHER), so
"Response verify OK" then proves nothing about -CAfile. The signature and chain are
therefore checked with `-verify_other ISSUER` and no `-issuer`; `-issuer`/`-cert` are
used only in a second run, to read the status OpenSSL finds for the certificate.
"""

from __future__ import annotations

import json
import re
import shutil
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pkiform.cache import settled
from pkiform.formats.pem import crl_files as revocation_files
from pkiform.spec.model import serial_text
from pkiform.x509.crl_entry import Revoked
from pkiform.x509.revocation import build_crl
from tests.helpers.files import archived, cert_of, snapshot
from tests.helpers.lint import errors, lint_crl, lint_ocsp
from tests.helpers.processes import TIMEOUT, Proc, Spawn
from tests.helpers.processes import free_port as _free_port
from tests.helpers.run import ApplySpec, RunCli, actions, apply_quietly, plan_json
from tests.helpers.tools import openssl, require_tool

HOUR = timedelta(hours=1)
BACKDATE = timedelta(minutes=5)  # design.md §2: not_before (and thisUpdate) a few minutes back

# spec reason -> how `openssl crl -text` names it (OpenSSL's crl_reasons table).
# "unspecified" is not here: RFC 5280 §5.3.1 encodes it by leaving the extension out.
CRL_REASON_TEXT = {
    "keyCompromise": "Key Compromise",
    "cACompromise": "CA Compromise",
    "affiliationChanged": "Affiliation Changed",
    "superseded": "Superseded",
    "cessationOfOperation": "Cessation Of Operation",
    "certificateHold": "Certificate Hold",
    "privilegeWithdrawn": "Privilege Withdrawn",
    "aACompromise": "AA Compromise",
}
# spec reason -> its CRLReason code (RFC 5280 §5.3.1); `openssl ocsp -resp_text` prints
# "Revocation Reason: NAME (0xCODE)", and OpenSSL 3.0's name table stops at
# certificateHold: privilegeWithdrawn and aACompromise come out as "(UNKNOWN)"
OCSP_REASON_CODE = {
    "unspecified": 0,
    "keyCompromise": 1,
    "cACompromise": 2,
    "affiliationChanged": 3,
    "superseded": 4,
    "cessationOfOperation": 5,
    "certificateHold": 6,
    "privilegeWithdrawn": 9,
    "aACompromise": 10,
}


def rev(reason: str) -> str:
    """The leaf revoked with `reason` in the shared PKI."""
    return f"rev-{reason.lower()}"


# the shared PKI's first apply (--at), three days back: its CRLs are still valid now. A
# revoked.at must fall between a certificate's notBefore and the clock, so every `at`
# of the revoking apply (now) lies between the two applies.
FIRST_APPLY = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=3)
# 12:04:05+09:00 two days after the first apply's date: 03:04:05 UTC that day
OFFSET_DAY = FIRST_APPLY.date() + timedelta(days=2)


def hours_in(hours: int) -> str:
    """`at` for a revocation `hours` and a half after the first apply."""
    return f"{FIRST_APPLY + timedelta(hours=hours):%Y-%m-%dT%H}:30:00Z"


# the spec's `at` for each revoked leaf (one with an offset, to see it turned into UTC)
REVOKED_AT = {
    "keyCompromise": f"{OFFSET_DAY}T12:04:05+09:00",
    **{reason: hours_in(i) for i, reason in enumerate(list(CRL_REASON_TEXT)[1:], start=1)},
}
REVOKED_AT_UTC = {
    reason: datetime.fromisoformat(text).astimezone(UTC) for reason, text in REVOKED_AT.items()
}

# issuer of every identity of the shared PKI
ISSUER: dict[str, str] = {
    "issuing": "root",
    "web": "issuing",
    "alice": "root",
    "old": "root",
    "direct": "root",
    "direct-gone": "root",
    "bad-int": "root",
    "bad-leaf": "bad-int",
    **{rev(r): "issuing" for r in [*CRL_REASON_TEXT, "unspecified"]},
}
CAS = ("root", "issuing", "bad-int")
OCSP_LEAVES = sorted(n for n in ISSUER if n not in CAS)


def pki_spec(*, revoked: bool) -> dict[str, Any]:
    """root -> issuing -> web and a leaf per revocation reason; root -> alice, old and
    the servers direct and direct-gone (their OCSP responses are signed by the root);
    root -> bad-int -> bad-leaf. With `revoked`, the rev-* leaves, old, direct-gone,
    bad-int and bad-leaf are revoked (as they would be after a first apply without it)."""
    ids: dict[str, dict[str, Any]] = {
        "root": {"kind": "root", "validity": "10y", "ocsp": True},
        "issuing": {
            "kind": "intermediate",
            "issuer": "root",
            "validity": "5y",
            "path_length": 0,
            "ocsp": True,
        },
        "web": {"kind": "server", "issuer": "issuing", "dns": ["localhost"], "ip": ["127.0.0.1"]},
        "alice": {"kind": "client", "issuer": "root"},
        "old": {"kind": "client", "issuer": "root"},
        "bad-int": {"kind": "intermediate", "issuer": "root", "ocsp": True},
        "bad-leaf": {"kind": "server", "issuer": "bad-int", "dns": ["bad.example.com"]},
    }
    for leaf in ("direct", "direct-gone"):
        ids[leaf] = {"kind": "server", "issuer": "root", "dns": ["localhost"], "ip": ["127.0.0.1"]}
    for reason in [*CRL_REASON_TEXT, "unspecified"]:
        ids[rev(reason)] = {"kind": "server", "issuer": "issuing", "dns": ["localhost"]}
    if revoked:
        for reason in CRL_REASON_TEXT:
            ids[rev(reason)]["revoked"] = {"reason": reason, "at": REVOKED_AT[reason]}
        ids[rev("unspecified")]["revoked"] = {"reason": "unspecified"}  # at: the apply's time
        ids["old"]["revoked"] = {"reason": "affiliationChanged", "at": hours_in(10)}
        ids["direct-gone"]["revoked"] = {"reason": "keyCompromise", "at": hours_in(11)}
        ids["bad-int"]["revoked"] = {"reason": "cACompromise", "at": hours_in(12)}
        ids["bad-leaf"]["revoked"] = {"reason": "cACompromise", "at": hours_in(12)}
    return {
        "version": 1,
        "defaults": {"key": {"type": "ec", "curve": "P-256"}, "subject": {"O": "Example"}},
        "identities": ids,
    }


@dataclass(frozen=True)
class Pki:
    out: Path  # applied without revocations, then with them
    other: Path  # the same spec applied elsewhere: same names, other keys
    first_crls: dict[str, Path]  # each CA's crl.pem after the first apply (nothing revoked)
    second_apply: tuple[datetime, datetime]  # the wall clock around the revoking apply

    def cert(self, ident: str) -> Path:
        return self.out / ident / "cert.pem"

    def issuer_cert(self, ident: str) -> Path:
        return self.cert(ISSUER[ident])

    def crl(self, ca: str) -> Path:
        return self.out / ca / "crl.pem"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """One PKI with every revocation reason, issued once for the tests that only read."""
    base = tmp_path_factory.mktemp("revocation")
    first, second = base / "first.yaml", base / "second.yaml"
    first.write_text(yaml.safe_dump(pki_spec(revoked=False)))
    second.write_text(yaml.safe_dump(pki_spec(revoked=True)))
    out, other = base / "pki", base / "other"
    apply_quietly(first, out, "--at", FIRST_APPLY.isoformat())
    apply_quietly(first, other)
    saved = base / "first-crls"
    first_crls = {}
    for ca in CAS:
        (saved / ca).mkdir(parents=True)
        first_crls[ca] = saved / ca / "crl.pem"
        shutil.copyfile(out / ca / "crl.pem", first_crls[ca])
    before = datetime.now(UTC).replace(microsecond=0)
    apply_quietly(second, out)
    after = datetime.now(UTC)
    return Pki(out=out, other=other, first_crls=first_crls, second_apply=(before, after))


# --- openssl helpers ---------------------------------------------------------------


def text(result: subprocess.CompletedProcess[bytes]) -> tuple[str, str]:
    return result.stdout.decode(), result.stderr.decode()


def verify(out: Path, ident: str, *crls: Path, check: str = "-crl_check") -> tuple[int, str]:
    """`openssl verify` of ident's certificate (in `out`) against its root with `crls`:
    (exit code, stdout + stderr)."""
    args: list[str | Path] = ["verify"]
    if check:
        args.append(check)
    for crl in crls:
        args += ["-CRLfile", crl]
    args += ["-CAfile", out / ident / "ca.pem"]
    if (out / ident / "chain.pem").read_bytes():
        args += ["-untrusted", out / ident / "chain.pem"]
    result = openssl(*args, out / ident / "cert.pem")
    stdout, stderr = text(result)
    return result.returncode, stdout + stderr


def openssl_date(when: datetime) -> str:
    """A time as OpenSSL prints it: `Jan  2 03:04:05 2026 GMT`."""
    return f"{when:%b} {when.day:>2} {when:%H:%M:%S %Y} GMT"


_CRL_ENTRY = re.compile(
    r"^    Serial Number: (?P<serial>[0-9A-F]+)\n(?P<body>(?:        .*\n)*)", re.M
)


def crl_listing(crl: Path) -> dict[int, str]:
    """serial -> its entry as `openssl crl -text` prints it (revocation date, extensions)."""
    result = openssl("crl", "-in", crl, "-text", "-noout")
    assert result.returncode == 0, result.stderr
    return {int(m["serial"], 16): m["body"] for m in _CRL_ENTRY.finditer(result.stdout.decode())}


def crl_fields(crl: Path) -> dict[str, str]:
    """crlNumber, lastUpdate and nextUpdate as `openssl crl` prints them."""
    result = openssl("crl", "-in", crl, "-noout", "-crlnumber", "-lastupdate", "-nextupdate")
    assert result.returncode == 0, result.stderr
    return dict(line.split("=", 1) for line in result.stdout.decode().splitlines())


def crl_number(crl: Path) -> int:
    return int(crl_fields(crl)["crlNumber"], 16)


def openssl_time(value: str) -> datetime:
    return datetime.strptime(value, "%b %d %H:%M:%S %Y GMT").replace(tzinfo=UTC)


def entry_reason(body: str) -> str | None:
    match = re.search(r"X509v3 CRL Reason Code: *\n +(.+)\n", body)
    return match[1] if match else None


def entry_date(body: str) -> str:
    match = re.search(r"Revocation Date: (.+)\n", body)
    assert match, body
    return match[1]


def serial_of(cert: Path) -> int:
    return x509.load_pem_x509_certificate(cert.read_bytes()).serial_number


def ocsp_serials(response_text: str) -> list[int]:
    """The serial numbers an OCSP response text answers for (its CertIDs)."""
    return [int(m, 16) for m in re.findall(r"^ +Serial Number: ([0-9A-F]+)$", response_text, re.M)]


def ocsp_check(response: Path, *, trust: Path, signer: Path) -> tuple[int, str, str]:
    """Verify an OCSP response's signature and the signer's chain up to `trust`; the
    response text on stdout, OpenSSL's verdict on stderr."""
    result = openssl(
        "ocsp",
        "-respin",
        response,
        "-resp_text",
        "-no_nonce",
        "-CAfile",
        trust,
        "-verify_other",
        signer,
    )
    stdout, stderr = text(result)
    return result.returncode, stdout, stderr


def ocsp_lookup(response: Path, *, trust: Path, issuer: Path, cert: Path) -> tuple[int, str]:
    """The status `openssl ocsp` finds in the response for `cert` (CertID by issuer). Its
    "Response verify OK" means little here: with -issuer, OpenSSL trusts the issuer as
    a fallback (see the module docstring); ocsp_check is the verification."""
    result = openssl(
        "ocsp",
        "-respin",
        response,
        "-no_nonce",
        "-CAfile",
        trust,
        "-verify_other",
        issuer,
        "-issuer",
        issuer,
        "-cert",
        cert,
    )
    stdout, stderr = text(result)
    return result.returncode, stdout + stderr


# --- openssl verify with the CRLs -------------------------------------------------------


@pytest.mark.parametrize("ident", ["web", "alice"])
def test_crl_check_accepts_a_valid_leaf(pki: Pki, ident: str) -> None:
    crl = pki.crl(ISSUER[ident])
    code, output = verify(pki.out, ident, crl)
    assert code == 0, output
    assert output == f"{pki.cert(ident)}: OK\n"


@pytest.mark.parametrize("ident", [*(rev(r) for r in [*CRL_REASON_TEXT, "unspecified"]), "old"])
def test_crl_check_rejects_a_revoked_leaf(pki: Pki, ident: str) -> None:
    code, output = verify(pki.out, ident, pki.crl(ISSUER[ident]))
    assert code != 0
    assert "error 23 at 0 depth lookup: certificate revoked" in output
    assert "OK" not in output
    # the twin: the same certificate without a CRL check is fine; the CRL is what refuses it
    code, output = verify(pki.out, ident, check="")
    assert code == 0, output


def test_crl_check_needs_the_crl_it_checks(pki: Pki) -> None:
    code, output = verify(pki.out, "web", check="")
    assert code == 0, output
    code, output = verify(pki.out, "web", check="-crl_check")  # no -CRLfile: nothing to check
    assert code != 0
    assert "error 3 at 0 depth lookup: unable to get certificate CRL" in output


def test_crl_check_all_accepts_a_valid_two_level_chain(pki: Pki, tmp_path: Path) -> None:
    both = [pki.crl("issuing"), pki.crl("root")]
    code, output = verify(pki.out, "web", *both, check="-crl_check_all")
    assert code == 0, output
    # one file with both CRLs does the same
    bundle = tmp_path / "crls.pem"
    bundle.write_bytes(b"".join(p.read_bytes() for p in both))
    code, output = verify(pki.out, "web", bundle, check="-crl_check_all")
    assert code == 0, output
    # twin: without the root's CRL the intermediate cannot be checked
    code, output = verify(pki.out, "web", pki.crl("issuing"), check="-crl_check_all")
    assert code != 0
    assert "error 3 at 1 depth lookup: unable to get certificate CRL" in output


def test_crl_check_all_rejects_a_revoked_leaf_of_a_two_level_chain(pki: Pki) -> None:
    ident = rev("keyCompromise")
    code, output = verify(
        pki.out, ident, pki.crl("issuing"), pki.crl("root"), check="-crl_check_all"
    )
    assert code != 0
    assert "error 23 at 0 depth lookup: certificate revoked" in output


def test_a_revoked_intermediate_fails_its_leaves_under_crl_check_all(pki: Pki) -> None:
    # the intermediate itself is on the root's CRL
    code, output = verify(pki.out, "bad-int", pki.crl("root"))
    assert code != 0
    assert "error 23 at 0 depth lookup: certificate revoked" in output
    # its leaf (revoked too, as the rules require) is on the intermediate's CRL...
    code, output = verify(
        pki.out, "bad-leaf", pki.crl("bad-int"), pki.crl("root"), check="-crl_check_all"
    )
    assert code != 0
    assert "error 23 at 0 depth lookup: certificate revoked" in output
    code, output = verify(pki.out, "bad-leaf", pki.crl("bad-int"))
    assert code != 0
    assert "error 23 at 0 depth lookup: certificate revoked" in output
    # ...and even with the intermediate's CRL from before anything was revoked, the chain
    # fails one level up: the intermediate's revocation alone is enough under -crl_check_all
    old_crl = pki.first_crls["bad-int"]
    code, output = verify(pki.out, "bad-leaf", old_crl, pki.crl("root"), check="-crl_check_all")
    assert code != 0
    assert "error 23 at 1 depth lookup: certificate revoked" in output
    # the twin: checking only the leaf against that old CRL does not see it
    code, output = verify(pki.out, "bad-leaf", old_crl)
    assert code == 0, output


# --- what the CRLs say --------------------------------------------------------------------


@pytest.mark.parametrize("reason", list(CRL_REASON_TEXT))
def test_crl_lists_the_spec_reason_and_revocation_date(pki: Pki, reason: str) -> None:
    listing = crl_listing(pki.crl("issuing"))
    body = listing[serial_of(pki.cert(rev(reason)))]
    assert entry_reason(body) == CRL_REASON_TEXT[reason]
    assert entry_date(body) == openssl_date(REVOKED_AT_UTC[reason])


def test_an_offset_in_revoked_at_is_turned_into_utc(pki: Pki) -> None:
    body = crl_listing(pki.crl("issuing"))[serial_of(pki.cert(rev("keyCompromise")))]
    assert REVOKED_AT["keyCompromise"].endswith("T12:04:05+09:00")
    utc = datetime(OFFSET_DAY.year, OFFSET_DAY.month, OFFSET_DAY.day, 3, 4, 5, tzinfo=UTC)
    assert entry_date(body) == openssl_date(utc)


def test_unspecified_reason_is_encoded_by_omitting_the_extension(pki: Pki) -> None:
    listing = crl_listing(pki.crl("issuing"))
    body = listing[serial_of(pki.cert(rev("unspecified")))]
    assert "CRL Reason Code" not in body
    assert "CRL entry extensions" not in body
    # no `at` in the spec: the time of the apply that first listed it, backdated as the
    # CRL's thisUpdate is (never after it: RFC 5280, zlint's
    # e_crl_revocation_time_after_this_update)
    when = openssl_time(entry_date(body))
    before, after = pki.second_apply
    assert before - BACKDATE <= when <= after - BACKDATE
    assert when == openssl_time(crl_fields(pki.crl("issuing"))["lastUpdate"])
    # the twin: every other entry does carry its reason
    others = [b for s, b in listing.items() if s != serial_of(pki.cert(rev("unspecified")))]
    assert len(others) == len(CRL_REASON_TEXT)
    assert all(entry_reason(b) is not None for b in others)


def test_each_crl_lists_exactly_what_its_ca_revoked(pki: Pki) -> None:
    issuing = {serial_of(pki.cert(rev(r))) for r in [*CRL_REASON_TEXT, "unspecified"]}
    assert set(crl_listing(pki.crl("issuing"))) == issuing
    root = {
        serial_of(pki.cert("old")): "Affiliation Changed",
        serial_of(pki.cert("direct-gone")): "Key Compromise",
        serial_of(pki.cert("bad-int")): "CA Compromise",
    }
    assert {s: entry_reason(b) for s, b in crl_listing(pki.crl("root")).items()} == root
    assert set(crl_listing(pki.crl("bad-int"))) == {serial_of(pki.cert("bad-leaf"))}
    assert serial_of(pki.cert("web")) not in issuing


def ocsp_times(response_text: str) -> dict[str, datetime]:
    """Produced At, This Update and Revocation Time (if any) of `openssl ocsp -resp_text`."""
    found = re.findall(r"^ *(Produced At|This Update|Revocation Time): (.+)$", response_text, re.M)
    return {field: openssl_time(value) for field, value in found}


def test_no_revocation_time_is_after_this_update_or_produced_at(pki: Pki) -> None:
    """RFC 5280 §5.1.2.4 / RFC 6960 §4.2.1: a CRL or OCSP response states what was so at
    its thisUpdate (producedAt), so no revocation it lists comes later: not the spec's
    `at`s, not the default time (rev-unspecified), whose thisUpdate is backdated."""
    checked = 0
    for ca in CAS:
        this_update = openssl_time(crl_fields(pki.crl(ca))["lastUpdate"])
        for serial, body in crl_listing(pki.crl(ca)).items():
            assert openssl_time(entry_date(body)) <= this_update, (ca, f"{serial:x}")
            checked += 1
    assert checked == len(CRL_REASON_TEXT) + 1 + 3 + 1  # issuing, root, bad-int
    for ident in OCSP_LEAVES:
        _, out, _ = ocsp_check(
            pki.out / ident / "ocsp.der",
            trust=pki.out / ident / "ca.pem",
            signer=pki.issuer_cert(ident),
        )
        times = ocsp_times(out)
        assert times["This Update"] <= times["Produced At"], ident
        if "Revocation Time" in times:
            assert times["Revocation Time"] <= times["This Update"], ident
            checked += 1
    assert checked == 2 * (len(CRL_REASON_TEXT) + 1 + 3 + 1) - 1  # bad-int is no OCSP leaf


@pytest.mark.parametrize("ca", CAS)
def test_crl_is_v2_numbered_signed_and_names_its_ca_key(pki: Pki, ca: str) -> None:
    crl = pki.crl(ca)
    result = openssl("crl", "-in", crl, "-text", "-noout", "-CAfile", pki.cert(ca))
    out, err = text(result)
    assert result.returncode == 0, err
    assert "verify OK" in err
    assert "Version 2 (0x1)" in out
    assert "X509v3 CRL Number:" in out
    ski = openssl("x509", "-in", pki.cert(ca), "-noout", "-ext", "subjectKeyIdentifier")
    key_id = ski.stdout.decode().split("\n", 1)[1].strip()
    assert re.search(rf"X509v3 Authority Key Identifier: *\n +(keyid:)?{key_id}\n", out), out
    # crl.der is the same CRL
    der = openssl("crl", "-in", crl, "-outform", "DER")
    assert der.stdout == (pki.out / ca / "crl.der").read_bytes()
    # the twin: the CA of the same name in another PKI did not sign it (OpenSSL 3.0's
    # `openssl crl` says so on stderr but still exits 0)
    result = openssl("crl", "-in", crl, "-noout", "-CAfile", pki.other / ca / "cert.pem")
    assert result.stderr.decode() == "verify failure\n"


# --- OCSP responses ----------------------------------------------------------------------


@pytest.mark.parametrize("ident", OCSP_LEAVES)
def test_every_ocsp_response_verifies_against_the_root(pki: Pki, ident: str) -> None:
    response = pki.out / ident / "ocsp.der"
    trust = pki.out / ident / "ca.pem"
    code, out, err = ocsp_check(response, trust=trust, signer=pki.issuer_cert(ident))
    assert code == 0, err
    assert "Response verify OK" in err
    assert "OCSP Response Status: successful (0x0)" in out
    assert ocsp_serials(out) == [serial_of(pki.cert(ident))]
    revoked = ident not in ("web", "alice", "direct")
    assert f"Cert Status: {'revoked' if revoked else 'good'}" in out
    # and looked up by CertID, as a client holding the certificate would
    code, found = ocsp_lookup(
        response, trust=trust, issuer=pki.issuer_cert(ident), cert=pki.cert(ident)
    )
    assert code == 0, found
    assert f"{pki.cert(ident)}: {'revoked' if revoked else 'good'}\n" in found


@pytest.mark.parametrize("ident", OCSP_LEAVES)
def test_every_ocsp_response_carries_its_signer_and_verifies_with_the_trust_anchor_alone(
    pki: Pki, ident: str
) -> None:
    """A stapling server sends its chain without the root, and a client has only its
    trust anchor: the response carries its signer's certificate (RFC 6960 §4.2.1 certs),
    so OpenSSL verifies it with nothing else given (no -verify_other)."""
    response = pki.out / ident / "ocsp.der"
    parsed = x509.ocsp.load_der_ocsp_response(response.read_bytes())
    signer = x509.load_pem_x509_certificate(pki.issuer_cert(ident).read_bytes())
    assert parsed.certificates == [signer]
    args = ["ocsp", "-respin", response, "-no_nonce", "-CAfile", pki.out / ident / "ca.pem"]
    result = openssl(*args)
    assert result.returncode == 0, result.stderr
    assert result.stderr.decode() == "Response verify OK\n"
    # the twin: the trust anchor of the other PKI (same names, other keys) refuses it
    result = openssl(*args[:-1], pki.other / ident / "ca.pem")
    assert result.returncode != 0
    assert "Response Verify Failure" in result.stderr.decode()


@pytest.mark.parametrize("reason", list(OCSP_REASON_CODE))
def test_ocsp_response_of_a_revoked_leaf_carries_reason_and_time(pki: Pki, reason: str) -> None:
    ident = rev(reason)
    _, out, _ = ocsp_check(
        pki.out / ident / "ocsp.der",
        trust=pki.out / ident / "ca.pem",
        signer=pki.issuer_cert(ident),
    )
    assert "Cert Status: revoked" in out
    match = re.search(r"Revocation Reason: (.+) \((0x[0-9a-f]+)\)\n", out)
    assert match, out
    code = OCSP_REASON_CODE[reason]
    assert int(match[2], 16) == code
    assert match[1] == reason or (code > 6 and match[1] == "(UNKNOWN)")
    if reason in REVOKED_AT_UTC:
        assert f"Revocation Time: {openssl_date(REVOKED_AT_UTC[reason])}" in out


def test_ocsp_response_fails_against_another_root(pki: Pki) -> None:
    response = pki.out / "web" / "ocsp.der"
    # the other PKI's root has the same name, not the same key
    code, _, err = ocsp_check(
        response, trust=pki.other / "root" / "ca.pem", signer=pki.issuer_cert("web")
    )
    assert code != 0
    assert "Response Verify Failure" in err
    # and a response the other PKI signed for its own "web" fails against our root
    code, _, err = ocsp_check(
        pki.other / "web" / "ocsp.der",
        trust=pki.out / "web" / "ca.pem",
        signer=pki.issuer_cert("web"),
    )
    assert code != 0
    assert "Response Verify Failure" in err


def test_ocsp_response_is_for_its_own_certificate_only(pki: Pki) -> None:
    # web's response, asked about another leaf of the same CA: no status for it
    code, found = ocsp_lookup(
        pki.out / "web" / "ocsp.der",
        trust=pki.out / "web" / "ca.pem",
        issuer=pki.issuer_cert("web"),
        cert=pki.cert(rev("keyCompromise")),
    )
    assert code != 0
    assert "No Status found" in found


# --- stapling in a real TLS handshake ------------------------------------------------------


def stapling_server(
    spawn: Spawn,
    ident: Path,
    *,
    staple: Path | None,
    version: str = "-tls1_3",
    chain: Path | None = None,
    www: bool = False,
) -> int:
    """s_server presenting ident's certificate and `chain` (default: its chain.pem, if
    it holds anything), and nothing else; stapling `staple` if given; `www` answers
    HTTP requests."""
    if chain is None and (ident / "chain.pem").read_bytes():
        chain = ident / "chain.pem"
    server: Proc | None = None
    for _ in range(5):
        port = _free_port()
        args: list[str | Path] = [
            "s_server",
            "-accept",
            str(port),
            "-cert",
            ident / "cert.pem",
            "-key",
            ident / "key.pem",
            # no -CAfile: s_server would complete the chain from it, root included, as
            # real servers (nginx: ssl_certificate) do not
            version,
        ]
        if chain is not None:
            args += ["-cert_chain", chain]
        if staple is not None:
            args += ["-status_file", staple]
        if www:
            args.append("-www")
        server = spawn(*args)
        if server.wait_for("ACCEPT"):
            return port
        server.stop()
    pytest.fail(f"openssl s_server did not start: {server.text if server else ''}")


def stapling_client(spawn: Spawn, port: int, trust: Path, version: str) -> Proc:
    client = spawn(
        "s_client",
        "-connect",
        f"127.0.0.1:{port}",
        "-status",
        "-CAfile",
        trust,
        "-verify_return_error",
        "-verify_hostname",
        "localhost",
        version,
    )
    assert client.wait_for("Verify return code:"), client.text
    client.close_input()
    assert client.popen.wait(TIMEOUT) == 0, client.text
    return client


def one_shot(*argv: str | Path) -> tuple[int, str]:
    """A client that connects, judges, and exits: (exit code, stdout + stderr)."""
    result = subprocess.run(
        [str(a) for a in argv],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=3 * TIMEOUT,
        check=False,
    )
    stdout, stderr = text(result)
    return result.returncode, stdout + stderr


def gnutls_cli(port: int, trust: Path, saved: Path) -> tuple[int, str]:
    """`gnutls-cli --ocsp`: the handshake, the chain and the stapled response checked by
    GnuTLS (it then asks no responder: the staple answers); the staple saved to `saved`."""
    program = require_tool("gnutls-cli", "gnutls-bin")
    return one_shot(
        program, "--ocsp", "--x509cafile", trust, "--verify-hostname", "localhost",
        "--save-ocsp", saved, "--port", str(port), "127.0.0.1",
    )  # fmt: skip


def curl_cert_status(port: int, trust: Path) -> tuple[int, str]:
    """`curl --cert-status`: an HTTPS request that fails unless the staple verifies."""
    program = require_tool("curl", "curl")
    return one_shot(
        program, "-sS", "-o", "/dev/null", "--cert-status", "--cacert", trust,
        "--resolve", f"localhost:{port}:127.0.0.1", f"https://localhost:{port}/",
    )  # fmt: skip


# leaves whose staples the clients judge: (signer, status); a TLS server sends no root, so
# a root-signed response must carry the root's certificate itself (RFC 6960 §4.2.1 certs)
STAPLED = {
    "direct": ("root", "good"),
    "direct-gone": ("root", "revoked"),
    "web": ("issuing", "good"),
    rev("keyCompromise"): ("issuing", "revoked"),
}
GNUTLS_TRUSTED = "- Status: The certificate is trusted. \n"
GNUTLS_REVOKED = "- Status: The certificate is NOT trusted. The certificate chain is revoked. \n"
GNUTLS_INVALID = "The received OCSP status response is invalid"


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
@pytest.mark.parametrize("ident", ["web", "direct"])
def test_server_staples_a_good_ocsp_response(
    pki: Pki, spawn: Spawn, ident: str, version: str
) -> None:
    folder = pki.out / ident
    port = stapling_server(spawn, folder, staple=folder / "ocsp.der", version=version)
    client = stapling_client(spawn, port, folder / "ca.pem", version)
    assert "Verify return code: 0 (ok)" in client.text
    assert "OCSP response: no response sent" not in client.text
    assert "OCSP Response Status: successful (0x0)" in client.text
    assert "Cert Status: good" in client.text
    assert ocsp_serials(client.text) == [serial_of(folder / "cert.pem")]


@pytest.mark.parametrize("ident", ["direct-gone", rev("keyCompromise")])
def test_server_staples_a_revoked_ocsp_response(pki: Pki, spawn: Spawn, ident: str) -> None:
    folder = pki.out / ident
    port = stapling_server(spawn, folder, staple=folder / "ocsp.der")
    client = stapling_client(spawn, port, folder / "ca.pem", "-tls1_3")
    assert "OCSP Response Status: successful (0x0)" in client.text
    assert "Cert Status: revoked" in client.text
    assert "Revocation Reason: keyCompromise (0x1)" in client.text


def test_server_without_status_file_staples_nothing(pki: Pki, spawn: Spawn) -> None:
    web = pki.out / "web"
    port = stapling_server(spawn, web, staple=None)
    client = stapling_client(spawn, port, web / "ca.pem", "-tls1_3")
    assert "Verify return code: 0 (ok)" in client.text  # the handshake itself is fine
    assert "OCSP response: no response sent" in client.text
    assert "Cert Status" not in client.text


@pytest.mark.parametrize("ident", list(STAPLED))
def test_gnutls_cli_accepts_the_staple_whoever_signed_it(
    pki: Pki, spawn: Spawn, tmp_path: Path, ident: str
) -> None:
    folder, (_, status) = pki.out / ident, STAPLED[ident]
    port = stapling_server(spawn, folder, staple=folder / "ocsp.der")
    saved = tmp_path / "staple.der"
    code, output = gnutls_cli(port, folder / "ca.pem", saved)
    assert GNUTLS_INVALID not in output
    assert saved.read_bytes() == (folder / "ocsp.der").read_bytes()  # judged: the staple
    if status == "good":
        assert (code, GNUTLS_TRUSTED in output) == (0, True), output
    else:
        assert (code, GNUTLS_REVOKED in output) == (1, True), output
        assert "|<1>| The certificate was revoked via OCSP\n" in output


@pytest.mark.parametrize("staple", ["another certificate's", "another CA's"])
def test_gnutls_cli_refuses_a_staple_for_another_certificate_or_from_another_ca(
    pki: Pki, spawn: Spawn, tmp_path: Path, staple: str
) -> None:
    """The twin: the same handshake with the wrong response fails (GnuTLS then finds no
    usable staple, and no responder to ask)."""
    folder = pki.out / "direct"
    wrong = (
        pki.out / "alice" / "ocsp.der"
        if staple.startswith("another cert")
        else (
            pki.other / "direct" / "ocsp.der"  # the same names, another root key
        )
    )
    port = stapling_server(spawn, folder, staple=wrong)
    code, output = gnutls_cli(port, folder / "ca.pem", tmp_path / "staple.der")
    assert code == 1, output
    assert GNUTLS_TRUSTED not in output


def test_gnutls_serv_staples_a_root_signed_response_gnutls_cli_accepts(
    pki: Pki, tmp_path: Path
) -> None:
    """GnuTLS at both ends: gnutls-serv checks at start-up that the response is for the
    certificate it serves (a wrong one is refused there), then staples it."""
    serve = require_tool("gnutls-serv", "gnutls-bin")
    folder = pki.out / "direct"
    refused = one_shot(
        serve, "--x509certfile", folder / "cert.pem", "--x509keyfile", folder / "key.pem",
        "--ocsp-response", pki.out / "alice" / "ocsp.der", "--port", str(_free_port()),
    )  # fmt: skip
    assert refused[0] == 1
    assert "The OCSP response provided doesn't match the available certificates" in refused[1]
    for _ in range(5):
        port = _free_port()
        server = Proc(
            [str(serve), "--x509certfile", str(folder / "cert.pem"), "--x509keyfile",
             str(folder / "key.pem"), "--ocsp-response", str(folder / "ocsp.der"),
             "--port", str(port)]
        )  # fmt: skip
        try:
            if not server.wait_for("listening on IPv4"):
                continue
            code, output = gnutls_cli(port, folder / "ca.pem", tmp_path / "staple.der")
            assert (code, GNUTLS_TRUSTED in output) == (0, True), output
            assert (tmp_path / "staple.der").read_bytes() == (folder / "ocsp.der").read_bytes()
            return
        finally:
            server.stop()
    pytest.fail("gnutls-serv did not start")


@pytest.mark.parametrize("ident", list(STAPLED))
def test_curl_accepts_the_staple_when_the_server_sends_its_signer(
    pki: Pki, spawn: Spawn, ident: str
) -> None:
    """curl (OpenSSL) looks the response up by the issuer's certificate in the chain the
    server sends: a leaf issued by a root is served with the root as its chain (README)."""
    folder, (signer, status) = pki.out / ident, STAPLED[ident]
    chain = folder / ("ca.pem" if signer == "root" else "chain.pem")
    port = stapling_server(spawn, folder, staple=folder / "ocsp.der", chain=chain, www=True)
    code, output = curl_cert_status(port, folder / "ca.pem")
    if status == "good":
        assert (code, output) == (0, "")
    else:
        assert code == 91
        assert output == "curl: (91) SSL certificate revocation reason: keyCompromise (1)\n"


def test_curl_cannot_look_up_a_root_signed_staple_without_the_root_in_the_chain(
    pki: Pki, spawn: Spawn
) -> None:
    """The twin, and why README says to serve the root: without it curl cannot even
    compute the response's CertID."""
    folder = pki.out / "direct"
    port = stapling_server(spawn, folder, staple=folder / "ocsp.der", www=True)
    code, output = curl_cert_status(port, folder / "ca.pem")
    assert (code, output) == (91, "curl: (91) Error computing OCSP ID\n")
    # and with the root but another certificate's response, it refuses that too
    port = stapling_server(
        spawn, folder, staple=pki.out / "alice" / "ocsp.der", chain=folder / "ca.pem", www=True
    )
    code, output = curl_cert_status(port, folder / "ca.pem")
    assert code == 91 and output.startswith("curl: (91) "), output


# --- pkilint (tests/helpers/lint.py) ------------------------------------------------------


@pytest.mark.parametrize("ca", CAS)
def test_every_crl_lints_clean(pki: Pki, ca: str) -> None:
    for crl in (pki.out / ca / "crl.der", pki.first_crls[ca]):
        der = (
            crl.read_bytes()
            if crl.suffix == ".der"
            else x509.load_pem_x509_crl(crl.read_bytes()).public_bytes(serialization.Encoding.DER)
        )
        found = errors(lint_crl(der))
        assert found == [], "\n".join(map(str, found))


@pytest.mark.parametrize("ident", OCSP_LEAVES)
def test_every_ocsp_response_lints_clean(pki: Pki, ident: str) -> None:
    found = errors(lint_ocsp((pki.out / ident / "ocsp.der").read_bytes()))
    assert found == [], "\n".join(map(str, found))


def test_the_crl_linter_reports_a_crl_without_a_number() -> None:
    """The control: a CRL that breaks RFC 5280 §5.2.3 (no CRL number) is reported."""
    key = ec.generate_private_key(ec.SECP256R1())
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hand-built CA")])
    now = datetime.now(UTC).replace(microsecond=0)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer)
        .last_update(now)
        .next_update(now + timedelta(days=1))
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
    )
    good = builder.add_extension(x509.CRLNumber(1), critical=False).sign(key, hashes.SHA256())
    assert errors(lint_crl(good.public_bytes(serialization.Encoding.DER))) == []
    bad = builder.sign(key, hashes.SHA256())
    codes = {f.code for f in errors(lint_crl(bad.public_bytes(serialization.Encoding.DER)))}
    assert codes == {"pkix.crl_number_missing"}


# --- renewal and key rotation (each test applies its own PKI) ------------------------------


LEAF_SPEC = """\
version: 1
defaults:
  key: {{type: ec, curve: P-256}}{defaults}
identities:
  root: {{kind: root, validity: 10y}}
  web:
    kind: server
    issuer: root
    dns: [web.example.com]
    validity: 90d
    renew_before: 30d{leaf}
"""


@pytest.mark.parametrize("rotate", ["no", "identity", "defaults"])
def test_renewal_an_hour_past_the_point_keeps_or_rotates_the_key(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path, rotate: str
) -> None:
    spec = write_spec(
        LEAF_SPEC.format(
            defaults="\n  rotate_key: true" if rotate == "defaults" else "",
            leaf="\n    rotate_key: true" if rotate == "identity" else "",
        )
    )
    out = tmp_path / "pki"
    assert run_cli("apply", spec, "-o", out).code == 0
    old_key = (out / "web" / "key.pem").read_bytes()
    old_cert = (out / "web" / "cert.pem").read_bytes()
    not_after = cert_of(out, "web").not_valid_after_utc
    renew_at = not_after - timedelta(days=30)

    _, early = plan_json(run_cli, spec, out, "--at", (renew_at - HOUR).isoformat())
    assert actions(early)["web"]["verb"] == "unchanged"
    assert actions(early)["root"]["verb"] == "unchanged"

    late_at = (renew_at + HOUR).isoformat()
    code, late = plan_json(run_cli, spec, out, "--at", late_at)
    assert code == 2
    web = actions(late)["web"]
    assert web["reasons"][0] == f"expires {not_after:%Y-%m-%d} (in 29d) < renew_before 30d"
    if rotate == "no":
        assert web["verb"] == "reissue"
        assert all("rotate_key" not in r for r in web["reasons"])
    else:
        assert web["verb"] == "rekey"
        assert "rotate_key: a fresh key at every reissue" in web["reasons"]
    assert actions(late)["root"]["verb"] == "unchanged"  # root has years left
    text_plan = run_cli("plan", spec, "-o", out, "--at", late_at).out
    symbol = "~" if rotate == "no" else "-/+"
    assert f"{symbol} web (server): " in text_plan

    assert run_cli("apply", spec, "-o", out, "--at", late_at).code == 0
    new_key = (out / "web" / "key.pem").read_bytes()
    assert cert_of(out, "web").not_valid_after_utc > not_after
    assert [p.read_bytes() for p in archived(out, "web", "cert.pem")] == [old_cert]
    if rotate == "no":
        assert new_key == old_key
        assert archived(out, "web", "key.pem") == []
    else:
        assert new_key != old_key
        [kept] = archived(out, "web", "key.pem")
        assert kept.read_bytes() == old_key
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE((out / "web" / "key.pem").stat().st_mode) == 0o600
    # the new certificate is for the key on disk
    assert (
        cert_of(out, "web").public_key()
        == serialization.load_pem_private_key(new_key, None).public_key()
    )
    assert run_cli("plan", spec, "-o", out, "--at", late_at).code == 0


CA_SPEC = """\
version: 1
defaults:
  key: {{type: ec, curve: P-256}}
identities:
  root: {{kind: root, validity: 10y}}
  issuing:
    kind: intermediate
    issuer: root
    validity: 60d
    renew_before: 20d{rotate}
  web: {{kind: server, issuer: issuing, dns: [web.example.com], validity: 1y}}
  api: {{kind: server, issuer: issuing, dns: [api.example.com], validity: 1y}}
"""


@pytest.mark.parametrize("rotate", [True, False])
def test_renewing_a_ca_with_rotate_key_reissues_everything_below(
    applied: ApplySpec, run_cli: RunCli, rotate: bool
) -> None:
    # the leaves outlive the CA, so they end with it (clamped) and are never due on their
    # own: only what happens to the CA reissues them
    spec, out = applied(CA_SPEC.format(rotate="\n    rotate_key: true" if rotate else ""))
    keys = {n: (out / n / "key.pem").read_bytes() for n in ("root", "issuing", "web", "api")}
    renew_at = cert_of(out, "issuing").not_valid_after_utc - timedelta(days=20)

    _, early = plan_json(run_cli, spec, out, "--at", (renew_at - HOUR).isoformat())
    assert {n: a["verb"] for n, a in actions(early).items()} == dict.fromkeys(keys, "unchanged")

    at = renew_at + HOUR
    code, late = plan_json(run_cli, spec, out, "--at", at.isoformat())
    assert code == 2
    verbs = {n: a["verb"] for n, a in actions(late).items()}
    assert verbs == {
        "root": "unchanged",
        "issuing": "rekey" if rotate else "reissue",
        "web": "reissue",
        "api": "reissue",
    }
    cause = "gets a new key" if rotate else "is reissued"
    for leaf in ("web", "api"):
        assert actions(late)[leaf]["reasons"] == [f"issuer 'issuing' {cause}"]
        assert actions(late)[leaf]["cascade_from"] == "issuing"

    assert run_cli("apply", spec, "-o", out, "--at", at.isoformat()).code == 0
    now = {n: (out / n / "key.pem").read_bytes() for n in keys}
    assert (now["issuing"] != keys["issuing"]) is rotate
    assert (now["root"], now["web"], now["api"]) == (keys["root"], keys["web"], keys["api"])
    if rotate:
        [old] = archived(out, "issuing", "key.pem")
        assert old.read_bytes() == keys["issuing"]
    # the leaves chain to the new CA certificate (checked as of then: they start in future)
    for leaf in ("web", "api"):
        result = openssl(
            "verify",
            "-attime",
            str(int(at.timestamp())),
            "-CAfile",
            out / leaf / "ca.pem",
            "-untrusted",
            out / leaf / "chain.pem",
            out / leaf / "cert.pem",
        )
        assert result.returncode == 0, result.stderr
        assert cert_of(out, leaf).not_valid_after_utc == cert_of(out, "issuing").not_valid_after_utc
    assert run_cli("plan", spec, "-o", out, "--at", at.isoformat()).code == 0


# --- CRL numbers and freshness -------------------------------------------------------------


CRL_SPEC = """\
version: 1
defaults:
  key: {{type: ec, curve: P-256}}
identities:
  root:
    kind: root
    ocsp: true{root}
  a: {{kind: client, issuer: root{a}}}
  b: {{kind: client, issuer: root{b}}}
  c: {{kind: client, issuer: root}}
"""


def crl_spec(root: str = "", a: str = "", b: str = "") -> str:
    return CRL_SPEC.format(root=root, a=a, b=b)


def crl_files(out: Path) -> dict[str, tuple[bytes, int]]:
    return {
        f: ((out / "root" / f).read_bytes(), (out / "root" / f).stat().st_mtime_ns)
        for f in ("crl.pem", "crl.der")
    }


def ocsp_text_signed_by(out: Path, ident: str, signer: str) -> str:
    """`openssl ocsp -resp_text` of ident's response, verified up to its root."""
    code, text_out, err = ocsp_check(
        out / ident / "ocsp.der", trust=out / ident / "ca.pem", signer=out / signer / "cert.pem"
    )
    assert code == 0, err
    return text_out


def ocsp_text(out: Path, ident: str) -> str:
    return ocsp_text_signed_by(out, ident, "root")


@pytest.fixture
def crl_pki(applied: ApplySpec) -> tuple[Path, Path]:
    return applied(crl_spec())


def test_crl_number_grows_with_each_change_and_stays_when_nothing_changed(
    run_cli: RunCli, crl_pki: tuple[Path, Path]
) -> None:
    spec, out = crl_pki
    crl = out / "root" / "crl.pem"
    assert crl_number(crl) == 1
    assert crl_listing(crl) == {}

    def apply(text_spec: str) -> int:
        spec.write_text(text_spec)
        result = run_cli("apply", spec, "-o", out)
        assert result.code == 0, result.err
        return crl_number(crl)

    steps = [
        crl_spec(a=", revoked: {reason: keyCompromise}"),  # revoke a leaf
        crl_spec(
            a=", revoked: {reason: keyCompromise}", b=", revoked: {reason: superseded}"
        ),  # then another
        crl_spec(
            a=", revoked: {reason: cessationOfOperation}", b=", revoked: {reason: superseded}"
        ),  # then change a reason
    ]
    numbers = [1]
    for step in steps:
        numbers.append(apply(step))
        # nothing changed: the CRL is left as it is, byte for byte and mtime
        before = crl_files(out)
        assert apply(step) == numbers[-1]
        assert crl_files(out) == before
        assert run_cli("plan", spec, "-o", out).code == 0
    assert numbers == [1, 2, 3, 4]

    listing = crl_listing(crl)
    assert {s: entry_reason(b) for s, b in listing.items()} == {
        serial_of(out / "a" / "cert.pem"): "Cessation Of Operation",
        serial_of(out / "b" / "cert.pem"): "Superseded",
    }
    # the staple follows the CRL: a's OCSP response now gives the new reason
    assert "Revocation Reason: cessationOfOperation (0x5)" in ocsp_text(out, "a")
    assert "Revocation Reason: superseded (0x4)" in ocsp_text(out, "b")
    assert "Cert Status: good" in ocsp_text(out, "c")


def test_changing_revoked_at_moves_the_revocation_date(
    run_cli: RunCli, crl_pki: tuple[Path, Path]
) -> None:
    spec, out = crl_pki
    crl = out / "root" / "crl.pem"
    spec.write_text(crl_spec(a=", revoked: {reason: keyCompromise}"))
    assert run_cli("apply", spec, "-o", out).code == 0
    serial = serial_of(out / "a" / "cert.pem")
    first = entry_date(crl_listing(crl)[serial])
    # the spec now says when the key was really compromised (a fraction of a second too):
    # after the certificate's notBefore, before now
    when = cert_of(out, "a").not_valid_before_utc + timedelta(seconds=69)
    at = f"{when:%Y-%m-%dT%H:%M:%S}.75Z"
    spec.write_text(crl_spec(a=f', revoked: {{reason: keyCompromise, at: "{at}"}}'))
    code, document = plan_json(run_cli, spec, out)
    assert code == 2
    assert run_cli("apply", spec, "-o", out).code == 0
    assert entry_date(crl_listing(crl)[serial]) == openssl_date(when) != first
    assert crl_number(crl) == 3
    assert f"Revocation Time: {openssl_date(when)}" in ocsp_text(out, "a")
    # and that is where it stays: no re-signing loop over the fraction of a second
    before = snapshot(out)
    assert run_cli("plan", spec, "-o", out).code == 0
    assert run_cli("apply", spec, "-o", out).code == 0
    assert snapshot(out) == before
    [crl_action] = [r for r in document["revocations"] if r["kind"] == "crl"]
    assert crl_action["crl_number"] == 3
    was = f"{openssl_time(first):%Y-%m-%d %H:%M:%S}Z"
    assert crl_action["reasons"] == [
        f"{serial_text(serial)}: revoked at {was} -> {when:%Y-%m-%d %H:%M:%S}Z"
    ]


def test_a_reissued_ca_keeps_what_its_crl_listed(
    run_cli: RunCli, crl_pki: tuple[Path, Path]
) -> None:
    spec, out = crl_pki
    crl = out / "root" / "crl.pem"
    spec.write_text(crl_spec(a=", revoked: {reason: keyCompromise}"))
    assert run_cli("apply", spec, "-o", out).code == 0
    listed = crl_listing(crl)
    assert len(listed) == 1
    # the CA's certificate is lost; its key is not: reissued with the same key and name
    (out / "root" / "cert.pem").unlink()
    code, document = plan_json(run_cli, spec, out)
    assert code == 2
    assert actions(document)["root"]["verb"] == "reissue"
    assert run_cli("apply", spec, "-o", out).code == 0
    assert crl_listing(crl) == listed  # same entry, same date: read back from the old CRL
    assert crl_number(crl) == 3
    code, output = verify(out, "a", crl)
    assert code != 0
    assert "certificate revoked" in output
    code, output = verify(out, "b", crl)
    assert code == 0, output
    # a is frozen as it was revoked (its ca.pem is the old certificate): not an error
    status = run_cli("status", spec, "-o", out)
    assert status.code == 0, status.out
    assert "revoked (keyCompromise); listed on its issuer's CRL" in status.out

    # a new key for the CA: its new CRL still lists a, whose certificate the old key signed
    assert run_cli("apply", spec, "-o", out, "--rekey", "root").code == 0
    assert set(crl_listing(crl)) == set(listed)
    assert crl_number(crl) == 4
    status = run_cli("status", spec, "-o", out)
    assert status.code == 0, status.out
    assert run_cli("plan", spec, "-o", out).code == 0


def test_status_fails_while_a_revocation_is_not_published(
    run_cli: RunCli, crl_pki: tuple[Path, Path]
) -> None:
    spec, out = crl_pki
    spec.write_text(crl_spec(a=", revoked: {reason: keyCompromise}"))
    status = run_cli("status", spec, "-o", out)
    assert status.code == 1
    assert (
        "        revoked (keyCompromise) but not on its issuer's CRL (run pkiform apply)"
        in status.out.splitlines()
    )
    assert run_cli("apply", spec, "-o", out).code == 0
    status = run_cli("status", spec, "-o", out)
    assert status.code == 0, status.out
    assert "        revoked (keyCompromise); listed on its issuer's CRL" in status.out.splitlines()


def test_crl_is_resigned_past_two_thirds_of_its_validity(
    applied: ApplySpec, run_cli: RunCli
) -> None:
    spec, out = applied(crl_spec(root="\n    crl_validity: 3d"))
    crl = out / "root" / "crl.pem"
    next_update = openssl_time(crl_fields(crl)["nextUpdate"])
    signed_at = next_update - timedelta(days=3)
    two_thirds = signed_at + timedelta(days=2)

    early = (two_thirds - HOUR).isoformat()
    before = snapshot(out)
    assert run_cli("plan", spec, "-o", out, "--at", early).code == 0
    assert run_cli("apply", spec, "-o", out, "--at", early).code == 0
    assert snapshot(out) == before

    late = two_thirds + HOUR
    code, document = plan_json(run_cli, spec, out, "--at", late.isoformat())
    assert code == 2
    crl_action = next(r for r in document["revocations"] if r["kind"] == "crl")
    assert crl_action["verb"] == "re-sign"
    assert crl_action["crl_number"] == 2
    assert crl_action["reasons"][0].endswith("< a third of crl_validity 3d")
    assert run_cli("apply", spec, "-o", out, "--at", late.isoformat()).code == 0
    fields = crl_fields(crl)
    assert int(fields["crlNumber"], 16) == 2
    assert openssl_time(fields["lastUpdate"]) == late.replace(microsecond=0) - BACKDATE
    assert openssl_time(fields["nextUpdate"]) == late.replace(microsecond=0) + timedelta(days=3)
    # the OCSP responses were refreshed the same way
    for leaf in ("a", "b", "c"):
        assert f"Next Update: {openssl_date(late.replace(microsecond=0) + timedelta(days=3))}" in (
            ocsp_text(out, leaf)
        )


def test_crl_validity_sets_next_update(run_cli: RunCli, crl_pki: tuple[Path, Path]) -> None:
    spec, out = crl_pki
    crl = out / "root" / "crl.pem"
    fields = crl_fields(crl)
    span = openssl_time(fields["nextUpdate"]) - openssl_time(fields["lastUpdate"])
    assert span == timedelta(days=7) + BACKDATE  # the default
    spec.write_text(crl_spec(root="\n    crl_validity: 1d"))
    code, document = plan_json(run_cli, spec, out)
    assert code == 2
    crl_action = next(r for r in document["revocations"] if r["kind"] == "crl")
    assert crl_action["reasons"] == ["crl_validity: 7d -> 1d"]
    assert run_cli("apply", spec, "-o", out).code == 0
    fields = crl_fields(crl)
    span = openssl_time(fields["nextUpdate"]) - openssl_time(fields["lastUpdate"])
    assert span == timedelta(days=1) + BACKDATE
    assert int(fields["crlNumber"], 16) == 2
    assert run_cli("plan", spec, "-o", out).code == 0


def test_deleted_crl_der_is_rewritten_without_resigning(
    run_cli: RunCli, crl_pki: tuple[Path, Path]
) -> None:
    spec, out = crl_pki
    pem_before = crl_files(out)["crl.pem"]
    der_before = (out / "root" / "crl.der").read_bytes()
    (out / "root" / "crl.der").unlink()
    plan = run_cli("plan", spec, "-o", out)
    assert plan.code == 2
    assert "  ~ root: rewrite crl.pem\n      crl.der does not match crl.pem\n" in plan.out
    assert run_cli("apply", spec, "-o", out).code == 0
    assert crl_files(out)["crl.pem"] == pem_before  # not re-signed: same bytes, same mtime
    assert crl_number(out / "root" / "crl.pem") == 1
    der = openssl("crl", "-in", out / "root" / "crl.pem", "-outform", "DER").stdout
    assert (out / "root" / "crl.der").read_bytes() == der == der_before
    assert run_cli("plan", spec, "-o", out).code == 0


# --- revoke_superseded --------------------------------------------------------------------


SUPERSEDED_SPEC = """\
version: 1
defaults:
  key: {{type: ec, curve: P-256}}
identities:
  root:
    kind: root{flag}
  web: {{kind: server, issuer: root, dns: [{dns}]}}
"""


@pytest.mark.parametrize("revoke_superseded", [True, False])
def test_revoke_superseded_lists_the_certificate_a_reissue_replaced(
    applied: ApplySpec, run_cli: RunCli, revoke_superseded: bool
) -> None:
    flag = "\n    revoke_superseded: true" if revoke_superseded else ""
    spec, out = applied(SUPERSEDED_SPEC.format(flag=flag, dns="web.example.com"))
    old_serial = serial_of(out / "web" / "cert.pem")
    spec.write_text(SUPERSEDED_SPEC.format(flag=flag, dns="web.example.com, www.example.com"))
    assert run_cli("apply", spec, "-o", out).code == 0
    [old_cert] = archived(out, "web", "cert.pem")
    assert serial_of(old_cert) == old_serial != serial_of(out / "web" / "cert.pem")

    listing = crl_listing(out / "root" / "crl.pem")
    if revoke_superseded:
        assert {s: entry_reason(b) for s, b in listing.items()} == {old_serial: "Superseded"}
    else:
        assert listing == {}
    # openssl agrees about the old certificate, and accepts the new one either way
    result = openssl(
        "verify",
        "-crl_check",
        "-CRLfile",
        out / "root" / "crl.pem",
        "-CAfile",
        out / "web" / "ca.pem",
        old_cert,
    )
    if revoke_superseded:
        assert result.returncode != 0
        assert "certificate revoked" in result.stderr.decode()
    else:
        assert result.returncode == 0, result.stderr
    code, output = verify(out, "web", out / "root" / "crl.pem")
    assert code == 0, output
    before = snapshot(out)
    assert run_cli("apply", spec, "-o", out).code == 0
    assert snapshot(out) == before


def test_an_ocsp_response_without_next_update_is_re_signed(
    applied: ApplySpec, run_cli: RunCli
) -> None:
    """RFC 6960 lets a response omit nextUpdate; status calls such a one stale (an
    error), so plan re-signs it and apply leaves status clean."""
    spec, out = applied(PRUNE_SPEC)
    ca = x509.load_pem_x509_certificate((out / "root" / "cert.pem").read_bytes())
    key = serialization.load_pem_private_key((out / "root" / "key.pem").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    web = x509.load_pem_x509_certificate((out / "web" / "cert.pem").read_bytes())
    open_ended = (
        x509.ocsp.OCSPResponseBuilder()
        .add_response(
            cert=web,
            issuer=ca,
            algorithm=hashes.SHA1(),
            cert_status=x509.ocsp.OCSPCertStatus.GOOD,
            this_update=datetime.now(UTC) - timedelta(minutes=5),
            next_update=None,
            revocation_time=None,
            revocation_reason=None,
        )
        .responder_id(x509.ocsp.OCSPResponderEncoding.HASH, ca)
        .certificates([ca])  # as pkiform signs: only nextUpdate is missing
        .sign(key, hashes.SHA256())
    )
    (out / "web" / "ocsp.der").write_bytes(open_ended.public_bytes(serialization.Encoding.DER))
    status = run_cli("status", spec, "-o", out)
    assert status.code == 1 and "nextUpdate missing" in status.out
    code, plan = plan_json(run_cli, spec, out)
    assert code == 2
    assert [(r["name"], r["reasons"]) for r in plan["revocations"]] == [
        ("web", ["it has no nextUpdate"])
    ]
    assert run_cli("apply", spec, "-o", out).code == 0
    assert run_cli("status", spec, "-o", out).code == 0
    assert run_cli("plan", spec, "-o", out).code == 0


def test_an_ocsp_response_without_its_signers_certificate_is_re_signed(
    applied: ApplySpec, run_cli: RunCli, spawn: Spawn, tmp_path: Path
) -> None:
    """A root-signed response made before pkiform put the signer's certificate in it is
    refused by GnuTLS as a staple: plan re-signs it, and then gnutls-cli accepts it."""
    spec, out = applied(PRUNE_SPEC.replace("dns: [web.example.com]", "dns: [localhost]"))
    ca = x509.load_pem_x509_certificate((out / "root" / "cert.pem").read_bytes())
    key = serialization.load_pem_private_key((out / "root" / "key.pem").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    web = x509.load_pem_x509_certificate((out / "web" / "cert.pem").read_bytes())
    this_update = datetime.now(UTC).replace(microsecond=0) - BACKDATE
    bare = (
        x509.ocsp.OCSPResponseBuilder()
        .add_response(
            cert=web,
            issuer=ca,
            algorithm=hashes.SHA1(),
            cert_status=x509.ocsp.OCSPCertStatus.GOOD,
            this_update=this_update,
            next_update=this_update + BACKDATE + timedelta(days=7),  # as pkiform signs
            revocation_time=None,
            revocation_reason=None,
        )
        .responder_id(x509.ocsp.OCSPResponderEncoding.HASH, ca)
        .sign(key, hashes.SHA256())
    )
    (out / "web" / "ocsp.der").write_bytes(bare.public_bytes(serialization.Encoding.DER))
    port = stapling_server(spawn, out / "web", staple=out / "web" / "ocsp.der")
    code, output = gnutls_cli(port, out / "web" / "ca.pem", tmp_path / "staple.der")
    assert code == 1 and GNUTLS_INVALID in output, output  # the defect, as GnuTLS sees it

    code, plan = plan_json(run_cli, spec, out)
    assert code == 2
    assert [(r["name"], r["reasons"]) for r in plan["revocations"]] == [
        ("web", ["it does not carry its signer's certificate (clients need it to verify a staple)"])
    ]
    assert run_cli("apply", spec, "-o", out).code == 0
    fixed = x509.ocsp.load_der_ocsp_response((out / "web" / "ocsp.der").read_bytes())
    assert fixed.certificates == [ca]
    port = stapling_server(spawn, out / "web", staple=out / "web" / "ocsp.der")
    code, output = gnutls_cli(port, out / "web" / "ca.pem", tmp_path / "staple.der")
    assert (code, GNUTLS_TRUSTED in output) == (0, True), output
    assert run_cli("plan", spec, "-o", out).code == 0


# --- retirement: plan, apply --prune ------------------------------------------------------


PRUNE_SPEC = """\
version: 1
defaults:
  key: {type: ec, curve: P-256}
identities:
  root: {kind: root, ocsp: true}
  web: {kind: server, issuer: root, dns: [web.example.com]}
  alice: {kind: client, issuer: root}
"""


def test_prune_archives_a_removed_identity_and_deletes_nothing(
    applied: ApplySpec, run_cli: RunCli
) -> None:
    spec, out = applied(PRUNE_SPEC)
    spec.write_text(PRUNE_SPEC.replace("  alice: {kind: client, issuer: root}\n", ""))
    alice_before = snapshot(out / "alice")
    assert {"key.pem", "cert.pem", "ocsp.der"} <= set(alice_before)
    # manifest.json is derived (it lists the identities of the spec), not a kept file
    everything = {data for f, (data, _, _) in snapshot(out).items() if f != "manifest.json"}

    plan = run_cli("plan", spec, "-o", out)
    assert plan.code == 0  # reported, not a change: apply without --prune leaves it
    assert (
        "  ? alice: on disk but not in the spec; left in place (apply --prune archives it)"
        in plan.out.splitlines()
    )
    pruning = run_cli("plan", spec, "-o", out, "--prune")
    assert pruning.code == 2
    assert "  - alice: not in the spec; its folder goes to the archive" in pruning.out.splitlines()
    assert "1 to archive" in pruning.out
    assert snapshot(out / "alice") == alice_before  # plan changed nothing

    applied = run_cli("apply", spec, "-o", out, "--prune")
    assert applied.code == 0, applied.err
    assert not (out / "alice").exists()
    [stamp] = (out / "archive").iterdir()
    assert re.fullmatch(r"\d{8}T\d{6}Z", stamp.name)
    # moved whole: every file byte-identical, same mode (the key still 0600), same mtime
    assert snapshot(stamp / "alice") == alice_before
    assert stat.S_IMODE((stamp / "alice" / "key.pem").stat().st_mode) == 0o600
    # nothing that was there is gone
    assert everything <= {data for data, _, _ in snapshot(out).values()}
    assert "alice" not in json.loads((out / "manifest.json").read_text())["identities"]

    before = snapshot(out)
    again = run_cli("apply", spec, "-o", out, "--prune")
    assert again.code == 0, again.err
    assert snapshot(out) == before
    assert run_cli("plan", spec, "-o", out).code == 0
    assert run_cli("plan", spec, "-o", out, "--prune").code == 0
    assert run_cli("status", spec, "-o", out).code == 0


def test_a_revoked_identity_removed_from_the_spec_stays_on_the_crl(
    applied: ApplySpec, run_cli: RunCli
) -> None:
    # RFC 5280 §3.3: a revocation is forever (until the certificate expires); dropping the
    # identity from the spec, or pruning its folder, must not make its certificate good again
    revoked = PRUNE_SPEC.replace(
        "{kind: client, issuer: root}",
        "{kind: client, issuer: root, revoked: {reason: keyCompromise}}",
    )
    spec, out = applied(PRUNE_SPEC)
    spec.write_text(revoked)
    assert run_cli("apply", spec, "-o", out).code == 0
    serial = serial_of(out / "alice" / "cert.pem")
    listed = crl_listing(out / "root" / "crl.pem")
    assert set(listed) == {serial}

    spec.write_text(PRUNE_SPEC.replace("  alice: {kind: client, issuer: root}\n", ""))
    assert run_cli("plan", spec, "-o", out, "--prune").code == 2
    assert run_cli("apply", spec, "-o", out, "--prune").code == 0
    assert crl_listing(out / "root" / "crl.pem") == listed
    [stamp] = (out / "archive").iterdir()
    result = openssl(
        "verify",
        "-crl_check",
        "-CRLfile",
        out / "root" / "crl.pem",
        "-CAfile",
        out / "root" / "cert.pem",
        stamp / "alice" / "cert.pem",
    )
    assert result.returncode != 0
    assert "certificate revoked" in result.stderr.decode()
    assert run_cli("plan", spec, "-o", out).code == 0


# --- status ---------------------------------------------------------------------------------


STATUS_SPEC = """\
version: 1
defaults:
  key: {type: ec, curve: P-256}
identities:
  root: {kind: root, validity: 10y}
  web: {kind: server, issuer: root, dns: [web.example.com], validity: 20d}
  api: {kind: server, issuer: root, dns: [api.example.com], validity: 90d}
"""


@pytest.fixture
def status_pki(applied: ApplySpec) -> tuple[Path, Path]:
    return applied(STATUS_SPEC)


def test_status_warn_within_names_what_expires_in_the_window(
    run_cli: RunCli, status_pki: tuple[Path, Path]
) -> None:
    spec, out = status_pki
    plain = run_cli("status", spec, "-o", out)
    assert plain.code == 0, plain.out

    result = run_cli("status", spec, "-o", out, "--warn-within", "30d")
    assert result.code == 1
    web_end = cert_of(out, "web").not_valid_after_utc
    crl_end = openssl_time(crl_fields(out / "root" / "crl.pem")["nextUpdate"])
    assert (
        f"certificate expires {web_end:%Y-%m-%d %H:%M}Z (in 19d), within --warn-within 30d"
        in result.out
    )
    assert f"crl.pem expires {crl_end:%Y-%m-%d %H:%M}Z (in 6d), within --warn-within 30d" in (
        result.out
    )
    assert "2 expiring within the window" in result.out
    assert "api" not in "".join(line for line in result.out.splitlines() if "expires" in line)

    # shorter than everything: nothing to report
    assert run_cli("status", spec, "-o", out, "--warn-within", "2d").code == 0
    # a week later the CRL (7d) is within 2d, and it says so
    later = (crl_end - timedelta(days=1)).isoformat()
    result = run_cli("status", spec, "-o", out, "--warn-within", "2d", "--at", later)
    assert result.code == 1
    assert "crl.pem expires" in result.out
    assert "certificate expires" not in result.out


def test_status_json_gives_crl_next_update_and_what_is_expiring(
    run_cli: RunCli, status_pki: tuple[Path, Path]
) -> None:
    spec, out = status_pki
    result = run_cli("status", spec, "-o", out, "--json", "--warn-within", "30d")
    assert result.code == 1
    document = json.loads(result.out)
    by_name = {i["name"]: i for i in document["identities"]}
    crl_end = openssl_time(crl_fields(out / "root" / "crl.pem")["nextUpdate"])
    assert by_name["root"]["crl_next_update"] == crl_end.isoformat()
    assert by_name["root"]["expiring"] == ["crl.pem"]
    assert by_name["web"]["expiring"] == ["certificate"]
    assert by_name["web"]["crl_next_update"] is None
    assert by_name["api"]["expiring"] == []
    assert document["ok"] is True  # nothing broken, only expiring
    quiet = json.loads(run_cli("status", spec, "-o", out, "--json", "--warn-within", "1d").out)
    assert all(i["expiring"] == [] for i in quiet["identities"])


def test_status_catches_a_crl_signed_by_another_ca_and_apply_re_signs_it(
    run_cli: RunCli, status_pki: tuple[Path, Path], tmp_path: Path
) -> None:
    spec, out = status_pki
    # the same names, other keys, and a revoked leaf on its CRL
    other, other_spec = tmp_path / "other", tmp_path / "other.yaml"
    other_spec.write_text(STATUS_SPEC)
    assert run_cli("apply", other_spec, "-o", other).code == 0
    other_spec.write_text(
        STATUS_SPEC.replace("validity: 90d}", "validity: 90d, revoked: {reason: keyCompromise}}")
    )
    assert run_cli("apply", other_spec, "-o", other).code == 0
    assert len(crl_listing(other / "root" / "crl.pem")) == 1
    shutil.copyfile(other / "root" / "crl.pem", out / "root" / "crl.pem")

    status = run_cli("status", spec, "-o", out)
    assert status.code == 1
    assert "        crl.pem is not signed by this CA's certificate" in status.out.splitlines()
    result = openssl(
        "crl", "-in", out / "root" / "crl.pem", "-noout", "-CAfile", out / "root" / "cert.pem"
    )
    assert "verify failure" in result.stderr.decode()

    plan = run_cli("plan", spec, "-o", out)
    assert plan.code == 2
    assert "      not signed by the CA's current certificate" in plan.out.splitlines()
    assert run_cli("apply", spec, "-o", out).code == 0
    result = openssl(
        "crl", "-in", out / "root" / "crl.pem", "-noout", "-CAfile", out / "root" / "cert.pem"
    )
    assert result.returncode == 0
    assert "verify OK" in result.stderr.decode()
    # nothing of what the foreign CRL listed is taken over
    assert crl_listing(out / "root" / "crl.pem") == {}
    assert run_cli("status", spec, "-o", out).code == 0
    assert run_cli("plan", spec, "-o", out).code == 0


def test_status_of_a_leaf_revoked_before_it_was_ever_issued(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    # revoked from the start: never issued, nothing to list, and nothing for apply to do
    spec = write_spec(
        PRUNE_SPEC.replace(
            "{kind: client, issuer: root}",
            "{kind: client, issuer: root, revoked: {reason: keyCompromise}}",
        )
    )
    out = tmp_path / "pki"
    assert run_cli("apply", spec, "-o", out).code == 0
    assert not (out / "alice").exists()
    assert crl_listing(out / "root" / "crl.pem") == {}
    assert run_cli("plan", spec, "-o", out).code == 0
    status = run_cli("status", spec, "-o", out)
    assert status.code == 0, status.out
    assert "not issued yet" not in status.out


NEVER_ISSUED = "revoked before it was ever issued: nothing to issue, nothing to list"


def test_plan_and_apply_say_that_an_identity_revoked_before_it_was_issued_is_skipped(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    """Not "unchanged": there is nothing of it, and there will be nothing. Said in text
    and JSON, by planning in full and by the settled mark alike; exit codes as for
    anything else that has nothing to do."""
    text = PRUNE_SPEC.replace(
        "alice: {kind: client, issuer: root}",
        "alice: {kind: client, issuer: root, revoked: {reason: keyCompromise}}",
    )
    spec, out = write_spec(text), tmp_path / "pki"
    skip = {"name": "alice", "verb": "skip", "reasons": [NEVER_ISSUED], "cascade_from": None}
    planned = run_cli("plan", spec, "-o", out)
    assert planned.code == 2
    assert planned.out.splitlines()[1:3] == ["    alice: skip", f"      {NEVER_ISSUED}"]
    summary = "Plan: 2 to create, 2 CRL/OCSP to sign; 0 unchanged, 1 skipped."
    assert planned.out.splitlines()[-1] == summary
    assert json.loads(run_cli("plan", spec, "-o", out, "--json").out)["actions"][1] == skip
    applied = run_cli("apply", spec, "-o", out)
    assert applied.code == 0
    assert applied.out.splitlines() == [
        "  + root: create",
        f"    alice: skip ({NEVER_ISSUED})",
        "  + web: create",
        "  + root: create crl.pem (CRL number 1, 0 revoked)",
        "  + web: create ocsp.der (good, signed by root)",
        f"Apply complete in {out}: 2 changed, 0 unchanged, 1 skipped, 2 CRL/OCSP signed.",
    ]
    assert not (out / "alice").exists()
    twin = write_spec(text + "# planned in full, not answered by the settled mark\n", "twin.yaml")
    for path, marked in ((spec, True), (twin, False)):
        found = settled.check(path.read_bytes(), out, datetime.now(UTC))
        assert (found is not None) is marked
        result = run_cli("plan", path, "-o", out)
        assert (result.code, result.err) == (0, "")
        assert result.out == (
            f"    alice: skip\n      {NEVER_ISSUED}\n"
            "No changes: 2 identities up to date, 1 skipped.\n"
        )
        document = json.loads(run_cli("plan", path, "-o", out, "--json").out)
        assert document["changes"] is False
        assert [a["verb"] for a in document["actions"]] == ["unchanged", "skip", "unchanged"]
        assert document["actions"][1] == skip
        result = run_cli("apply", path, "-o", out)
        assert (result.code, result.err) == (0, "")
        assert result.out == (
            f"    alice: skip ({NEVER_ISSUED})\n"
            f"Apply complete in {out}: 0 changed, 2 unchanged, 1 skipped.\n"
        )
        document = json.loads(run_cli("apply", path, "-o", out, "--json").out)
        assert (document["changed"], document["unchanged"]) == ([], ["root", "web"])
        assert document["skipped"] == [skip]
    # an empty folder of its name changes nothing, but the mark, which tells a skipped
    # identity by its missing folder, is not made: planning in full says it
    (out / "alice").mkdir()
    assert run_cli("apply", spec, "-o", out).code == 0
    assert b'"settled"' not in (out / "manifest.json").read_bytes()
    result = run_cli("plan", spec, "-o", out)
    assert result.out == (
        f"    alice: skip\n      {NEVER_ISSUED}\nNo changes: 2 identities up to date, 1 skipped.\n"
    )
    (out / "alice").rmdir()
    # the twin: once issued and then revoked, it is frozen and listed, not skipped
    spec.write_text(PRUNE_SPEC)
    assert run_cli("apply", spec, "-o", out).code == 0
    spec.write_text(text)
    assert run_cli("apply", spec, "-o", out).code == 0
    result = run_cli("plan", spec, "-o", out)
    assert (result.code, result.out) == (0, "No changes: 3 identities up to date.\n")


REVOKED_CA_SPEC = """\
version: 1
defaults:
  key: {{type: ec, curve: P-256}}
identities:
  root: {{kind: root}}
  sub: {{kind: intermediate, issuer: root, ocsp: true{sub}}}
  leaf: {{kind: server, issuer: sub, dns: [leaf.example.com]{leaf}}}
"""


def test_a_revoked_ca_keeps_answering_for_its_leaves(
    applied: ApplySpec, run_cli: RunCli, tmp_path: Path
) -> None:
    # a relying party that checks the leaf alone (-crl_check, a stapled response) must
    # learn from the revoked CA itself that the leaf is revoked, for as long as it matters
    spec, out = applied(REVOKED_CA_SPEC.format(sub="", leaf=""))
    gone = ", revoked: {reason: cACompromise}"
    spec.write_text(REVOKED_CA_SPEC.format(sub=gone, leaf=gone))
    assert run_cli("apply", spec, "-o", out).code == 0
    sub_crl = out / "sub" / "crl.pem"
    assert {s: entry_reason(b) for s, b in crl_listing(sub_crl).items()} == {
        serial_of(out / "leaf" / "cert.pem"): "CA Compromise"
    }
    code, output = verify(out, "leaf", sub_crl)
    assert code != 0
    assert "error 23 at 0 depth lookup: certificate revoked" in output
    text_out = ocsp_text_signed_by(out, "leaf", "sub")
    assert "Cert Status: revoked" in text_out
    assert "Revocation Reason: cACompromise (0x2)" in text_out

    # days later both are refreshed like any other, and status stays clean past the old
    # nextUpdate; the twin, a copy that apply did not refresh, has lapsed by then
    unrefreshed = tmp_path / "unrefreshed"
    shutil.copytree(out, unrefreshed)
    next_update = openssl_time(crl_fields(sub_crl)["nextUpdate"])
    late = (next_update - timedelta(days=1)).isoformat()
    number = crl_number(sub_crl)
    assert run_cli("plan", spec, "-o", out, "--at", late).code == 2
    assert run_cli("apply", spec, "-o", out, "--at", late).code == 0
    assert crl_number(sub_crl) == number + 1
    after = (next_update + HOUR).isoformat()
    status = run_cli("status", spec, "-o", out, "--at", after)
    assert status.code == 0, status.out
    lapsed = run_cli("status", spec, "-o", unrefreshed, "--at", after)
    assert lapsed.code == 1
    assert "        crl.pem is stale" in lapsed.out
    assert "        ocsp.der is stale" in lapsed.out


# --- validation -----------------------------------------------------------------------------


def test_revocation_fields_out_of_place_are_located_errors(
    run_cli: RunCli, write_spec: Callable[..., Path]
) -> None:
    spec = write_spec(
        """\
version: 1
identities:
  root:
    kind: root
  issuing:
    kind: intermediate
    issuer: root
    revoked: {reason: cACompromise}
  web:
    kind: server
    issuer: issuing
    dns: [web.example.com]
    crl_validity: 1d
    ocsp: true
    revoke_superseded: true
  bob:
    kind: client
    issuer: root
    revoked: {reason: keyCompromise, at: "2026-13-01T00:00:00Z"}
  carol:
    kind: client
    issuer: issuing
    revoked: {reason: keyCompromise, at: "2026-02-30T00:00:00+09:00"}
"""
    )
    result = run_cli("validate", spec)
    assert result.code == 1
    assert result.out == ""
    assert result.err.splitlines() == [
        f"{spec}:11:13: error: identities.web.issuer: issuer 'issuing' is revoked: nothing it "
        "signs can be trusted; revoke 'web' too or move it to another issuer",
        f"{spec}:13:5: error: identities.web.crl_validity: crl_validity applies to CAs only, "
        "not to a server",
        f"{spec}:14:5: error: identities.web.ocsp: ocsp applies to CAs only, not to a server",
        f"{spec}:15:5: error: identities.web.revoke_superseded: revoke_superseded applies to "
        "CAs only, not to a server",
        f"{spec}:19:42: error: identities.bob.revoked.at: not a valid date and time: "
        "'2026-13-01T00:00:00Z'",
        f"{spec}:23:42: error: identities.carol.revoked.at: not a valid date and time: "
        "'2026-02-30T00:00:00+09:00'",
    ]
    # the twin: revoke the leaf too, drop the CA-only fields, fix the dates
    spec.write_text(
        spec.read_text()
        .replace(
            "    crl_validity: 1d\n    ocsp: true\n    revoke_superseded: true\n",
            "    revoked: {reason: cACompromise}\n",
        )
        .replace("2026-13-01", "2026-12-01")
        .replace("2026-02-30", "2026-02-28")
    )
    result = run_cli("validate", spec)
    assert (result.code, result.err) == (0, "")


@pytest.mark.parametrize("at", ["yesterday", "2026-01-02", "2026-01-02T03:04:05"])
def test_revoked_at_must_be_rfc3339_with_a_time_zone(
    run_cli: RunCli, write_spec: Callable[..., Path], at: str
) -> None:
    spec = write_spec(
        "version: 1\nidentities:\n  root: {kind: root}\n  bob:\n    kind: client\n"
        f'    issuer: root\n    revoked: {{reason: keyCompromise, at: "{at}"}}\n'
    )
    result = run_cli("validate", spec)
    assert result.code == 1
    pattern = (
        r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
        r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
    )
    assert result.err == (
        f"{spec}:7:42: error: identities.bob.revoked.at: expected text matching "
        f"{pattern}; got '{at}'\n"
    )


def test_crl_number_never_goes_back_when_crl_pem_is_lost(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    spec = write_spec(
        "version: 1\nidentities:\n"
        "  ca: {kind: root}\n"
        "  web: {kind: server, issuer: ca, dns: [web.example.com]}\n"
        "  old: {kind: client, issuer: ca}\n"
    )
    out = tmp_path / "pki"
    assert run_cli("apply", spec, "-o", out).code == 0
    spec.write_text(
        spec.read_text().replace("issuer: ca}\n", "issuer: ca, revoked: {reason: superseded}}\n")
    )
    assert run_cli("apply", spec, "-o", out).code == 0
    assert crl_number(out / "ca" / "crl.pem") == 2
    (out / "ca" / "crl.pem").unlink()  # crl.der still carries number 2
    assert run_cli("apply", spec, "-o", out).code == 0
    assert crl_number(out / "ca" / "crl.pem") == 3


# --- revocation times ---------------------------------------------------------------------


def crl_entry_times(crl: Path) -> dict[int, datetime]:
    loaded = x509.load_pem_x509_crl(crl.read_bytes())
    return {r.serial_number: r.revocation_date_utc for r in loaded}


def test_a_revocation_within_the_backdate_moves_this_update_up_to_it(
    run_cli: RunCli, crl_pki: tuple[Path, Path]
) -> None:
    """thisUpdate is backdated 5 minutes; a revocation the spec dates inside those minutes
    brings thisUpdate (and producedAt) up to it, nextUpdate with it, rather than sign a
    CRL that says revoked at a time after the moment it speaks for."""
    spec, out = crl_pki
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    assert at > cert_of(out, "a").not_valid_before_utc
    spec.write_text(crl_spec(a=f", revoked: {{reason: keyCompromise, at: {at.isoformat()}}}"))
    assert run_cli("apply", spec, "-o", out).code == 0
    crl = out / "root" / "crl.pem"
    fields = crl_fields(crl)
    this_update, next_update = (openssl_time(fields[f]) for f in ("lastUpdate", "nextUpdate"))
    assert crl_entry_times(crl) == {serial_of(out / "a" / "cert.pem"): at}
    assert this_update == at
    assert next_update - this_update == timedelta(days=7) + BACKDATE  # as long as ever
    times = ocsp_times(ocsp_text(out, "a"))
    assert times["Revocation Time"] == at <= times["This Update"] <= times["Produced At"]
    # the twin: b, not revoked, is answered for as of the backdated time
    times = ocsp_times(ocsp_text(out, "b"))
    assert times["Produced At"] < at
    # and it stays: no re-signing over it
    before = snapshot(out)
    assert run_cli("plan", spec, "-o", out).code == 0
    assert run_cli("apply", spec, "-o", out).code == 0
    assert snapshot(out) == before


REVOKED_AT_SPEC = """\
version: 1
identities:
  ca: {{kind: root, ocsp: true}}
  web: {{kind: server, issuer: ca, dns: [web.example.com]}}
  old:
    kind: client
    issuer: ca
    revoked: {{reason: keyCompromise, at: "{old}"}}
  late:
    kind: client
    issuer: ca
    revoked: {{reason: superseded, at: "{late}"}}
"""


def test_a_revoked_at_before_the_certificate_or_in_the_future_is_a_located_error(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    """Checked when planning, with the certificate on disk and the clock: plan and apply
    exit 1 with every problem located, and nothing is written."""
    spec = write_spec(REVOKED_AT_SPEC.format(old="", late="").replace("    revoked", "    # r"))
    out = tmp_path / "pki"
    assert run_cli("apply", spec, "-o", out).code == 0
    not_before = cert_of(out, "old").not_valid_before_utc
    early = "2026-01-02T12:04:05+09:00"
    future = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    spec.write_text(REVOKED_AT_SPEC.format(old=early, late=future))
    before = snapshot(out)
    for command in ("plan", "apply"):
        for flags in ((), ("--json",)):
            result = run_cli(command, spec, "-o", out, *flags)
            assert result.code == 1, result.err
            # --json: the same diagnostics on stdout, as for any spec error
            diagnostics = json.loads(result.out)["diagnostics"] if flags else []
            assert [d["path"] for d in diagnostics] == (
                ["identities.old.revoked.at", "identities.late.revoked.at"] if flags else []
            )
            first, second = result.err.splitlines()
            assert first == (
                f"{spec}:8:42: error: identities.old.revoked.at: expected a time from its "
                f"certificate's notBefore ({not_before:%Y-%m-%d %H:%M:%S}Z) on; got "
                f"'{early}', before it was valid"
            )
            assert re.fullmatch(
                rf"{re.escape(str(spec))}:12:39: error: identities\.late\.revoked\.at: "
                r"expected a time no later than now \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\); got "
                rf"'{future}', in the future \(a CRL lists revocations that have happened\)",
                second,
            ), second
    assert snapshot(out) == before
    # the twin: times between notBefore and now are fine, and listed as given
    at = not_before + timedelta(minutes=1)
    spec.write_text(REVOKED_AT_SPEC.format(old=at.isoformat(), late=at.isoformat()))
    result = run_cli("apply", spec, "-o", out)
    assert result.code == 0, result.err
    assert crl_entry_times(out / "ca" / "crl.pem") == {
        serial_of(out / "old" / "cert.pem"): at,
        serial_of(out / "late" / "cert.pem"): at,
    }
    # the clock decides "in the future": the same spec planned as of an earlier time
    result = run_cli("plan", spec, "-o", out, "--at", (at - HOUR).isoformat())
    assert result.code == 1
    assert [line.split(": ")[2] for line in result.err.splitlines()] == [
        "identities.old.revoked.at",
        "identities.late.revoked.at",
    ]


def test_the_settled_mark_holds_only_from_the_latest_revoked_at_on(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    """A `revoked.at` makes a clock before it an error: the mark, which holds only inside
    its window, never answers "no changes" for such a clock (planning in full says it)."""
    spec = write_spec(REVOKED_AT_SPEC.format(old="", late="").replace("    revoked", "    # r"))
    out = tmp_path / "pki"
    assert run_cli("apply", spec, "-o", out).code == 0
    at = cert_of(out, "old").not_valid_before_utc + timedelta(minutes=1)
    spec.write_text(REVOKED_AT_SPEC.format(old=at.isoformat(), late=at.isoformat()))
    assert run_cli("apply", spec, "-o", out).code == 0
    assert settled.check(spec.read_bytes(), out, datetime.now(UTC)) is not None
    assert settled.check(spec.read_bytes(), out, at - timedelta(seconds=1)) is None
    assert run_cli("plan", spec, "-o", out).code == 0
    result = run_cli("plan", spec, "-o", out, "--at", (at - HOUR).isoformat())
    assert result.code == 1 and "in the future" in result.err


# --- a live certificate is never on its issuer's CRL ----------------------------------------


SUPERSEDE_SPEC = """\
version: 1
identities:
  root: {{kind: root, validity: {validity}, revoke_superseded: true, ocsp: true}}
  web: {{kind: server, issuer: root, dns: [localhost], ip: [127.0.0.1]{revoked}}}
"""


def supersede_spec(validity: str = "10y", revoked: str = "") -> str:
    return SUPERSEDE_SPEC.format(validity=validity, revoked=revoked)


def test_a_restored_superseded_certificate_is_reissued_not_left_live_on_the_crl(
    applied: ApplySpec, run_cli: RunCli, tmp_path: Path
) -> None:
    """Issue 19: a cert.pem restored from a backup, superseded and listed on the CRL, was
    only given a new fullchain.pem; the CRL then said revoked and ocsp.der good for the
    same serial, and status said ok. Plan reissues it; the CRL and the staple agree."""
    spec, out = applied(supersede_spec())
    backup = tmp_path / "backup-cert.pem"
    shutil.copyfile(out / "web" / "cert.pem", backup)
    old = serial_of(backup)
    spec.write_text(supersede_spec(validity="9y"))  # the root is reissued, and web with it
    assert run_cli("apply", spec, "-o", out).code == 0
    crl = out / "root" / "crl.pem"
    assert {s: entry_reason(b) for s, b in crl_listing(crl).items()} == {old: "Superseded"}
    shutil.copyfile(backup, out / "web" / "cert.pem")  # the restore

    status = run_cli("status", spec, "-o", out)
    assert status.code == 1
    assert (
        "        revoked (superseded) on its issuer's CRL, but the spec does not revoke it "
        "(run pkiform apply to reissue it)" in status.out.splitlines()
    )
    code, document = plan_json(run_cli, spec, out)
    assert code == 2
    assert actions(document)["web"] == {
        "name": "web",
        "verb": "reissue",
        "reasons": ["cert.pem is listed as revoked (superseded) on the CRL of issuer 'root'"],
        "cascade_from": None,
    }
    assert run_cli("apply", spec, "-o", out).code == 0
    live = serial_of(out / "web" / "cert.pem")
    assert live != old
    assert {s: entry_reason(b) for s, b in crl_listing(crl).items()} == {old: "Superseded"}
    # openssl: the live certificate passes the CRL check and its staple says good...
    code, output = verify(out, "web", crl)
    assert code == 0, output
    code, found = ocsp_lookup(
        out / "web" / "ocsp.der", trust=out / "web" / "ca.pem", issuer=crl.with_name("cert.pem"),
        cert=out / "web" / "cert.pem",
    )  # fmt: skip
    assert code == 0 and f"{out / 'web' / 'cert.pem'}: good\n" in found, found
    # ...and the restored one (archived again) is refused by the same CRL
    result = openssl("verify", "-crl_check", "-CRLfile", crl, "-CAfile", out / "web" / "ca.pem",
                     backup)  # fmt: skip
    assert result.returncode != 0 and "certificate revoked" in result.stderr.decode()
    assert run_cli("status", spec, "-o", out).code == 0
    assert run_cli("plan", spec, "-o", out).code == 0


def test_a_ca_reissued_for_a_lost_certificate_lists_what_it_superseded_at_once(
    applied: ApplySpec, run_cli: RunCli, tmp_path: Path
) -> None:
    """The CA's cert.pem is gone, its key is not: the CA is reissued with that key, and
    every certificate below it. The CRL it signs lists the ones they replace in that same
    apply (they name the CA's key), not at the next one: an apply then has nothing left
    to do, and the settled mark agrees with planning in full."""
    spec, out = applied(supersede_spec())
    old = serial_of(out / "web" / "cert.pem")
    (out / "root" / "cert.pem").unlink()
    assert run_cli("apply", spec, "-o", out).code == 0
    listing = crl_listing(out / "root" / "crl.pem")
    assert {s: entry_reason(b) for s, b in listing.items()} == {old: "Superseded"}
    twin = tmp_path / "twin.yaml"
    twin.write_text(spec.read_text() + "# planned in full\n")
    for path in (spec, twin):
        assert run_cli("plan", path, "-o", out).out == "No changes: 2 identities up to date.\n"


def test_status_checks_every_live_certificate_and_its_staple_against_the_crl(
    applied: ApplySpec, run_cli: RunCli
) -> None:
    """A CRL the CA signed that lists a certificate in use (here: made by hand) is a
    contradiction status reports, with the staple that says otherwise; apply resolves
    it by reissuing."""
    spec, out = applied(supersede_spec())
    assert run_cli("status", spec, "-o", out).code == 0  # the twin: nothing to report
    ca = x509.load_pem_x509_certificate((out / "root" / "cert.pem").read_bytes())
    key = serialization.load_pem_private_key((out / "root" / "key.pem").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    serial = serial_of(out / "web" / "cert.pem")
    now = datetime.now(UTC).replace(microsecond=0)
    entry = Revoked(serial=serial, at=now - HOUR, reason="keyCompromise")
    crl = build_crl(ca, key, [entry], number=7, this_update=now, next_update=now + 7 * 24 * HOUR)
    for filename, data in revocation_files(crl).items():
        (out / "root" / filename).write_bytes(data)

    status = run_cli("status", spec, "-o", out)
    assert status.code == 1
    end = cert_of(out, "web").not_valid_after_utc
    assert status.out.splitlines()[1:] == [
        f"error   web   server       until {end:%Y-%m-%d %H:%M}Z",
        "        revoked (keyCompromise) on its issuer's CRL, but the spec does not revoke it "
        "(run pkiform apply to reissue it)",
        "        ocsp.der says good, but its issuer's CRL lists it as revoked (keyCompromise)",
        "2 identities, 1 with errors.",
    ]
    code, document = plan_json(run_cli, spec, out)
    assert code == 2
    assert actions(document)["web"]["reasons"] == [
        "cert.pem is listed as revoked (keyCompromise) on the CRL of issuer 'root'"
    ]
    assert run_cli("apply", spec, "-o", out).code == 0
    assert set(crl_listing(out / "root" / "crl.pem")) == {serial}  # it stays revoked
    assert crl_number(out / "root" / "crl.pem") == 8
    assert run_cli("status", spec, "-o", out).code == 0


@pytest.mark.parametrize("reason", ["certificateHold", "keyCompromise"])
def test_taking_revoked_out_of_the_spec_releases_a_hold_and_reissues_anything_else(
    applied: ApplySpec, run_cli: RunCli, reason: str
) -> None:
    """RFC 5280 §5.3.1: only certificateHold may come off a CRL (removeFromCRL). Any other
    revocation is final: the identity gets a new certificate, the old one stays listed."""
    spec, out = applied(supersede_spec())
    spec.write_text(supersede_spec(revoked=f", revoked: {{reason: {reason}}}"))
    assert run_cli("apply", spec, "-o", out).code == 0
    serial = serial_of(out / "web" / "cert.pem")
    crl = out / "root" / "crl.pem"
    spec.write_text(supersede_spec())
    code, document = plan_json(run_cli, spec, out)
    assert code == 2
    assert run_cli("apply", spec, "-o", out).code == 0
    if reason == "certificateHold":
        assert actions(document)["web"]["verb"] == "unchanged"
        assert serial_of(out / "web" / "cert.pem") == serial
        assert crl_listing(crl) == {}
    else:
        assert actions(document)["web"]["verb"] == "reissue"
        assert serial_of(out / "web" / "cert.pem") != serial
        assert {s: entry_reason(b) for s, b in crl_listing(crl).items()} == {
            serial: CRL_REASON_TEXT[reason]
        }
    code, output = verify(out, "web", crl)
    assert code == 0, output
    assert "Cert Status: good" in ocsp_text(out, "web")
    assert run_cli("status", spec, "-o", out).code == 0
    assert run_cli("plan", spec, "-o", out).code == 0


def test_a_certificate_restored_from_the_archive_is_reissued_when_revoke_superseded_comes(
    applied: ApplySpec, run_cli: RunCli
) -> None:
    """The archive holds a superseded certificate, not yet listed (revoke_superseded was
    off), and it is put back as cert.pem; then revoke_superseded is turned on. The CRL
    lists what the archive holds, so the one in use is reissued in that same apply,
    rather than listed while in use."""
    text = supersede_spec().replace(", revoke_superseded: true", "")
    spec, out = applied(text)
    spec.write_text(text.replace("validity: 10y", "validity: 9y"))  # web reissued
    assert run_cli("apply", spec, "-o", out).code == 0
    [archived_cert] = archived(out, "web", "cert.pem")
    shutil.copyfile(archived_cert, out / "web" / "cert.pem")
    old = serial_of(archived_cert)
    spec.write_text(supersede_spec(validity="9y"))
    code, document = plan_json(run_cli, spec, out)
    assert code == 2
    assert actions(document)["web"]["reasons"] == [
        "cert.pem is a superseded certificate (in its archive), which revoke_superseded "
        "lists on the CRL of issuer 'root'"
    ]
    assert run_cli("apply", spec, "-o", out).code == 0
    crl = out / "root" / "crl.pem"
    assert old in crl_listing(crl) and serial_of(out / "web" / "cert.pem") not in crl_listing(crl)
    code, output = verify(out, "web", crl)
    assert code == 0, output
    assert "Cert Status: good" in ocsp_text(out, "web")
    assert run_cli("status", spec, "-o", out).code == 0
    assert run_cli("plan", spec, "-o", out).code == 0
