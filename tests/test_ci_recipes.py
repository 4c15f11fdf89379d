"""The CI recipes in examples/ci/: each file is what its platform accepts (the platform's
own JSON Schema, from check-jsonschema's vendored copies, and the structure the recipe
promises), and the shell of every step runs here as the platform runs it (GitHub:
`bash --noprofile --norc -eo pipefail`; GitLab: the script lines in one `bash -eo
pipefail`) against a scratch repository and output directory, through a PKI's life:
pull request, merge, schedule. Only the posting commands are fakes (`gh`, `curl`: they
record what they were given); the install step is skipped (pkiform on PATH is this
source tree)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.repo import ROOT
from tests.helpers.run import pkiform_env
from tests.helpers.tools import missing_tool

RECIPES = ROOT / "examples" / "ci"
GITHUB = RECIPES / "github-actions.yml"
GITLAB = RECIPES / "gitlab-ci.yml"
PASSWORD = "correct horse battery staple"
SECRETS = {"PKIFORM_CA_KEY_PASSWORD": PASSWORD}
CA_KEY = "{type: ec, curve: P-256, encrypt: {password_env: PKIFORM_CA_KEY_PASSWORD}}"
SPEC = f"""\
version: 1
identities:
  root-ca: {{kind: root, key: {CA_KEY}}}
  issuing-ca: {{kind: intermediate, issuer: root-ca, path_length: 0, key: {CA_KEY}}}
  web: {{kind: server, issuer: issuing-ca, dns: [web.example.com]}}
"""
API = "  api: {kind: server, issuer: issuing-ca, dns: [api.example.com]}\n"

# what a post looks like on each platform: the command's arguments
GH_ARGS = ["pr", "comment", "7", "--body-file", "comment.md"]
GITLAB_ARGS = [
    "--fail-with-body", "--silent", "--show-error", "--request", "POST",
    "--header", "PRIVATE-TOKEN: note-token", "--data-urlencode", "body@comment.md",
    "https://gitlab.example/api/v4/projects/42/merge_requests/7/notes",
]  # fmt: skip
# the GitHub expressions the workflow may use, as a run of each event gives them
EXPRESSIONS = {
    "github.token": "gh-token",
    "github.event.pull_request.number": "7",
}
# GitLab's predefined variables for a merge request pipeline of project 42, MR !7
GITLAB_MR = {
    "CI_PIPELINE_SOURCE": "merge_request_event",
    "CI_API_V4_URL": "https://gitlab.example/api/v4",
    "CI_PROJECT_ID": "42",
    "CI_MERGE_REQUEST_IID": "7",
    "CI_MERGE_REQUEST_SOURCE_PROJECT_ID": "42",
    "PKIFORM_NOTE_TOKEN": "note-token",
}

STUB = """\
#!/bin/sh
# records its arguments, and the file a post takes its body from, as post N
n=$(find "$POSTED" -name '*.args' | wc -l)
printf '%s\\n' "$@" > "$POSTED/$n.args"
previous=
for argument in "$@"; do
  case $argument in body@*) cp "${argument#body@}" "$POSTED/$n.body" ;; esac
  [ "$previous" = --body-file ] && cp "$argument" "$POSTED/$n.body"
  previous=$argument
done
exit 0
"""


def load(path: Path) -> Any:
    """The YAML as plain strings (PyYAML's 1.1 rules would read GitHub's `on:` as True)."""
    return yaml.load(path.read_text(), Loader=yaml.BaseLoader)


@dataclass
class Outcome:
    ok: bool
    log: str
    posts: list[tuple[list[str], str]] = field(default_factory=list)


@dataclass(frozen=True)
class Machine:
    """The runner: a checkout of the repository, the output directory it keeps, and
    `pkiform`, `gh` and `curl` on its PATH."""

    repo: Path
    out: Path
    bin: Path
    posted: Path

    def spec(self, text: str) -> None:
        (self.repo / "pki.yaml").write_text(text)

    def shell(self, script: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
        base = pkiform_env()
        for name in (*SECRETS, "GH_TOKEN", "PKIFORM_NOTE_TOKEN"):
            base.pop(name, None)
        base.update(env)
        base["PATH"] = f"{self.bin}{os.pathsep}{base['PATH']}"
        base["POSTED"] = str(self.posted)
        return subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=self.repo,
            env=base, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip

    def posts(self) -> list[tuple[list[str], str]]:
        found = []
        for args in sorted(self.posted.glob("*.args"), key=lambda p: int(p.stem)):
            body = args.with_suffix(".body")
            found.append((args.read_text().splitlines(), body.read_text() if body.exists() else ""))
            args.unlink()
            body.unlink(missing_ok=True)
        return found

    def markdown_plan(self) -> str:
        """The plan as `pkiform plan --format markdown` prints it, run by the test."""
        command = 'pkiform plan pki.yaml -o "$OUT" --no-key-passwords --format markdown || true'
        result = self.shell(command, {"OUT": str(self.out)})
        return result.stdout


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    repo, bin_dir, posted = tmp_path / "repo", tmp_path / "bin", tmp_path / "posted"
    for folder in (repo, bin_dir, posted):
        folder.mkdir()
    for name, text in (
        ("pkiform", f'#!/bin/sh\nexec "{sys.executable}" -m pkiform "$@"\n'),
        ("gh", STUB),
        ("curl", STUB),
    ):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    subprocess.run(["git", "init", "-q", str(repo)], check=True, timeout=60)
    return Machine(repo, tmp_path / "state" / "pki", bin_dir, posted)


# --- running the recipes' jobs -----------------------------------------------------------


def _expand(value: str, secrets: Mapping[str, str]) -> str:
    def one(found: re.Match[str]) -> str:
        expression = found.group(1).strip()
        if expression.startswith("secrets."):
            return secrets.get(expression.removeprefix("secrets."), "")  # unset: empty
        assert expression in EXPRESSIONS, f"the test does not know {expression!r}"
        return EXPRESSIONS[expression]

    return re.sub(r"\$\{\{(.*?)\}\}", one, value)


def github_job(machine: Machine, name: str, secrets: Mapping[str, str]) -> Outcome:
    """Job `name` of the workflow, step by step, as the runner goes: a failed step skips
    the rest but for those whose `if` asks for `!cancelled()`."""
    workflow = load(GITHUB)
    assert workflow["defaults"]["run"]["shell"] == "bash"
    job = workflow["jobs"][name]
    common = {**workflow["env"], "PKIFORM_OUT": str(machine.out), **job.get("env", {})}
    ok, log = True, []
    for step in job["steps"]:
        if "run" not in step or step["name"] == "Install pkiform":
            continue
        if not ok and "!cancelled()" not in step.get("if", ""):
            continue
        env = {k: _expand(v, secrets) for k, v in {**common, **step.get("env", {})}.items()}
        result = machine.shell(step["run"], env)
        log.append(f"== {step['name']}: {result.returncode}\n{result.stdout}{result.stderr}")
        ok = ok and result.returncode == 0
    return Outcome(ok, "".join(log), machine.posts())


def gitlab_job(machine: Machine, name: str, variables: Mapping[str, str]) -> Outcome:
    """Job `name` of the pipeline: its script lines in one bash, as GitLab's runner
    gives them to a bash shell (`set -eo pipefail`)."""
    pipeline = load(GITLAB)
    job = pipeline[name]
    assert job["extends"] == ".pkiform"
    env = {**pipeline["variables"], "PKIFORM_OUT": str(machine.out), **variables}
    result = machine.shell("\n".join(job["script"]), env)
    log = f"== {name}: {result.returncode}\n{result.stdout}{result.stderr}"
    return Outcome(result.returncode == 0, log, machine.posts())


def pull_request(machine: Machine, platform: str) -> Outcome:
    if platform == "github":  # every secret is there; the plan job names none of them
        return github_job(machine, "plan", SECRETS)
    return gitlab_job(machine, "pkiform-plan", GITLAB_MR)  # protected variables: not here


def main_branch(machine: Machine, platform: str, secrets: Mapping[str, str]) -> Outcome:
    """A push to the main branch (or the schedule: the same jobs): apply, then the
    expiry check, which runs even when apply failed."""
    if platform == "github":
        return github_job(machine, "apply", secrets)
    push = {"CI_PIPELINE_SOURCE": "push", **secrets}
    applied = gitlab_job(machine, "pkiform-apply", push)
    expiry = gitlab_job(machine, "pkiform-expiry", push)
    return Outcome(applied.ok and expiry.ok, applied.log + expiry.log)


def posted_plan(platform: str, outcome: Outcome) -> str:
    (post,) = outcome.posts
    assert post[0] == (GH_ARGS if platform == "github" else GITLAB_ARGS)
    return post[1]


PLATFORMS = pytest.mark.parametrize("platform", ["github", "gitlab"])


@PLATFORMS
def test_a_pkis_life_through_the_recipe(machine: Machine, platform: str) -> None:
    machine.spec(SPEC)
    # the first pull request: everything to create, posted as the markdown plan
    first = pull_request(machine, platform)
    assert first.ok, first.log
    expected = machine.markdown_plan()
    assert posted_plan(platform, first) == expected
    assert expected.startswith("**Plan: 3 to create, 2 CRL/OCSP to sign; 0 unchanged.**\n")
    # what apply will need the password for, said to the reviewer and in the log
    needed = (
        "pki.yaml:3:79: warning: identities.root-ca.key.encrypt.password_env: environment "
        "variable PKIFORM_CA_KEY_PASSWORD is not read by this plan (--no-key-passwords); "
        "needed to encrypt the key of 'root-ca' (and 1 more)"
    )
    assert expected.endswith(f"**Warnings**\n\n- `{needed}`\n")
    assert needed in first.log
    assert not machine.out.exists()  # plan wrote nothing
    # merged: apply needs the CA key's password, from the secret store only
    unsigned = main_branch(machine, platform, {})
    assert not unsigned.ok
    # (unset on GitLab, empty on GitHub, which gives an unknown secret as "")
    assert re.search(
        r"error: identities\.root-ca\.key\.encrypt\.password_env: environment variable "
        r"PKIFORM_CA_KEY_PASSWORD is (not set|empty); needed to encrypt the new key",
        unsigned.log,
    ), unsigned.log
    assert "no such directory (run pkiform apply first)" in unsigned.log
    assert "Traceback" not in unsigned.log
    applied = main_branch(machine, platform, SECRETS)
    assert applied.ok, applied.log
    assert "Apply complete in" in applied.log
    # the CRLs are always within 30 days (apply re-signs them): they fail nothing
    assert "3 identities, 0 with errors, 2 expiring within the window." in applied.log
    root_key = (machine.out / "root-ca" / "key.pem").read_text()
    assert root_key.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert PASSWORD not in applied.log
    # the next pull request adds a server: planned without the CA's password
    machine.spec(SPEC + API)
    second = pull_request(machine, platform)
    assert second.ok, second.log
    body = posted_plan(platform, second)
    assert body == machine.markdown_plan()
    assert body.splitlines()[0] == "**Plan: 1 to create; 3 unchanged.**"
    assert "| `+` | `api` (server) | create |  |" in body.splitlines()
    assert main_branch(machine, platform, SECRETS).ok
    # nothing left to do: the plan says so, and the pull request passes
    third = pull_request(machine, platform)
    assert third.ok and posted_plan(platform, third) == "**No changes: 4 identities up to date.**\n"


@PLATFORMS
def test_an_invalid_spec_fails_the_pull_request_with_the_located_error(
    machine: Machine, platform: str
) -> None:
    machine.spec(SPEC.replace("issuer: issuing-ca, dns", "issuer: isuing-ca, dns"))
    outcome = pull_request(machine, platform)
    assert not outcome.ok
    assert (
        "pki.yaml:5:31: error: identities.web.issuer: unknown identity 'isuing-ca' "
        "(did you mean 'issuing-ca'?)\n"
    ) in outcome.log
    assert outcome.posts == []


@PLATFORMS
def test_a_blocked_plan_is_posted_and_fails_the_pull_request(
    machine: Machine, platform: str
) -> None:
    machine.spec(SPEC)
    assert main_branch(machine, platform, SECRETS).ok
    (machine.out / "issuing-ca" / "key.pem").unlink()
    outcome = pull_request(machine, platform)
    assert not outcome.ok
    body = posted_plan(platform, outcome)
    assert body.startswith("**Plan: 1 blocked; 2 unchanged.**")
    assert "pass --rekey issuing-ca to replace it" in body


@PLATFORMS
def test_the_expiry_check_fails_the_main_branch_when_something_expires_soon(
    machine: Machine, platform: str
) -> None:
    machine.spec(SPEC.replace("dns: [web.example.com]}", "dns: [web.example.com], validity: 20d}"))
    outcome = main_branch(machine, platform, SECRETS)
    assert not outcome.ok
    assert "Apply complete in" in outcome.log  # apply did its part; the check failed
    assert "broken, or a certificate expiring within 30 days: web\n" in outcome.log
    assert "expires 20" in outcome.log  # and the text status, in the log, says when


def test_a_plan_too_long_for_a_github_comment_is_posted_as_its_summary(machine: Machine) -> None:
    servers = "".join(
        f"  server-{i:04}: {{kind: server, issuer: issuing-ca, dns: [s{i}.example.com]}}\n"
        for i in range(1600)
    )
    machine.spec(SPEC + servers)
    plan = machine.markdown_plan()
    assert len(plan.encode()) > 65_000  # over what a comment holds
    outcome = pull_request(machine, "github")
    assert outcome.ok, outcome.log
    assert posted_plan("github", outcome) == (
        f"{plan.splitlines()[0]}\n\nThe whole plan is too long for a comment: it is in the log "
        "of the plan job.\n"
    )
    assert plan in outcome.log  # and the whole plan is in the job's log


# --- what the platforms require, and what the recipes promise -------------------------


@pytest.mark.parametrize(
    ("path", "schema"),
    [(GITHUB, "vendor.github-workflows"), (GITLAB, "vendor.gitlab-ci")],
    ids=["github", "gitlab"],
)
def test_each_recipe_is_valid_for_its_platform(path: Path, schema: str, tmp_path: Path) -> None:
    def check(file: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(file)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    try:
        import check_jsonschema  # noqa: F401
    except ImportError:
        missing_tool("check-jsonschema", "pip install -e '.[test]'")
    result = check(path)
    assert result.returncode == 0, result.stdout + result.stderr
    # the negative twin: the schema refuses a job that lost what its platform requires
    broken = tmp_path / path.name
    text = path.read_text()
    broken.write_text(
        text.replace("    runs-on: [self-hosted, pkiform]\n", "", 1)
        if path == GITHUB
        else text.replace("      when: always\n", "      when: sometimes\n", 1)
    )
    assert broken.read_text() != text
    assert check(broken).returncode != 0


def test_the_github_workflow_runs_on_the_events_it_promises_with_least_privilege() -> None:
    workflow = load(GITHUB)
    assert set(workflow["on"]) == {"pull_request", "push", "schedule", "workflow_dispatch"}
    assert workflow["on"]["push"]["branches"] == ["main"]
    assert [s["cron"] for s in workflow["on"]["schedule"]] == ["17 5 * * *"]
    assert workflow["permissions"] == {"contents": "read"}
    plan, apply = workflow["jobs"]["plan"], workflow["jobs"]["apply"]
    assert set(workflow["jobs"]) == {"plan", "apply"}
    # forks are not planned on the runner that holds the keys
    assert "github.event.pull_request.head.repo.full_name == github.repository" in plan["if"]
    assert plan["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert "github.ref == 'refs/heads/main'" in apply["if"]
    assert apply["environment"] == "pki"
    assert apply["concurrency"]["cancel-in-progress"] == "false"
    # a secret only where it is needed, and no expression inside a script (injection)
    assert "secrets." not in yaml.safe_dump(plan)
    for job in (plan, apply):
        assert job["runs-on"] == ["self-hosted", "pkiform"]
        for step in job["steps"]:
            assert "${{" not in step.get("run", "")
    commands = "\n".join(step.get("run", "") for step in apply["steps"])
    assert "pkiform apply " in commands and "--warn-within 30d" in commands


def test_the_gitlab_pipeline_runs_on_the_events_it_promises() -> None:
    pipeline = load(GITLAB)
    assert pipeline["stages"] == ["check", "apply", "expiry"]
    jobs = {name: job for name, job in pipeline.items() if name.startswith("pkiform-")}
    assert set(jobs) == {"pkiform-plan", "pkiform-apply", "pkiform-expiry"}
    assert pipeline[".pkiform"]["tags"] == ["pkiform"]
    (plan_rule,) = jobs["pkiform-plan"]["rules"]
    assert '$CI_PIPELINE_SOURCE == "merge_request_event"' in plan_rule["if"]
    assert "$CI_MERGE_REQUEST_SOURCE_PROJECT_ID == $CI_PROJECT_ID" in plan_rule["if"]
    for name in ("pkiform-apply", "pkiform-expiry"):
        (rule,) = jobs[name]["rules"]
        assert rule["if"].startswith("$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH &&")
        assert '$CI_PIPELINE_SOURCE == "schedule"' in rule["if"]
    assert jobs["pkiform-expiry"]["rules"][0]["when"] == "always"
    assert jobs["pkiform-apply"]["resource_group"] == "pkiform"
    assert "PKIFORM_CA_KEY_PASSWORD" not in "\n".join(jobs["pkiform-plan"]["script"])
    assert "CI_JOB_TOKEN" not in GITLAB.read_text().split("\n\nvariables:")[1]


def test_the_install_steps_are_the_only_ones_the_test_skips() -> None:
    workflow = load(GITHUB)
    for job in workflow["jobs"].values():
        installs = [s for s in job["steps"] if s.get("name") == "Install pkiform"]
        (install,) = installs
        assert 'pip" install --quiet "pkiform==$PKIFORM_VERSION"' in install["run"]
    before = load(GITLAB)[".pkiform"]["before_script"]
    assert any('pip install --quiet "pkiform==$PKIFORM_VERSION"' in line for line in before)
    assert all("pkiform " not in line or "pip install" in line for line in before)
