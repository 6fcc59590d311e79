"""From runs to results: medians and ranges, results.md, results.json, the README's summary table.

Requests per second are given as the median of the rounds with their range;
CPU per request as the best round (the one least disturbed by the machine's
other work) with the median beside it; latency as the median of the rounds.
"""
from __future__ import annotations

import json
import re
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

from .contenders import TARGETS, Contender, Target
from .measure import Run
from .scenarios import SKIPPED, Scenario

# The ceiling's row of the frontend with benchmark/floor_backend.c behind it.
FLOOR_KEY = "ceiling-floor"

README_START = "<!-- bench-summary:start -->"
README_END = "<!-- bench-summary:end -->"


@dataclass(frozen=True)
class Summary:
    """One contender on one scenario over all its rounds."""
    rounds: int
    rps_median: float
    rps_min: float
    rps_max: float
    cpu_us_best: float
    cpu_us_median: float
    cpu_us_by_role: dict[str, float]    # median of each role's CPU per request
    cores_by_role: dict[str, float]     # median of each role's busy cores
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    peak_rss_mb: float


def summarise(runs: Iterable[Run]) -> dict[tuple[str, str], Summary]:
    grouped: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        grouped.setdefault((run.contender, run.scenario), []).append(run)
    return {key: _summary(rs) for key, rs in grouped.items()}


def _summary(runs: list[Run]) -> Summary:
    rps = [r.rps for r in runs]
    cpu = [r.cpu_us for r in runs]
    med = statistics.median
    return Summary(len(runs), med(rps), min(rps), max(rps), min(cpu), med(cpu),
                   {role: med(r.cpu_us_by_role[role] for r in runs) for role in runs[0].cpu_us_by_role},
                   {role: med(r.cpu_cores_by_role[role] for r in runs) for role in runs[0].cpu_cores_by_role},
                   med(r.p50_ms for r in runs), med(r.p99_ms for r in runs), sum(r.non_2xx for r in runs),
                   sum(r.socket_errors for r in runs), max(r.peak_rss_mb for r in runs))


@dataclass
class Results:
    """Everything one `make bench` run measured, and how."""
    meta: dict[str, object]
    versions: dict[str, str]
    contenders: list[Contender]
    scenarios: list[Scenario]
    runs: list[Run]
    failed: dict[str, str] = field(default_factory=dict)
    ceiling: list[Run] = field(default_factory=list)
    ceiling_backends: dict[str, int] = field(default_factory=dict)

    def summaries(self) -> dict[tuple[str, str], Summary]:
        return summarise(self.runs)


# --- formatting -----------------------------------------------------------------------


def _k(value: float) -> str:
    return f"{value / 1000:,.1f}k" if value >= 1000 else f"{value:,.0f}"


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _roles(summary: Summary) -> str:
    if len(summary.cpu_us_by_role) < 2:
        return ""
    return " + ".join(f"{role} {us:.1f}" for role, us in summary.cpu_us_by_role.items())


def summary_table(results: Results) -> str:
    """Contenders down, scenarios across: median req/s and best CPU µs per request."""
    sums = results.summaries()
    head = "| contender | " + " | ".join(f"`{s.key}`" for s in results.scenarios) + " |"
    lines = [head, "|---|" + "---:|" * len(results.scenarios)]
    for c in results.contenders:
        cells = []
        for s in results.scenarios:
            got = sums.get((c.key, s.key))
            cells.append("" if got is None else
                         f"{_k(got.rps_median)} / {got.cpu_us_best:.1f}" + (" ⚠" if _errors(got) else ""))
        lines.append(f"| {c.label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _errors(summary: Summary) -> bool:
    return bool(summary.non_2xx or summary.socket_errors)


def scenario_table(results: Results, scenario: Scenario) -> str:
    sums = results.summaries()
    lines = ["| contender | req/s (median) | min - max | CPU µs/req (best) | median | of which | p50 ms | p99 ms "
             "| errors | peak RSS MB |", "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|"]
    for c in results.contenders:
        s = sums.get((c.key, scenario.key))
        if s is None:
            continue
        errors = f"**{s.non_2xx} non-2xx, {s.socket_errors} socket**" if _errors(s) else "0"
        lines.append(f"| {c.label} | {s.rps_median:,.0f} | {s.rps_min:,.0f} - {s.rps_max:,.0f} | "
                     f"{s.cpu_us_best:.1f} | {s.cpu_us_median:.1f} | {_roles(s)} | {_ms(s.p50_ms)} | "
                     f"{_ms(s.p99_ms)} | {errors} | {s.peak_rss_mb:.0f} |")
    return "\n".join(lines)


def comparison_table(results: Results) -> str:
    """tandem against each contender issue 12 sets a target for, scenario by scenario, and what is missed."""
    sums = results.summaries()
    labels = {c.key: c.label for c in results.contenders}
    lines = ["| tandem | against | scenario | req/s ratio | CPU/req ratio | p99 ratio | missed targets |",
             "|---|---|---|---:|---:|---:|---|"]
    for t in TARGETS:
        for s in results.scenarios:
            a, b = sums.get((t.ours, s.key)), sums.get((t.theirs, s.key))
            if a is None or b is None:
                continue
            rps, cpu, p99 = a.rps_median / b.rps_median, a.cpu_us_best / b.cpu_us_best, a.p99_ms / b.p99_ms
            lines.append(f"| {labels[t.ours]} | {labels[t.theirs]} | `{s.key}` | {rps:.2f}x | {cpu:.2f}x | "
                         f"{p99:.2f}x | {', '.join(_missed(t, rps, cpu, p99)) or 'none'} |")
    return "\n".join(lines)


def _missed(target: Target, rps: float, cpu: float, p99: float) -> list[str]:
    missed = []
    if rps < target.rps_at_least:
        missed.append(f"req/s < {target.rps_at_least:.2g}x")
    if target.cpu_at_most is not None and cpu > target.cpu_at_most:
        missed.append(f"CPU > {target.cpu_at_most:.2g}x")
    if p99 > target.p99_at_most:
        missed.append(f"p99 > {target.p99_at_most:.2g}x")
    return missed


def skipped_lines(results: Results) -> list[str]:
    lines = []
    for kind, why in SKIPPED.items():
        names = [c.label for c in results.contenders if c.kind == kind]
        missing = [s.key for s in results.scenarios if kind not in s.kinds]
        if names and missing:
            lines.append(f"- {'; '.join(names)}: no {', '.join(f'`{m}`' for m in missing)}, because {why}.")
    for key, why in results.failed.items():
        lines.append(f"- **{key} failed during the run** ({why}); its later measurements are missing.")
    return lines


def error_lines(results: Results) -> list[str]:
    return [f"- **{r.contender} on `{r.scenario}`, round {r.round}: {r.non_2xx} non-2xx responses, "
            f"{r.socket_errors} socket errors**" for r in results.runs + results.ceiling
            if r.non_2xx or r.socket_errors]


def ceiling_table(results: Results) -> str:
    """One frontend as native backends are added, then with the floor backend: its own CPU per request and how
    busy it was."""
    sums = summarise(results.ceiling)
    lines = ["| backends | req/s (median) | min - max | frontend CPU µs/req | backend CPU µs/req "
             "| frontend cores busy | backends' cores busy | all CPU µs/req |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for key, n in results.ceiling_backends.items():
        s = sums.get((key, "plain"))
        if s is None:
            continue
        who = "1, the floor backend (C)" if key == FLOOR_KEY else str(n)
        lines.append(f"| {who} | {s.rps_median:,.0f} | {s.rps_min:,.0f} - {s.rps_max:,.0f} | "
                     f"{s.cpu_us_by_role.get('frontend', 0):.1f} | {s.cpu_us_by_role.get('backend', 0):.1f} | "
                     f"{s.cores_by_role.get('frontend', 0):.2f} | {s.cores_by_role.get('backend', 0):.2f} | "
                     f"{s.cpu_us_best:.1f} |")
    return "\n".join(lines)


def floor_lines(results: Results) -> list[str]:
    """What the native target leaves the Python backend: 1.5x nginx's CPU per request, less the frontend's."""
    floor = summarise(results.ceiling).get((FLOOR_KEY, "plain"))
    sums = results.summaries()
    nginx, native = sums.get(("nginx-return", "plain")), sums.get(("tandem-native", "plain"))
    if floor is None or nginx is None or native is None:
        return []
    target = next(t for t in TARGETS if t.ours == "tandem-native" and t.theirs == "nginx-return")
    limit = (target.cpu_at_most or 0) * nginx.cpu_us_best
    frontend = floor.cpu_us_by_role.get("frontend", 0.0)
    budget = limit - frontend
    backend = native.cpu_us_by_role.get("backend", 0.0)
    return [f"- nginx `return 200`: {nginx.cpu_us_best:.1f} µs a request (best round), "
            f"{nginx.rps_median:,.0f} req/s.",
            f"- The frontend with the floor backend, which answers without looking at the request: "
            f"{floor.cpu_us_best:.1f} µs ({frontend:.1f} frontend, "
            f"{floor.cpu_us_by_role.get('backend', 0):.1f} backend), {floor.rps_median:,.0f} req/s "
            f"({floor.rps_median / nginx.rps_median:.2f}x nginx's).",
            f"- The native target ({target.cpu_at_most:g}x nginx's CPU, {limit:.1f} µs) leaves the backend "
            f"{budget:.1f} µs a request beside that frontend, system calls included; the native `App`'s backend "
            f"spends {backend:.1f} ({native.cpu_us_best:.1f} µs in all, best round)."]


def feed_ratio_table(results: Results) -> str:
    """How many backends of each kind one frontend core keeps busy, from the plaintext runs."""
    sums = results.summaries()
    lines = ["| app under tandem (`plain`) | frontend CPU µs/req | backend CPU µs/req | one frontend core "
             "serves up to | backends it keeps busy |", "|---|---:|---:|---:|---:|"]
    for c in results.contenders:
        s = sums.get((c.key, "plain"))
        if s is None or "frontend" not in s.cpu_us_by_role:
            continue
        fe, be = s.cpu_us_by_role["frontend"], s.cpu_us_by_role.get("backend", 0.0)
        lines.append(f"| {c.label} | {fe:.1f} | {be:.1f} | {1e6 / fe:,.0f} req/s | {be / fe:.1f} |")
    return "\n".join(lines)


def _section(title: str, body: str) -> str:
    return f"## {title}\n\n{body}\n"


def results_markdown(results: Results) -> str:
    meta = results.meta
    parts = [f"# `make bench`, {meta['date']}\n",
             f"{meta['rounds']} interleaved rounds of {meta['seconds']} s per contender and scenario after a "
             f"{meta['warmup']} s warm-up; wrk with 1 thread on 127.0.0.1. Took {meta['took']}. "
             "CPU is utime + stime of every process of the server and its children, from /proc, over the "
             "wrk run, divided by the requests served.\n",
             _section("Versions", "\n".join(f"- {name}: {v}" for name, v in results.versions.items())),
             _section("Summary", "Median requests per second / best CPU µs per request.\n\n"
                      + summary_table(results))]
    for s in results.scenarios:
        body = f"`{s.method} {s.target}`, {s.connections} connections.\n\n" + scenario_table(results, s)
        parts.append(_section(f"`{s.key}`: {s.label}", body))
    parts.append(_section("tandem against the others", "tandem's figure over the other's: median req/s, best "
                          "CPU µs per request, median p99; a target missed is named (issue 12's targets; for "
                          "the framework apps: not beaten).\n\n" + comparison_table(results)))
    if results.ceiling:
        parts.append(_section("One frontend, 1 to 4 native backends and the floor (`plain`)",
                              ceiling_table(results)))
        if floor_lines(results):
            parts.append(_section("The floor", "\n".join(floor_lines(results))))
        parts.append(_section("Backends per frontend", feed_ratio_table(results)))
    parts.append(_section("Skipped", "\n".join(skipped_lines(results)) or "Nothing."))
    parts.append(_section("Errors", "\n".join(error_lines(results)) or "None: every response was 2xx and "
                          "no socket error was counted."))
    return "\n".join(parts)


def results_json(results: Results) -> str:
    return json.dumps({
        "meta": results.meta, "versions": results.versions,
        "contenders": [{"key": c.key, "label": c.label, "family": c.family, "kind": c.kind}
                       for c in results.contenders],
        "scenarios": [{"key": s.key, "label": s.label, "method": s.method, "target": s.target,
                       "connections": s.connections} for s in results.scenarios],
        "summary": [{"contender": c, "scenario": s, **asdict(v)} for (c, s), v in results.summaries().items()],
        "runs": [r.as_dict() for r in results.runs],
        "ceiling": {"backends": results.ceiling_backends, "runs": [r.as_dict() for r in results.ceiling]},
        "failed": results.failed,
    }, indent=1)


def update_readme(readme: Path, results: Results, folder: str) -> bool:
    """Put the summary table between the README's markers; False if it has none."""
    text = readme.read_text()
    pattern = re.compile(re.escape(README_START) + ".*?" + re.escape(README_END), re.S)
    if not pattern.search(text):
        return False
    body = (f"{README_START}\n`make bench` of {results.meta['date']} ({results.versions['tandem']}; "
            f"[all the numbers]({folder}/results.md)).\nMedian requests per second / best CPU µs per "
            f"request; ⚠ marks errors.\n\n{summary_table(results)}\n{README_END}")
    readme.write_text(pattern.sub(lambda _: body, text))
    return True



def load(folder: Path, contenders: Iterable[Contender], scenarios: Iterable[Scenario]) -> Results:
    """The Results a run wrote to folder/results.json, its contenders and scenarios found by key."""
    data = json.loads((folder / "results.json").read_text())
    by_key = {c.key: c for c in contenders}
    scenario_by_key = {s.key: s for s in scenarios}
    return Results(data["meta"], data["versions"], [by_key[c["key"]] for c in data["contenders"]],
                   [scenario_by_key[s["key"]] for s in data["scenarios"]], [Run(**r) for r in data["runs"]],
                   data["failed"], [Run(**r) for r in data["ceiling"]["runs"]], data["ceiling"]["backends"])
