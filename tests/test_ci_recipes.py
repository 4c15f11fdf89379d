"""The CI recipes in examples/ci/: each file is what its platform accepts (the platform's
own JSON Schema, from check-jsonschema's vendored copies, and the structure the recipe
promises), and the shell of every step runs here as the platform runs it (GitHub:
`bash --noprofile --norc -eo pipefail`; GitLab: the script lines in one `bash -eo
pipefail`), each job in a fresh clone of a shared repository, through a PKI's life kept
in git: pull request, merge, schedule. Only the posting commands are fakes (`gh`,
`curl`: they record what they were given); the install step is skipped (pkiform on
PATH is this source tree); git is real, and the push goes to the shared repository."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.git import bare_repository, clone, commit_all, git, git_env
from tests.helpers.repo import ROOT
from tests.helpers.run import pkiform_env
from tests.helpers.tools import missing_tool

RECIPES = ROOT / "examples" / "ci"
GITHUB = RECIPES / "github-actions.yml"
GITLAB = RECIPES / "gitlab-ci.yml"
SCRIPT = RECIPES / "apply-and-push.sh"
PASSWORD = "correct horse battery staple"
SECRETS = {"PKIFORM_KEY_PASSWORD": PASSWORD}
SPEC = """\
version: 1
defaults:
  key: {type: ec, curve: P-256, encrypt: {password_env: PKIFORM_KEY_PASSWORD}}
identities:
  root-ca: {kind: root}
  issuing-ca: {kind: intermediate, issuer: root-ca, path_length: 0}
  web: {kind: server, issuer: issuing-ca, dns: [web.example.com]}
"""
API = "  api: {kind: server, issuer: issuing-ca, dns: [api.example.com]}\n"
# where the GitLab recipe pushes, and with what token: rewritten to the shared repository
GITLAB_PUSH = "https://oauth2:push-token@gitlab.example/group/pki.git"

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
# ... and for a pipeline of the default branch (the token only protected branches get)
GITLAB_MAIN = {
    "CI_PIPELINE_SOURCE": "push",
    "CI_COMMIT_BRANCH": "main",
    "CI_DEFAULT_BRANCH": "main",
    "CI_SERVER_HOST": "gitlab.example",
    "CI_PROJECT_PATH": "group/pki",
    "PKIFORM_PUSH_TOKEN": "push-token",
}
# GitHub's default variables for a run on the main branch
GITHUB_MAIN = {"GITHUB_REF_NAME": "main"}

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
    """The repository every job clones (the platform's), and what a runner has: `pkiform`,
    `gh` and `curl` on its PATH, a git that reads no configuration of the user's."""

    remote: Path
    places: Path
    home: Path
    bin: Path
    posted: Path

    def checkout(self) -> Path:
        """A fresh clone of main: each job's own, on a runner thrown away after it."""
        return clone(
            self.remote, self.places / f"job-{len(list(self.places.iterdir()))}", self.home
        )

    def merge(self, text: str) -> None:
        """A reviewed spec lands on main."""
        repo = self.checkout()
        (repo / "pki.yaml").write_text(text)
        commit_all(repo, self.home, "the spec")
        git("push", "-q", "origin", "HEAD:main", cwd=repo, home=self.home)

    def state(self) -> Path:
        """The output directory as main holds it now."""
        return self.checkout() / "pki"

    def log(self) -> list[str]:
        found = git("log", "--format=%s", "main", cwd=self.remote, home=self.home)
        return found.stdout.splitlines()

    def shell(
        self, repo: Path, script: str, env: Mapping[str, str]
    ) -> subprocess.CompletedProcess[str]:
        base = git_env(self.home, pkiform_env())
        for name in (*SECRETS, "GH_TOKEN", "PKIFORM_NOTE_TOKEN", "PKIFORM_PUSH_TOKEN"):
            base.pop(name, None)
        # the URL the GitLab recipe pushes to is the shared repository here
        base.update(
            GIT_CONFIG_COUNT="1",
            GIT_CONFIG_KEY_0=f"url.{self.remote}.insteadOf",
            GIT_CONFIG_VALUE_0=GITLAB_PUSH,
        )
        base.update(env)
        base["PATH"] = f"{self.bin}{os.pathsep}{base['PATH']}"
        base["POSTED"] = str(self.posted)
        return subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=repo,
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

    def markdown_plan(self, text: str) -> str:
        """`pkiform plan --format markdown` of a pull request with spec `text`, run by the
        test in a checkout of its own."""
        repo = self.checkout()
        (repo / "pki.yaml").write_text(text)
        command = "pkiform plan pki.yaml -o pki --no-key-passwords --format markdown || true"
        return self.shell(repo, command, {}).stdout


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    home, places = tmp_path / "home", tmp_path / "places"
    bin_dir, posted = tmp_path / "bin", tmp_path / "posted"
    for folder in (home, places, bin_dir, posted):
        folder.mkdir()
    for name, text in (
        ("pkiform", f'#!/bin/sh\nexec "{sys.executable}" -m pkiform "$@"\n'),
        ("gh", STUB),
        ("curl", STUB),
    ):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    remote = bare_repository(tmp_path / "remote.git", home)
    found = Machine(remote, places, home, bin_dir, posted)
    # the repository holds the recipes' script, as the recipes ask
    repo = found.checkout()
    (repo / "ci").mkdir()
    shutil.copy(SCRIPT, repo / "ci" / "apply-and-push.sh")
    commit_all(repo, home, "pkiform's CI recipe")
    git("push", "-q", "origin", "HEAD:main", cwd=repo, home=home)
    return found


# --- running the recipes' jobs -----------------------------------------------------------


def _expand(value: str, secrets: Mapping[str, str]) -> str:
    def one(found: re.Match[str]) -> str:
        expression = found.group(1).strip()
        if expression.startswith("secrets."):
            return secrets.get(expression.removeprefix("secrets."), "")  # unset: empty
        assert expression in EXPRESSIONS, f"the test does not know {expression!r}"
        return EXPRESSIONS[expression]

    return re.sub(r"\$\{\{(.*?)\}\}", one, value)


def github_job(
    machine: Machine,
    repo: Path,
    name: str,
    secrets: Mapping[str, str],
    variables: Mapping[str, str],
) -> Outcome:
    """Job `name` of the workflow in checkout `repo`, step by step, as the runner goes: a
    failed step skips the rest but for those whose `if` asks for `!cancelled()`."""
    workflow = load(GITHUB)
    assert workflow["defaults"]["run"]["shell"] == "bash"
    job = workflow["jobs"][name]
    common = {**workflow["env"], **variables, **job.get("env", {})}
    ok, log = True, []
    for step in job["steps"]:
        if "run" not in step or step["name"] == "Install pkiform":
            continue
        if not ok and "!cancelled()" not in step.get("if", ""):
            continue
        env = {k: _expand(v, secrets) for k, v in {**common, **step.get("env", {})}.items()}
        result = machine.shell(repo, step["run"], env)
        log.append(f"== {step['name']}: {result.returncode}\n{result.stdout}{result.stderr}")
        ok = ok and result.returncode == 0
    return Outcome(ok, "".join(log), machine.posts())


def gitlab_job(machine: Machine, repo: Path, name: str, variables: Mapping[str, str]) -> Outcome:
    """Job `name` of the pipeline in checkout `repo`: its script lines in one bash, as
    GitLab's runner gives them to a bash shell (`set -eo pipefail`), with its variables
    (which may name others, as `$CI_SERVER_HOST`)."""
    pipeline = load(GITLAB)
    job = pipeline[name]
    assert job["extends"] == ".pkiform"
    env = {**pipeline["variables"], **variables}
    for key, value in job.get("variables", {}).items():
        env[key] = re.sub(r"\$(\w+)", lambda m: env.get(m[1], ""), value)
    result = machine.shell(repo, "\n".join(job["script"]), env)
    log = f"== {name}: {result.returncode}\n{result.stdout}{result.stderr}"
    return Outcome(result.returncode == 0, log, machine.posts())


def pull_request(machine: Machine, platform: str, text: str, *, delete: str = "") -> Outcome:
    """A pull request whose spec is `text` (and that deletes the file `delete`), checked
    out as the platform checks it out: main with the request's change."""
    repo = machine.checkout()
    (repo / "pki.yaml").write_text(text)
    if delete:
        (repo / delete).unlink()
    if platform == "github":  # every secret is there; the plan job names none of them
        return github_job(machine, repo, "plan", SECRETS, {})
    return gitlab_job(machine, repo, "pkiform-plan", GITLAB_MR)  # protected variables: not here


def main_branch(machine: Machine, platform: str, secrets: Mapping[str, str]) -> Outcome:
    """A push to the main branch (or the schedule: the same jobs), each job in a fresh
    checkout: apply, then the expiry check, which runs even when apply failed."""
    if platform == "github":
        return github_job(machine, machine.checkout(), "apply", secrets, GITHUB_MAIN)
    push = {**GITLAB_MAIN, **secrets}
    applied = gitlab_job(machine, machine.checkout(), "pkiform-apply", push)
    expiry = gitlab_job(machine, machine.checkout(), "pkiform-expiry", push)
    return Outcome(applied.ok and expiry.ok, applied.log + expiry.log)


def posted_plan(platform: str, outcome: Outcome) -> str:
    (post,) = outcome.posts
    assert post[0] == (GH_ARGS if platform == "github" else GITLAB_ARGS)
    return post[1]


PLATFORMS = pytest.mark.parametrize("platform", ["github", "gitlab"])


@PLATFORMS
def test_a_pkis_life_through_the_recipe(machine: Machine, platform: str) -> None:
    # the first pull request: everything to create, posted as the markdown plan
    first = pull_request(machine, platform, SPEC)
    assert first.ok, first.log
    expected = machine.markdown_plan(SPEC)
    assert posted_plan(platform, first) == expected
    assert expected.startswith("**Plan: 3 to create, 2 CRL/OCSP to sign; 0 unchanged.**\n")
    # what apply will need the password for, said to the reviewer and in the log
    needed = (
        "pki.yaml:3:57: warning: defaults.key.encrypt.password_env: environment variable "
        "PKIFORM_KEY_PASSWORD is not read by this plan (--no-key-passwords); needed to "
        "encrypt the key of 'root-ca' (and 2 more)"
    )
    assert expected.endswith(f"**Warnings**\n\n- `{needed}`\n")
    assert needed in first.log
    # merged: apply needs the keys' password, from the secret store only
    machine.merge(SPEC)
    unsigned = main_branch(machine, platform, {})
    assert not unsigned.ok
    # (unset on GitLab, empty on GitHub, which gives an unknown secret as "")
    assert re.search(
        r"error: defaults\.key\.encrypt\.password_env: environment variable "
        r"PKIFORM_KEY_PASSWORD is (not set|empty); needed to encrypt the new key",
        unsigned.log,
    ), unsigned.log
    assert "no such directory (run pkiform apply first)" in unsigned.log
    assert "Traceback" not in unsigned.log
    assert machine.log()[0] == "the spec"  # nothing was pushed
    applied = main_branch(machine, platform, SECRETS)
    assert applied.ok, applied.log
    assert "Apply complete in pki: 3 changed" in applied.log
    assert "public: no secret in" in applied.log
    assert "pkiform: pushed" in applied.log
    # the CRLs are always within 30 days (apply re-signs them): they fail nothing
    assert "3 identities, 0 with errors, 2 expiring within the window." in applied.log
    assert machine.log()[0] == "pkiform apply: 3 changed, 0 unchanged, 2 CRL/OCSP signed. [skip ci]"
    root_key = (machine.state() / "root-ca" / "key.pem").read_text()
    assert root_key.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert PASSWORD not in applied.log
    # the next pull request adds a server: planned without the keys' password
    second = pull_request(machine, platform, SPEC + API)
    assert second.ok, second.log
    body = posted_plan(platform, second)
    assert body == machine.markdown_plan(SPEC + API)
    assert body.splitlines()[0] == "**Plan: 1 to create; 3 unchanged; 3 key files to tighten.**"
    assert "| `+` | `api` (server) | create |  |" in body.splitlines()
    machine.merge(SPEC + API)
    assert main_branch(machine, platform, SECRETS).ok
    # the schedule: nothing to do, nothing pushed
    pushed = machine.log()
    scheduled = main_branch(machine, platform, SECRETS)
    assert scheduled.ok and machine.log() == pushed, scheduled.log
    assert "nothing to commit: pki is as origin/main has it" in scheduled.log
    # nothing left to do: the plan says so, and the pull request passes
    third = pull_request(machine, platform, SPEC + API)
    assert third.ok
    assert posted_plan(platform, third).startswith(
        "**No changes: 4 identities up to date; 4 key files to tighten.**\n"
    )


@PLATFORMS
def test_an_invalid_spec_fails_the_pull_request_with_the_located_error(
    machine: Machine, platform: str
) -> None:
    outcome = pull_request(
        machine, platform, SPEC.replace("issuer: issuing-ca, dns", "issuer: isuing-ca, dns")
    )
    assert not outcome.ok
    assert (
        "pki.yaml:7:31: error: identities.web.issuer: unknown identity 'isuing-ca' "
        "(did you mean 'issuing-ca'?)\n"
    ) in outcome.log
    assert outcome.posts == []


@PLATFORMS
def test_a_blocked_plan_is_posted_and_fails_the_pull_request(
    machine: Machine, platform: str
) -> None:
    machine.merge(SPEC)
    assert main_branch(machine, platform, SECRETS).ok
    outcome = pull_request(machine, platform, SPEC, delete="pki/issuing-ca/key.pem")
    assert not outcome.ok
    body = posted_plan(platform, outcome)
    assert body.startswith("**Plan: 1 blocked; 2 unchanged; 2 key files to tighten.**")
    assert "pass --rekey issuing-ca to replace it" in body


@PLATFORMS
def test_the_expiry_check_fails_the_main_branch_when_something_expires_soon(
    machine: Machine, platform: str
) -> None:
    machine.merge(SPEC.replace("dns: [web.example.com]}", "dns: [web.example.com], validity: 20d}"))
    outcome = main_branch(machine, platform, SECRETS)
    assert not outcome.ok
    assert "Apply complete in" in outcome.log  # apply did its part, and pushed it
    assert "pkiform: pushed" in outcome.log
    assert "broken, or a certificate expiring within 30 days: web\n" in outcome.log
    assert "expires 20" in outcome.log  # and the text status, in the log, says when


@PLATFORMS
def test_a_directory_that_would_hold_a_key_in_plain_is_never_pushed(
    machine: Machine, platform: str
) -> None:
    machine.merge(SPEC + "  db: {kind: server, issuer: issuing-ca, dns: [db], key: {type: ec}}\n")
    outcome = main_branch(machine, platform, SECRETS)
    assert not outcome.ok
    assert "error   db/key.pem\n        holds a private key in plain\n" in outcome.log
    assert "error: pki holds a secret (above): nothing was committed" in outcome.log
    assert machine.log()[0] == "the spec"


def test_a_plan_too_long_for_a_github_comment_is_posted_as_its_summary(machine: Machine) -> None:
    servers = "".join(
        f"  server-{i:04}: {{kind: server, issuer: issuing-ca, dns: [s{i}.example.com]}}\n"
        for i in range(1600)
    )
    plan = machine.markdown_plan(SPEC + servers)
    assert len(plan.encode()) > 65_000  # over what a comment holds
    outcome = pull_request(machine, "github", SPEC + servers)
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
        text.replace("    runs-on: ubuntu-latest\n", "", 1)
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
    assert workflow["env"]["PKIFORM_OUT"] == "pki"  # the state, in the repository
    plan, apply = workflow["jobs"]["plan"], workflow["jobs"]["apply"]
    assert set(workflow["jobs"]) == {"plan", "apply"}
    # forks are not planned: the token may not comment on them
    assert "github.event.pull_request.head.repo.full_name == github.repository" in plan["if"]
    assert plan["permissions"] == {"contents": "read", "pull-requests": "write"}
    # only apply writes, and only it gets the keys' password
    assert apply["permissions"] == {"contents": "write"}
    assert "github.ref == 'refs/heads/main'" in apply["if"]
    assert apply["environment"] == "pki"
    assert apply["concurrency"]["cancel-in-progress"] == "false"
    # a secret only where it is needed, and no expression inside a script (injection)
    assert "secrets." not in yaml.safe_dump(plan)
    for job in (plan, apply):
        assert job["runs-on"] == "ubuntu-latest"  # any runner: the state is in git
        for step in job["steps"]:
            assert "${{" not in step.get("run", "")
    commands = "\n".join(step.get("run", "") for step in apply["steps"])
    assert "sh ci/apply-and-push.sh " in commands and "--warn-within 30d" in commands


def test_the_gitlab_pipeline_runs_on_the_events_it_promises() -> None:
    pipeline = load(GITLAB)
    assert pipeline["stages"] == ["check", "apply", "expiry"]
    assert pipeline["variables"]["PKIFORM_OUT"] == "pki"
    jobs = {name: job for name, job in pipeline.items() if name.startswith("pkiform-")}
    assert set(jobs) == {"pkiform-plan", "pkiform-apply", "pkiform-expiry"}
    assert pipeline[".pkiform"]["image"].startswith("python:3")  # any runner: state in git
    (plan_rule,) = jobs["pkiform-plan"]["rules"]
    assert '$CI_PIPELINE_SOURCE == "merge_request_event"' in plan_rule["if"]
    assert "$CI_MERGE_REQUEST_SOURCE_PROJECT_ID == $CI_PROJECT_ID" in plan_rule["if"]
    for name in ("pkiform-apply", "pkiform-expiry"):
        (rule,) = jobs[name]["rules"]
        assert rule["if"].startswith("$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH &&")
        assert '$CI_PIPELINE_SOURCE == "schedule"' in rule["if"]
    assert jobs["pkiform-expiry"]["rules"][0]["when"] == "always"
    assert jobs["pkiform-apply"]["resource_group"] == "pkiform"
    assert "PKIFORM_KEY_PASSWORD" not in "\n".join(jobs["pkiform-plan"]["script"])
    assert "PKIFORM_PUSH_TOKEN" not in "\n".join(jobs["pkiform-plan"]["script"])
    assert "sh ci/apply-and-push.sh " in "\n".join(jobs["pkiform-apply"]["script"])
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
