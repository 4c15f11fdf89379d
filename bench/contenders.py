"""What is measured: each contender as its own process, one round at a time."""

from __future__ import annotations

import compileall
import dataclasses
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import hsm
import snapshot
from measure import BenchError, Sample, measure
from specs import INTERMEDIATE, Shape, spec_yaml, token_key_yaml

BENCH = Path(__file__).resolve().parent
PKIFORM = (sys.executable, "-m", "pkiform")


class Contender(StrEnum):
    FLOOR = "floor script"
    APPLY = "apply (fresh)"
    NOOP_APPLY = "apply (no-op)"
    PLAN = "plan (no-op)"
    VALIDATE = "validate"
    OPENSSL_CLI = "openssl CLI"
    # the same PKI with the intermediate's key made and used in SoftHSM2: reported, not gated
    HSM_APPLY = "apply (fresh, intermediate in SoftHSM2)"
    HSM_NOOP_APPLY = "apply (no-op, intermediate in SoftHSM2)"
    HSM_PLAN = "plan (no-op, intermediate in SoftHSM2)"


# the tutorial's workflow runs ~3 processes per certificate: only the smallest EC PKI
OPENSSL_CLI_SHAPES = frozenset({"ec200"})
# issue 15: the EC PKIs get the SoftHSM2 variant
HSM_SHAPES = frozenset({"ec200", "ec1000", "ec10000"})


@dataclass(frozen=True, slots=True)
class Workspace:
    """The directory contenders write in, and the environment that picks their pkiform."""

    root: Path
    env: Mapping[str, str]
    source: str  # which pkiform: see snapshot.take
    token: hsm.SoftHsm | None = None  # None: the SoftHSM2 contenders are left out

    def measure(self, argv: Sequence[str | Path]) -> Sample:
        # untimed: write back what earlier runs left dirty, so none pays for another's
        os.sync()
        return measure(argv, cwd=self.root, env=self.env)

    def set_aside(self, out: Path) -> None:
        """Move a contender's output out of the way, kept until the run ends. Deleting
        it now would slow the next contender's file creation by 5-10x: ext4 does not
        reuse an inode freed in the last minutes, and each creation scans past them."""
        spent = self.root / "spent"
        spent.mkdir(exist_ok=True)
        out.rename(spent / str(sum(1 for _ in spent.iterdir())))

    def write_spec(self, shape: Shape) -> Path:
        path = self.root / f"{shape.name}.yaml"
        path.write_text(spec_yaml(shape))
        return path


def workspace(root: Path, ref: str | None, *, with_hsm: bool) -> Workspace:
    """A workspace in `root` whose pkiform is a copy of the repository's (see snapshot.py),
    and, if `with_hsm` and this machine has what it takes, a SoftHSM2 token (hsm.py)."""
    copy = root / "pkiform-source"
    source = snapshot.take(copy, ref)
    compileall.compile_file(BENCH / "specs.py", quiet=1)  # the floor script's one import
    # PYTHONPATH comes before site-packages, so the copy wins over the installed pkiform
    env = {**os.environ, "PYTHONPATH": str(copy / "src")}
    return Workspace(root, env, source, _token(root) if with_hsm else None)


def _token(root: Path) -> hsm.SoftHsm | None:
    why = hsm.missing()
    if why is None:
        return hsm.make(root / "softhsm")
    print(f"bench: the SoftHSM2 contenders are left out: {why}", file=sys.stderr, flush=True)
    return None


def warm_up(ws: Workspace, shape: Shape) -> None:
    """Unmeasured fresh apply, no-op apply and plan of a 2-leaf `shape` (and of its
    SoftHSM2 variant): byte-code is compiled, caches are warm, and a broken pkiform
    stops the run before round 1."""
    tiny = dataclasses.replace(shape, name="warm-up", leaves=2)
    _pkiform(tiny, ws.write_spec(tiny), ws)
    if ws.token is not None:
        _pkiform_hsm(tiny, ws.write_spec(tiny), ws)


Unit = Callable[[Shape, Path, Workspace], dict[Contender, Sample]]


def run_round(shape: Shape, spec: Path, ws: Workspace, index: int) -> dict[Contender, Sample]:
    """Every contender once on `shape`, in an order that rotates with the round `index`."""
    units = _units(shape, ws)
    shift = index % len(units)
    samples: dict[Contender, Sample] = {}
    for unit in units[shift:] + units[:shift]:
        samples.update(unit(shape, spec, ws))
    return samples


def _units(shape: Shape, ws: Workspace) -> list[Unit]:
    units: list[Unit] = [_floor, _pkiform, _validate]
    if shape.name in OPENSSL_CLI_SHAPES:
        units.append(_openssl_cli)
    if ws.token is not None and shape.name in HSM_SHAPES:
        units.append(_pkiform_hsm)
    return units


def _floor(shape: Shape, spec: Path, ws: Workspace) -> dict[Contender, Sample]:
    return {Contender.FLOOR: _issue_once(BENCH / "floor.py", shape, ws)}


def _openssl_cli(shape: Shape, spec: Path, ws: Workspace) -> dict[Contender, Sample]:
    return {Contender.OPENSSL_CLI: _issue_once(BENCH / "openssl_cli.py", shape, ws)}


def _issue_once(script: Path, shape: Shape, ws: Workspace) -> Sample:
    out = ws.root / script.stem
    sample = ws.measure([sys.executable, script, shape.name, out])
    _check_issued(out, shape)
    ws.set_aside(out)
    return sample


def _pkiform(shape: Shape, spec: Path, ws: Workspace) -> dict[Contender, Sample]:
    fresh, noop, plan = _apply_twice_and_plan(shape, spec, ws)
    return {Contender.APPLY: fresh, Contender.NOOP_APPLY: noop, Contender.PLAN: plan}


def _pkiform_hsm(shape: Shape, spec: Path, ws: Workspace) -> dict[Contender, Sample]:
    """`_pkiform` on a variant of `spec` whose intermediate key pkiform makes in the token,
    under a label of its own: a key of an earlier round would make the apply less fresh."""
    assert ws.token is not None
    label = ws.token.label(f"{shape.name}-{INTERMEDIATE}")
    variant = ws.root / f"{shape.name}-hsm.yaml"
    variant.write_text(spec_yaml(shape, intermediate_key=token_key_yaml(label)))
    in_token = dataclasses.replace(ws, env={**ws.env, **ws.token.env})
    fresh, noop, plan = _apply_twice_and_plan(shape, variant, in_token, key_in_token=True)
    return {Contender.HSM_APPLY: fresh, Contender.HSM_NOOP_APPLY: noop, Contender.HSM_PLAN: plan}


def _apply_twice_and_plan(
    shape: Shape, spec: Path, ws: Workspace, *, key_in_token: bool = False
) -> tuple[Sample, Sample, Sample]:
    """A fresh apply, then a no-op apply and a plan (exit 0: nothing to do) on its output."""
    out = ws.root / "pki"
    apply: list[str | Path] = [*PKIFORM, "apply", spec, "-o", out]
    fresh = ws.measure(apply)
    _check_issued(out, shape)
    if key_in_token and (out / INTERMEDIATE / "key.pem").exists():
        raise BenchError(f"{out / INTERMEDIATE}: key.pem written; the key belongs in the token")
    before = _snapshot(out)
    noop = ws.measure(apply)
    if _snapshot(out) != before:
        raise BenchError(f"{shape.name}: a second apply changed files in {out}")
    plan = ws.measure([*PKIFORM, "plan", spec, "-o", out])
    ws.set_aside(out)
    return fresh, noop, plan


def _validate(shape: Shape, spec: Path, ws: Workspace) -> dict[Contender, Sample]:
    return {Contender.VALIDATE: ws.measure([*PKIFORM, "validate", spec])}


def _check_issued(out: Path, shape: Shape) -> None:
    """Guard against timing a contender that silently did less than the whole PKI."""
    issued = sum(1 for entry in os.scandir(out) if Path(entry.path, "cert.pem").is_file())
    if issued != shape.leaves + 2:
        raise BenchError(f"{out}: {issued} certificates; expected {shape.leaves + 2}")


def _snapshot(out: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime) of every file under `out`."""
    found = {}
    for folder, _, files in os.walk(out):
        for name in files:
            path = Path(folder, name)
            stat = path.stat()
            found[str(path)] = (stat.st_size, stat.st_mtime_ns)
    return found
