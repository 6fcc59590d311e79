/* ws: WebSocket connections and their streams.
 *
 * Theory of operation.  Client bytes are read into `in` and parsed
 * (ws_frame.c); a message's bytes gather, unmasked, in `part`, which goes to
 * the backend as a WS_MESSAGE part when it is full (WS_PART_MAX) or the
 * message ends, as far as the backend's window allows.  While a part waits
 * for window, or the client's output is above WS_OUT_HIGH (pongs a client
 * asks for and does not read), nothing more is parsed and the socket is not
 * read: a fast sender fills neither process.  The backend's messages go to
 * the client as they come, one WebSocket frame per WS_MESSAGE part, and the
 * window granted back is what the client socket has taken.
 *
 * Closing (PROTOCOL.md section 8): each side's close is sent once.  The
 * client's close is echoed and passed on as WS_CLOSE, then the socket ends
 * gracefully.  The backend's WS_CLOSE becomes a close frame, and the client
 * has --ws-ping-timeout to answer before the socket is dropped.  A client
 * that breaks the protocol gets the close code the parser found, and the
 * backend the same code.  The stream is forgotten once WS_CLOSE has passed
 * both ways, or when the socket closes (a backend's answer that comes later
 * is a frame for a closed stream, which upstream ignores).  The connection
 * is freed once its socket's handles have closed.
 *
 * Timer (the sock's one timeout): silence for --ws-ping-interval sends a
 * ping; no byte within --ws-ping-timeout after it, or no answer to our close
 * within it, ends the connection.
 *
 * Calls: http_conn, upstream, sock, ws_frame, ws_handshake, ctx, log and
 * the codec.
 */
#include "ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sock.h"
#include "ws_frame.h"
#include "ws_handshake.h"

#define WS_IN_CAP (128 * 1024)           /* client bytes read and not parsed yet */
#define WS_PART_MAX (64 * 1024)          /* message bytes gathered into one WS_MESSAGE part */
#define WS_OUT_HIGH (64 * 1024)          /* parse no more while this much output waits */
#define WS_OUT_CAP (4u * 1024 * 1024)    /* hard cap of the client's output */
#define WS_HEAD_CAP (64 * 1024)          /* the 101 response */
#define WS_REASON_MAX 123                /* a close reason, so that the frame is <= 125 bytes */
#define WS_KEEP_BUF (16 * 1024)          /* larger empty input buffers are freed */

typedef struct ws_conn ws_conn;
struct ws_conn {
  sock sock;                     /* the client's socket and output; owner: ws_conn */
  ws_parser parser;
  tdm_buf in;                    /* client bytes not parsed yet; owner: ws_conn */
  tdm_buf part;                  /* unmasked message bytes not sent yet; owner: ws_conn */
  uint8_t part_kind;             /* the kind of the message part holds */
  unsigned part_end : 1;         /* part holds the message's end */
  unsigned sent_close : 1;       /* our close frame is queued to the client */
  unsigned got_close : 1;        /* the client's close frame arrived */
  unsigned told_backend : 1;     /* our WS_CLOSE went to the backend */
  unsigned backend_closed : 1;   /* the backend's WS_CLOSE arrived */
  unsigned ping_out : 1;         /* a ping waits for any sign of life */
  upstream_conn *up;             /* NULL once the stream is over */
  uint32_t sid;
  int64_t send_window;           /* message bytes the backend will take */
  uint32_t unacked;              /* the backend's bytes received, not granted back */
  uint8_t out_kind;              /* the kind of the backend's message under way, 0 if none */
  char peer[80];                 /* "host:port", for the log */
  ws_conn *prev, *next;          /* every connection, for shutdown */
};

static tdm_ctx *ctx;                     /* given by ws_init(); not owned */
static void (*gone_cb)(void *arg);
static void *gone_arg;
static ws_conn *all;
static int nconns;

static const upstream_stream_cb ws_stream_cb;
static const sock_cb ws_sock_cb;

static void ws_process(ws_conn *ws);

/* ---- output to the client -------------------------------------------------- */

/* Queues one frame; a client whose output passes WS_OUT_CAP is dropped. */
static void ws_send_frame(ws_conn *ws, int fin, unsigned opcode, const void *data, size_t len) {
  unsigned char hdr[WS_HEADER_MAX];
  size_t n = ws_frame_header(hdr, fin, opcode, len);
  tdm_buf *out = sock_out(&ws->sock);

  if (ws->sock.closing)
    return;
  if (tdm_buf_append(out, hdr, n) != 0 || tdm_buf_append(out, data, len) != 0) {
    log_warn("websocket %s: output over %u bytes, closing", ws->peer, WS_OUT_CAP);
    out->len = 0;
    sock_close(&ws->sock);      /* ws_on_closed tells the backend */
    return;
  }
  sock_flush_soon(&ws->sock);
}

/* The longest prefix of s[0..len) of at most max bytes that does not cut a
 * UTF-8 sequence. */
static size_t utf8_prefix(const char *s, size_t len, size_t max) {
  if (len <= max)
    return len;
  while (max > 0 && ((unsigned char) s[max] & 0xC0) == 0x80)
    max--;
  return max;
}

/* Our close frame, once: 1005 sends none of a code, an invalid wire code
 * becomes 1011.  The client has --ws-ping-timeout to answer. */
static void ws_send_close(ws_conn *ws, unsigned code, const char *reason, size_t rlen) {
  unsigned char body[2 + WS_REASON_MAX];
  size_t n = 0;

  if (ws->sent_close)
    return;
  ws->sent_close = 1;
  if (code != WS_CLOSE_NO_STATUS) {
    if (!ws_close_code_valid(code))
      code = WS_CLOSE_INTERNAL;
    body[0] = (unsigned char) (code >> 8);
    body[1] = (unsigned char) code;
    n = reason != NULL ? utf8_prefix(reason, rlen, WS_REASON_MAX) : 0;
    if (n > 0)
      memcpy(body + 2, reason, n);
    n += 2;
  }
  ws_send_frame(ws, 1, WS_OP_CLOSE, body, n);
  sock_timeout(&ws->sock, ctx->cfg->ws_ping_timeout_ms);
}

/* ---- the stream -------------------------------------------------------------- */

static void ws_stream_over(ws_conn *ws) {
  upstream_stream_done(ws->up, ws->sid);
  ws->up = NULL;
}

/* Our WS_CLOSE, once; the stream is over if the backend's came already. */
static void ws_tell_backend(ws_conn *ws, unsigned code, const char *reason, size_t rlen) {
  tdm_frame f;

  if (ws->up == NULL || ws->told_backend)
    return;
  ws->told_backend = 1;
  memset(&f, 0, sizeof(f));
  f.type = TDM_WS_CLOSE;
  f.stream_id = ws->sid;
  f.u.ws_close.code = code;
  f.u.ws_close.reason.ptr = reason;
  f.u.ws_close.reason.len = reason != NULL ? (uint32_t) utf8_prefix(reason, rlen, WS_REASON_MAX) : 0;
  upstream_send(ws->up, &f);
  if (ws->backend_closed)
    ws_stream_over(ws);
}

/* Whether client messages still go to the backend. */
static int ws_forwarding(const ws_conn *ws) {
  return ws->up != NULL && !ws->told_backend && !ws->backend_closed && !ws->sent_close;
}

/* Sends what the window allows of part once it holds a message's end or is
 * full (so that a message split into many small frames travels in few
 * parts).  Returns 1 if parsing may go on, 0 if part is full and waits for
 * window. */
static int ws_flush_part(ws_conn *ws) {
  if (!ws->part_end && ws->part.len < WS_PART_MAX)
    return 1;
  while (ws->part.len > 0 || ws->part_end) {
    size_t n = ws->part.len, max;
    tdm_frame f;
    int end;
    if (!ws_forwarding(ws)) {
      ws->part.len = 0;          /* the backend is closing: dropped */
      ws->part_end = 0;
      return 1;
    }
    max = upstream_max_body(ws->up, 32);
    if (n > max)
      n = max;
    if ((int64_t) n > ws->send_window)
      n = ws->send_window > 0 ? (size_t) ws->send_window : 0;
    end = ws->part_end && n == ws->part.len;
    if (n == 0 && !end)
      return ws->part.len < WS_PART_MAX;
    memset(&f, 0, sizeof(f));
    f.type = TDM_WS_MESSAGE;
    f.stream_id = ws->sid;
    f.u.ws_message.flags = end ? TDM_FLAG_END : 0;
    f.u.ws_message.kind = ws->part_kind;
    f.u.ws_message.data.ptr = n > 0 ? ws->part.base : NULL;
    f.u.ws_message.data.len = (uint32_t) n;
    if (upstream_send(ws->up, &f) != 0) {
      ws->part.len = 0;
      ws->part_end = 0;
      return 1;
    }
    ws->send_window -= n;
    tdm_buf_consume(&ws->part, n);
    if (end)
      ws->part_end = 0;
  }
  return 1;
}

/* The backend broke a rule of the stream: it is cancelled, the client gets 1011. */
static void ws_stream_error(ws_conn *ws, const char *why) {
  log_warn("websocket %s: backend stream %u: %s; closing with 1011", ws->peer, (unsigned) ws->sid, why);
  upstream_cancel(ws->up, ws->sid, TDM_CANCEL_INTERNAL);
  ws->up = NULL;
  ws_send_close(ws, WS_CLOSE_INTERNAL, "backend error", 13);
  sock_end(&ws->sock);
}

static int ws_on_message(ws_conn *ws, const tdm_ws_message *m) {
  int fin = (m->flags & TDM_FLAG_END) != 0;

  if (ws->unacked + (uint64_t) m->data.len > UPSTREAM_WINDOW)
    return UV_ENOBUFS;
  if (m->kind != TDM_WS_TEXT && m->kind != TDM_WS_BINARY) {
    ws_stream_error(ws, "WS_MESSAGE of an unknown kind");
    return 0;
  }
  if (ws->backend_closed || (ws->out_kind != 0 && ws->out_kind != m->kind)) {
    ws_stream_error(ws, ws->backend_closed ? "WS_MESSAGE after WS_CLOSE" : "WS_MESSAGE parts of two kinds");
    return 0;
  }
  if (ws->sent_close) {
    /* Crossed our close: dropped, and its window given back at once. */
    if (m->data.len > 0 && !ws->told_backend)
      upstream_send_window(ws->up, ws->sid, m->data.len);
    return 0;
  }
  ws->unacked += m->data.len;
  ws_send_frame(ws, fin, ws->out_kind != 0 ? WS_OP_CONT : m->kind, m->data.ptr, m->data.len);
  ws->out_kind = fin ? 0 : (uint8_t) m->kind;
  return 0;
}

static int ws_on_ws(void *owner, const tdm_frame *f) {
  ws_conn *ws = owner;

  switch (f->type) {
  case TDM_WS_MESSAGE:
    return ws_on_message(ws, &f->u.ws_message);
  case TDM_WS_CLOSE:
    ws->backend_closed = 1;
    if (ws->told_backend) {
      ws_stream_over(ws);
      return 0;
    }
    ws_send_close(ws, f->u.ws_close.code, f->u.ws_close.reason.ptr, f->u.ws_close.reason.len);
    /* Input held back for the backend's window is dropped now, and reading
     * goes on: the client's answer to the close is behind it. */
    ws_process(ws);
    return 0;
  default:
    ws_stream_error(ws, "a second WS_ACCEPT");
    return 0;
  }
}

static int ws_on_response(void *owner, const tdm_response *resp) {
  (void) resp;
  ws_stream_error(owner, "RESPONSE on an open WebSocket");
  return 0;
}

static int ws_on_data(void *owner, const tdm_data *data) {
  (void) data;
  ws_stream_error(owner, "DATA on an open WebSocket");
  return 0;
}

static void ws_on_window(void *owner, uint32_t increment) {
  ws_conn *ws = owner;

  ws->send_window += increment;
  ws_process(ws);
}

/* The stream ended without a close (already forgotten by upstream). */
static void ws_backend_gone(ws_conn *ws, const char *why) {
  log_info("websocket %s: %s; closing with 1011", ws->peer, why);
  ws->up = NULL;
  ws_send_close(ws, WS_CLOSE_INTERNAL, "backend went away", 17);
  sock_end(&ws->sock);
}

static void ws_on_cancel(void *owner, uint32_t code) {
  (void) code;
  ws_backend_gone(owner, "the backend cancelled the stream");
}

static void ws_on_lost(void *owner, upstream_conn *up, uint32_t sid) {
  ws_conn *ws = owner;

  if (ws->up == up && ws->sid == sid)
    ws_backend_gone(ws, "the backend's connection closed");
}

static const upstream_stream_cb ws_stream_cb = {
  .on_response = ws_on_response,
  .on_data = ws_on_data,
  .on_window = ws_on_window,
  .on_cancel = ws_on_cancel,
  .on_lost = ws_on_lost,
  .on_ws = ws_on_ws,
};

/* ---- input from the client --------------------------------------------------- */

/* The client broke the protocol: close code, and the backend hears the same. */
static void ws_fail(ws_conn *ws, unsigned code, const char *why) {
  log_info("websocket %s: %s; closing with %u", ws->peer, why, code);
  ws_tell_backend(ws, code, why, strlen(why));
  ws_send_close(ws, code, why, strlen(why));
  sock_end(&ws->sock);
}

static void ws_control(ws_conn *ws, const ws_event *ev) {
  const char *reason = ev->len > 2 ? (const char *) ev->payload + 2 : NULL;
  size_t rlen = ev->len > 2 ? ev->len - 2 : 0;

  switch (ev->opcode) {
  case WS_OP_PING:
    if (!ws->sent_close)
      ws_send_frame(ws, 1, WS_OP_PONG, ev->payload, ev->len);
    break;
  case WS_OP_CLOSE:
    ws->got_close = 1;
    ws_send_close(ws, ev->close_code, NULL, 0);     /* the echo, if we did not close first */
    ws_tell_backend(ws, ev->close_code, reason, rlen);
    sock_end(&ws->sock);
    break;
  default:
    break;                       /* a pong: any byte read counts as life already */
  }
}

/* Parses what has been read, as far as the backend's window and the
 * client's output allow; reading goes on only once all of it is used. */
static void ws_process(ws_conn *ws) {
  size_t off = 0;
  ws_event ev;

  while (!ws->sock.closing) {
    size_t n;
    if (!ws_flush_part(ws) || sock_pending(&ws->sock) > WS_OUT_HIGH)
      break;
    if (off == ws->in.len || ws->parser.failed || ws->got_close)
      break;
    n = ws_parse(&ws->parser, (const unsigned char *) ws->in.base + off, ws->in.len - off, &ws->part,
                 WS_PART_MAX - ws->part.len, &ev);
    off += n;
    if (ws->parser.msg_opcode != 0)
      ws->part_kind = ws->parser.msg_opcode;
    if (ev.kind == WS_EV_MESSAGE_END) {
      ws->part_kind = ev.opcode;
      ws->part_end = 1;
    } else if (ev.kind == WS_EV_CONTROL) {
      ws_control(ws, &ev);
    } else if (ev.kind == WS_EV_ERROR) {
      ws_fail(ws, ev.close_code, ev.why);
    } else if (n == 0 && ws->part.len < WS_PART_MAX) {
      break;
    }
  }
  if (ws->sock.closing)
    return;
  tdm_buf_consume(&ws->in, off);
  /* An idle connection keeps no buffer a large message grew. */
  if (ws->in.len == 0 && ws->in.size > WS_KEEP_BUF)
    tdm_buf_free(&ws->in);
  if (ws->part.len == 0 && !ws->part_end && ws->part.size > WS_KEEP_BUF)
    tdm_buf_free(&ws->part);
  if (ws->in.len == 0 && !ws->got_close && !ws->parser.failed)
    sock_read_start(&ws->sock);
  else
    sock_read_stop(&ws->sock);
}

/* Silence for --ws-ping-interval, then a ping (none while closing). */
static void ws_arm(ws_conn *ws) {
  if (ws->sent_close || ws->sock.ending)
    return;
  if (ctx->cfg->ws_ping_interval_ms > 0)
    sock_timeout(&ws->sock, ctx->cfg->ws_ping_interval_ms);
  else
    sock_timeout_stop(&ws->sock);
}

static void ws_on_read(void *owner, const char *data, size_t len) {
  ws_conn *ws = owner;

  ws->ping_out = 0;
  ws_arm(ws);
  if (ws->got_close || ws->parser.failed)
    return;                      /* nothing is read after a close */
  if (tdm_buf_append(&ws->in, data, len) != 0) {
    log_warn("websocket %s: input over %d bytes, closing", ws->peer, WS_IN_CAP);
    sock_close(&ws->sock);
    return;
  }
  ws_process(ws);
}

/* ---- lifetime ------------------------------------------------------------------ */

static void ws_unlink(ws_conn *ws) {
  if (ws->prev != NULL)
    ws->prev->next = ws->next;
  else
    all = ws->next;
  if (ws->next != NULL)
    ws->next->prev = ws->prev;
  nconns--;
  gone_cb(gone_arg);
}

/* Closes the socket now; the backend hears 1006 if it has heard nothing. */
static void ws_close_now(ws_conn *ws) {
  if (ws->sock.closing)
    return;
  sock_close(&ws->sock);
}

static void ws_on_end(void *owner, int err) {
  ws_conn *ws = owner;

  if (err < 0 && err != UV_EOF)
    log_debug("websocket %s: read: %s", ws->peer, uv_strerror(err));
  ws_close_now(ws);
}

static void ws_on_written(void *owner, int status) {
  ws_conn *ws = owner;
  size_t unsent = sock_unwritten(&ws->sock);

  if (status < 0) {
    ws_close_now(ws);
    return;
  }
  /* Only bytes written are given back (PROTOCOL.md section 4). */
  if (ws->up != NULL && !ws->told_backend && !ws->backend_closed && ws->unacked > unsent) {
    upstream_send_window(ws->up, ws->sid, ws->unacked - (uint32_t) unsent);
    ws->unacked = (uint32_t) unsent;
  }
  if (ws->in.len > 0 || ws->part.len > 0 || ws->part_end)
    ws_process(ws);
}

static void ws_on_timeout(void *owner) {
  ws_conn *ws = owner;
  static const char ping[] = "tandem";

  if (ws->sent_close || ws->sock.ending) {
    log_debug("websocket %s: no close from the client in time", ws->peer);
    ws_close_now(ws);
  } else if (ws->ping_out) {
    log_info("websocket %s: no answer to a ping within %u s; closing", ws->peer,
             ctx->cfg->ws_ping_timeout_ms / 1000);
    ws_tell_backend(ws, WS_CLOSE_ABNORMAL, "ping timeout", 12);
    ws_send_close(ws, WS_CLOSE_INTERNAL, "ping timeout", 12);
    sock_end(&ws->sock);
  } else {
    ws_send_frame(ws, 1, WS_OP_PING, ping, sizeof(ping) - 1);
    ws->ping_out = 1;
    sock_timeout(&ws->sock, ctx->cfg->ws_ping_timeout_ms);
  }
}

/* The sock's handles are closed: the stream ends (1006 if the backend has
 * heard no close), and the connection is freed. */
static void ws_on_closed(void *owner) {
  ws_conn *ws = owner;

  ws_tell_backend(ws, WS_CLOSE_ABNORMAL, NULL, 0);
  if (ws->up != NULL)
    ws_stream_over(ws);
  ws_unlink(ws);
  tdm_buf_free(&ws->in);
  tdm_buf_free(&ws->part);
  free(ws);
}

static const sock_cb ws_sock_cb = {
  .on_read = ws_on_read,
  .on_end = ws_on_end,
  .on_written = ws_on_written,
  .on_timeout = ws_on_timeout,
  .on_closed = ws_on_closed,
};

int ws_start(http_req *req, const char *key, upstream_conn *up, uint32_t sid, const tdm_ws_accept *a) {
  ws_conn *ws = calloc(1, sizeof(*ws));   /* owner: itself, freed in ws_on_closed */
  const char *why = NULL, *date;
  tdm_buf head;                           /* the 101; owner: here */
  size_t date_len;
  int fd;

  if (ws == NULL)
    return UV_ENOMEM;
  tdm_buf_init(&head, WS_HEAD_CAP);
  date = ctx_date_line(ctx, &date_len);
  if (ws_handshake_accept(&head, key, a, date, date_len, &why) != 0) {
    log_warn("backend's WebSocket accept on stream %u: %s", (unsigned) sid, why);
    fd = UV_EINVAL;
    goto fail_head;
  }
  snprintf(ws->peer, sizeof(ws->peer), "%s", http_req_peer(req));
  fd = http_req_detach(req);
  if (fd < 0)
    goto fail_head;
  /* req and its connection are gone: from here on the stream is ours. */
  tdm_buf_init(&ws->in, WS_IN_CAP);
  tdm_buf_init(&ws->part, WS_PART_MAX);
  ws_parser_init(&ws->parser, ctx->cfg->ws_max_message);
  ws->up = up;
  ws->sid = sid;
  ws->send_window = upstream_peer_window(up);
  upstream_rebind(up, sid, &ws_stream_cb, ws);
  ws->next = all;
  if (all != NULL)
    all->prev = ws;
  all = ws;
  nconns++;
  sock_init(&ws->sock, ctx, &ws_sock_cb, ws, WS_OUT_CAP);
  if (sock_open_fd(&ws->sock, fd) != 0) {
    close(fd);
    ws_close_now(ws);
  } else if (tdm_buf_append(sock_out(&ws->sock), head.base, head.len) != 0) {
    ws_close_now(ws);
  } else {
    log_debug("websocket %s: open on backend pid %d stream %u", ws->peer, upstream_pid(up), (unsigned) sid);
    sock_flush_soon(&ws->sock);
    ws_arm(ws);
    if (sock_read_start(&ws->sock) != 0)
      ws_close_now(ws);
  }
  tdm_buf_free(&head);
  return 0;

fail_head:
  tdm_buf_free(&head);
  free(ws);
  return fd;
}

/* ---- the module ------------------------------------------------------------------ */

void ws_init(tdm_ctx *x, void (*conn_gone)(void *arg), void *arg) {
  ctx = x;
  gone_cb = conn_gone;
  gone_arg = arg;
}

int ws_count(void) {
  return nconns;
}

void ws_stop_all(void) {
  static const char why[] = "server shutting down";

  for (ws_conn *ws = all; ws != NULL; ws = ws->next) {
    ws_tell_backend(ws, WS_CLOSE_GOING_AWAY, why, sizeof(why) - 1);
    ws_send_close(ws, WS_CLOSE_GOING_AWAY, why, sizeof(why) - 1);
  }
}

void ws_close_all(void) {
  for (ws_conn *ws = all; ws != NULL; ws = ws->next)
    ws_close_now(ws);
}
