"""pkiform's benchmark: one command, every contender, alternating round by round.

Usage: python bench/run.py [--quick] [--sizes ec200,rsa20,...] [--rounds R]
                           [--ref COMMIT] [--json FILE] [--no-readme] [--workdir DIR]
                           [--no-hsm]
See bench/README.md for what is measured and what the columns mean.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import contenders
import machine
import report
from contenders import Contender
from measure import BenchError, Sample
from specs import SHAPES, Shape

README = contenders.BENCH / "README.md"
QUICK_SIZES = ("ec200", "ec1000", "rsa20", "rsa100")  # all but EC × 10000


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/run.py", description="Benchmark pkiform against the floor script."
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"one round of {','.join(QUICK_SIZES)}"
    )
    parser.add_argument(
        "--sizes",
        type=_sizes,
        help=f"comma-separated PKIs to run, of {','.join(SHAPES)} (default: all)",
    )
    parser.add_argument(
        "--rounds", type=_positive, help="runs of each contender; medians are reported (default: 3)"
    )
    parser.add_argument(
        "--ref", help="measure this commit's pkiform (default: the working tree as it is now)"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write raw numbers here")
    parser.add_argument(
        "--no-readme", action="store_true", help="leave the table in bench/README.md as it is"
    )
    parser.add_argument(
        "--workdir", type=Path, metavar="DIR", help="where PKIs are written (default: $TMPDIR)"
    )
    parser.add_argument(
        "--no-hsm",
        action="store_true",
        help="leave out the EC PKIs' variant with the intermediate's key in SoftHSM2",
    )
    return parser.parse_args(argv)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}")
    return int(text)


def _sizes(text: str) -> list[Shape]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in SHAPES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"expected names of {', '.join(SHAPES)}; got {text!r}")
    return [SHAPES[n] for n in SHAPES if n in names]


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    default_sizes = [SHAPES[n] for n in QUICK_SIZES] if args.quick else list(SHAPES.values())
    shapes: list[Shape] = args.sizes or default_sizes
    rounds: int = args.rounds or (1 if args.quick else 3)
    try:
        with _scratch(args.workdir) as root:
            with_hsm = not args.no_hsm and any(s.name in contenders.HSM_SHAPES for s in shapes)
            ws = contenders.workspace(root, args.ref, with_hsm=with_hsm)
            about = {"pkiform": ws.source, **machine.describe(root)}
            results = run_all(shapes, rounds, ws)
        _report(args, results, about, rounds, shlex.join(["python", "bench/run.py", *argv]))
    except BenchError as e:
        sys.exit(f"bench: {e}")
    return 0


def _report(
    args: argparse.Namespace,
    results: report.Results,
    about: dict[str, str],
    rounds: int,
    command: str,
) -> None:
    """Print the results block; write it into bench/README.md and, if asked, JSON."""
    summaries = report.summarize_all(results)
    block = report.markdown(summaries, about, command, rounds)
    print(block)
    if not args.no_readme:
        report.update_readme(README, block)
    if args.json:
        document = report.as_json(results, summaries, about, rounds)
        args.json.write_text(json.dumps(document, indent=2) + "\n")


@contextlib.contextmanager
def _scratch(parent: Path | None) -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="pkiform-bench-", dir=parent))
    try:
        yield root
    finally:
        shutil.rmtree(root)


def run_all(shapes: Sequence[Shape], rounds: int, ws: contenders.Workspace) -> report.Results:
    """`rounds` rounds, each running every contender on every PKI once."""
    contenders.warm_up(ws, shapes[0])
    specs = {shape.name: ws.write_spec(shape) for shape in shapes}
    results: dict[str, dict[Contender, list[Sample]]] = {s.name: {} for s in shapes}
    for index in range(rounds):
        for shape in shapes:
            samples = contenders.run_round(shape, specs[shape.name], ws, index)
            _progress(index, rounds, shape, samples)
            for contender, sample in samples.items():
                results[shape.name].setdefault(contender, []).append(sample)
    return results


def _progress(index: int, rounds: int, shape: Shape, samples: dict[Contender, Sample]) -> None:
    times = ", ".join(f"{c} {s.wall_s:.2f}s" for c, s in samples.items())
    print(f"round {index + 1}/{rounds} {shape.name}: {times}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
