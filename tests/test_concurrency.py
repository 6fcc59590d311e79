"""Hundreds of clients at once, each getting its own answer."""

from __future__ import annotations

import asyncio
import json
import secrets

from e2e_support import build_request, parse_responses

CLIENTS = 300
DEADLINE = 60.0  # seconds for the whole batch; a hang fails instead of blocking the suite


async def _client(port: int, i: int, token: str, start: asyncio.Event, connected: list[int]):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    connected.append(i)
    try:
        await start.wait()
        kind = i % 3
        if kind == 0:
            writer.write(build_request("GET", f"/users/{i}?q={token}", [("Connection", "close")]))
        elif kind == 1:
            writer.write(build_request("GET", f"/delay/20?tag={token}", [("Connection", "close")]))
        else:
            writer.write(build_request("POST", "/echo", [("Connection", "close")], body=f"{i}:{token}".encode()))
        await writer.drain()
        data = await reader.read(-1)
        return kind, data
    finally:
        writer.close()


async def _run(port: int, tokens: list[str]):
    start = asyncio.Event()
    connected: list[int] = []
    tasks = [asyncio.create_task(_client(port, i, tokens[i], start, connected)) for i in range(CLIENTS)]
    # Let every client connect before any sends, so all 300 are open at once
    # (bounded: a client whose connect failed is done, and counts too).
    for _ in range(1000):
        if len(connected) + sum(t.done() for t in tasks) >= CLIENTS:
            break
        await asyncio.sleep(0.01)
    assert len(connected) == CLIENTS, f"only {len(connected)} of {CLIENTS} clients could connect"
    start.set()
    return await asyncio.gather(*tasks, return_exceptions=True)


def test_300_concurrent_clients_each_get_their_own_response(port):
    tokens = [secrets.token_hex(8) for _ in range(CLIENTS)]
    results = asyncio.run(asyncio.wait_for(_run(port, tokens), DEADLINE))
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, f"{len(errors)} clients failed, e.g. {errors[:3]!r}"
    for i, (kind, data) in enumerate(results):
        responses = parse_responses(data)
        assert len(responses) == 1, (i, data[:300])
        r = responses[0]
        if kind == 0:
            assert r.status == 200, (i, r)
            assert json.loads(r.body) == {"id": i, "q": tokens[i]}
        elif kind == 1:
            assert r.status == 200, (i, r)
            assert r.body == f"delay 20 tag={tokens[i]}".encode()
        else:
            assert r.status == 201, (i, r)
            assert r.body == f"{i}:{tokens[i]}".encode()
