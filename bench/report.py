"""Turn samples into medians, ratios and the targets of issue 6, as Markdown and JSON."""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from contenders import Contender
from measure import BenchError, Sample
from specs import SHAPES

START = "<!-- results:start -->"
END = "<!-- results:end -->"

Results = Mapping[str, Mapping[Contender, Sequence[Sample]]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    """The runs of one contender on one PKI."""

    wall_s: float  # median
    wall_min_s: float
    wall_max_s: float
    user_s: float  # median
    sys_s: float  # median
    peak_rss_mib: float  # the largest of the runs


Summaries = Mapping[Contender, Summary]


def summarize(samples: Sequence[Sample]) -> Summary:
    walls = [s.wall_s for s in samples]
    return Summary(
        wall_s=statistics.median(walls),
        wall_min_s=min(walls),
        wall_max_s=max(walls),
        user_s=statistics.median(s.user_s for s in samples),
        sys_s=statistics.median(s.sys_s for s in samples),
        peak_rss_mib=max(s.peak_rss_mib for s in samples),
    )


def summarize_all(results: Results) -> dict[str, dict[Contender, Summary]]:
    return {
        shape: {c: summarize(samples) for c, samples in by_contender.items()}
        for shape, by_contender in results.items()
    }


def _ratio(a: Contender, b: Contender) -> Callable[[Summaries], float]:
    return lambda s: s[a].wall_s / s[b].wall_s


def _validate_plus_plan(s: Summaries) -> float:
    return (s[Contender.VALIDATE].wall_s + s[Contender.PLAN].wall_s) / s[Contender.APPLY].wall_s


def _apply_memory(s: Summaries) -> float:
    return s[Contender.APPLY].peak_rss_mib


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """One target of issue 6: a figure of one PKI and the bound it must meet."""

    what: str
    shape: str
    figure: Callable[[Summaries], float]
    limit: float
    at_least: bool = False  # the figure must be ≥ limit rather than ≤
    unit: str = "×"
    digits: int = 2

    def show(self, value: float) -> str:
        return f"{value:.{self.digits}f}{self.unit}"

    def met(self, value: float) -> bool:
        return value >= self.limit if self.at_least else value <= self.limit

    def bound(self) -> str:
        return f"{'≥' if self.at_least else '≤'} {self.limit:g}{self.unit}"


_FLOOR, _APPLY = Contender.FLOOR, Contender.APPLY
_NOOP, _PLAN = Contender.NOOP_APPLY, Contender.PLAN
TARGETS = (
    Target(
        what="fresh apply / floor script", shape="ec1000", figure=_ratio(_APPLY, _FLOOR), limit=1.0
    ),
    Target(
        what="fresh apply / floor script", shape="rsa100", figure=_ratio(_APPLY, _FLOOR), limit=0.6
    ),
    Target(
        what="no-op apply / fresh apply", shape="ec1000", figure=_ratio(_NOOP, _APPLY), limit=0.2
    ),
    Target(what="plan / fresh apply", shape="ec1000", figure=_ratio(_PLAN, _APPLY), limit=0.2),
    Target(
        what="no-op apply / fresh apply", shape="rsa100", figure=_ratio(_NOOP, _APPLY), limit=0.2
    ),
    Target(what="plan / fresh apply", shape="rsa100", figure=_ratio(_PLAN, _APPLY), limit=0.2),
    Target(
        what="(validate + plan) / fresh apply",
        shape="ec10000",
        figure=_validate_plus_plan,
        limit=0.1,
    ),
    Target(
        what="peak memory of fresh apply",
        shape="ec10000",
        figure=_apply_memory,
        limit=200,
        unit=" MiB",
        digits=0,
    ),
    Target(
        what="openssl CLI / fresh apply",
        shape="ec200",
        figure=_ratio(Contender.OPENSSL_CLI, _APPLY),
        limit=30,
        at_least=True,
    ),
)


def targets_table(summaries: Mapping[str, Summaries]) -> str:
    rows = ["| target (issue 6) | PKI | measured | bound | met |", "|---|---|--:|--:|:-:|"]
    for t in TARGETS:
        if t.shape in summaries:
            value = t.figure(summaries[t.shape])
            met = "yes" if t.met(value) else "**no**"
            title = SHAPES[t.shape].title()
            rows.append(f"| {t.what} | {title} | {t.show(value)} | {t.bound()} | {met} |")
    return "\n".join(rows)


# the contenders that are also shown as a fraction of the fresh apply (the plain one: so
# the SoftHSM2 variant's figure is what the token costs)
_VERSUS_APPLY = frozenset(
    {
        Contender.NOOP_APPLY,
        Contender.PLAN,
        Contender.VALIDATE,
        Contender.HSM_APPLY,
        Contender.HSM_NOOP_APPLY,
        Contender.HSM_PLAN,
    }
)


def results_table(summaries: Mapping[str, Summaries]) -> str:
    rows = [
        "| PKI | contender | wall s (median) | min–max s | user s | sys s | × floor "
        "| × fresh apply | peak RSS MiB |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for shape, by_contender in summaries.items():
        floor = by_contender[Contender.FLOOR].wall_s
        apply = by_contender[Contender.APPLY].wall_s
        for contender in Contender:
            if contender not in by_contender:
                continue
            s = by_contender[contender]
            versus = f"{s.wall_s / apply:.3f}" if contender in _VERSUS_APPLY else ""
            rows.append(
                f"| {SHAPES[shape].title()} | {contender} | {s.wall_s:.3f} "
                f"| {s.wall_min_s:.3f}–{s.wall_max_s:.3f} | {s.user_s:.3f} | {s.sys_s:.3f} "
                f"| {s.wall_s / floor:.2f} | {versus} | {s.peak_rss_mib:.0f} |"
            )
    return "\n".join(rows)


def markdown(
    summaries: Mapping[str, Summaries], machine: Mapping[str, str], command: str, rounds: int
) -> str:
    """The results block of bench/README.md."""
    about = "\n".join(f"- {key}: {value}" for key, value in machine.items())
    return (
        f"Command: `{command}` ({rounds} round{'s' if rounds != 1 else ''}; "
        "medians of the rounds).\n\n"
        f"{about}\n\n### Targets\n\n{targets_table(summaries)}\n\n"
        f"### All measurements\n\n{results_table(summaries)}\n"
    )


def update_readme(readme: Path, block: str) -> None:
    """Replace what stands between the results markers of `readme` with `block`."""
    text = readme.read_text()
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        raise BenchError(f"{readme}: no {START} ... {END} markers")
    readme.write_text(pattern.sub(lambda _: f"{START}\n{block}{END}", text, count=1))


def as_json(
    results: Results, summaries: Mapping[str, Summaries], machine: Mapping[str, str], rounds: int
) -> dict[str, Any]:
    """Every sample, every median and every target figure, for other tools."""
    return {
        "machine": dict(machine),
        "rounds": rounds,
        "results": {
            shape: {
                str(c): {
                    "samples": [asdict(s) for s in by_contender[c]],
                    "summary": asdict(summaries[shape][c]),
                }
                for c in Contender
                if c in by_contender
            }
            for shape, by_contender in results.items()
        },
        "targets": [_target_json(t, summaries[t.shape]) for t in TARGETS if t.shape in summaries],
    }


def _target_json(target: Target, summaries: Summaries) -> dict[str, Any]:
    value = target.figure(summaries)
    return {
        "target": target.what,
        "shape": target.shape,
        "value": value,
        "bound": target.bound(),
        "met": target.met(value),
    }
