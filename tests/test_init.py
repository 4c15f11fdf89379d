"""`pkiform init [DIR]`: the starter spec validates and applies as written, its first
line names the schema written beside it, its .gitignore keeps the output directory out
of git (asked of git itself), and nothing that exists is ever overwritten."""

from __future__ import annotations

import os
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import pytest

from pkiform.disk.store import create_files
from pkiform.errors import StoreError
from tests.helpers.files import snapshot
from tests.helpers.repo import ROOT
from tests.helpers.run import RunCli
from tests.helpers.tools import missing_tool

FILES = ("pki.yaml", ".gitignore", "pkiform.schema.json")


def template(name: str) -> bytes:
    return (resources.files("pkiform") / "templates" / name).read_bytes()


def git(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("git") is None:
        missing_tool("git", "apt-get install git")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip


def test_init_writes_the_starter_files_and_says_what_to_do_next(
    run_cli: RunCli, tmp_path: Path
) -> None:
    result = run_cli("init")
    assert (result.code, result.err) == (0, "")
    assert result.out == (
        "pki.yaml: written: a root CA, an intermediate, a server and a client\n"
        ".gitignore: written: keeps pki/, the output directory, out of git\n"
        "pkiform.schema.json: written: for editors (the spec's first line names it)\n"
        "next: pkiform plan pki.yaml\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES)
    assert (tmp_path / "pki.yaml").read_bytes() == template("pki.yaml")
    assert (tmp_path / ".gitignore").read_text() == (
        "# pkiform's output directory (pkiform apply pki.yaml): it holds private keys,\n"
        "# which must never be committed\n"
        "/pki/\n"
    )
    assert (tmp_path / "pkiform.schema.json").read_bytes() == (
        ROOT / "schemas" / "pkiform.schema.json"
    ).read_bytes()


def test_the_starter_spec_validates_applies_and_is_then_up_to_date(
    run_cli: RunCli, tmp_path: Path
) -> None:
    assert run_cli("init").code == 0
    validated = run_cli("validate", "pki.yaml", "--json")
    assert (validated.code, validated.out, validated.err) == (
        0,
        '{\n  "valid": true,\n  "diagnostics": []\n}\n',
        "",
    )
    assert run_cli("plan", "pki.yaml").out.splitlines()[-1] == (
        "Plan: 4 to create, 2 CRL/OCSP to sign; 0 unchanged."
    )
    applied = run_cli("apply", "pki.yaml")
    assert applied.code == 0, applied.err
    kinds = [line.split()[2] for line in run_cli("status", "pki.yaml").out.splitlines()[:-1]]
    assert sorted(kinds) == ["client", "intermediate", "root", "server"]
    assert run_cli("plan", "pki.yaml").code == 0
    assert run_cli("status", "pki.yaml").code == 0


def test_its_first_line_names_the_schema_written_beside_it(run_cli: RunCli, tmp_path: Path) -> None:
    assert run_cli("init", "infra").code == 0
    first = (tmp_path / "infra" / "pki.yaml").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=./pkiform.schema.json"
    named = tmp_path / "infra" / first.split("=", 1)[1]  # relative to the spec's folder
    assert named.read_text() == run_cli("schema").out
    # and `schema -o` keeps it up to date in place, as the spec's comments say
    assert "pkiform schema -o pkiform.schema.json" in (tmp_path / "infra" / "pki.yaml").read_text()
    refreshed = run_cli("schema", "-o", named)
    assert (refreshed.code, refreshed.out.split(";")[0]) == (0, f"{named}: up to date")


def test_git_ignores_the_output_directory_the_starter_spec_is_applied_to(
    run_cli: RunCli, tmp_path: Path
) -> None:
    assert git("init", "-q", cwd=tmp_path).returncode == 0
    assert run_cli("init").code == 0
    assert run_cli("apply", "pki.yaml").code == 0
    status = git("status", "--porcelain", "--untracked-files=all", cwd=tmp_path)
    assert sorted(status.stdout.splitlines()) == [f"?? {name}" for name in sorted(FILES)]
    keys = sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "pki").rglob("key.pem"))
    assert len(keys) == 4
    ignored = git("check-ignore", *keys, cwd=tmp_path)
    assert ignored.stdout.split() == keys
    # the negative twin: without the starter .gitignore, git would offer the keys to commit
    (tmp_path / ".gitignore").unlink()
    exposed = git("status", "--porcelain", "--untracked-files=all", cwd=tmp_path).stdout
    assert all(f"?? {key}" in exposed.splitlines() for key in keys)


def test_a_missing_folder_is_made_with_its_parents(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("init", "a/b")
    assert result.code == 0
    assert result.out.splitlines()[-1] == "next: cd a/b && pkiform plan pki.yaml"
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == sorted(FILES)


@pytest.mark.parametrize("existing", [*FILES, "pki.yaml+.gitignore", "dangling-link"])
def test_init_overwrites_nothing_and_writes_nothing_when_a_file_exists(
    run_cli: RunCli, tmp_path: Path, existing: str
) -> None:
    there = existing.split("+") if existing != "dangling-link" else ["pki.yaml"]
    for name in there:
        if existing == "dangling-link":
            (tmp_path / name).symlink_to(tmp_path / "nowhere.yaml")
        else:
            (tmp_path / name).write_text("mine\n")
    before = snapshot(tmp_path), sorted(p.name for p in tmp_path.iterdir())
    result = run_cli("init")
    listed = ", ".join(there)
    verb = "exists" if len(there) == 1 else "exist"
    assert (result.code, result.out, result.err) == (
        1,
        "",
        f"pkiform: error: {listed}: {verb} already; init writes only new files, so it wrote "
        "nothing (give it a folder without them, e.g. pkiform init pki-spec)\n",
    )
    assert (snapshot(tmp_path), sorted(p.name for p in tmp_path.iterdir())) == before
    if existing == "dangling-link":
        assert not (tmp_path / "nowhere.yaml").exists()  # the link was not written through


def test_a_file_where_the_folder_should_be_is_an_error(run_cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "infra").write_text("mine\n")
    result = run_cli("init", "infra")
    assert (result.code, result.err) == (
        1,
        "pkiform: error: infra: exists and is not a directory\n",
    )
    assert (tmp_path / "infra").read_text() == "mine\n"


def test_a_name_taken_while_writing_is_not_overwritten_and_nothing_stays(tmp_path: Path) -> None:
    # what a race with another writer looks like to the store: the check passed, then
    # the third name was taken before its turn
    (tmp_path / "c").write_text("theirs\n")
    with pytest.raises(StoreError) as caught:
        create_files(tmp_path, {"a": b"1\n", "b": b"2\n", "c": b"3\n"})
    assert str(caught.value) == f"{tmp_path / 'c'}: exists; nothing was written"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "c"
    ]  # a and b removed again, no staging left
    assert (tmp_path / "c").read_text() == "theirs\n"
