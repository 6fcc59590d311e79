"""Command line: ``python3 -m tandem.conform (--backend CMD | --socket PATH --wait) [options]``.

Examples::

    python3 -m tandem.conform --backend 'python3 -m tandem tandem.conform.app:app --connect {socket}'
    python3 -m tandem.conform --backend './my-backend --socket {socket}' --case 2.4 --case 7 --verbose
    python3 -m tandem.conform --socket /tmp/conform.sock --wait     # start the backend yourself
    python3 -m tandem.conform --list

``{socket}`` in the backend command is replaced by the kit's socket path (also
in the environment as TANDEM_BACKEND_SOCKET).  Exit status: 0 when no case
failed, 1 when one did, 2 for a usage error.

Calls ``cases`` (the list) and ``runner``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import textwrap
from typing import Optional, Sequence, TextIO

from .cases import CASES
from .runner import Backend, Case, Runner, run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 -m tandem.conform",
        description="tandem-conform: plays the tandem frontend against a backend and checks that the backend "
                    "keeps protocol/PROTOCOL.md. The backend must serve the kit's application "
                    "(tandem.conform.app documents its routes).",
        epilog="Example: python3 -m tandem.conform --backend "
               "'python3 -m tandem tandem.conform.app:app --connect {socket}'")
    parser.add_argument("--backend", metavar="CMD",
                        help="the backend's command line; {socket} is replaced by the kit's socket path. The kit "
                             "starts it, and starts it again whenever it exits (after a connection error, say)")
    parser.add_argument("--socket", metavar="PATH",
                        help="listen on PATH (default: a new temporary directory's kit.sock)")
    parser.add_argument("--wait", action="store_true",
                        help="start no backend: wait for one started by hand to connect to --socket, and to "
                             "connect again after each case")
    parser.add_argument("--list", action="store_true", help="list the cases (with --verbose, what each expects)")
    parser.add_argument("--case", action="append", metavar="ID", default=[],
                        help="run this case (repeatable); a group number such as 7 runs 7.1, 7.2, ...")
    parser.add_argument("--verbose", "-v", action="count", default=0,
                        help="hex dumps of the frames exchanged in failed cases; twice: in every case")
    parser.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS",
                        help="how long the kit waits for each thing it expects from the backend (default 5)")
    parser.add_argument("--connect-timeout", type=float, default=None, metavar="SECONDS",
                        help="how long it waits for the backend to connect (default: 2 x --timeout, at least 10)")
    return parser


def select_cases(wanted: Sequence[str]) -> list[Case]:
    """The cases named by id or group, in the kit's order; ValueError for a name that matches none."""
    if not wanted:
        return list(CASES)
    chosen = []
    for name in wanted:
        matches = [c for c in CASES if c.id == name or c.id.split(".")[0] == name]
        if not matches:
            raise ValueError(f"no case {name!r} (see --list)")
        chosen.extend(c for c in matches if c not in chosen)
    return [c for c in CASES if c in chosen]


def list_cases(cases: list[Case], verbose: int, out: TextIO) -> None:
    for case in cases:
        out.write(f"{case.id:<5} {case.title}  [{case.section}]\n")
        if verbose:
            out.write(textwrap.fill(case.description, 100, initial_indent="      ", subsequent_indent="      "))
            out.write("\n")


def main(argv: Optional[Sequence[str]] = None, out: TextIO = sys.stdout) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        cases = select_cases(args.case)
    except ValueError as exc:
        parser.error(str(exc))
    if args.list:
        list_cases(cases, args.verbose, out)
        return 0
    if bool(args.backend) == bool(args.wait):
        parser.error("give either --backend CMD or --wait (with --socket PATH)")
    if args.wait and not args.socket:
        parser.error("--wait needs --socket PATH, where the backend started by hand connects")
    if args.timeout <= 0:
        parser.error("--timeout must be above 0")
    connect_timeout = args.connect_timeout or max(10.0, 2 * args.timeout)
    # SIGTERM unwinds like Ctrl-C, so that the backend is stopped and the socket removed.
    signal.signal(signal.SIGTERM, _terminated)
    workdir = tempfile.mkdtemp(prefix="tandem-conform-")
    try:
        socket_path = args.socket or os.path.join(workdir, "kit.sock")
        backend = Backend(args.backend, socket_path, os.path.join(workdir, "backend.log")) if args.backend else None
        runner = Runner(socket_path, backend, args.timeout, connect_timeout)
        try:
            return run(runner, cases, args.verbose, out)
        finally:
            runner.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)
