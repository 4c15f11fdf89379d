"""Command line: parse arguments, run one command, map every outcome to an exit code."""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO, NoReturn, TextIO

from pkiform import durations
from pkiform._version import __version__
from pkiform.commands import seed
from pkiform.commands.spec_input import SpecInput
from pkiform.errors import PkiformError, SpecError, diagnostics_json, diagnostics_text

EXIT_USAGE = 64  # os.EX_USAGE; argparse's own 2 would read as "plan found changes"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _timestamp(text: str) -> datetime:
    try:
        value = durations.parse_instant(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an RFC 3339 timestamp like 2026-01-31T12:00:00Z; got {text!r}"
        ) from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a time zone (e.g. Z) in {text!r}")
    # leaves room for a 100y validity before datetime's year 9999 ends
    if not 1970 <= value.year <= 9000:
        raise argparse.ArgumentTypeError(f"expected a year from 1970 to 9000; got {text!r}")
    return value.astimezone(UTC)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds; got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _duration(text: str) -> timedelta:
    delta = durations.parse(text)
    if delta is None or delta <= timedelta(0):
        raise argparse.ArgumentTypeError(
            f"expected a positive duration like 30d, 12h or 2w; got {text!r}"
        )
    return delta


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pkiform", description="Declarative PKI from a YAML spec.")
    parser.add_argument("--version", action="version", version=f"pkiform {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name: str, help_text: str, *, spec: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        if spec:
            p.add_argument(
                "spec", type=Path, metavar="SPEC", help="the YAML spec file; - reads standard input"
            )
        return p

    def with_out(p: argparse.ArgumentParser, *, rekey: bool = False, formats: bool = False) -> None:
        p.add_argument(
            "-o",
            "--out",
            type=Path,
            default=Path("pki"),
            metavar="DIR",
            help="output directory (default: ./pki)",
        )
        output = p.add_mutually_exclusive_group() if formats else p
        output.add_argument("--json", action="store_true", help="machine-readable output")
        if formats:
            output.add_argument(
                "--format",
                choices=("text", "json", "markdown"),
                default="text",
                help="text (default), json (as --json), or markdown: a comment for a pull request",
            )
        p.add_argument(
            "--allow-path",
            action="append",
            type=Path,
            default=[],
            metavar="DIR",
            help="also read password files (and requests, CA files to adopt) the spec names "
            "inside DIR (by default only inside the spec's own folder)",
        )
        p.add_argument(
            "--at",
            type=_timestamp,
            metavar="TIMESTAMP",
            help="act as if it were this time (RFC 3339)",
        )
        if rekey:
            p.add_argument(
                "--prune",
                action="store_true",
                help="move identity folders no longer in the spec to DIR/archive/",
            )
            p.add_argument(
                "--rekey",
                action="append",
                default=[],
                metavar="NAME",
                help="replace NAME's key (and reissue everything below it); for an adopted "
                "CA, adopt its files again",
            )
            p.add_argument(
                "--renew",
                action="append",
                default=[],
                metavar="NAME",
                help="re-sign NAME's certificate now with the same key (and reissue "
                "everything below it): the only way an adopted CA's certificate is re-signed",
            )
            p.add_argument(
                "--seed-file",
                type=Path,
                metavar="FILE",
                help=f"reproducible mode: derive every key, serial and signature from the "
                f"secret in FILE (or ${seed.ENV}); for development and tests only",
            )

    validate = command("validate", "check each spec; print every problem", spec=False)
    validate.add_argument(
        "spec",
        type=Path,
        nargs="+",
        metavar="SPEC",
        help="a YAML spec file (several: each is checked); - reads standard input",
    )
    validate.add_argument(
        "--json", action="store_true", help="print the result and every problem as JSON"
    )
    validate.add_argument(
        "--allow-path",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="also read the requests and CA files the spec names inside DIR (by default "
        "only inside the spec's own folder)",
    )
    plan = command("plan", "show what apply would do; change nothing")
    with_out(plan, rekey=True, formats=True)
    plan.add_argument(
        "--no-key-passwords",
        action="store_true",
        help="read no key's password (key.encrypt) or token PIN and open no token, as a "
        "CI job planning a pull request must not: what apply will need them for is a "
        "warning, not an error",
    )
    apply = command("apply", "make DIR match SPEC")
    with_out(apply, rekey=True)
    apply.add_argument(
        "--lock-timeout",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for another apply on DIR to finish (default: 0)",
    )
    apply.add_argument(
        "--emit",
        choices=("kubernetes",),
        help="print every Kubernetes Secret as one YAML stream on stdout (for kubectl "
        "apply -f -); the summary goes to stderr",
    )
    apply.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress line on stderr (shown only on a terminal, for applies over 2 s)",
    )
    status = command("status", "check what is on disk: pairs, chains, CRLs, expiry")
    with_out(status)
    status.add_argument(
        "--warn-within",
        type=_duration,
        metavar="DURATION",
        help="exit 1 listing every certificate or CRL that expires within DURATION (e.g. 30d)",
    )
    status.add_argument(
        "--lint",
        action="store_true",
        help="also run pkilint's RFC 5280 checks on every certificate and CRL "
        "(pip install 'pkiform[lint]'); exit 1 on an error that is not a known false positive",
    )
    status.add_argument(
        "--public",
        action="store_true",
        help="also check that DIR holds no secret, so that it may be committed: exit 1 "
        "naming every private key in plain and every password file in it",
    )
    graph = command("graph", "print the issuer tree")
    graph.add_argument("--format", choices=("text", "dot", "mermaid"), default="text")
    schema = command("schema", "print the JSON Schema", spec=False)
    schema.add_argument(
        "-o",
        "--out",
        type=Path,
        metavar="FILE",
        help="write it to FILE instead (atomically; only over a pkiform schema), for "
        "editors: a spec beside it starts with # yaml-language-server: $schema=./FILE",
    )
    init = command(
        "init",
        "write a starter spec (pki.yaml), its schema and a .gitignore into DIR",
        spec=False,
    )
    init.add_argument(
        "dir",
        type=Path,
        nargs="?",
        default=Path(),
        metavar="DIR",
        help="the folder (default: the working directory); made if missing",
    )
    shells = command(
        "completion",
        "print the completion script for bash, zsh or fish",
        spec=False,
    )
    which = shells.add_mutually_exclusive_group(required=True)
    which.add_argument("shell", nargs="?", choices=("bash", "zsh", "fish"), metavar="SHELL")
    which.add_argument(
        "--names",
        type=Path,
        metavar="SPEC",
        help="print the identity names of SPEC, one a line (what the scripts offer for --rekey)",
    )
    return parser


@dataclass(frozen=True, slots=True)
class _Streams:
    out: TextIO
    err: TextIO
    stdin: BinaryIO | None


def _spec(args: argparse.Namespace, io: _Streams) -> SpecInput:
    return SpecInput.of(args.spec, io.stdin or sys.stdin.buffer)  # standard input, once


def _now(args: argparse.Namespace) -> datetime:
    at: datetime | None = args.at
    return at or datetime.now(UTC)


# Each command is imported only when it runs (`validate` never loads cryptography), and
# called by name with its typed keyword arguments, which mypy checks against its run().


def _validate(args: argparse.Namespace, io: _Streams) -> int:
    from pkiform.commands import validate

    specs = _specs(args.spec, io.stdin or sys.stdin.buffer)
    return validate.run(
        specs, as_json=args.json, allow_paths=args.allow_path, stdout=io.out, stderr=io.err
    )


def _plan(args: argparse.Namespace, io: _Streams) -> int:
    from pkiform.commands import plan

    return plan.run(
        _spec(args, io),
        args.out,
        now=_now(args),
        rekey=args.rekey,
        renew=args.renew,
        prune=args.prune,
        seed_file=args.seed_file,
        allow_paths=args.allow_path,
        key_passwords=not args.no_key_passwords,
        fmt=args.format,
        stdout=io.out,
        stderr=io.err,
    )


def _apply(args: argparse.Namespace, io: _Streams) -> int:
    from pkiform.commands import apply

    return apply.run(
        _spec(args, io),
        args.out,
        now=_now(args),
        rekey=args.rekey,
        renew=args.renew,
        prune=args.prune,
        seed_file=args.seed_file,
        allow_paths=args.allow_path,
        lock_timeout=args.lock_timeout,
        quiet=args.quiet,
        emit=args.emit,
        as_json=args.json,
        stdout=io.out,
        stderr=io.err,
    )


def _status(args: argparse.Namespace, io: _Streams) -> int:
    from pkiform.commands import status

    return status.run(
        _spec(args, io),
        args.out,
        now=_now(args),
        warn_within=args.warn_within,
        lint=args.lint,
        public=args.public,
        allow_paths=args.allow_path,
        as_json=args.json,
        stdout=io.out,
        stderr=io.err,
    )


def _graph(args: argparse.Namespace, io: _Streams) -> int:
    from pkiform.commands import graph

    return graph.run(_spec(args, io), fmt=args.format, stdout=io.out, stderr=io.err)


def _schema(args: argparse.Namespace, io: _Streams) -> int:
    from pkiform.commands import schema

    return schema.run(out=args.out, stdout=io.out)


def _init(args: argparse.Namespace, io: _Streams) -> int:
    from pkiform.commands import init

    return init.run(args.dir, stdout=io.out)


def _completion(args: argparse.Namespace, io: _Streams) -> int:
    from pkiform.commands import completion

    return completion.run(args.shell, args.names, parser=build_parser(), stdout=io.out)


COMMANDS: dict[str, Callable[[argparse.Namespace, _Streams], int]] = {
    "validate": _validate,
    "plan": _plan,
    "apply": _apply,
    "status": _status,
    "graph": _graph,
    "schema": _schema,
    "init": _init,
    "completion": _completion,
}


def _specs(paths: Sequence[Path], stdin: BinaryIO) -> list[SpecInput]:
    if sum(1 for p in paths if str(p) == "-") > 1:
        raise PkiformError("standard input (-) can be read once: give - once")
    return [SpecInput.of(path, stdin) for path in paths]


def main(
    argv: Sequence[str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    stdin: BinaryIO | None = None,
) -> int:
    """Run pkiform; return the exit code (0 ok, 1 error, 2 plan has changes, 64 usage).
    `stdin` is where SPEC `-` is read from (default: sys.stdin's bytes)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # argparse exits for --help, --version and usage errors
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    if getattr(args, "json", False):
        args.format = "json"  # one switch, two spellings
    elif getattr(args, "format", None) == "json":
        args.json = True  # and the errors of an invalid spec are JSON too
    try:
        with _without_cycle_collection():
            return COMMANDS[args.command](args, _Streams(out, err, stdin))
    except SpecError as e:
        err.write(diagnostics_text(e.diagnostics))
        if getattr(args, "json", False):
            out.write(diagnostics_json(e.diagnostics, valid=e.spec_valid))
        return 1
    except PkiformError as e:
        err.write(f"pkiform: error: {e}\n")
        return 1
    except KeyboardInterrupt:
        err.write("pkiform: interrupted\n")
        return 130
    except SystemExit:
        raise
    except BaseException as e:  # a Rust panic from native code is one
        # the message is not shown: a library's may quote a password, key or seed
        if os.environ.get("PKIFORM_DEBUG"):
            traceback.print_exc(file=err)
        err.write(
            f"pkiform: internal error: {type(e).__name__}{_where(e)} (its message is not "
            "shown: it may hold a secret); run with PKIFORM_DEBUG=1 for a traceback and "
            "report it\n"
        )
        return 1


def _where(e: BaseException) -> str:
    """` at FILE:LINE` of the innermost frame the exception passed through."""
    frames = traceback.extract_tb(e.__traceback__)
    return f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""


@contextlib.contextmanager
def _without_cycle_collection() -> Iterator[None]:
    """A run builds hundreds of thousands of objects that never form cycles (YAML
    nodes, the spec, certificates), and Python's cycle collector re-scans them as they
    grow: a fifth of a plan over 10,000 identities, for no memory back (peak measured
    equal). Reference counting still frees everything; the collector is back on after
    the run, for callers of main() in a longer-lived process."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def main_exit() -> NoReturn:
    sys.exit(main())
