"""CA keys in a PKCS#11 token, end to end (issue 15): the spec names a SoftHSM2 key by URI,
plan shows it made in the token, apply makes it there and signs everything through it,
and no key.pem is written; real verifiers check what it signed."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509

from pkiform.x509.token_session import TokenRun
from tests.helpers.files import snapshot
from tests.helpers.repo import ROOT
from tests.helpers.run import RunCli, pkiform_env
from tests.helpers.softhsm import PIN, SoftHsm, softhsm  # noqa: F401  (a fixture
from tests.helpers.tools import openssl

PIN_ENV = "PKIFORM_TEST_PIN"


def spec_text(hsm: SoftHsm, label: str, *, root_key: str = "ec, curve: P-384") -> str:
    def uri(name: str) -> str:
        return f'"pkcs11:token=pki;object={label}-{name}?module-path={hsm.module}"'

    return f"""\
version: 1
identities:
  root:
    kind: root
    key: {{type: {root_key}, pkcs11: {uri("root")}, pin_env: {PIN_ENV}}}
  issuing:
    kind: intermediate
    issuer: root
    ocsp: true
    key: {{type: ec, pkcs11: {uri("issuing")}, pin_env: {PIN_ENV}}}
  web: {{kind: server, issuer: issuing, dns: [localhost], ip: [127.0.0.1]}}
  alice: {{kind: client, issuer: issuing}}
"""


@pytest.fixture
def label(softhsm: SoftHsm, request: pytest.FixtureRequest) -> str:  # noqa: F811
    return softhsm.label(request)


@pytest.fixture
def pin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PIN_ENV, PIN.decode())


@pytest.fixture
def applied(
    softhsm: SoftHsm,  # noqa: F811
    label: str,
    pin: None,
    run_cli: RunCli,
    write_spec: Callable[..., Path],
    tmp_path: Path,
) -> tuple[Path, Path]:
    spec = write_spec(spec_text(softhsm, label))
    out = tmp_path / "pki"
    result = run_cli("apply", spec, "-o", out)
    assert result.code == 0, result.err
    return spec, out


def token_objects(hsm: SoftHsm, label: str) -> Iterator[tuple[str, bool, bool, bool, bool]]:
    """(label, private?, sensitive, extractable, never extractable) of every object whose
    label starts with `label`, read through PKCS#11 itself."""
    import pkcs11

    uri = hsm.uri(label)  # any key of the token: the login is what counts
    with TokenRun() as run:
        session = run.login(uri, PIN)
        for cls in (pkcs11.ObjectClass.PRIVATE_KEY, pkcs11.ObjectClass.PUBLIC_KEY):
            for obj in session.objects(cls):
                name = obj[pkcs11.Attribute.LABEL]
                if not name.startswith(label):
                    continue
                if cls is pkcs11.ObjectClass.PRIVATE_KEY:
                    yield (
                        name,
                        True,
                        obj[pkcs11.Attribute.SENSITIVE],
                        obj[pkcs11.Attribute.EXTRACTABLE],
                        obj[pkcs11.Attribute.NEVER_EXTRACTABLE],
                    )
                else:
                    yield name, False, False, False, False


def verify(out: Path, name: str) -> subprocess.CompletedProcess[bytes]:
    folder = out / name
    chain = ["-untrusted", folder / "chain.pem"] if (folder / "chain.pem").stat().st_size else []
    return openssl("verify", "-CAfile", folder / "ca.pem", *chain, folder / "cert.pem")


def test_plan_shows_ca_keys_made_in_the_token(
    softhsm: SoftHsm,  # noqa: F811
    label: str,
    pin: None,
    run_cli: RunCli,
    write_spec: Callable[..., Path],
    tmp_path: Path,
) -> None:
    spec = write_spec(spec_text(softhsm, label))
    result = run_cli("plan", spec, "-o", tmp_path / "pki")
    assert result.code == 2, result.err
    lines = result.out.splitlines()
    assert lines[:2] == [
        "  + root (root): create",
        f"      a new key in the token pkcs11:token=pki;object={label}-root",
    ]
    assert lines[2:4] == [
        "  + issuing (intermediate): create",
        f"      a new key in the token pkcs11:token=pki;object={label}-issuing",
    ]
    assert list(token_objects(softhsm, label)) == []  # plan made nothing


def test_apply_makes_the_ca_keys_in_the_token_and_writes_no_key_file(
    softhsm: SoftHsm,  # noqa: F811
    label: str,
    applied: tuple[Path, Path],
) -> None:
    _, out = applied
    for ca in ("root", "issuing"):
        assert not (out / ca / "key.pem").exists()
        assert (
            sorted(p.name for p in (out / ca).iterdir())
            == [
                "ca.pem",
                "cert.pem",
                "chain.pem",
                "crl.der",
                "crl.pem",
                "fullchain.pem",
            ]
            or ca == "root"
        )
    for leaf in ("web", "alice"):
        assert (out / leaf / "key.pem").stat().st_mode & 0o777 == 0o600
    entries = json.loads((out / "manifest.json").read_text())["identities"]
    assert entries["root"]["key_in"] == f"pkcs11:token=pki;object={label}-root"
    assert "key" not in entries["root"]["files"] and "key" in entries["web"]["files"]
    # the keys never leave the token: sensitive, never extractable, as PKCS#11 reports
    objects = sorted(token_objects(softhsm, label))
    assert [(n, p) for n, p, *_ in objects] == [
        (f"{label}-issuing", False),
        (f"{label}-issuing", True),
        (f"{label}-root", False),
        (f"{label}-root", True),
    ]
    for _, private, sensitive, extractable, never in objects:
        if private:
            assert (sensitive, extractable, never) == (True, False, True)
    # the certificates carry the token's keys
    root = x509.load_pem_x509_certificate((out / "root" / "cert.pem").read_bytes())
    assert root.public_key().curve.name == "secp384r1"  # type: ignore[union-attr]


def test_openssl_verifies_what_the_token_keys_signed(applied: tuple[Path, Path]) -> None:
    _, out = applied
    for name in ("root", "issuing", "web", "alice"):
        result = verify(out, name)
        assert result.returncode == 0, result.stderr
    # the CRLs, each signed by its CA's key in the token
    for ca, anchor in (("root", "root"), ("issuing", "root")):
        chain = (out / "issuing" / "cert.pem").read_bytes() + (
            out / "root" / "cert.pem"
        ).read_bytes()
        bundle = out / f"{ca}-bundle.pem"
        bundle.write_bytes(chain)
        result = openssl("crl", "-in", out / ca / "crl.pem", "-CAfile", bundle, "-noout")
        assert result.returncode == 0 and b"verify OK" in result.stderr + result.stdout, anchor
    # the staple the issuing CA's token key signed
    result = openssl(
        "ocsp",
        "-respin",
        out / "web" / "ocsp.der",
        "-issuer",
        out / "issuing" / "cert.pem",
        "-cert",
        out / "web" / "cert.pem",
        "-CAfile",
        out / "web" / "ca.pem",
        "-verify_other",
        out / "web" / "chain.pem",
    )
    assert result.returncode == 0, result.stderr
    assert b"Response verify OK" in result.stderr + result.stdout
    assert b": good" in result.stdout


def test_a_tampered_certificate_fails_verification(applied: tuple[Path, Path]) -> None:
    _, out = applied
    der = bytearray(
        x509.load_pem_x509_certificate((out / "web" / "cert.pem").read_bytes()).public_bytes(
            __import__(
                "cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]
            ).Encoding.DER
        )
    )
    der[-5] ^= 1  # in the signature
    tampered = out / "tampered.der"
    tampered.write_bytes(bytes(der))
    result = openssl(
        "verify", "-CAfile", out / "web" / "ca.pem", "-untrusted", out / "web" / "chain.pem",
        "-inform", "DER", tampered,
    )  # fmt: skip
    assert result.returncode != 0


def test_mutual_tls_with_leaves_under_token_keys(applied: tuple[Path, Path]) -> None:
    import socket
    import threading

    _, out = applied
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=out / "web" / "ca.pem")
    server.load_cert_chain(out / "web" / "fullchain.pem", out / "web" / "key.pem")
    server.verify_mode = ssl.CERT_REQUIRED
    client = ssl.create_default_context(cafile=out / "alice" / "ca.pem")
    client.load_cert_chain(out / "alice" / "fullchain.pem", out / "alice" / "key.pem")
    with socket.create_server(("127.0.0.1", 0)) as listener:
        seen: list[object] = []

        def serve() -> None:
            raw, _ = listener.accept()
            with server.wrap_socket(raw, server_side=True) as tls:
                seen.append(dict(r[0] for r in tls.getpeercert()["subject"])["commonName"])  # type: ignore[index]
                tls.sendall(tls.recv(16))

        thread = threading.Thread(target=serve)
        thread.start()
        address = listener.getsockname()
        with client.wrap_socket(
            socket.create_connection(address), server_hostname="localhost"
        ) as tls:
            tls.sendall(b"ping")
            assert tls.recv(16) == b"ping"
        thread.join(10)
    assert seen == ["alice"]


def test_a_second_apply_finds_the_keys_and_changes_nothing(
    applied: tuple[Path, Path], run_cli: RunCli
) -> None:
    spec, out = applied
    before = snapshot(out)
    planned = run_cli("plan", spec, "-o", out)
    assert (planned.code, planned.out) == (0, "No changes: 4 identities up to date.\n"), planned.err
    assert run_cli("apply", spec, "-o", out).code == 0
    assert snapshot(out) == before


def test_rekey_makes_a_new_token_key_and_keeps_the_old_one(
    softhsm: SoftHsm,  # noqa: F811
    label: str,
    applied: tuple[Path, Path],
    run_cli: RunCli,
) -> None:
    spec, out = applied
    old = x509.load_pem_x509_certificate((out / "issuing" / "cert.pem").read_bytes())
    planned = run_cli("plan", spec, "-o", out, "--rekey", "issuing")
    assert planned.out.splitlines()[:2] == [
        "-/+ issuing (intermediate): replace key",
        "      --rekey asked for a new key",
    ]
    assert run_cli("apply", spec, "-o", out, "--rekey", "issuing").code == 0
    new = x509.load_pem_x509_certificate((out / "issuing" / "cert.pem").read_bytes())
    assert new.public_key() != old.public_key()
    labels = sorted(n for n, private, *_ in token_objects(softhsm, label) if private)
    assert labels[0] == f"{label}-issuing"
    assert labels[1].startswith(f"{label}-issuing.replaced-")  # the old key, kept
    assert labels[2] == f"{label}-root"
    assert len(labels) == 3
    for name in ("web", "alice"):
        assert verify(out, name).returncode == 0
    assert not (out / "issuing" / "key.pem").exists()


def test_a_token_key_of_another_type_is_a_located_error_never_a_new_key(
    softhsm: SoftHsm,  # noqa: F811
    label: str,
    applied: tuple[Path, Path],
    run_cli: RunCli,
) -> None:
    spec, out = applied
    spec.write_text(spec.read_text().replace("type: ec, curve: P-384", "type: ec, curve: P-521"))
    before = snapshot(out)
    result = run_cli("plan", spec, "-o", out)
    assert result.code == 1
    assert result.err == (
        f"{spec}:5:43: error: identities.root.key.pkcs11: the token holds ec P-384 for this "
        "key, and the spec asks for ec P-521; pkiform never replaces a token key for it: "
        "correct the spec, or pass --rekey root to make a new ec P-521 key (the old one is "
        "kept)\n"
    )
    assert run_cli("apply", spec, "-o", out).code == 1
    assert snapshot(out) == before


def test_a_wrong_pin_is_an_error_that_never_shows_it(
    applied: tuple[Path, Path], run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, out = applied
    monkeypatch.setenv(PIN_ENV, "99999999")
    result = run_cli("plan", spec, "-o", out)
    assert result.code == 1
    assert result.err.startswith("pkiform: error: root: pkcs11:token=pki;object=")
    assert "PIN" in result.err and "99999999" not in result.err


def test_a_missing_pin_is_a_located_error(
    softhsm: SoftHsm,  # noqa: F811
    label: str,
    run_cli: RunCli,
    write_spec: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(PIN_ENV, raising=False)
    spec = write_spec(spec_text(softhsm, label))
    result = run_cli("apply", spec, "-o", tmp_path / "pki")
    assert result.code == 1
    assert (
        f"identities.root.key.pin_env: environment variable {PIN_ENV} is not set; needed "
        "to open the token that holds the key of 'root'" in result.err
    )
    assert not (tmp_path / "pki").exists()


def test_a_missing_module_or_token_is_named(
    softhsm: SoftHsm,  # noqa: F811
    label: str,
    pin: None,
    run_cli: RunCli,
    write_spec: Callable[..., Path],
    tmp_path: Path,
) -> None:
    text = spec_text(softhsm, label)
    for wrong, message in (
        (softhsm.module, "/nonexistent/libpkcs11.so"),
        ("token=pki;", "token=elsewhere;"),
    ):
        spec = write_spec(text.replace(wrong, message, 1))
        result = run_cli("plan", spec, "-o", tmp_path / "pki")
        assert result.code == 1
        assert result.err.startswith("pkiform: error: root: pkcs11:token="), result.err
        assert ("/nonexistent/libpkcs11.so" in result.err) or ("elsewhere" in result.err)


def test_reproducible_mode_refuses_token_keys(
    softhsm: SoftHsm,  # noqa: F811
    label: str,
    pin: None,
    run_cli: RunCli,
    write_spec: Callable[..., Path],
    tmp_path: Path,
) -> None:
    spec = write_spec(spec_text(softhsm, label))
    seed = tmp_path / "seed"
    seed.write_text("c2VlZC1mb3ItdG9rZW4ta2V5cy10ZXN0LTEyMzQ1Njc4OTA=\n")
    result = run_cli("apply", spec, "-o", tmp_path / "pki", "--seed-file", seed)
    assert (result.code, result.err) == (
        1,
        "pkiform: error: reproducible mode derives every key from the seed, and the key of "
        "root, issuing lives in a PKCS#11 token, where it cannot be derived: plan and apply "
        "such a spec without a seed\n",
    )
    assert not (tmp_path / "pki").exists()


KILL_AFTER_MAKING = """\
import os, signal, sys
from pkiform.x509 import token_use
made = token_use.TokenKeys.make
def make(self, name, now):
    key = made(self, name, now)
    if name == "issuing":
        os.kill(os.getpid(), signal.SIGKILL)  # the key is in the token, nothing on disk yet
    return key
token_use.TokenKeys.make = make
from pkiform.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


def test_a_killed_apply_leaves_no_key_pair_unknown_to_the_next(
    softhsm: SoftHsm,  # noqa: F811
    label: str,
    run_cli: RunCli,
    write_spec: Callable[..., Path],
    tmp_path: Path,
) -> None:
    spec = write_spec(spec_text(softhsm, label))
    out = tmp_path / "pki"
    env = pkiform_env(**{PIN_ENV: PIN.decode(), "SOFTHSM2_CONF": str(softhsm.conf)})
    env["PYTHONPATH"] = f"{ROOT / 'src'}{os.pathsep}{ROOT}"
    killed = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_MAKING, "apply", str(spec), "-o", str(out)],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    # the next apply finds both keys in the token and issues for them: no second pair
    os.environ[PIN_ENV] = PIN.decode()
    try:
        result = run_cli("apply", spec, "-o", out)
    finally:
        del os.environ[PIN_ENV]
    assert result.code == 0, result.err
    privates = sorted(n for n, private, *_ in token_objects(softhsm, label) if private)
    assert privates == [f"{label}-issuing", f"{label}-root"]
    for name in ("root", "issuing", "web", "alice"):
        assert verify(out, name).returncode == 0


def test_a_token_key_replaced_behind_pkiforms_back_is_blocked(
    softhsm: SoftHsm,  # noqa: F811
    label: str,
    applied: tuple[Path, Path],
    run_cli: RunCli,
) -> None:
    import pkcs11

    from pkiform.spec.model import KeySpec, KeyType
    from pkiform.x509.token_changes import generate_key

    spec, out = applied
    # someone else's key pair takes the label of the issuing CA's key
    with TokenRun() as run:
        session = run.login(softhsm.uri(f"{label}-other"), PIN)
        generate_key(
            session,
            softhsm.uri(f"{label}-other"),
            KeySpec(type=KeyType.EC, curve="P-256"),
            now=__import__("datetime").datetime.now(__import__("datetime").UTC),
        )
        for cls in (pkcs11.ObjectClass.PRIVATE_KEY, pkcs11.ObjectClass.PUBLIC_KEY):
            (old,) = session.objects(cls, label=f"{label}-issuing")
            old[pkcs11.Attribute.LABEL] = f"{label}-moved"
            (new,) = session.objects(cls, label=f"{label}-other")
            new[pkcs11.Attribute.LABEL] = f"{label}-issuing"
    before = snapshot(out)
    result = run_cli("plan", spec, "-o", out)
    assert result.code == 1  # apply would refuse
    assert result.out.splitlines()[:2] == [
        "  ! issuing (intermediate): blocked",
        f"      the key in the token pkcs11:token=pki;object={label}-issuing does not match "
        "cert.pem while its certificate is still there; a CA key is never replaced "
        "implicitly: pass --rekey issuing to replace it and reissue everything below it",
    ]
    assert run_cli("apply", spec, "-o", out).code == 1
    assert snapshot(out) == before


def test_the_python_api_reads_a_token_keyed_ca_and_says_where_its_key_is(
    applied: tuple[Path, Path], label: str
) -> None:
    import pkiform
    from pkiform.errors import StoreError

    spec, out = applied
    pki = pkiform.load(spec).read(out)
    root = pki["root"]
    assert root.cert == x509.load_pem_x509_certificate((out / "root" / "cert.pem").read_bytes())
    with pytest.raises(StoreError) as raised:
        root.key  # noqa: B018
    uri = f"pkcs11:token=pki;object={label}-root"
    assert str(raised.value) == f"root: its key is in the token {uri}, never in {out}"
    # the leaves below it are read as always
    assert pki["web"].key.public_key() == pki["web"].cert.public_key()


def test_a_pull_request_plans_without_the_pin_on_a_runner_without_the_token(
    applied: tuple[Path, Path],
    softhsm: SoftHsm,  # noqa: F811
    label: str,
    run_cli: RunCli,
    write_spec: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec, out = applied
    grown = spec.read_text() + "  api: {kind: server, issuer: issuing, dns: [api.example]}\n"
    with_token = write_spec(grown, "grown.yaml")
    # a hosted CI runner: neither the PIN nor the token's module
    monkeypatch.delenv(PIN_ENV)
    no_module = str(tmp_path / "not-installed-here.so")
    elsewhere = write_spec(grown.replace(softhsm.module, no_module), "runner.yaml")
    unchanged = write_spec(spec.read_text().replace(softhsm.module, no_module), "same.yaml")

    same = run_cli("plan", unchanged, "-o", out, "--no-key-passwords")
    assert (same.code, same.err) == (0, ""), same.err
    assert same.out == "No changes: 4 identities up to date.\n"

    review = run_cli("plan", elsewhere, "-o", out, "--no-key-passwords")
    assert review.code == 2, review.err
    where, warning = review.err.split(": warning: ")
    assert where.startswith(f"{elsewhere}:10:")  # the issuing CA's pin_env
    assert warning == (
        f"identities.issuing.key.pin_env: environment variable {PIN_ENV} is not read by "
        "this plan (--no-key-passwords); needed to sign the certificate of 'api' with the "
        "key of 'issuing' (and 1 more)\n"  # its OCSP response
    )
    # without --no-key-passwords the PIN is asked for, as apply will
    refused = run_cli("plan", elsewhere, "-o", out)
    assert refused.code == 1
    assert f"environment variable {PIN_ENV} is not set" in refused.err
    # the plan apply will carry out, with the PIN and the token, is the one reviewed
    monkeypatch.setenv(PIN_ENV, PIN.decode())
    real = run_cli("plan", with_token, "-o", out)
    assert (real.code, real.out) == (2, review.out), real.err
    assert review.out.startswith("  + api (server): create\n")


def test_a_root_rotates_with_both_keys_in_the_token(
    applied: tuple[Path, Path],
    softhsm: SoftHsm,  # noqa: F811
    label: str,
    run_cli: RunCli,
    write_spec: Callable[..., Path],
    tmp_path: Path,
) -> None:
    spec, out = applied
    old_root = (out / "root" / "cert.pem").read_bytes()
    new_root = (
        "  root-2:\n    kind: root\n    replaces: root\n    cross_sign: true\n"
        f'    key: {{type: ec, curve: P-384, pkcs11: "pkcs11:token=pki;object={label}-root-2'
        f'?module-path={softhsm.module}", pin_env: {PIN_ENV}}}\n'
    )
    text = spec.read_text()
    introduce = text.replace("  issuing:\n", new_root + "  issuing:\n")
    move = introduce.replace("    issuer: root\n", "    issuer: root-2\n")
    retire = move.replace(text.split("  issuing:\n")[0].split("identities:\n")[1], "")
    retire = retire.replace("    replaces: root\n    cross_sign: true\n", "")
    assert "replaces" not in retire and "  root:\n" not in retire

    old_party = tmp_path / "old-root.pem"  # a relying party that never updates
    old_party.write_bytes(old_root)
    for step, text_of in enumerate((introduce, move, retire)):
        result = run_cli("apply", write_spec(text_of, f"step{step}.yaml"), "-o", out)
        assert result.code == 0, result.err
        for name in ("web", "alice"):
            assert verify(out, name).returncode == 0
            if step == 1:  # moved: the cross certificate, signed in the token, links the roots
                chain = ["-untrusted", out / name / "chain.pem"]
                for anchor in (old_party, out / "root-2" / "cert.pem"):
                    ok = openssl("verify", "-CAfile", anchor, *chain, out / name / "cert.pem")
                    assert ok.returncode == 0, ok.stderr
    cross = x509.load_pem_x509_certificate(
        next((out / "root-2" / "archive").glob("*/cross.pem")).read_bytes()
    )
    cross.verify_directly_issued_by(x509.load_pem_x509_certificate(old_root))
    root_2 = x509.load_pem_x509_certificate((out / "root-2" / "cert.pem").read_bytes())
    assert (cross.subject, cross.public_key()) == (root_2.subject, root_2.public_key())
    # every key stays in the token: the old root's too, though the spec dropped it
    labels = {name for name, private, *_ in token_objects(softhsm, label) if private}
    assert labels == {f"{label}-root", f"{label}-root-2", f"{label}-issuing"}
    assert (out / "web" / "ca.pem").read_bytes() == (out / "root-2" / "cert.pem").read_bytes()
