"""Command line: ``python3 -m tandem.conform (--backend CMD | --socket PATH --wait | --frontend CMD) [options]``.

Examples::

    python3 -m tandem.conform --backend 'python3 -m tandem tandem.conform.app:app --connect {socket}'
    python3 -m tandem.conform --backend './my-backend --socket {socket}' --case 2.4 --case 7 --verbose
    python3 -m tandem.conform --socket /tmp/conform.sock --wait     # start the backend yourself
    python3 -m tandem.conform --list
    python3 -m tandem.conform --frontend 'build/tandem-frontend --listen 127.0.0.1:{port} \
        --backend-socket {socket} --request-timeout 2'
    python3 -m tandem.conform --frontend --list --verbose
    python3 -m tandem.conform --replay session.rec --backend 'python3 -m tandem app:app --connect {socket}'

``{socket}`` in the backend command is replaced by the kit's socket path (also
in the environment as TANDEM_BACKEND_SOCKET).  With ``--frontend`` the kit
plays the backends instead: ``{socket}`` is the socket path the frontend must
listen on and ``{port}`` a free TCP port on 127.0.0.1 for its clients.  Exit
status: 0 when no case failed, 1 when one did, 2 for a usage error.

``--replay FILE`` with ``--backend CMD`` runs no case: it replays a
``tandem-frontend --record`` file into the backend and compares its answers
(the same as ``python3 -m tandem.replay``).

Calls ``cases`` and ``cases_frontend`` (the lists), ``runner`` and ``mirror``;
``replay`` for ``--replay``.
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
from .cases_frontend import CASES as FRONTEND_CASES
from .mirror import Frontend, FrontendRunner
from .runner import Backend, Case, Runner, run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 -m tandem.conform",
        description="tandem-conform: plays the tandem frontend against a backend and checks that the backend "
                    "keeps protocol/PROTOCOL.md. The backend must serve the kit's application "
                    "(tandem.conform.app documents its routes). With --frontend, plays backends and HTTP clients "
                    "against a frontend and checks the frontend instead.",
        epilog="Example: python3 -m tandem.conform --backend "
               "'python3 -m tandem tandem.conform.app:app --connect {socket}'")
    parser.add_argument("--backend", metavar="CMD",
                        help="the backend's command line; {socket} is replaced by the kit's socket path. The kit "
                             "starts it, and starts it again whenever it exits (after a connection error, say)")
    parser.add_argument("--socket", metavar="PATH",
                        help="listen on PATH (with --frontend: the path given the frontend as {socket}; default: a "
                             "new temporary directory's kit.sock)")
    parser.add_argument("--wait", action="store_true",
                        help="start no backend: wait for one started by hand to connect to --socket, and to "
                             "connect again after each case")
    parser.add_argument("--frontend", metavar="CMD", nargs="?", const="",
                        help="check a frontend instead: its command line, with {socket} replaced by the socket it "
                             "must listen on for backends and {port} by a free port on 127.0.0.1 for clients. The "
                             "kit starts it, plays its backends and clients, and starts it again if it dies (which "
                             "fails the case it died in). Without CMD, only with --list")
    parser.add_argument("--request-timeout", type=float, default=2.0, metavar="SECONDS",
                        help="with --frontend: the request timeout CMD gives the frontend; case F5.3 waits that "
                             "long, plus --timeout, for the 504 (default 2; 0: the frontend has none, F5.3 is "
                             "skipped)")
    parser.add_argument("--replay", metavar="FILE",
                        help="with --backend: replay the requests of a tandem-frontend --record FILE into the "
                             "backend and compare its answers with the recorded ones, instead of the cases "
                             "(python3 -m tandem.replay)")
    parser.add_argument("--list", action="store_true",
                        help="list the cases (of the frontend kit with --frontend; with --verbose, what each expects)")
    parser.add_argument("--case", action="append", metavar="ID", default=[],
                        help="run this case (repeatable); a group such as 7 or F3 runs 7.1, 7.2, ... or F3.1, ...")
    parser.add_argument("--verbose", "-v", action="count", default=0,
                        help="hex dumps of the frames exchanged in failed cases; twice: in every case")
    parser.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS",
                        help="how long the kit waits for each thing it expects from the backend (default 5)")
    parser.add_argument("--connect-timeout", type=float, default=None, metavar="SECONDS",
                        help="how long it waits for the backend to connect (default: 2 x --timeout, at least 10)")
    return parser


def select_cases(wanted: Sequence[str], cases: Sequence[Case] = CASES) -> list[Case]:
    """The cases named by id or group, in the kit's order; ValueError for a name that matches none."""
    if not wanted:
        return list(cases)
    chosen: list[Case] = []
    for name in wanted:
        matches = [c for c in cases if c.id == name or c.id.split(".")[0] == name]
        if not matches:
            raise ValueError(f"no case {name!r} (see --list)")
        chosen.extend(c for c in matches if c not in chosen)
    return [c for c in cases if c in chosen]


def list_cases(cases: list[Case], verbose: int, out: TextIO) -> None:
    for case in cases:
        out.write(f"{case.id:<5} {case.title}  [{case.section}]\n")
        if verbose:
            out.write(textwrap.fill(case.description, 100, initial_indent="      ", subsequent_indent="      "))
            out.write("\n")


def main(argv: Optional[Sequence[str]] = None, out: TextIO = sys.stdout) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    frontend = args.frontend is not None
    if args.replay is not None:
        if not args.backend or frontend or args.wait:
            parser.error("--replay FILE needs --backend CMD, and neither --frontend nor --wait")
        from ..replay import main as replay_main

        return replay_main([args.replay, "--backend", args.backend, "--timeout", str(max(args.timeout, 30.0))])
    try:
        cases = select_cases(args.case, FRONTEND_CASES if frontend else CASES)
    except ValueError as exc:
        parser.error(str(exc))
    if args.list:
        list_cases(cases, args.verbose, out)
        return 0
    if frontend and (args.backend or args.wait):
        parser.error("--frontend checks a frontend; --backend and --wait are for checking a backend")
    if frontend and not args.frontend.strip():
        parser.error("--frontend needs the frontend's command line (without it, only with --list)")
    if frontend and not all(key in args.frontend for key in ("{socket}", "{port}")):
        parser.error("the --frontend command must hold {socket} and {port}, where the kit's backends and clients "
                     "connect")
    if not frontend and bool(args.backend) == bool(args.wait):
        parser.error("give either --backend CMD or --wait (with --socket PATH), or --frontend CMD")
    if args.wait and not args.socket:
        parser.error("--wait needs --socket PATH, where the backend started by hand connects")
    if args.timeout <= 0 or args.request_timeout < 0:
        parser.error("--timeout must be above 0, and --request-timeout not below")
    connect_timeout = args.connect_timeout or max(10.0, 2 * args.timeout)
    # SIGTERM unwinds like Ctrl-C, so that the process under test is stopped and the socket removed.
    signal.signal(signal.SIGTERM, _terminated)
    workdir = tempfile.mkdtemp(prefix="tandem-conform-")
    try:
        socket_path = args.socket or os.path.join(workdir, "kit.sock")
        if frontend:
            return run_frontend(args, cases, socket_path, workdir, connect_timeout, out)
        backend = Backend(args.backend, socket_path, os.path.join(workdir, "backend.log")) if args.backend else None
        runner = Runner(socket_path, backend, args.timeout, connect_timeout)
        try:
            return run(runner, cases, args.verbose, out)
        finally:
            runner.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_frontend(args: argparse.Namespace, cases: list[Case], socket_path: str, workdir: str,
                 connect_timeout: float, out: TextIO) -> int:
    """The frontend kit: start the frontend, run the cases against it, stop it."""
    frontend = Frontend(args.frontend, socket_path, os.path.join(workdir, "frontend.log"))
    runner = FrontendRunner(frontend, workdir, args.timeout, connect_timeout, args.request_timeout)
    try:
        return run(runner, cases, args.verbose, out)
    finally:
        runner.close()


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)
