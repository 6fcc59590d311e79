// The chat page's client: one WebSocket to /chat/NAME, JSON messages both ways.
"use strict";
const log = document.getElementById("log");
const say = document.getElementById("say");
const text = document.getElementById("text");
let socket = null;

function show(from, words) {
  const li = document.createElement("li");
  const who = document.createElement("b");
  who.textContent = from + ": ";
  li.append(who, words);
  log.append(li);
  li.scrollIntoView();
}

document.getElementById("join").addEventListener("submit", (event) => {
  event.preventDefault();
  const name = document.getElementById("name").value.trim();
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${scheme}//${location.host}/chat/${encodeURIComponent(name)}`);
  socket.onopen = () => { event.target.hidden = true; say.hidden = false; text.focus(); };
  socket.onmessage = (message) => { const m = JSON.parse(message.data); show(m.from, m.text); };
  socket.onclose = (close) => {
    show("room", `disconnected (${close.code}${close.reason ? ": " + close.reason : ""})`);
    say.hidden = true;
    event.target.hidden = false;
  };
});

say.addEventListener("submit", (event) => {
  event.preventDefault();
  if (socket && text.value) {
    socket.send(JSON.stringify({ text: text.value }));
    text.value = "";
  }
});
