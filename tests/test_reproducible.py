"""Reproducible mode: the same seed and --at give byte-identical trees on any machine, the
derived keys and certificates pass the same independent checks as random ones, and the
mode never mixes with keys it did not derive."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509

import pkiform
from tests.helpers.files import digests, snapshot
from tests.helpers.lint import errors, lint_cert, lint_pair
from tests.helpers.repo import ROOT
from tests.helpers.run import ApplySpec, RunCli, environment_bytes, pkiform_process
from tests.helpers.tools import openssl

SEED = b"an example seed for tests only, never for production\n"
OTHER_SEED = b"another example seed for tests only\n"
AT = "2026-06-01T12:00:00Z"

# every key type, a CA that signs OCSP responses, and a revoked leaf (so CRLs list it)
SPEC = """\
version: 1
defaults:
  validity: 90d
identities:
  root:
    kind: root
    key: {type: rsa, size: 3072}
    validity: 10y
  issuing:
    kind: intermediate
    issuer: root
    key: {type: ec, curve: P-384}
    validity: 5y
    ocsp: true
  web:
    kind: server
    issuer: issuing
    key: {type: rsa, size: 2048}
    dns: [web.example.com]
    ip: [127.0.0.1]
  api:
    kind: server
    issuer: issuing
    key: {type: ec, curve: P-521}
    dns: [api.example.com]
  edge:
    kind: server
    issuer: root
    key: {type: ed25519}
    dns: [edge.example.com]
  alice:
    kind: client
    issuer: issuing
    email: [alice@example.com]
  bob:
    kind: client
    issuer: issuing
    key: {type: ed448}
  mallory:
    kind: client
    issuer: issuing
"""
# then, a day later, mallory's key is compromised
REVOKED = SPEC + "    revoked: {reason: keyCompromise}\n"
LATER = "2026-06-02T12:00:00Z"
# openssl checks at that time, not today's
ATTIME = str(int(datetime.fromisoformat(LATER).timestamp()) + 3600)
NAMES = ["root", "issuing", "web", "api", "edge", "alice", "bob", "mallory"]


def apply_in_process(
    spec: Path, out: Path, *, at: str, cwd: Path, hash_seed: str, seed_file: Path | None = None,
    env_seed: bytes | None = None,
) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """`python -m pkiform apply` in its own process, working directory and hash seed."""
    env = {k: v for k, v in os.environ.items() if k != "PKIFORM_SEED"}
    env["PYTHONPATH"] = str(ROOT / "src")
    env["PYTHONHASHSEED"] = hash_seed
    if env_seed is not None:
        env["PKIFORM_SEED"] = env_seed.decode()
    argv = [sys.executable, "-m", "pkiform", "apply", str(spec), "-o", str(out), "--at", at]
    if seed_file is not None:
        argv += ["--seed-file", str(seed_file)]
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three PKIs, each issued and then revoking mallory a day later: two with SEED (the
    first from a file, the second from the environment, in different working directories
    and hash seeds), one with OTHER_SEED."""
    base = tmp_path_factory.mktemp("reproducible")
    spec, revoked = base / "spec.yaml", base / "revoked.yaml"
    spec.write_text(SPEC)
    revoked.write_text(REVOKED)
    seed_file, other_file = base / "seed", base / "other-seed"
    seed_file.write_bytes(SEED)
    other_file.write_bytes(OTHER_SEED)
    runs = {
        "first": dict(cwd=base, hash_seed="1", seed_file=seed_file),
        "second": dict(cwd=tmp_path_factory.mktemp("elsewhere"), hash_seed="2", env_seed=SEED),
        "other": dict(cwd=base, hash_seed="3", seed_file=other_file),
    }
    out = {}
    for label, options in runs.items():
        target = base / label / "pki"  # a different absolute path for each
        for step, at in ((spec, AT), (revoked, LATER)):
            done = apply_in_process(step, target, at=at, **options)  # type: ignore[arg-type]
            assert done.returncode == 0, done.stderr
        out[label] = target
    return out


def test_the_same_seed_and_time_give_byte_identical_trees(trees: dict[str, Path]) -> None:
    first, second = digests(trees["first"]), digests(trees["second"])
    assert first == second
    # the tree is the whole layout, CRLs and OCSP responses included
    for name in NAMES:
        for file in ("key.pem", "cert.pem", "chain.pem", "fullchain.pem", "ca.pem", "seed-id"):
            assert f"{name}/{file}" in first
    assert {"issuing/crl.pem", "issuing/crl.der", "root/crl.pem", "web/ocsp.der"} <= set(first)
    assert "manifest.json" in first


def test_a_different_seed_gives_different_keys_serials_and_signatures(
    trees: dict[str, Path],
) -> None:
    for name in NAMES:
        mine, theirs = (trees[t] / name for t in ("first", "other"))
        assert (mine / "key.pem").read_bytes() != (theirs / "key.pem").read_bytes()
        a, b = (
            x509.load_pem_x509_certificate((d / "cert.pem").read_bytes()) for d in (mine, theirs)
        )
        assert a.serial_number != b.serial_number
        assert a.subject == b.subject and a.not_valid_after_utc == b.not_valid_after_utc


def test_the_manifest_is_marked_with_the_seed_fingerprint_never_the_seed(
    trees: dict[str, Path],
) -> None:
    marks = {label: (t / "manifest.json").read_text() for label, t in trees.items()}
    fingerprint = pkiform_seed_fingerprint(SEED)
    assert f'"reproducible": {{"seed": "{fingerprint}"}}' in marks["first"]
    assert fingerprint not in marks["other"]
    secret = SEED.strip()
    for tree in trees.values():
        for path in tree.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert secret not in data and secret.hex().encode() not in data, path


def pkiform_seed_fingerprint(material: bytes) -> str:
    from pkiform.x509.derive import Seed

    return Seed.from_bytes(material).fingerprint


def test_derived_keys_pass_openssl_key_checks(trees: dict[str, Path]) -> None:
    tree = trees["first"]
    for name in NAMES:
        key = tree / name / "key.pem"
        text = key.read_text()
        if name in ("root", "web"):
            checked = openssl("rsa", "-check", "-noout", "-in", key)
            assert checked.stdout == b"RSA key ok\n", checked.stderr
        elif name in ("issuing", "api", "alice", "mallory"):
            checked = openssl("ec", "-check", "-noout", "-in", key)
            assert checked.returncode == 0 and b"key valid" in checked.stderr.lower(), checked
        else:
            checked = openssl("pkey", "-check", "-noout", "-in", key)
            assert checked.returncode == 0, checked.stderr
        assert text.startswith("-----BEGIN PRIVATE KEY-----")
        assert (key.stat().st_mode & 0o777) == 0o600


def test_derived_chains_verify_and_revocation_shows(trees: dict[str, Path], tmp_path: Path) -> None:
    tree = trees["first"]
    for name in NAMES:
        d = tree / name
        args = ["verify", "-x509_strict", "-attime", ATTIME, "-CAfile", d / "ca.pem"]
        if (d / "chain.pem").read_bytes():
            args += ["-untrusted", d / "chain.pem"]
        done = openssl(*args, d / "cert.pem")
        assert done.returncode == 0, (name, done.stdout, done.stderr)
    crls = tmp_path / "crls.pem"
    crls.write_bytes((tree / "root/crl.pem").read_bytes() + (tree / "issuing/crl.pem").read_bytes())
    revoked = openssl(
        "verify", "-crl_check_all", "-attime", ATTIME, "-CAfile", tree / "mallory/ca.pem",
        "-untrusted", tree / "mallory/chain.pem", "-CRLfile", crls, tree / "mallory/cert.pem",
    )  # fmt: skip
    assert revoked.returncode != 0 and b"certificate revoked" in revoked.stdout + revoked.stderr
    ocsp = openssl(
        "ocsp", "-respin", tree / "web/ocsp.der", "-issuer", tree / "issuing/cert.pem",
        "-cert", tree / "web/cert.pem", "-CAfile", tree / "web/ca.pem", "-attime", ATTIME,
        "-verify_other", tree / "issuing/cert.pem",
    )  # fmt: skip
    # verified; "status times invalid" only because the response is checked today
    assert ocsp.returncode == 0 and b"Response verify OK" in ocsp.stderr, ocsp
    assert b"good\n\tThis Update: Jun  1 11:55:00 2026 GMT" in ocsp.stdout, ocsp


def test_derived_certificates_lint_clean(trees: dict[str, Path]) -> None:
    tree = trees["first"]
    for name in NAMES:
        cert = (tree / name / "cert.pem").read_text()
        assert errors(lint_cert(cert)) == [], name
        issuer = x509.load_pem_x509_certificate(cert.encode()).issuer
        for candidate in NAMES:
            other = (tree / candidate / "cert.pem").read_text()
            if (
                candidate != name
                and x509.load_pem_x509_certificate(other.encode()).subject == issuer
            ):
                assert errors(lint_pair(other, cert)) == [], name


def test_the_api_gives_the_same_tree_as_the_command_line(
    trees: dict[str, Path], tmp_path: Path
) -> None:
    pkiform.loads(SPEC).apply(tmp_path / "pki", seed=SEED, at=datetime.fromisoformat(AT))
    pkiform.loads(REVOKED).apply(tmp_path / "pki", seed=SEED, at=datetime.fromisoformat(LATER))
    assert digests(tmp_path / "pki") == digests(trees["first"])


def test_a_second_seeded_apply_changes_nothing(trees: dict[str, Path], tmp_path: Path) -> None:
    spec = pkiform.loads(SPEC)
    at = datetime.fromisoformat(AT)
    spec.apply(tmp_path / "pki", seed=SEED, at=at)
    before = snapshot(tmp_path / "pki")
    assert not spec.apply(tmp_path / "pki", seed=SEED, at=at).plan.has_changes
    assert snapshot(tmp_path / "pki") == before


def test_a_lost_key_comes_back_the_same(tmp_path: Path) -> None:
    spec = pkiform.loads(SPEC)
    at = datetime(2026, 6, 1, 12, tzinfo=UTC)
    spec.apply(tmp_path / "pki", seed=SEED, at=at)
    key = tmp_path / "pki" / "alice" / "key.pem"
    original = key.read_bytes()
    key.unlink()
    applied = spec.apply(tmp_path / "pki", seed=SEED, at=at)
    assert [a.name for a in applied.plan.changes] == ["alice"]
    assert key.read_bytes() == original


# --- never mixing -------------------------------------------------------------------------


@pytest.fixture
def seeded(run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path) -> tuple[Path, Path]:
    spec = write_spec(SPEC.replace("{type: rsa, size: 3072}", "{type: ec, curve: P-256}"))
    (tmp_path / "seed").write_bytes(SEED)
    done = run_cli("apply", spec, "-o", tmp_path / "pki", "--seed-file", tmp_path / "seed")
    assert done.code == 0, done.err
    return spec, tmp_path / "pki"


def test_without_the_seed_a_seeded_directory_is_refused(
    run_cli: RunCli, seeded: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PKIFORM_SEED", raising=False)
    spec, out = seeded
    before = snapshot(out)
    for command in ("plan", "apply"):
        done = run_cli(command, spec, "-o", out, "--rekey", "root")
        assert done.code == 1
        assert done.err == (
            f"pkiform: error: {out} was made in reproducible mode (manifest.json names seed "
            f"{pkiform_seed_fingerprint(SEED)}); pass the same seed (--seed-file or "
            "PKIFORM_SEED), or use another output directory\n"
        )
    assert snapshot(out) == before


def test_another_seed_is_refused(
    run_cli: RunCli, seeded: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, out = seeded
    monkeypatch.setenv("PKIFORM_SEED", OTHER_SEED.decode())
    before = snapshot(out)
    done = run_cli("apply", spec, "-o", out)
    assert done.code == 1 and "was made from another seed" in done.err
    assert snapshot(out) == before
    monkeypatch.setenv("PKIFORM_SEED", SEED.decode())
    assert run_cli("plan", spec, "-o", out).code == 0  # the right seed: up to date


def test_a_seed_is_refused_on_random_keys(
    applied: ApplySpec, run_cli: RunCli, tmp_path: Path
) -> None:
    spec, out = applied(SPEC.replace("{type: rsa, size: 3072}", "{type: ec, curve: P-256}"))
    (tmp_path / "seed").write_bytes(SEED)
    before = snapshot(out)
    done = run_cli("apply", spec, "-o", out, "--seed-file", tmp_path / "seed")
    assert done.code == 1
    assert done.err == (
        f"pkiform: error: {out} holds keys that were not derived from a seed (root has no "
        "seed-id); reproducible mode does not mix with them: use another output directory\n"
    )
    assert snapshot(out) == before


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("short", "pkiform: error: --seed-file {tmp}/seed: the seed must be at least 16 bytes"),
        ("missing", "pkiform: error: --seed-file {tmp}/nope: cannot read: No such file"),
    ],
)
def test_a_bad_seed_is_an_error_before_anything_is_written(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path, setup: str, message: str
) -> None:
    spec = write_spec(SPEC)
    seed = tmp_path / ("seed" if setup == "short" else "nope")
    if setup == "short":
        seed.write_bytes(b"too short\n")
    done = run_cli("apply", spec, "-o", tmp_path / "pki", "--seed-file", seed)
    assert done.code == 1
    assert done.err.startswith(message.format(tmp=tmp_path))
    assert not (tmp_path / "pki").exists()


def test_rotate_key_is_ignored_with_a_seed_and_said_so(
    run_cli: RunCli, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    text = SPEC.replace("defaults:\n", "defaults:\n  rotate_key: true\n").replace(
        "{type: rsa, size: 3072}", "{type: ec, curve: P-256}"
    )
    spec = write_spec(text)
    (tmp_path / "seed").write_bytes(SEED)
    seed_args = ("--seed-file", tmp_path / "seed")
    assert run_cli("apply", spec, "-o", tmp_path / "pki", *seed_args, "--at", AT).code == 0
    key = (tmp_path / "pki" / "web" / "key.pem").read_bytes()
    # past renew_before: reissued, and with a seed the key stays what it is
    later = "2026-08-15T12:00:00Z"
    done = run_cli("apply", spec, "-o", tmp_path / "pki", *seed_args, "--at", later)
    assert done.code == 0, done.err
    assert "rotate_key is ignored with a seed" in done.out
    assert "~ web: reissue" in done.out
    assert (tmp_path / "pki" / "web" / "key.pem").read_bytes() == key


def test_salted_outputs_are_named_in_a_warning(
    run_cli: RunCli,
    write_spec: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REPRO_P12_PASSWORD", "a bundle password")
    text = SPEC.replace("{type: rsa, size: 3072}", "{type: ec, curve: P-256}").replace(
        "    dns: [api.example.com]\n",
        "    dns: [api.example.com]\n    outputs: {pkcs12: {password_env: REPRO_P12_PASSWORD}}\n",
    )
    (tmp_path / "seed").write_bytes(SEED)
    done = run_cli(
        "apply", write_spec(text), "-o", tmp_path / "pki", "--seed-file", tmp_path / "seed"
    )
    assert done.code == 0, done.err
    assert (
        "warning: encrypted files (api: key.encrypt, pkcs12, truststore) take random salts"
        in done.out
    )


# --- the mark that keeps derived and random keys apart ----------------------------------------

# EC keys only: derived in microseconds
EC_SPEC = SPEC.replace("{type: rsa, size: 3072}", "{type: ec, curve: P-256}").replace(
    "{type: rsa, size: 2048}", "{type: ec, curve: P-384}"
)


def seed_id(material: bytes) -> bytes:
    return pkiform_seed_fingerprint(material).encode() + b"\n"


def without_seed_message(out: Path, name: str) -> str:
    return (
        f"pkiform: error: {out} holds keys derived from a seed ({name}/seed-id names seed "
        f"{pkiform_seed_fingerprint(SEED)}); pass the same seed (--seed-file or PKIFORM_SEED), "
        "or use another output directory\n"
    )


def test_every_derived_folder_carries_the_id_of_its_seed(seeded: tuple[Path, Path]) -> None:
    _, out = seeded
    for name in NAMES:
        marker = out / name / "seed-id"
        assert marker.read_bytes() == seed_id(SEED), name
        assert marker.stat().st_mode & 0o777 == 0o644  # a one-way id, as public as manifest.json
    assert SEED.strip() not in b"".join((out / n / "seed-id").read_bytes() for n in NAMES)


def test_deleting_the_manifest_does_not_let_random_keys_in(
    run_cli: RunCli, seeded: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PKIFORM_SEED", raising=False)
    spec, out = seeded
    manifest = (out / "manifest.json").read_bytes()
    (out / "manifest.json").unlink()
    before = snapshot(out)
    for command in ("plan", "apply"):
        done = run_cli(command, spec, "-o", out)
        assert (done.code, done.out, done.err) == (1, "", without_seed_message(out, "root"))
    assert snapshot(out) == before
    # the seed brings the manifest back as it was, mark and all
    done = run_cli("apply", spec, "-o", out, "--seed-file", tmp_path / "seed")
    assert done.code == 0, done.err
    assert (out / "manifest.json").read_bytes() == manifest
    # a new identity, without the seed and the manifest: refused, not given a random key
    (out / "manifest.json").unlink()
    with spec.open("a") as text:
        text.write("  carol:\n    kind: client\n    issuer: issuing\n")
    before = snapshot(out)
    done = run_cli("apply", spec, "-o", out)
    assert (done.code, done.err) == (1, without_seed_message(out, "root"))
    assert snapshot(out) == before
    done = run_cli("apply", spec, "-o", out, "--seed-file", tmp_path / "seed")
    assert done.code == 0, done.err
    assert (out / "carol" / "seed-id").read_bytes() == seed_id(SEED)


def test_a_derived_folder_among_random_keys_is_refused_without_the_seed(
    run_cli: RunCli, seeded: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # alice's folder, copied into a directory of random keys whose spec does not name her
    monkeypatch.delenv("PKIFORM_SEED", raising=False)
    _, out = seeded
    other_spec = tmp_path / "other.yaml"
    other_spec.write_text("version: 1\nidentities:\n  solo:\n    kind: root\n")
    other = tmp_path / "other"
    assert run_cli("apply", other_spec, "-o", other).code == 0
    shutil.copytree(out / "alice", other / "alice")
    before = snapshot(other)
    done = run_cli("apply", other_spec, "-o", other, "--prune")
    assert (done.code, done.err) == (1, without_seed_message(other, "alice"))
    assert snapshot(other) == before


def test_a_folder_from_another_seed_is_refused(
    run_cli: RunCli, seeded: tuple[Path, Path], tmp_path: Path
) -> None:
    spec, out = seeded
    (out / "manifest.json").unlink()
    (out / "web" / "seed-id").write_bytes(seed_id(OTHER_SEED))
    before = snapshot(out)
    done = run_cli("apply", spec, "-o", out, "--seed-file", tmp_path / "seed")
    assert (done.code, done.out) == (1, "")
    assert done.err == (
        f"pkiform: error: {out} was made from another seed (web/seed-id names "
        f"{pkiform_seed_fingerprint(OTHER_SEED)}, not {pkiform_seed_fingerprint(SEED)}); "
        "reproducible mode does not mix keys: use another output directory\n"
    )
    assert snapshot(out) == before


def test_a_directory_seeded_before_seed_ids_gets_them_at_its_next_apply(
    run_cli: RunCli, seeded: tuple[Path, Path], tmp_path: Path
) -> None:
    # what an older pkiform left: the mark in manifest.json only
    spec, out = seeded
    for name in NAMES:
        (out / name / "seed-id").unlink()
    seed = ("--seed-file", tmp_path / "seed")
    plan = run_cli("plan", spec, "-o", out, *seed)
    assert plan.code == 2, plan.err
    assert "  ~ root (root): repair files\n      seed-id is missing\n" in plan.out
    assert f"Plan: {len(NAMES)} to repair files; 0 unchanged.\n" in plan.out
    keys = {n: (out / n / "key.pem").read_bytes() for n in NAMES}
    assert run_cli("apply", spec, "-o", out, *seed).code == 0
    assert {n: (out / n / "key.pem").read_bytes() for n in NAMES} == keys
    for name in NAMES:
        assert (out / name / "seed-id").read_bytes() == seed_id(SEED)
    before = snapshot(out)
    again = run_cli("apply", spec, "-o", out, *seed)
    assert "0 changed" in again.out and snapshot(out) == before
    # without manifest.json as well, nothing says these keys were derived: refused
    for name in NAMES:
        (out / name / "seed-id").unlink()
    (out / "manifest.json").unlink()
    done = run_cli("plan", spec, "-o", out, *seed)
    assert (done.code, done.err) == (
        1,
        f"pkiform: error: {out} holds keys that were not derived from a seed (root has no "
        "seed-id); reproducible mode does not mix with them: use another output directory\n",
    )


# --- what a seed may be ----------------------------------------------------------------------

ADVICE = "a seed must be random (e.g. `head -c 32 /dev/urandom | base64`)"
BINARY_SEED = bytes(range(200, 232))  # 32 distinct bytes, not UTF-8


@pytest.mark.parametrize(
    ("material", "problem"),
    [
        (b"a" * 16, f"the seed has only 1 distinct byte; {ADVICE}"),
        (b"ab" * 8 + b"\n", f"the seed has only 2 distinct bytes; {ADVICE}"),
        (b"passwordpassword", f"the seed has only 7 distinct bytes; {ADVICE}"),
        (b"abcdefghabcdefgh", f"the seed repeats a sequence of 8 bytes; {ADVICE}"),
        (
            b"Kq3v9Zp1Xw7Lm2R\r",
            "the seed ends with a carriage return or a second newline; "
            "only one trailing newline is ignored: remove the rest, or draw a new seed",
        ),
        (
            b"Kq3v9Zp1Xw7Lm2Rt\n\n",
            "the seed ends with a carriage return or a second newline; "
            "only one trailing newline is ignored: remove the rest, or draw a new seed",
        ),
        (
            b"Kq3v9Zp1Xw7Lm2R\n",
            "the seed must be at least 16 bytes (e.g. `head -c 32 /dev/urandom | base64`)",
        ),
    ],
    ids=[
        "one-letter",
        "two-letters",
        "a-word-twice",
        "periodic",
        "15-and-cr",
        "two-newlines",
        "15",
    ],
)
@pytest.mark.parametrize("origin", ["file", "variable"])
def test_a_weak_or_ambiguous_seed_is_refused_before_anything_is_written(
    run_cli: RunCli,
    write_spec: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    material: bytes,
    problem: str,
    origin: str,
) -> None:
    spec = write_spec(EC_SPEC)
    if origin == "file":
        (tmp_path / "seed").write_bytes(material)
        argv: tuple[str | Path, ...] = ("--seed-file", tmp_path / "seed")
        where = f"--seed-file {tmp_path / 'seed'}"
    else:
        monkeypatch.setenv("PKIFORM_SEED", material.decode())
        argv, where = (), "PKIFORM_SEED"
    for command in ("plan", "apply"):
        done = run_cli(command, spec, "-o", tmp_path / "pki", *argv)
        assert (done.code, done.out, done.err) == (1, "", f"pkiform: error: {where}: {problem}\n")
    assert not (tmp_path / "pki").exists()


def test_the_api_refuses_the_same_seeds(tmp_path: Path) -> None:
    spec = pkiform.loads(EC_SPEC)
    with pytest.raises(pkiform.PkiformError) as raised:
        spec.apply(tmp_path / "pki", seed="zzzzzzzzzzzzzzzzzzzz")
    assert str(raised.value) == f"seed: the seed has only 1 distinct byte; {ADVICE}"
    with pytest.raises(pkiform.PkiformError) as raised:
        spec.plan(tmp_path / "pki", seed="Kq3v9Zp1Xw7Lm2Rt\ud800")  # a lone surrogate
    assert str(raised.value) == (
        "seed: the seed is text that is not valid UTF-8 (a lone surrogate); pass it as bytes"
    )
    assert not (tmp_path / "pki").exists()
    # a str read from a non-UTF-8 environment (os.environ's surrogate escapes) is its bytes
    escaped = os.fsdecode(BINARY_SEED)
    from pkiform.reproducible import as_seed

    assert as_seed(escaped).fingerprint == as_seed(BINARY_SEED).fingerprint  # type: ignore[union-attr]


def test_one_trailing_line_ending_is_ignored_and_nothing_else() -> None:
    from pkiform.x509.derive import Seed

    plain = Seed.from_bytes(b"Kq3v9Zp1Xw7Lm2Rt").fingerprint
    for ending in (b"\n", b"\r\n"):
        assert Seed.from_bytes(b"Kq3v9Zp1Xw7Lm2Rt" + ending).fingerprint == plain
    # a seed of random bytes keeps every byte that is not that one line ending
    assert Seed.from_bytes(bytes(range(200, 232))).fingerprint != plain


def test_a_seed_that_is_not_utf8_works_and_is_never_echoed(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(EC_SPEC)
    (tmp_path / "seed").write_bytes(BINARY_SEED)
    by_variable = pkiform_process(
        "apply", "spec.yaml", "-o", "env", "--at", AT, cwd=tmp_path,
        env=environment_bytes(PKIFORM_SEED=BINARY_SEED),
    )  # fmt: skip
    assert by_variable.returncode == 0, by_variable.stderr
    by_file = pkiform_process(
        "apply", "spec.yaml", "-o", "file", "--at", AT, "--seed-file", "seed", cwd=tmp_path
    )
    assert by_file.returncode == 0, by_file.stderr
    assert digests(tmp_path / "env") == digests(tmp_path / "file")
    assert (tmp_path / "env/root/seed-id").read_bytes() == seed_id(BINARY_SEED)
    # a bad one is refused, and its bytes appear nowhere in what pkiform says
    bad = b"\xff\xfe" * 10
    done = pkiform_process(
        "plan", "spec.yaml", "-o", "bad", cwd=tmp_path, env=environment_bytes(PKIFORM_SEED=bad)
    )
    assert (done.returncode, done.stdout) == (1, b"")
    assert (
        done.stderr
        == f"pkiform: error: PKIFORM_SEED: the seed has only 2 distinct bytes; {ADVICE}\n".encode()
    )
    for form in (b"\xff", b"\\xff", b"udcff", "\xff".encode()):
        assert form not in done.stderr


@pytest.mark.parametrize(
    ("named", "problem"),
    [
        ("fifo", "is not a regular file (a FIFO)"),
        ("/dev/zero", "is not a regular file (a character device)"),
        ("big", "is larger than 4096 bytes; it must hold the seed alone"),
    ],
)
def test_a_seed_file_that_is_no_small_regular_file_is_refused_unread(
    tmp_path: Path, named: str, problem: str
) -> None:
    (tmp_path / "spec.yaml").write_text(EC_SPEC)
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "big").write_bytes(b"Kq3v9Zp1Xw7Lm2Rt" * 300)
    try:  # its own process, memory bounded: no writer opens the FIFO, /dev/zero never ends
        done = pkiform_process(
            "apply", "spec.yaml", "-o", "pki", "--seed-file", named, cwd=tmp_path, timeout=60
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"pkiform blocked reading --seed-file {named}")
    assert (done.returncode, done.stdout) == (1, b"")
    assert done.stderr == f"pkiform: error: --seed-file {named}: {problem}\n".encode()
    assert not (tmp_path / "pki").exists()
