"""`pkiform schema -o FILE`: the JSON Schema where an installed pkiform's users can point
their editor at it (a checkout has schemas/, an installed wheel hides it in
site-packages), written atomically, and never over a file that is not a pkiform schema."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest
import yaml

from pkiform.spec.schema import schema_text
from tests.helpers.repo import EXAMPLES
from tests.helpers.run import RunCli, run_python

MODELINE = "# yaml-language-server: $schema=./pkiform.schema.json"


def written(path: Path) -> str:
    return f"{path}: written; a spec in the same folder starts with\n{MODELINE}\n"


def test_schema_out_writes_the_schema_a_spec_beside_it_names(
    run_cli: RunCli, tmp_path: Path
) -> None:
    target = tmp_path / "pkiform.schema.json"
    result = run_cli("schema", "-o", target)
    assert (result.code, result.out, result.err) == (0, written(target), "")
    assert target.read_text() == schema_text() == run_cli("schema").out
    assert target.stat().st_mode & 0o777 == 0o644 & ~_umask()
    # the modeline it prints, atop a spec beside the file, names that file: an editor
    # resolves it against the spec's folder and checks the spec with it
    spec = tmp_path / "spec.yaml"
    spec.write_text(MODELINE + "\n" + _without_modeline(EXAMPLES / "mesh.yaml"))
    first = spec.read_text().splitlines()[0]
    named = spec.parent / first.split("$schema=", 1)[1]
    validator = jsonschema.Draft202012Validator(json.loads(named.read_text()))
    validator.validate(yaml.safe_load(spec.read_text()))
    assert list(validator.iter_errors({"version": 1, "identities": {"x": {"kind": "ca"}}}))
    assert run_cli("validate", spec).code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkiform.schema.json", "spec.yaml"]


def test_schema_out_again_leaves_the_file_alone(run_cli: RunCli, tmp_path: Path) -> None:
    target = tmp_path / "pkiform.schema.json"
    assert run_cli("schema", "-o", target).code == 0
    before = target.stat()
    result = run_cli("schema", "-o", target)
    assert (result.code, result.err) == (0, "")
    assert result.out == (
        f"{target}: up to date; a spec in the same folder starts with\n{MODELINE}\n"
    )
    after = target.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_schema_out_replaces_another_version_of_the_schema_by_a_rename(
    run_cli: RunCli, tmp_path: Path
) -> None:
    target = tmp_path / "pkiform.schema.json"
    older = json.loads(schema_text())
    older["description"] = "the schema of an older pkiform"
    del older["properties"]["defaults"]
    target.write_text(json.dumps(older))
    with target.open("rb") as reader:  # an editor that has the old file open
        result = run_cli("schema", "-o", target)
        assert (result.code, result.out, result.err) == (0, written(target), "")
        # the old file was replaced whole, never rewritten in place under the reader
        assert json.loads(reader.read()) == older
    assert target.read_text() == schema_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkiform.schema.json"]


@pytest.mark.parametrize(
    "content",
    [
        b'{"$id": "https://json.schemastore.org/github-workflow.json", "type": "object"}\n',
        b"[1, 2, 3]\n",
        b"version: 1\nidentities: {ca: {kind: root}}\n",
        b"\xff\xfe not text",
        b"",
    ],
    ids=["another-schema", "json-not-a-schema", "a-spec", "binary", "empty"],
)
def test_schema_out_refuses_to_overwrite_what_is_not_a_pkiform_schema(
    run_cli: RunCli, tmp_path: Path, content: bytes
) -> None:
    target = tmp_path / "spec.yaml"
    target.write_bytes(content)
    result = run_cli("schema", "-o", target)
    assert (result.code, result.out) == (1, "")
    assert result.err == (
        f"pkiform: error: {target}: exists and is not a pkiform schema; "
        "remove it or choose another file\n"
    )
    assert target.read_bytes() == content
    assert [p.name for p in tmp_path.iterdir()] == ["spec.yaml"]


def test_schema_out_refuses_links_and_folders_and_reports_unwritable_places(
    run_cli: RunCli, tmp_path: Path
) -> None:
    real = tmp_path / "real.json"
    assert run_cli("schema", "-o", real).code == 0
    link = tmp_path / "link.json"
    link.symlink_to(real)
    cases = {
        link: f"{link}: is a symlink; pkiform does not follow links",
        tmp_path: f"{tmp_path}: is a directory; give a file name such as "
        f"{tmp_path / 'pkiform.schema.json'}",
        tmp_path / "missing" / "s.json": f"{tmp_path / 'missing' / 's.json'}: cannot write: "
        "No such file or directory",
    }
    for target, message in cases.items():
        result = run_cli("schema", "-o", target)
        assert (result.code, result.out, result.err) == (1, "", f"pkiform: error: {message}\n")
    assert link.is_symlink() and link.readlink() == real
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "real.json"]


def test_schema_out_does_not_load_cryptography(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from pkiform.cli import main\n"
        f"assert main(['schema', '-o', {str(tmp_path / 's.json')!r}]) == 0\n"
        "print(sorted(m for m in sys.modules if m.startswith('cryptography')))\n"
    )
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"
    assert (tmp_path / "s.json").read_text() == schema_text()


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _without_modeline(path: Path) -> str:
    lines = path.read_text().splitlines(keepends=True)
    assert lines[0].startswith("# yaml-language-server:")
    return "".join(lines[1:])
