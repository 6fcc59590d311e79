"""The pieces of `make bench` (benchmark/run.py), one concern per module.

- ``procs``: server processes (own session, stopped as a group), their CPU time and
  memory from /proc, free ports, waiting for an answer;
- ``servers``: how each kind of server is started (tandem, uvicorn, gunicorn,
  nginx + uWSGI, nginx alone), each in the run's temporary directory;
- ``scenarios``: the requests (one row each) and the bytes every contender must answer;
- ``contenders``: the table of contenders, one row each;
- ``wrk``: one bounded wrk run and its parsed output;
- ``measure``: checks, warm-up, interleaved rounds, progress, and the one-frontend ceiling;
- ``report``: medians and ranges, results.md, results.json, the README's summary table;
- ``chart``: chart.png;
- ``versions``: what was measured, by version.
"""
