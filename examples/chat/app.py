"""A chat room over WebSockets with tandem's native API.

Run it from this folder (the frontend serves the page, the backend the room):

    PYTHONPATH=../../backend /usr/bin/python3 -m tandem app:app --serve 127.0.0.1:8080 \
        --static /static=./public --frontend ../../build/tandem-frontend

then open http://127.0.0.1:8080/ in two browser windows (the frontend serves
the page itself, ``public/index.html`` under ``/static``).  Each message a
client sends is JSON ``{"text": "..."}``; the room sends everyone
``{"from": name, "text": ...}`` and tells who joins and leaves.  One backend
process holds the room (with ``--workers N`` each worker would hold a room of
its own: a shared room needs a broker, such as Redis, between them).
"""

import json

from tandem import App, Response

app = App()

MAX_TEXT = 2000            # characters of one chat message
members: dict = {}         # the WebSockets in the room, and their names


@app.get("/")
def index(request):
    return Response(b"", status=302, headers={"location": "/static/index.html"})


async def broadcast(message: dict) -> None:
    data = json.dumps(message)
    for ws in list(members):
        try:
            await ws.send_text(data)
        except OSError:
            members.pop(ws, None)      # it closed meanwhile: its own handler says goodbye


@app.websocket("/chat/{name}")
async def chat(ws, name):
    name = name.strip()[:32]
    if not name:
        await ws.close(1008, "a name is needed")       # before accept: the client gets 403
        return
    await ws.accept()
    members[ws] = name
    await broadcast({"from": "room", "text": f"{name} joined ({len(members)} here)"})
    try:
        async for raw in ws.iter_text():
            try:
                text = str(json.loads(raw).get("text", ""))[:MAX_TEXT]
            except (ValueError, AttributeError):
                await ws.close(1003, "send JSON like {\"text\": \"hi\"}")
                break
            if text:
                await broadcast({"from": name, "text": text})
    finally:
        members.pop(ws, None)
        await broadcast({"from": "room", "text": f"{name} left"})
