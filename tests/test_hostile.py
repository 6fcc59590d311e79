"""The hostile-input suite (tests/hostile/): every case of the corpus against the real frontend.

Each case is replayed whole, split in two at every byte boundary, and one byte
at a time (tests/hostile/runner.py), against a frontend with a static mount
and a body limit, and a backend running tests/hostile/hostile_app.py, which
records every request it sees.  The suite prints its figures at the end:
cases, byte splits, crashes, desyncs, and the frontend's peak memory.
"""

from __future__ import annotations

import os
import sys

import pytest

HOSTILE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hostile")
sys.path.insert(0, HOSTILE_DIR)

import corpus  # noqa: E402
import runner  # noqa: E402

MAX_BODY = 4096     # --max-body-size: cases over it get 413


@pytest.fixture(scope="module")
def hostile_stack(tmp_path_factory, site):
    from e2e_support import Stack

    st = Stack(str(tmp_path_factory.mktemp("hostile")), site["static"])
    try:
        st.start_frontend("--max-body-size", str(MAX_BODY))
        st.start_backend(app="hostile_app:app", app_dir=HOSTILE_DIR)
        yield st
    finally:
        st.close()


def test_every_case_file_parses():
    cases = corpus.load_cases()
    assert len(cases) >= 150, f"the corpus has {len(cases)} cases"
    assert len({c.name for c in cases}) == len(cases)


def test_corpus_every_split(hostile_stack, capsys):
    cases = corpus.load_cases()
    report = runner.run(hostile_stack.port, cases)
    frontend = hostile_stack.frontend
    crashed = 0 if frontend.alive() else 1
    rss = runner.peak_rss_kib(frontend.pid) if not crashed else 0
    with capsys.disabled():     # the figures show in every run, pass or fail
        print(f"\nhostile suite: {report.cases} cases, {report.splits} byte splits, {report.replays} replays "
              f"in {report.seconds:.1f} s; crashes {crashed}, desyncs {report.desyncs}, "
              f"other mismatches {report.mismatches}; frontend peak RSS {rss} KiB")
    failed = report.failed()
    assert not crashed, f"the frontend died:\n{hostile_stack.logs()}"
    assert not failed, "\n".join(failed)
