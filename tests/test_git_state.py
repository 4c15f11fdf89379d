"""The output directory kept in git, tested for real (issue 18): a bare repository is the
shared state, fresh clones are the CI runners, and each run on the main branch is what
the CI recipes run, examples/ci/apply-and-push.sh. Run 1 applies and pushes; run 2 in
another clone (core.autocrlf too) finds nothing to do; a branch's SAN change plans one
reissue, and applying it after the merge reissues that certificate alone, its CRL and
OCSP response consistent (openssl -crl_check against the committed CRL); a run that
loses the push race drops its commit, applies again from the winner's and converges.
A directory whose CA keys are in SoftHSM2 and leaf keys encrypted is public; one with
keys in plain is not, and the script commits nothing. With the leaves signed from their
hosts' requests as well, the committed directory holds no private key at all, and a
host's new request reissues its certificate alone."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.git import bare_repository, clone, commit_all, git, git_env
from tests.helpers.repo import ROOT
from tests.helpers.run import pkiform_env
from tests.helpers.softhsm import PIN, SoftHsm, softhsm  # noqa: F401  (a fixture)
from tests.helpers.tls import assert_connected, client_context, exchange
from tests.helpers.tools import openssl

SCRIPT = ROOT / "examples" / "ci" / "apply-and-push.sh"
PASSWORD = "a-long-random-password-6b1e"
SPEC = """\
version: 1
defaults:
  key: {type: ec, encrypt: {password_env: PKIFORM_KEY_PASSWORD}}
identities:
  root-ca: {kind: root}
  issuing-ca:
    kind: intermediate
    issuer: root-ca
    path_length: 0
    ocsp: true
    revoke_superseded: true
  web: {kind: server, issuer: issuing-ca, dns: [web.example.com]}
  api: {kind: server, issuer: issuing-ca, dns: [api.example.com]}
"""
WWW = SPEC.replace("dns: [web.example.com]", "dns: [web.example.com, www.example.com]")


@dataclass(frozen=True)
class World:
    """The remote, and where the machines that clone it live."""

    remote: Path
    places: Path
    home: Path
    bin: Path

    def machine(self, name: str, *, autocrlf: bool = False) -> Path:
        """A fresh clone of main, as a CI runner checks it out."""
        return clone(self.remote, self.places / name, self.home, autocrlf=autocrlf)

    def env(self, **extra: str) -> dict[str, str]:
        env = git_env(self.home, pkiform_env(PKIFORM_KEY_PASSWORD=PASSWORD))
        env["PATH"] = f"{self.bin}{os.pathsep}{env['PATH']}"
        env.update(extra)
        return env

    def run(self, repo: Path, *argv: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(argv), cwd=repo, env=self.env(**extra), capture_output=True, text=True,
            timeout=600, check=False,
        )  # fmt: skip

    def apply_and_push(self, repo: Path, **extra: str) -> subprocess.CompletedProcess[str]:
        """What a run on the main branch does: the recipes' script, as they call it."""
        shutil.copy(SCRIPT, repo / "apply-and-push.sh")  # as the user copies it in
        try:
            return self.run(repo, "sh", "apply-and-push.sh", "pki.yaml", "pki", "main", **extra)
        finally:
            (repo / "apply-and-push.sh").unlink()

    def pkiform(self, repo: Path, *argv: str) -> subprocess.CompletedProcess[str]:
        return self.run(repo, "pkiform", *argv)

    def merge(self, spec: str, message: str) -> None:
        """A reviewed spec change lands on main (from a maintainer's clone)."""
        repo = self.places / f"maintainer-{len(list(self.places.iterdir()))}"
        clone(self.remote, repo, self.home)
        (repo / "pki.yaml").write_text(spec)
        commit_all(repo, self.home, message)
        git("push", "-q", "origin", "HEAD:main", cwd=repo, home=self.home)

    def log(self) -> list[str]:
        """The subjects of main's commits, newest first."""
        found = git("log", "--format=%s", "main", cwd=self.remote, home=self.home)
        return found.stdout.splitlines()


@pytest.fixture
def world(tmp_path: Path) -> World:
    home, places, bin_dir = tmp_path / "home", tmp_path / "places", tmp_path / "bin"
    for folder in (home, places, bin_dir):
        folder.mkdir()
    (bin_dir / "pkiform").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m pkiform "$@"\n')
    (bin_dir / "pkiform").chmod(0o755)
    return World(bare_repository(tmp_path / "remote.git", home), places, home, bin_dir)


def verify(out: Path, name: str, cert: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    """openssl verify of `name`'s certificate (or `cert`) against the committed CRLs."""
    folder = out / name
    crls = [arg for ca in ("root-ca", "issuing-ca") for arg in ("-CRLfile", out / ca / "crl.pem")]
    return openssl(
        "verify", "-crl_check_all", *crls, "-CAfile", folder / "ca.pem",
        "-untrusted", folder / "chain.pem", cert or folder / "cert.pem",
    )  # fmt: skip


def test_the_state_in_git_through_a_pkis_life(world: World) -> None:
    world.merge(SPEC, "the spec")
    # run 1: a fresh runner applies, checks, commits and pushes the directory
    first = world.machine("run-1")
    result = world.apply_and_push(first)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Apply complete in pki: 4 changed, 0 unchanged, 4 CRL/OCSP signed." in result.stdout
    assert "public: no secret in" in result.stdout
    assert world.log() == [
        "pkiform apply: 4 changed, 0 unchanged, 4 CRL/OCSP signed. [skip ci]",
        "the spec",
    ]
    tree = git("ls-tree", "-r", "--name-only", "main", "pki", cwd=world.remote, home=world.home)
    committed = tree.stdout.splitlines()
    assert "pki/.lock" not in committed and "pki/.gitattributes" in committed
    # run 2, on other runners: nothing to do, as committed (but for the keys' modes)
    for name, autocrlf in (("run-2", False), ("run-2-crlf", True)):
        repo = world.machine(name, autocrlf=autocrlf)
        plan = world.pkiform(repo, "plan", "pki.yaml", "-o", "pki", "--no-key-passwords")
        assert plan.returncode == 0, plan.stdout + plan.stderr
        assert plan.stdout.endswith(
            "No changes: 4 identities up to date; 4 key files to tighten.\n"
        ), plan.stdout
        second = world.apply_and_push(repo)
        assert second.returncode == 0, second.stdout + second.stderr
        assert "nothing to commit: pki is as origin/main has it" in second.stdout
        assert git("status", "--porcelain", cwd=repo, home=world.home).stdout == ""
    assert len(world.log()) == 2  # neither pushed anything
    # a branch changes a SAN: its plan, posted on the pull request, shows one reissue
    review = world.machine("pull-request")
    (review / "pki.yaml").write_text(WWW)
    markdown = world.pkiform(
        review, "plan", "pki.yaml", "-o", "pki", "--no-key-passwords", "--format", "markdown"
    )
    assert markdown.returncode == 2, markdown.stderr
    rows = [line for line in markdown.stdout.splitlines() if line.startswith("| `")]
    cells = [row.split(" | ") for row in rows]
    assert [c[1] for c in cells if c[2] == "reissue"] == ["`web` (server)"]
    assert markdown.stdout.startswith(
        "**Plan: 1 to reissue, 2 CRL/OCSP to sign; 3 unchanged; 4 key files to tighten.**\n"
    ), markdown.stdout
    assert "| `~` | `web` (server) | reissue | `dns: +www.example.com` |" in rows
    # merged, then applied by a third runner: exactly that certificate is reissued
    before = world.machine("before")
    world.merge(WWW, "web: www.example.com too")
    third = world.machine("run-3")
    result = world.apply_and_push(third)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "Apply complete in pki: 1 changed, 3 unchanged, 2 CRL/OCSP signed, 4 key files tightened.\n"
    ) in result.stdout
    assert world.log()[0] == "pkiform apply: 1 changed, 3 unchanged, 2 CRL/OCSP signed. [skip ci]"
    body = git("log", "-1", "--format=%b", "main", cwd=world.remote, home=world.home).stdout
    assert body == (
        "  ~ web: reissue (dns: +www.example.com)\n"
        "  ~ issuing-ca: re-sign crl.pem (CRL number 2, 1 revoked)\n"
        "  ~ web: re-sign ocsp.der (good, signed by issuing-ca)\n"
        "\n"
    ), body
    changed = git("diff", "--name-only", "HEAD~1", "HEAD", cwd=third, home=world.home)
    touched = {path.split("/")[1] for path in changed.stdout.splitlines()}
    assert touched == {"manifest.json", "web", "issuing-ca"}, changed.stdout
    assert {p for p in changed.stdout.splitlines() if p.startswith("pki/issuing-ca/")} == {
        "pki/issuing-ca/crl.pem",
        "pki/issuing-ca/crl.der",
    }
    # consistent, in a fresh clone of what was pushed
    check = world.machine("check")
    out = check / "pki"
    status = world.pkiform(check, "status", "pki.yaml", "-o", "pki", "--public")
    assert status.returncode == 0, status.stdout + status.stderr
    assert verify(out, "web").returncode == 0
    assert verify(out, "api").returncode == 0
    old = before / "pki" / "web" / "cert.pem"  # superseded: on the committed CRL
    refused = verify(out, "web", old)
    assert refused.returncode != 0 and b"certificate revoked" in refused.stderr
    web = out / "web"
    ocsp = openssl(
        "ocsp", "-respin", web / "ocsp.der", "-issuer", out / "issuing-ca" / "cert.pem",
        "-cert", web / "cert.pem", "-CAfile", web / "ca.pem", "-no_nonce",
    )  # fmt: skip
    assert ocsp.returncode == 0 and b": good" in ocsp.stdout, ocsp.stdout + ocsp.stderr
    assert (web / "archive").is_dir()  # committed too: nothing lost on ephemeral runners
    final = world.pkiform(check, "plan", "pki.yaml", "-o", "pki")
    assert (final.returncode, final.stdout.splitlines()[-1]) == (
        0,
        "No changes: 4 identities up to date; 4 key files to tighten.",
    )


def test_a_run_that_loses_the_push_race_applies_again_from_the_winners_and_converges(
    world: World,
) -> None:
    world.merge(SPEC, "the spec")
    assert world.apply_and_push(world.machine("setup")).returncode == 0
    world.merge(WWW, "web: www.example.com too")
    loser, winner = world.machine("loser"), world.machine("winner")
    # the loser fetches first; the winner runs whole while the loser applies
    race_bin = world.places / "race-bin"
    race_bin.mkdir()
    done = world.places / "winner-ran"
    (race_bin / "pkiform").write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = apply ] && [ ! -e "{done}" ]; then\n'
        f'  touch "{done}"\n'
        f'  (cd "{winner}" && PATH="{world.bin}:$PATH" sh "{SCRIPT}" pki.yaml pki main) '
        f'> "{world.places / "winner.log"}" 2>&1\n'
        "fi\n"
        f'exec "{world.bin / "pkiform"}" "$@"\n'
    )
    (race_bin / "pkiform").chmod(0o755)
    raced = world.apply_and_push(loser, PATH=f"{race_bin}{os.pathsep}{world.env()['PATH']}")
    winner_log = (world.places / "winner.log").read_text()
    assert "pkiform: pushed" in winner_log, winner_log
    assert raced.returncode == 0, raced.stdout + raced.stderr
    keys = "; ".join(f"{n}/key.pem: 0644 -> 0600" for n in ("api", "issuing-ca", "root-ca", "web"))
    public = "public: no secret in 33 files (4 hold an encrypted key).\n"
    # its first apply did the work the winner did; its push was refused; it dropped its
    # commit and applied again from what the winner pushed: nothing left to do
    assert raced.stdout == (
        "  ~ web: reissue (dns: +www.example.com)\n"
        "  ~ issuing-ca: re-sign crl.pem (CRL number 2, 1 revoked)\n"
        "  ~ web: re-sign ocsp.der (good, signed by issuing-ca)\n"
        f"  ~ key files: modes tightened in place ({keys})\n"
        "Apply complete in pki: 1 changed, 3 unchanged, 2 CRL/OCSP signed, 4 key files "
        "tightened.\n"
        f"{public}"
        "pkiform: another run pushed to main first; dropping this run's commit and applying "
        "again from what it pushed\n"
        "Apply complete in pki: 0 changed, 4 unchanged.\n"
        f"{public}"
        "pkiform: nothing to commit: pki is as origin/main has it\n"
    )
    assert world.log()[:2] == [
        "pkiform apply: 1 changed, 3 unchanged, 2 CRL/OCSP signed. [skip ci]",
        "web: www.example.com too",
    ]
    assert len(world.log()) == 4  # spec, state, spec, the winner's state: one each
    # the loser's checkout is the winner's state, byte for byte, and valid
    assert (
        git("rev-parse", "HEAD", cwd=loser, home=world.home).stdout
        == git("rev-parse", "main", cwd=world.remote, home=world.home).stdout
    )
    assert git("status", "--porcelain", cwd=loser, home=world.home).stdout == ""
    assert verify(loser / "pki", "web").returncode == 0


def test_a_refused_push_that_is_no_race_fails_at_once(world: World, tmp_path: Path) -> None:
    world.merge(SPEC, "the spec")
    repo = world.machine("runner")
    hook = world.remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'main is protected' >&2\nexit 1\n")
    hook.chmod(0o755)
    result = world.apply_and_push(repo)
    assert result.returncode == 1
    assert "error: origin refused the push, and main has not moved: not a race" in result.stderr
    assert result.stdout.count("Apply complete") == 1  # tried once
    assert world.log() == ["the spec"]


PLAIN = SPEC.replace(
    "  key: {type: ec, encrypt: {password_env: PKIFORM_KEY_PASSWORD}}\n", "  key: {type: ec}\n"
)


def test_a_directory_with_keys_in_plain_is_never_committed(world: World) -> None:
    world.merge(PLAIN, "the spec, keys in plain")
    repo = world.machine("runner")
    result = world.apply_and_push(repo)
    assert result.returncode == 1
    assert "error: pki holds a secret (above): nothing was committed" in result.stderr
    for key in ("root-ca", "issuing-ca", "web", "api"):
        assert f"error   {key}/key.pem\n        holds a private key in plain\n" in result.stdout
    assert world.log() == ["the spec, keys in plain"]  # nothing pushed


def test_a_directory_ignored_by_git_is_refused_before_anything_is_applied(world: World) -> None:
    world.merge(SPEC, "the spec")
    repo = world.machine("runner")
    (repo / ".gitignore").write_text("/pki/\n")  # what `pkiform init` writes
    commit_all(repo, world.home, "ignore pki")
    git("push", "-q", "origin", "HEAD:main", cwd=repo, home=world.home)
    result = world.apply_and_push(repo)
    assert result.returncode == 1
    assert result.stderr == (
        "error: git ignores pki (.gitignore:1:/pki/\tpki/manifest.json); the state must be "
        "committed whole: remove that line\n"
    )
    assert not (repo / "pki").exists()


def hsm_spec(hsm: SoftHsm, label: str) -> str:
    def uri(name: str) -> str:
        return f'"pkcs11:token=pki;object={label}-{name}?module-path={hsm.module}"'

    return f"""\
version: 1
defaults:
  key: {{type: ec, encrypt: {{password_env: PKIFORM_KEY_PASSWORD}}}}
identities:
  root-ca:
    kind: root
    key: {{type: ec, curve: P-384, pkcs11: {uri("root")}, pin_env: PKIFORM_PIN}}
  issuing-ca:
    kind: intermediate
    issuer: root-ca
    ocsp: true
    key: {{type: ec, pkcs11: {uri("issuing")}, pin_env: PKIFORM_PIN}}
  web: {{kind: server, issuer: issuing-ca, dns: [web.example.com]}}
"""


def test_ca_keys_in_a_token_and_leaf_keys_encrypted_make_a_public_directory(
    world: World,
    softhsm: SoftHsm,  # noqa: F811
    request: pytest.FixtureRequest,
) -> None:
    world.merge(hsm_spec(softhsm, softhsm.label(request)), "the spec, CA keys in a token")
    pin = {"PKIFORM_PIN": PIN.decode(), "SOFTHSM2_CONF": str(softhsm.conf)}
    result = world.apply_and_push(world.machine("runner"), **pin)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""  # the tracked directory's keys: none in plain, no warning
    repo = world.machine("check")
    out = repo / "pki"
    assert not (out / "root-ca" / "key.pem").exists()  # in the token
    assert (out / "web" / "key.pem").read_bytes().startswith(b"-----BEGIN ENCRYPTED")
    status = world.run(repo, "pkiform", "status", "pki.yaml", "-o", "pki", "--public", **pin)
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stdout.endswith("public: no secret in 22 files (1 holds an encrypted key).\n")
    document = json.loads(
        world.run(
            repo, "pkiform", "status", "pki.yaml", "-o", "pki", "--public", "--json", **pin
        ).stdout
    )
    assert document["public"]["ok"] is True
    plan = world.run(repo, "pkiform", "plan", "pki.yaml", "-o", "pki", **pin)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert plan.stdout.endswith("No changes: 3 identities up to date; 1 key file to tighten.\n")


def csr_spec(hsm: SoftHsm, label: str) -> str:
    """CA keys in the token, the leaves signed from requests committed beside the spec."""

    def uri(name: str) -> str:
        return f'"pkcs11:token=pki;object={label}-{name}?module-path={hsm.module}"'

    return f"""\
version: 1
identities:
  root-ca:
    kind: root
    key: {{type: ec, curve: P-384, pkcs11: {uri("root")}, pin_env: PKIFORM_PIN}}
  issuing-ca:
    kind: intermediate
    issuer: root-ca
    revoke_superseded: true
    key: {{type: ec, pkcs11: {uri("issuing")}, pin_env: PKIFORM_PIN}}
  web: {{kind: server, issuer: issuing-ca, dns: [web.example.com], csr: requests/web.csr}}
  alice: {{kind: client, issuer: issuing-ca, csr: requests/alice.csr}}
"""


def host_request(hosts: Path, name: str, requests: Path) -> Path:
    """What a host does: a key it keeps, and a request for it that it hands over."""
    key = hosts / f"{name}.key"
    requests.mkdir(exist_ok=True)
    made = openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", key, "-out", requests / f"{name}.csr", "-subj", f"/CN={name}",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    return key


def test_leaves_from_requests_and_ca_keys_in_a_token_commit_no_private_key_at_all(
    world: World,
    softhsm: SoftHsm,  # noqa: F811
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    pin = {"PKIFORM_PIN": PIN.decode(), "SOFTHSM2_CONF": str(softhsm.conf)}
    hosts = tmp_path / "hosts"  # the servers' and clients' own disks, never in git
    hosts.mkdir()
    maintainer = world.places / "maintainer"
    clone(world.remote, maintainer, world.home)
    keys = {n: host_request(hosts, n, maintainer / "requests") for n in ("web", "alice")}
    (maintainer / "pki.yaml").write_text(csr_spec(softhsm, softhsm.label(request)))
    commit_all(maintainer, world.home, "the spec and the hosts' requests")
    git("push", "-q", "origin", "HEAD:main", cwd=maintainer, home=world.home)

    # run 1 issues and pushes; nothing committed holds a private key, plain or encrypted
    result = world.apply_and_push(world.machine("runner-1"), **pin)
    assert result.returncode == 0, result.stdout + result.stderr
    repo = world.machine("runner-2")
    tracked = [f for f in git("ls-files", "-z", cwd=repo, home=world.home).stdout.split("\0") if f]
    assert any(f.startswith("pki/") for f in tracked)
    assert [f for f in tracked if b"PRIVATE KEY" in (repo / f).read_bytes()] == []
    assert not [p for p in (repo / "pki").rglob("key.pem")]
    status = world.run(repo, "pkiform", "status", "pki.yaml", "-o", "pki", "--public", **pin)
    assert status.returncode == 0, status.stdout + status.stderr
    # not even an encrypted key: the summary counts none
    assert status.stdout.endswith("\npublic: no secret in 26 files.\n")
    # run 2, in another clone: nothing to do, not even a mode to tighten
    plan = world.run(repo, "pkiform", "plan", "pki.yaml", "-o", "pki", **pin)
    assert (plan.returncode, plan.stdout) == (0, "No changes: 4 identities up to date.\n")

    # each host serves with the key it kept and the certificate the repository holds
    out = repo / "pki"
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(out / "web" / "fullchain.pem", keys["web"])
    server.verify_mode = ssl.CERT_REQUIRED
    server.load_verify_locations(out / "web" / "ca.pem")
    client = client_context(None, trust=out / "alice" / "ca.pem")
    client.load_cert_chain(out / "alice" / "fullchain.pem", keys["alice"])
    assert_connected(
        exchange(server, client, "web.example.com"), server_cn="web", client_cn="alice"
    )

    # web's host makes a new key: its new request, merged, reissues web alone
    old_web = (out / "web" / "cert.pem").read_bytes()
    host_request(hosts, "web", maintainer / "requests")
    git("pull", "-q", "--ff-only", "origin", "main", cwd=maintainer, home=world.home)
    commit_all(maintainer, world.home, "web: a new key")
    git("push", "-q", "origin", "HEAD:main", cwd=maintainer, home=world.home)
    runner = world.machine("runner-3")
    plan = world.run(runner, "pkiform", "plan", "pki.yaml", "-o", "pki", "--json", **pin)
    changed = [a["name"] for a in json.loads(plan.stdout)["actions"] if a["verb"] != "unchanged"]
    assert (plan.returncode, changed) == (2, ["web"]), plan.stderr
    result = world.apply_and_push(runner, **pin)
    assert result.returncode == 0, result.stdout + result.stderr
    repo = world.machine("runner-4")
    out = repo / "pki"
    assert (out / "alice" / "cert.pem").read_bytes() == (
        world.places / "runner-2" / "pki" / "alice" / "cert.pem"
    ).read_bytes()
    assert (out / "web" / "cert.pem").read_bytes() != old_web
    # the superseded certificate is on the committed CRL; the new one verifies
    (tmp_path / "old-web.pem").write_bytes(old_web)
    assert verify(out, "web").returncode == 0
    refused = verify(out, "web", tmp_path / "old-web.pem")
    assert refused.returncode != 0 and b"certificate revoked" in refused.stderr
    assert not [p for p in out.rglob("key.pem")]
