"""The native-API WebSocket routes the WebSocket end-to-end tests talk to."""

import asyncio
import os

from tandem import App, HTTPException

app = App()


@app.get("/")
def index(request):
    return "ws app"


@app.websocket("/echo")
async def echo(ws):
    """Every message back, of the same kind, until the client closes."""
    await ws.accept()
    while True:
        try:
            message = await ws.receive()
        except OSError:
            return
        if isinstance(message, str):
            await ws.send_text(message)
        else:
            await ws.send_bytes(message)


@app.websocket("/size")
async def size(ws):
    """The length of each message, as text (so a large message need not come back)."""
    await ws.accept()
    async for data in ws.iter_bytes():
        await ws.send_text(str(len(data)))


@app.websocket("/pid")
async def pid(ws):
    """This backend's pid, then an echo of text."""
    await ws.accept()
    await ws.send_text(str(os.getpid()))
    async for text in ws.iter_text():
        await ws.send_text(text)


@app.websocket("/proto")
async def proto(ws):
    """Accept with the last subprotocol the client offered and a header; say what was offered."""
    offered = ws.subprotocols
    await ws.accept(subprotocol=offered[-1] if offered else None, headers={"x-room": "7"})
    await ws.send_text(",".join(offered))
    await ws.close(4001, "done")


@app.websocket("/refuse")
async def refuse(ws):
    await ws.close()


@app.websocket("/bye")
async def bye(ws):
    """Answer the first message, then close with 4000 and a reason."""
    await ws.accept()
    text = await ws.receive_text()
    await ws.send_text("bye " + text)
    await ws.close(4000, "see you")
    await asyncio.sleep(0)


@app.websocket("/crash")
async def crash(ws):
    await ws.accept()
    await ws.receive_text()
    raise RuntimeError("the handler failed")


@app.websocket("/exit")
async def exit_now(ws):
    """The backend process dies with the WebSocket open."""
    await ws.accept()
    await ws.receive_text()
    os._exit(3)


@app.websocket("/close-code")
async def close_code(ws):
    """Reports the close code the client's close arrives with, in a file named by the query."""
    await ws.accept()
    try:
        while True:
            await ws.receive()
    except OSError as exc:
        with open(ws.query_params["file"], "w") as f:
            f.write(str(exc.code))
