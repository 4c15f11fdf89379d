"""How `pkiform validate` scales with name constraints (issue 19): an intermediate that
permits N DNS subtrees, and 8 servers carrying N DNS names between them, each name inside
one subtree. Checking each name against each subtree made this quadratic (N = 20,000 ran
for hours); the time per name should now stay flat as N grows.

    .venv/bin/python bench/constraints.py                    # N = 1,000, 5,000, 20,000, 50,000
    .venv/bin/python bench/constraints.py --sizes 500,2000 --ref 02f09a2   # an older pkiform
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import snapshot
from measure import BenchError, measure

LEAVES = 8


def spec_yaml(names: int) -> str:
    """The spec: N permitted subtrees, N names over LEAVES servers."""
    allowed = ", ".join(f"n{i:05d}.example.com" for i in range(names))
    lines = [
        "version: 1",
        "identities:",
        "  root: {kind: root, subject: {CN: Root CA}}",
        "  issuing:",
        "    kind: intermediate",
        "    issuer: root",
        "    subject: {CN: Issuing CA}",
        f"    name_constraints: {{permitted: {{dns: [{allowed}]}}}}",
    ]
    per_leaf = names // LEAVES
    for leaf in range(LEAVES):
        dns = (f"a.n{i:05d}.example.com" for i in range(leaf * per_leaf, (leaf + 1) * per_leaf))
        lines += [f"  web-{leaf}:", "    kind: server", "    issuer: issuing"]
        lines.append(f"    dns: [{', '.join(dns)}]")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,20000,50000", help="values of N")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each (median)")
    parser.add_argument("--ref", help="measure this commit's pkiform, not the working tree")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pkiform-bench-nc-") as scratch:
        root = Path(scratch)
        source = snapshot.take(root / "pkiform", args.ref)
        env = {**os.environ, "PYTHONPATH": str(root / "pkiform" / "src")}
        print(f"pkiform: {source}\n")
        print("| N subtrees | N names | spec KiB | validate s (median) | µs per name |")
        print("|--:|--:|--:|--:|--:|")
        for n in (int(s) for s in args.sizes.split(",")):
            spec = root / f"nc{n}.yaml"
            spec.write_text(spec_yaml(n))
            argv_ = [sys.executable, "-m", "pkiform", "validate", spec]
            try:
                wall = statistics.median(
                    measure(argv_, cwd=root, env=env).wall_s for _ in range(args.rounds)
                )
            except BenchError as e:
                sys.exit(f"bench: {e}")
            size = spec.stat().st_size / 1024
            print(f"| {n:,} | {n:,} | {size:,.0f} | {wall:.2f} | {wall / n * 1e6:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
