"""--record FILE: the real frontend records what it exchanges with a real backend (protocol/RECORDING.md)."""

from __future__ import annotations

import os
import signal
import stat
import struct
import subprocess
import sys

from e2e_support import APP, APPS_DIR, BACKEND_PATH, FRONTEND, PYTHON, big_body, request

sys.path.insert(0, BACKEND_PATH)

from tandem import protocol, recording  # noqa: E402


def test_a_recorded_session_decodes_into_the_frames_exchanged(make_stack, tmp_path):
    path = tmp_path / "session.rec"
    st = make_stack()
    st.start_frontend("--record", str(path))
    backend = st.start_backend()
    body = big_body(300_000)  # more than one DATA frame's worth after the REQUEST
    assert request(st.port, "GET", "/users/7").body == b'{"id":7,"q":null}'
    echoed = request(st.port, "POST", "/echo", body=body)
    assert echoed.body == body
    st.frontend.popen.send_signal(signal.SIGTERM)
    assert st.frontend.popen.wait(30) == 0
    backend.stop()

    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    convs = recording.conversations(path.read_bytes())
    (conv,) = convs.values()
    assert conv.closed and conv.complete and conv.error is None
    sent, received = conv.sent(), conv.received()
    assert isinstance(sent[0], protocol.Hello) and sent[0].role == "frontend"
    assert isinstance(received[0], protocol.Hello) and received[0].role == "backend"
    assert isinstance(sent[-1], protocol.GoAway)  # the frontend's drain on SIGTERM
    requests = {f.stream_id: f for f in sent if isinstance(f, protocol.Request)}
    users = next(r for r in requests.values() if r.target == b"/users/7")
    echo = next(r for r in requests.values() if r.target == b"/echo")
    # The request body went out as the REQUEST's first bytes and then DATA; the
    # response came back as RESPONSE and DATA: both whole, in order.
    up = echo.body + b"".join(f.data for f in sent if isinstance(f, protocol.Data) and f.stream_id == echo.stream_id)
    down = [f for f in received if getattr(f, "stream_id", 0) == echo.stream_id]
    assert up == body
    assert isinstance(down[0], protocol.Response) and down[0].status == 201
    assert down[0].body + b"".join(f.data for f in down[1:] if isinstance(f, protocol.Data)) == body
    answer = next(f for f in received if isinstance(f, protocol.Response) and f.stream_id == users.stream_id)
    assert answer.body == b'{"id":7,"q":null}'
    # Times only go forward.
    times = [f.time_ns for f in conv.frames]
    assert times == sorted(times)


def test_a_path_that_cannot_be_written_stops_the_start(tmp_path):
    proc = subprocess.run([FRONTEND, "--listen", "127.0.0.1:0", "--backend-socket", str(tmp_path / "b.sock"),
                           "--record", str(tmp_path / "no" / "such" / "dir" / "rec")],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert "--record" in proc.stderr and "No such file or directory" in proc.stderr


def test_the_printer_reads_what_the_frontend_wrote(make_stack, tmp_path):
    path = tmp_path / "session.rec"
    st = make_stack()
    st.start_frontend("--record", str(path))
    st.start_backend()
    assert request(st.port, "GET", "/users/9").status == 200
    st.frontend.popen.send_signal(signal.SIGTERM)
    assert st.frontend.popen.wait(30) == 0
    out = subprocess.run([PYTHON, "-m", "tandem.recording", str(path)], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": BACKEND_PATH}, check=True).stdout
    assert "-> Request(" in out and "target=b'/users/9'" in out and "<- Response(" in out


CHANGED_APP = '''
from tandem import App

app = App()


@app.get("/users/{user_id:int}")
def user(request, user_id):
    return {"id": user_id + 1, "q": None}
'''


def replay(path, app, app_dir, *extra):
    backend = f"{PYTHON} -m tandem {app} --app-dir {app_dir} --connect {{socket}}"
    return subprocess.run([PYTHON, "-m", "tandem.replay", str(path), "--backend", backend, "--timeout", "20",
                           *extra], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": BACKEND_PATH})


def test_a_recording_replays_into_a_backend_and_shows_what_changed(make_stack, tmp_path):
    path = tmp_path / "session.rec"
    st = make_stack()
    st.start_frontend("--record", str(path))
    backend = st.start_backend()
    body = big_body(300_000)
    assert request(st.port, "POST", "/echo", body=body).body == body
    assert request(st.port, "GET", "/users/7").status == 200
    assert request(st.port, "GET", "/boom").status == 500
    st.frontend.popen.send_signal(signal.SIGTERM)
    assert st.frontend.popen.wait(30) == 0
    backend.stop()

    # The same app answers the same (wait_backend_ready's GET / requests are in it too).
    same = replay(path, APP, APPS_DIR)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "SAME" in same.stdout and "POST /echo -> 201" in same.stdout and " 0 different" in same.stdout
    # The conformance kit's --replay is the same replay.
    backend_cmd = f"{PYTHON} -m tandem {APP} --app-dir {APPS_DIR} --connect {{socket}}"
    kit = subprocess.run([PYTHON, "-m", "tandem.conform", "--replay", str(path), "--backend", backend_cmd],
                         capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": BACKEND_PATH})
    assert kit.returncode == 0 and kit.stdout == same.stdout, kit.stdout + kit.stderr

    # A changed one: each difference is named.
    (tmp_path / "changed_app.py").write_text(CHANGED_APP)
    changed = replay(path, "changed_app:app", tmp_path)
    assert changed.returncode == 1, changed.stdout + changed.stderr
    lines = changed.stdout.splitlines()
    users = next(line for line in lines if "GET /users/7" in line)
    assert users.startswith("DIFF") and "body of 17 bytes recorded, 17 now, first difference at byte 6" in users
    echo = next(line for line in lines if "POST /echo" in line)
    assert echo.startswith("DIFF") and "status 201 recorded, 404 now" in echo


def test_a_backend_that_never_connects_is_reported(tmp_path):
    path = tmp_path / "empty.rec"
    path.write_bytes(b"TDMREC1\n")
    assert "holds no request" in replay(path, APP, APPS_DIR).stderr
    (tmp_path / "broken_app.py").write_text("raise SystemExit('no app here')\n")
    rec = tmp_path / "one.rec"
    rec.write_bytes(one_request_recording())
    result = replay(rec, "broken_app:app", tmp_path, "--timeout", "10")
    assert result.returncode == 2
    assert "exited with status" in result.stderr and "no app here" in result.stderr


def one_request_recording() -> bytes:
    req = protocol.request_frame(1, protocol.END, "GET", b"/", b"/", b"", "1.1", [b"host", b"x"], None, None,
                                 "http", b"")
    return b"TDMREC1\n" + struct.pack(">QIBI", 1, 1, recording.TO_BACKEND, len(req)) + req
