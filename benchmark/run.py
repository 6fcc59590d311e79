"""`make bench`: tandem against the servers people would otherwise pick, the same bytes served by each.

    make bench          # every contender and scenario and the one-frontend ceiling (about 10 minutes);
                        # writes benchmark/results/<date>/ and the summary table in benchmark/README.md
    make bench-quick    # plaintext only, the raw apps' contenders, about a minute; writes build/bench/
    /usr/bin/python3 benchmark/run.py --list                      # the contenders and scenarios
    /usr/bin/python3 benchmark/run.py --contender tandem-asgi --contender uvicorn-asgi --scenario plain

Every contender is started once on a free port of 127.0.0.1 (temporary folder,
configuration, sockets and logs of its own, all removed at the end), checked to
answer every scenario with the expected bytes, warmed up, then measured with wrk
in interleaved rounds.  Every wrk run is bounded by --duration; every process
started is stopped at the end, on an error or on Ctrl-C too.  See
benchmark/README.md for what is measured and how to read it.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import chart, measure, report, versions  # noqa: E402
from harness.contenders import CONTENDERS, Contender  # noqa: E402
from harness.measure import Run, Step  # noqa: E402
from harness.procs import free_port, wait_http  # noqa: E402
from harness.scenarios import NATIVE, SCENARIOS, Scenario  # noqa: E402
from harness.servers import FLOOR_BACKEND, FRONTEND, ROOT, floor, tandem  # noqa: E402
from harness import wrk as _wrk  # noqa: E402

# What backend_micro.py and callgrind.py import from here.
__all__ = ["FRONTEND", "free_port", "main", "stop", "wait_http", "wrk"]

RESULTS = ROOT / "benchmark" / "results"
README = ROOT / "benchmark" / "README.md"
SCRATCH = ROOT / "build" / "bench"
CEILING_BACKENDS = (1, 2, 4)


# --- helpers other scripts use (backend_micro.py --under-load) -------------------------


def wrk(port: int, path: str, duration: int, connections: int) -> float:
    """Requests per second of one GET wrk run on path; RuntimeError on a failed response."""
    out = subprocess.run(_wrk.command(port, path, duration, connections, []), capture_output=True, text=True,
                         check=True, timeout=duration + 30).stdout
    result = _wrk.parse(out)
    if result.non_2xx or result.socket_errors:
        raise RuntimeError(f"{result.non_2xx} failed responses, {result.socket_errors} socket errors on {path}")
    return result.rps


def stop(procs: list[subprocess.Popen]) -> None:
    """SIGTERM to each process, last started first; SIGKILL after 10 s."""
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


# --- the run ----------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="the one-minute subset: plaintext, the raw apps' contenders, 2 s runs, no ceiling")
    ap.add_argument("--rounds", type=int, help="interleaved rounds (default 3)")
    ap.add_argument("--duration", type=int, help="seconds per wrk run (default 3; --quick 2)")
    ap.add_argument("--warmup", type=int, default=1, help="seconds of warm-up per contender and scenario")
    ap.add_argument("--contender", action="append", choices=[c.key for c in CONTENDERS], help="repeatable")
    ap.add_argument("--scenario", action="append", choices=[s.key for s in SCENARIOS], help="repeatable")
    ap.add_argument("--no-ceiling", action="store_true", help="skip the one-frontend ceiling")
    ap.add_argument("--out", type=Path, help="results folder (default: benchmark/results/<date> for a full "
                                             "run, which also updates benchmark/README.md; build/bench otherwise)")
    ap.add_argument("--list", action="store_true", help="print the contenders and scenarios and stop")
    ap.add_argument("--report", type=Path, metavar="DIR",
                    help="measure nothing: write results.md and chart.png again from DIR/results.json "
                         "(and the README's table, if DIR is under benchmark/results)")
    args = ap.parse_args()
    args.rounds = args.rounds or 3
    args.duration = args.duration or (2 if args.quick else 3)
    args.full = not (args.quick or args.contender or args.scenario or args.no_ceiling)
    return args


def select(args: argparse.Namespace) -> tuple[list[Contender], list[Scenario]]:
    contenders = [c for c in CONTENDERS if (c.key in args.contender if args.contender else
                                            c.quick or not args.quick)]
    scenarios = [s for s in SCENARIOS if (s.key in args.scenario if args.scenario else s.quick or not args.quick)]
    return contenders, scenarios


TOOL_HINTS = {"wrk": "apt-get install wrk", "nginx": "apt-get install nginx",
              "uwsgi": "apt-get install uwsgi-core uwsgi-plugin-python3", str(FRONTEND): "make build",
              str(FLOOR_BACKEND): "make build/floor-backend"}


def missing_tools(contenders: list[Contender]) -> list[str]:
    """The programs this selection needs that are not installed or built, each with how to get it."""
    needed = dict.fromkeys(["wrk", *(tool for c in contenders for tool in c.server.tools)])
    return [f"{tool} ({TOOL_HINTS.get(tool, 'install it')})" for tool in needed if shutil.which(tool) is None]


def server_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "backend"), str(ROOT / "benchmark")])
    return env


def measure_contenders(contenders: list[Contender], scenarios: list[Scenario], args: argparse.Namespace,
                       tmp: Path, env: dict[str, str]) -> tuple[list[Run], dict[str, str]]:
    """Start, check, warm up and measure in rounds; stop everything whatever happens."""
    print(f"starting {len(contenders)} servers ...", flush=True)
    running = measure.start_all(contenders, tmp, env)
    try:
        measure.check_all(running, scenarios)
        print("every contender answers the expected bytes; warming up", flush=True)
        warm: list[Step] = measure.plan(contenders, scenarios, 1)
        measure.run_steps(running, warm, args.warmup, tmp, warm_up=True)
        steps = measure.plan(contenders, scenarios, args.rounds)
        print(f"measuring: {len(steps)} runs of {args.duration} s", flush=True)
        return measure.run_steps(running, steps, args.duration, tmp)
    finally:
        measure.stop_all(running)


Ceiling = tuple[list[Run], dict[str, int], dict[str, str]]    # runs, backends per row, failures


def ceiling_rows() -> list[Contender]:
    """One frontend with 1, 2 and 4 native backends, and with the floor backend (in C: it answers without
    looking at the request, so what is left is the frontend's and the channel's cost)."""
    rows = [Contender(f"ceiling-{n}", f"tandem native, {n} backend{'s' * (n > 1)}", "raw", NATIVE,
                      tandem("apps:app", "native", n)) for n in CEILING_BACKENDS]
    return rows + [Contender(report.FLOOR_KEY, "tandem frontend, the floor backend", "raw", NATIVE, floor())]


def measure_ceiling(args: argparse.Namespace, tmp: Path, env: dict[str, str]) -> Ceiling:
    """ceiling_rows() serving plaintext, interleaved like the rest."""
    rows = ceiling_rows()
    plain = [s for s in SCENARIOS if s.key == "plain"]
    print("\nthe one-frontend ceiling:", flush=True)
    ceiling_tmp = tmp / "ceiling"
    ceiling_tmp.mkdir()
    runs, failed = measure_contenders(rows, plain, args, ceiling_tmp, env)
    return runs, {c.key: n for c, n in zip(rows, (*CEILING_BACKENDS, 1))}, failed


def write_outputs(results: report.Results, out: Path, full: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(report.results_markdown(results))
    (out / "results.json").write_text(report.results_json(results) + "\n")
    drawn = chart.write(results, out / "chart.png")
    print(f"\n{report.summary_table(results)}\n\nwrote {out}/results.md, results.json"
          + (", chart.png" if drawn else " (no chart: python3-matplotlib is not installed)"))
    if full and out.parent == RESULTS:
        if report.update_readme(README, results, f"results/{out.name}"):
            print(f"updated the summary table in {README.relative_to(ROOT)}")


def interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt   # SIGTERM stops the run as Ctrl-C does, through every cleanup


def main() -> int:
    args = parse_args()
    contenders, scenarios = select(args)
    if args.list:
        print("\n".join([f"{c.key:18} {c.label}" for c in CONTENDERS] + [""] +
                        [f"{s.key:18} {s.method} {s.target}, {s.connections} connections" for s in SCENARIOS]))
        return 0
    if args.report:
        results = report.load(args.report.resolve(), CONTENDERS, SCENARIOS)
        write_outputs(results, args.report.resolve(), full=True)
        return 0
    with_ceiling = not (args.quick or args.no_ceiling)
    missing = missing_tools(contenders + (ceiling_rows() if with_ceiling else []))
    if missing:
        print("benchmark: missing " + ", ".join(missing), file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, interrupt)
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
    env, started, date = server_env(), time.monotonic(), time.strftime("%Y-%m-%d")
    found = versions.collect(env)
    print("\n".join(f"{name:10} {v}" for name, v in found.items()), flush=True)
    with tempfile.TemporaryDirectory(prefix="tandem-bench-") as name:
        runs, failed = measure_contenders(contenders, scenarios, args, Path(name), env)
        ceiling, backends, ceiling_failed = (measure_ceiling(args, Path(name), env) if with_ceiling
                                             else ([], {}, {}))
    took = int(time.monotonic() - started)
    meta = {"date": date, "rounds": args.rounds, "seconds": args.duration, "warmup": args.warmup,
            "took": f"{took // 60} min {took % 60} s", "quick": args.quick}
    results = report.Results(meta, found, contenders, scenarios, runs, {**failed, **ceiling_failed}, ceiling,
                             backends)
    write_outputs(results, args.out or (RESULTS / date if args.full else SCRATCH), args.full)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("benchmark: interrupted; every server was stopped", file=sys.stderr)
        sys.exit(130)
    except RuntimeError as e:             # a server that would not start, or answered other bytes
        print(f"benchmark: {e}", file=sys.stderr)
        sys.exit(1)
