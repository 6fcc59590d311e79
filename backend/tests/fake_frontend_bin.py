#!/usr/bin/python3
"""A stand-in for the tandem-frontend binary, for testing --serve.

Takes the frontend's command line, listens on --backend-socket, accepts the
backend, exchanges HELLO, forwards one GET / and writes what it saw as JSON
lines to the file named by FAKE_FRONTEND_REPORT.  Then it waits: SIGTERM or
SIGINT end it with status 0.  With FAKE_FRONTEND_EXIT=N it exits N after the
request instead (an unexpected death).
"""

import argparse
import json
import os
import signal
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tandem import protocol  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True)
    parser.add_argument("--backend-socket", required=True)
    parser.add_argument("--static", action="append", default=[])
    parser.add_argument("--log-level")
    parser.add_argument("--shutdown-timeout")
    args = parser.parse_args()
    # One os.write per line on an O_APPEND descriptor: the signal handler may
    # note while the main code is in the middle of noting (a buffered file
    # would raise "reentrant call" then, and lose the line).
    report = os.open(os.environ["FAKE_FRONTEND_REPORT"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def note(**fields: object) -> None:
        os.write(report, (json.dumps(fields) + "\n").encode())

    def stop(sig: int, _frame: object) -> None:
        note(event="signal", signal=signal.Signals(sig).name)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    note(event="args", listen=args.listen, socket=args.backend_socket, static=args.static, log_level=args.log_level,
         dir_mode=oct(os.stat(os.path.dirname(args.backend_socket)).st_mode & 0o777))

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(args.backend_socket)
    listener.listen(1)
    conn, _ = listener.accept()
    decoder = protocol.Decoder(protocol.DEFAULT_MAX_FRAME)

    def recv_frame() -> protocol.Frame:
        while True:
            frame = decoder.next_frame()
            if frame is not None:
                return frame
            data = conn.recv(65536)
            if not data:
                raise EOFError
            decoder.feed(data)

    hello = recv_frame()
    note(event="hello", app=hello.app, role=hello.role)  # type: ignore[union-attr]
    conn.sendall(protocol.encode(protocol.Hello(0, 1, "frontend", "tandem-frontend", os.getpid(), 0,
                                                protocol.DEFAULT_MAX_FRAME, 0, protocol.DEFAULT_WINDOW)))
    conn.sendall(protocol.encode(protocol.Request(1, protocol.END, "GET", b"/", b"/", b"", "1.1",
                                                  [(b"host", b"x")], None, None, "http", b"")))
    response = recv_frame()
    note(event="response", status=response.status, body=response.body.decode())  # type: ignore[union-attr]
    if "FAKE_FRONTEND_EXIT" in os.environ:
        sys.exit(int(os.environ["FAKE_FRONTEND_EXIT"]))
    note(event="ready")
    while True:
        try:
            frame = recv_frame()
        except (EOFError, ConnectionResetError):
            # The backend closed (a reset if it closed with bytes unread).
            note(event="eof")
            while True:
                signal.pause()
        else:
            note(event="frame", type=type(frame).__name__)


if __name__ == "__main__":
    main()
