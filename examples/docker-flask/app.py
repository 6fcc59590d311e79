"""A Flask application served by tandem, in a container of its own.

Dockerfile (next to this file) builds it FROM the tandem backend image, and
compose.yml runs it as the `backend` service of the top-level docker-compose.yml:

    docker compose build backend          # the tandem-backend image, once
    docker compose -f docker-compose.yml -f examples/docker-flask/compose.yml up --build

Your own Flask (or FastAPI, Django) project works the same way: copy Dockerfile
into it, change the packages and TANDEM_APP, and point compose.yml at it.
"""

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.get("/")
def index():
    return "Hello from Flask on tandem!\n"


@app.get("/items/<int:item_id>")
def item(item_id: int):
    return jsonify(id=item_id, q=request.args.get("q"))


@app.post("/items")
def create_item():
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return jsonify(error="expected a JSON object"), 422
    return jsonify(data), 201
