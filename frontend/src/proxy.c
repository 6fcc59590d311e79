/* proxy: requests sent to a backend, responses brought back.
 *
 * Theory of operation.  A request routed here gets a proxy_stream (from a
 * pool) as its handler data.  If a backend has room it gets a stream there
 * at once; if not, it waits in the wait queue, its connection's parser held
 * after its head, until a backend frees up or --backend-wait passes.  Its
 * REQUEST goes out as soon as the request has a stream, with as much of the
 * body as has been read and fits the backend's window; the rest follows as
 * DATA when the connection reads it and the window allows.  The response
 * goes to the client as it arrives, and the window we grant the backend is
 * given back only as the client takes the bytes.  Timers: the wait queue
 * (--backend-wait) and the active list (--request-timeout without a frame
 * on the stream).
 *
 * A stream's states are those of PROTOCOL.md section 3, seen from the
 * frontend, with two before it: the request waits for a backend, or has a
 * stream id whose REQUEST has not gone out yet.  Every change of state goes
 * through ps_step() and the table below it; a frame the table does not allow
 * in the stream's state is a stream error for the backend.
 *
 * A valid WebSocket handshake goes to a backend that speaks WebSockets as
 * REQUEST with WEBSOCKET; if the backend accepts, ws.c takes the connection
 * and the stream over (ps_on_ws); a backend that does not speak them
 * gets the request as plain HTTP, as before (PROTOCOL.md section 8).
 *
 * Calls: http_conn (the request and its response), upstream (the stream),
 * static (a backend's FILE response), ws and ws_handshake (WebSockets),
 * access_log (which backend took the request, and when), metrics (timeouts,
 * cancels), ctx, config, log and the codec.
 */
#include "proxy.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <llhttp.h>

#include "access_log.h"
#include "http_head.h"
#include "log.h"
#include "metrics.h"
#include "static.h"
#include "upstream.h"
#include "ws.h"
#include "ws_handshake.h"

#define PROXY_REPLAY_MAX (64 * 1024)     /* largest REQUEST frame kept for a re-send */
#define PROXY_POOL_MAX 256               /* idle proxy_streams kept for reuse */

enum ps_state {
  PS_WAITING,                    /* no backend had room: in the wait queue */
  PS_RESERVED,                   /* a stream id is ours; REQUEST not sent */
  PS_OPEN,                       /* REQUEST sent; both directions open */
  PS_HALF_REQ,                   /* the request ended (END sent) */
  PS_HALF_RESP,                  /* the response ended (END received) */
  PS_CLOSED,                     /* both ended, or cancelled, or the backend gone */
  PS_NSTATES
};

enum ps_event {
  PE_DISPATCH,                   /* a backend gave it a stream id */
  PE_SEND_HEAD,                  /* REQUEST sent */
  PE_SEND_END,                   /* the request's END sent (on REQUEST or DATA) */
  PE_RECV_END,                   /* the response's END received (RESPONSE or DATA) */
  PE_CLOSE,                      /* cancelled either way, the backend gone, or released */
  PE_NEVENTS
};

#define BAD PS_NSTATES
static const uint8_t ps_next[PS_NSTATES][PE_NEVENTS] = {
  /*                DISPATCH     SEND_HEAD  SEND_END     RECV_END      CLOSE */
  [PS_WAITING]   = {PS_RESERVED, BAD,       BAD,         BAD,          PS_CLOSED},
  [PS_RESERVED]  = {BAD,         PS_OPEN,   BAD,         BAD,          PS_CLOSED},
  [PS_OPEN]      = {BAD,         BAD,       PS_HALF_REQ, PS_HALF_RESP, PS_CLOSED},
  [PS_HALF_REQ]  = {BAD,         BAD,       BAD,         PS_CLOSED,    PS_CLOSED},
  [PS_HALF_RESP] = {BAD,         BAD,       PS_CLOSED,   BAD,          PS_CLOSED},
  [PS_CLOSED]    = {BAD,         BAD,       BAD,         BAD,          PS_CLOSED},
};

typedef struct proxy_stream proxy_stream;
struct proxy_stream {
  http_req *req;
  enum ps_state state;
  upstream_conn *up;             /* NULL when no stream is open */
  uint32_t sid;
  int64_t send_window;           /* request body bytes the backend will take */
  uint32_t unacked;              /* response body bytes received, not yet granted back */
  unsigned ws : 1;               /* a valid WebSocket handshake */
  unsigned ws_sent : 1;          /* sent with WEBSOCKET: its backend may accept it */
  char ws_key[WS_KEY_LEN + 1];   /* its Sec-WebSocket-Key, kept for the 101 (the head may be gone by then) */
  tdm_buf replay;                /* the REQUEST frame of an idempotent request, kept until
                                    its response starts, to re-send it if its backend dies;
                                    owner: this proxy_stream */
  /* In one of two lists, both ordered by time: the wait queue (until
   * `deadline`) or the active list (`deadline` is the last exchange on its
   * stream plus --request-timeout). */
  proxy_stream *lprev, *lnext;
  struct ps_list *list;
  uint64_t deadline;
  proxy_stream *next_free;
};

/* A list ordered by deadline, and the timer that fires at the first one.
 * Appending keeps the order because every deadline in one list is now plus
 * the same timeout. */
struct ps_list {
  proxy_stream *head, *tail;
  unsigned len;
  uv_timer_t timer;
  int timer_ready;
};

static tdm_ctx *ctx;                     /* given by proxy_init(); not owned */
static struct ps_list wait_queue;        /* PS_WAITING streams */
static struct ps_list active;            /* streams at a backend */
static flushable dispatcher;             /* hands waiting requests to backends */
static proxy_stream *pool;
static int pool_len;
static tdm_decoder replay_dec;           /* decodes kept REQUEST frames again */
static tdm_buf replay_scratch;           /* the re-sent frame's new copy */
static int replay_ready;

static const http_handler proxy_handler;
static const upstream_stream_cb stream_cb;

static void ps_forward_body(proxy_stream *ps);

/* Moves ps to the state event leads to.  Returns UV_EPROTO, changing
 * nothing, if the table does not allow event in ps's state. */
static int ps_step(proxy_stream *ps, enum ps_event event) {
  uint8_t next = ps_next[ps->state][event];

  if (next == BAD)
    return UV_EPROTO;
  ps->state = (enum ps_state) next;
  return 0;
}

static int ps_response_ended(const proxy_stream *ps) {
  return ps->state == PS_HALF_RESP || ps->state == PS_CLOSED;
}

/* ---- the pool --------------------------------------------------------------- */

/* Owner of the result: the request it is attached to, until proxy_release. */
static proxy_stream *ps_get(http_req *req) {
  proxy_stream *ps = pool;

  if (ps != NULL) {
    pool = ps->next_free;
    pool_len--;
  } else {
    ps = calloc(1, sizeof(*ps));
    if (ps == NULL)
      return NULL;
    tdm_buf_init(&ps->replay, PROXY_REPLAY_MAX);
  }
  ps->req = req;
  ps->state = PS_WAITING;
  ps->up = NULL;
  ps->sid = 0;
  ps->send_window = 0;
  ps->unacked = 0;
  ps->ws = ps->ws_sent = 0;
  ps->replay.len = 0;
  ps->lprev = ps->lnext = NULL;
  ps->list = NULL;
  ps->next_free = NULL;
  return ps;
}

static void ps_put(proxy_stream *ps) {
  ps->req = NULL;
  if (pool_len == PROXY_POOL_MAX || ps->replay.size > PROXY_REPLAY_MAX) {
    tdm_buf_free(&ps->replay);
    free(ps);
    return;
  }
  ps->next_free = pool;
  pool = ps;
  pool_len++;
}

/* ---- the wait queue and the request timeout ------------------------------- */

static void list_unlink(proxy_stream *ps) {
  struct ps_list *l = ps->list;

  if (l == NULL)
    return;
  if (ps->lprev != NULL)
    ps->lprev->lnext = ps->lnext;
  else
    l->head = ps->lnext;
  if (ps->lnext != NULL)
    ps->lnext->lprev = ps->lprev;
  else
    l->tail = ps->lprev;
  ps->lprev = ps->lnext = NULL;
  ps->list = NULL;
  l->len--;
}

static void list_on_timer(uv_timer_t *t);

/* Puts ps at the tail of l with a deadline timeout_ms from now (moving it
 * there if it is in l already). */
static void list_append(struct ps_list *l, proxy_stream *ps, unsigned timeout_ms) {
  list_unlink(ps);
  ps->deadline = uv_now(ctx->loop) + timeout_ms;
  ps->list = l;
  ps->lprev = l->tail;
  ps->lnext = NULL;
  if (l->tail != NULL)
    l->tail->lnext = ps;
  else
    l->head = ps;
  l->tail = ps;
  l->len++;
  if (!l->timer_ready) {
    uv_timer_init(ctx->loop, &l->timer);
    l->timer.data = l;
    l->timer_ready = 1;
  }
  /* The timer runs while the list is not empty; a stale earlier expiry just
   * finds nothing due and re-arms. */
  if (!uv_is_active((uv_handle_t *) &l->timer))
    uv_timer_start(&l->timer, list_on_timer, timeout_ms, 0);
}

/* The stream had traffic: push its deadline back. */
static void ps_touch(proxy_stream *ps) {
  if (ps->list == &active)
    list_append(&active, ps, ctx->cfg->request_timeout_ms);
}

static int ps_in_flight(const proxy_stream *ps) {
  return ps->up != NULL && !ps_response_ended(ps);
}

static void ps_timed_out(proxy_stream *ps);
static void ps_wait_expired(proxy_stream *ps);

static void list_on_timer(uv_timer_t *t) {
  struct ps_list *l = t->data;
  uint64_t now = uv_now(ctx->loop);
  proxy_stream *ps;

  while ((ps = l->head) != NULL) {
    if (l == &active && !ps_in_flight(ps)) {
      list_unlink(ps);        /* answered since; nothing to time */
      continue;
    }
    if (ps->deadline > now) {
      uv_timer_start(t, list_on_timer, ps->deadline - now, 0);
      return;
    }
    list_unlink(ps);
    if (l == &active) {
      metrics.request_timeouts++;
      ps_timed_out(ps);
    } else {
      metrics.wait_timeouts++;
      ps_wait_expired(ps);
    }
  }
}

/* ---- streams ----------------------------------------------------------------- */

/* Drops ps's stream, telling the backend if it knows the stream and it is
 * still open.  The request's body, if any is still coming, is dropped. */
static void ps_release_stream(proxy_stream *ps, uint32_t code) {
  if (ps->up != NULL) {
    /* A stream whose REQUEST never went out is unknown to the backend, which
     * would take a CANCEL for it as a protocol error (PROTOCOL.md section 5). */
    if (ps->state == PS_CLOSED || ps->state == PS_RESERVED)
      upstream_stream_done(ps->up, ps->sid);
    else
      upstream_cancel(ps->up, ps->sid, code);
    ps->up = NULL;
  }
  ps_step(ps, PE_CLOSE);
  http_req_drop_body(ps->req);
}

/* Gives ps a stream at up. */
static int ps_dispatch(proxy_stream *ps, upstream_conn *up) {
  int64_t sid = upstream_open_stream(up, &stream_cb, ps);

  if (sid < 0)
    return (int) sid;
  ps_step(ps, PE_DISPATCH);
  ps->up = up;
  ps->sid = (uint32_t) sid;
  ps->send_window = upstream_peer_window(up);
  access_req_backend(http_req_access(ps->req), upstream_pid(up), upstream_generation(up));
  http_req_take_body(ps->req);
  if (ctx->cfg->request_timeout_ms > 0)
    list_append(&active, ps, ctx->cfg->request_timeout_ms);
  /* A client waiting for "100 Continue" before it sends its body gets it now
   * that a backend will take the body. */
  http_req_continue(ps->req);
  return 0;
}

/* Runs from the loop's flush, outside any callback: while backends have
 * room, the oldest waiting requests get it, and their connections read on. */
static void dispatcher_on_flush(flushable *f) {
  (void) f;
  while (wait_queue.head != NULL) {
    proxy_stream *ps = wait_queue.head;
    http_req *req = ps->req;
    upstream_conn *up = upstream_pick();
    if (up == NULL)
      return;
    list_unlink(ps);
    if (ps_dispatch(ps, up) != 0) {
      /* Off the queue, its parser held and no timer running: it must be
       * answered now or it would wait for ever. */
      ps_wait_expired(ps);
      continue;
    }
    /* Its REQUEST goes out now, in the order of stream ids, even if its
     * connection cannot read on yet (its pipeline is full): a stream opened
     * later for another client must not reach the backend first. */
    ps_forward_body(ps);
    http_req_unhold(req);
  }
}

static void proxy_on_capacity(void *arg) {
  (void) arg;
  if (wait_queue.head != NULL) {
    dispatcher.flush = dispatcher_on_flush;
    ctx_schedule_flush(ctx, &dispatcher);
  }
}

/* "GET /path (id ID, client HOST:PORT, stream N)" for a log line about ps's
 * request; the path is the raw one, without the query, cut at 200 bytes. */
static const char *ps_describe(const proxy_stream *ps) {
  static char line[512];
  size_t plen, idlen;
  const char *path = http_req_raw_path(ps->req, &plen), *id = http_req_id(ps->req, &idlen);

  snprintf(line, sizeof(line), "%s %.*s (id %s, client %s, stream %u)",
           llhttp_method_name((llhttp_method_t) http_req_method(ps->req)), (int) (plen > 200 ? 200 : plen),
           path != NULL ? path : "", id != NULL ? id : "-", http_req_peer(ps->req), (unsigned) ps->sid);
  return line;
}

/* --request-timeout passed without a frame on ps's stream. */
static void ps_timed_out(proxy_stream *ps) {
  http_req *req = ps->req;

  log_warn("%s: no answer from the backend within %u s; answering 504", ps_describe(ps),
           ctx->cfg->request_timeout_ms / 1000);
  ps_release_stream(ps, TDM_CANCEL_TIMEOUT);
  http_req_local(req, 504, NULL, "Gateway Timeout: the application did not answer in time\n", 0);
}

/* No backend could take req: 503, saying why. */
static void req_unavailable(http_req *req) {
  http_req_local(req, 503, "retry-after: 1\r\n", upstream_connected() ?
                 "Service Unavailable: every backend is busy\n" :
                 "Service Unavailable: no backend is connected\n", 0);
}

/* --backend-wait passed and no backend took ps's request. */
static void ps_wait_expired(proxy_stream *ps) {
  http_req *req = ps->req;

  req_unavailable(req);
  /* Its body, if any, is read and dropped. */
  http_req_unhold(req);
}

int proxy_request(http_req *req) {
  const char *why = NULL;
  int ws = ws_handshake_check(http_req_head(req), http_req_method(req), &why);
  proxy_stream *ps;
  upstream_conn *up;

  if (ws > 1) {
    char body[128];
    snprintf(body, sizeof(body), "%s: %s\n", ws == 426 ? "Upgrade Required" : "Bad Request", why);
    /* A 426 names the protocol to upgrade to (RFC 9110 section 15.5.22) and
     * the version to use (RFC 6455 section 4.4). */
    http_req_local(req, ws, ws == 426 ? "upgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-version: 13\r\n" :
                   NULL, body, 0);
    return 0;
  }
  ps = ps_get(req);
  if (ps == NULL) {
    http_req_local(req, 503, "retry-after: 1\r\n", "Service Unavailable: out of memory\n", 0);
    return 0;
  }
  http_req_set_handler(req, &proxy_handler, ps);
  access_req_route(http_req_access(req), ROUTE_DYNAMIC);
  ps->ws = ws == 1;
  if (ps->ws)
    ws_handshake_key(http_req_head(req), ps->ws_key);
  /* Requests already waiting go first. */
  up = wait_queue.head == NULL ? upstream_pick() : NULL;
  if (up != NULL && ps_dispatch(ps, up) == 0)
    return 0;
  if (ctx->cfg->backend_wait_ms > 0 && wait_queue.len < ctx->cfg->backend_queue && !ctx->stopping) {
    list_append(&wait_queue, ps, ctx->cfg->backend_wait_ms);
    http_req_hold(req);
    return 1;
  }
  req_unavailable(req);
  return 0;
}

/* ---- the request's handler ------------------------------------------------ */

static void proxy_on_writable(http_req *req) {
  proxy_stream *ps = http_req_handler_data(req);
  size_t unsent = http_req_unsent(req);

  /* Only bytes written are given back (PROTOCOL.md section 4): those still
   * waiting for a write, at most `unsent`, wait for the write that takes them. */
  if (ps->up != NULL && !ps_response_ended(ps) && ps->unacked > unsent) {
    uint32_t grant = ps->unacked - (uint32_t) unsent;
    upstream_send_window(ps->up, ps->sid, grant);
    ps->unacked -= grant;
  }
}

static void proxy_on_body(http_req *req) {
  ps_forward_body(http_req_handler_data(req));
}

static void proxy_release(http_req *req, uint32_t code) {
  proxy_stream *ps = http_req_handler_data(req);

  list_unlink(ps);
  ps_release_stream(ps, code);
  ps_put(ps);
}

static const http_handler proxy_handler = {
  .on_writable = proxy_on_writable,
  .on_body = proxy_on_body,
  .release = proxy_release,
};

/* ---- request forwarding -------------------------------------------------- */

static int req_replayable(const http_req *req) {
  int m = http_req_method(req);
  return m == HTTP_GET || m == HTTP_HEAD || m == HTTP_OPTIONS;
}

/* Sends the REQUEST frame, with as much of the body as the frame and the
 * window take (the whole body when it fits: the fast path).  Returns the
 * body bytes it took, or UV_ECANCELED if the request was answered instead. */
static ssize_t ps_send_head(proxy_stream *ps, tdm_buf *body) {
  http_req *req = ps->req;
  size_t n, avail = body != NULL ? body->len : 0;
  tdm_frame f;
  int end;

  memset(&f, 0, sizeof(f));
  f.type = TDM_REQUEST;
  f.stream_id = ps->sid;
  f.u.request = *http_req_head(req);
  f.u.request.body.len = 0;
  if (!upstream_frame_fits(ps->up, tdm_encoded_size(&f))) {
    /* The head alone is more than this backend takes in one frame. */
    ps_release_stream(ps, TDM_CANCEL_NO_ERROR);
    http_req_local(req, 431, NULL, "Request Header Fields Too Large\n", 1);
    return UV_ECANCELED;
  }
  n = upstream_max_body(ps->up, tdm_encoded_size(&f));
  if (n > avail)
    n = avail;
  if ((int64_t) n > ps->send_window)
    n = ps->send_window > 0 ? (size_t) ps->send_window : 0;
  end = http_req_body_complete(req) && n == avail;
  ps->ws_sent = ps->ws && (upstream_features(ps->up) & TDM_FEATURE_WEBSOCKET);
  f.u.request.flags = (end ? TDM_FLAG_END : 0) | (ps->ws_sent ? TDM_FLAG_WEBSOCKET : 0);
  f.u.request.body.ptr = body != NULL ? body->base : NULL;
  f.u.request.body.len = (uint32_t) n;
  /* A request that may be sent twice (RFC 9110 section 9.2.2), whole in
   * this frame, is kept until its response starts. */
  if (upstream_send_copy(ps->up, &f, end && req_replayable(req) && !ps->ws_sent ? &ps->replay : NULL) != 0) {
    http_req_local(req, 503, "retry-after: 1\r\n", "Service Unavailable: the backend is overloaded\n", 0);
    return UV_ECANCELED;
  }
  ps_step(ps, PE_SEND_HEAD);
  if (end)
    ps_step(ps, PE_SEND_END);
  ps->send_window -= n;
  return (ssize_t) n;
}

/* Sends DATA frames of body from off on, as the window allows.  Returns the
 * new offset, or UV_ECANCELED if the request was answered instead. */
static ssize_t ps_send_data(proxy_stream *ps, tdm_buf *body, size_t off) {
  size_t avail = body != NULL ? body->len : 0;
  tdm_frame f;

  while (ps->state == PS_OPEN || ps->state == PS_HALF_RESP) {
    size_t n = avail - off, max = upstream_max_body(ps->up, 32);
    int end;
    if (n > max)
      n = max;
    if ((int64_t) n > ps->send_window)
      n = ps->send_window > 0 ? (size_t) ps->send_window : 0;
    end = http_req_body_complete(ps->req) && off + n == avail;
    if (n == 0 && !end)
      break;
    memset(&f, 0, sizeof(f));
    f.type = TDM_DATA;
    f.stream_id = ps->sid;
    f.u.data.flags = end ? TDM_FLAG_END : 0;
    /* An empty body buffer may never have been allocated (base NULL), and
     * NULL + 0 is undefined: an empty DATA (the END of a chunked body whose
     * last chunk came alone) points nowhere. */
    f.u.data.data.ptr = n > 0 ? body->base + off : NULL;
    f.u.data.data.len = (uint32_t) n;
    if (upstream_send(ps->up, &f) != 0) {
      http_req_local(ps->req, 502, NULL, "Bad Gateway\n", 1);
      return UV_ECANCELED;
    }
    ps->send_window -= n;
    off += n;
    if (end)
      ps_step(ps, PE_SEND_END);
  }
  return (ssize_t) off;
}

/* Sends what the window allows of the body read for ps's request: first the
 * REQUEST frame, then DATA frames. */
static void ps_forward_body(proxy_stream *ps) {
  http_req *req = ps->req;
  tdm_buf *body = http_req_body(req);
  ssize_t off = 0;

  if (ps->up == NULL || (ps->state != PS_RESERVED && ps->state != PS_OPEN && ps->state != PS_HALF_RESP))
    return;
  if (ps->state == PS_RESERVED) {
    off = ps_send_head(ps, body);
    if (off < 0)
      return;
  }
  off = ps_send_data(ps, body, (size_t) off);
  if (off < 0)
    return;
  if (off > 0) {
    ps_touch(ps);
    tdm_buf_consume(body, (size_t) off);
  }
  if (ps->state == PS_CLOSED) {
    /* Both directions ended: the stream is done. */
    upstream_stream_done(ps->up, ps->sid);
    ps->up = NULL;
  }
  if (ps->state != PS_OPEN && ps->state != PS_RESERVED)
    http_req_drop_body(req);
}

/* ---- events from the backend -------------------------------------------- */

static int header_is(const tdm_str *s, const char *name) {
  size_t n = strlen(name);
  return s->len == n && strncasecmp(s->ptr, name, n) == 0;
}

/* Response headers the frontend handles itself rather than passing on. */
enum { HDR_PASS, HDR_CONTENT_LENGTH, HDR_CONNECTION, HDR_DROP, HDR_DATE, HDR_SERVER };

static int header_kind(const tdm_str *name) {
  switch (name->len) {
  case 4:
    return header_is(name, "date") ? HDR_DATE : HDR_PASS;
  case 6:
    return header_is(name, "server") ? HDR_SERVER : HDR_PASS;
  case 7:
    return header_is(name, "upgrade") ? HDR_DROP : HDR_PASS;
  case 10:
    return header_is(name, "connection") ? HDR_CONNECTION :
           header_is(name, "keep-alive") ? HDR_DROP : HDR_PASS;
  case 14:
    return header_is(name, "content-length") ? HDR_CONTENT_LENGTH : HDR_PASS;
  case 17:
    return header_is(name, "transfer-encoding") ? HDR_DROP : HDR_PASS;
  }
  return HDR_PASS;
}

static int header_passed_on(const tdm_header *h) {
  int kind = header_kind(&h->name);
  return kind == HDR_PASS || kind == HDR_DATE || kind == HDR_SERVER;
}

/* What a RESPONSE's headers say, once they are checked. */
struct resp_info {
  int64_t content_length;        /* -1 if none */
  unsigned have_date : 1;
  unsigned have_server : 1;
  unsigned conn_close : 1;       /* connection: close */
};

/* Checks a RESPONSE's headers.  Returns 0, or a reason to refuse them. */
static const char *resp_check_headers(const tdm_response *resp, struct resp_info *ri) {
  memset(ri, 0, sizeof(*ri));
  ri->content_length = -1;
  for (uint32_t i = 0; i < resp->nheaders; i++) {
    const tdm_header *h = &resp->headers[i];
    int64_t v;
    if (!http_is_token(h->name.ptr, h->name.len) || !http_value_ok(h->value.ptr, h->value.len))
      return "invalid response header";
    switch (header_kind(&h->name)) {
    case HDR_CONTENT_LENGTH:
      v = http_parse_length(h->value.ptr, h->value.len);
      if (v < 0 || (ri->content_length >= 0 && ri->content_length != v))
        return "invalid content-length";
      ri->content_length = v;
      break;
    case HDR_CONNECTION:
      if (h->value.len == 5 && strncasecmp(h->value.ptr, "close", 5) == 0)
        ri->conn_close = 1;
      break;
    case HDR_DATE:
      ri->have_date = 1;
      break;
    case HDR_SERVER:
      ri->have_server = 1;
      break;
    }
  }
  return NULL;
}

/* A stream error on ps's stream (PROTOCOL.md section 5): the stream is
 * cancelled and the client gets status, or its response is cut short. */
static void ps_stream_error(proxy_stream *ps, int status, const char *body, int close) {
  ps_release_stream(ps, TDM_CANCEL_INTERNAL);
  http_req_local(ps->req, status, NULL, body, close);
}

/* A RESPONSE with FILE: the body is a path, and static.c sends the file once
 * it is open (its size gives the content-length). */
static void ps_file_response(proxy_stream *ps, const tdm_response *resp, const struct resp_info *ri) {
  http_req *req = ps->req;
  tdm_buf lines;

  if (!(resp->flags & TDM_FLAG_END)) {
    log_warn("%s: the backend sent FILE without END", ps_describe(ps));
    ps_stream_error(ps, 502, "Bad Gateway\n", 0);
    return;
  }
  tdm_buf_init(&lines, ctx->cfg->max_header_size * 4);    /* owner: here */
  for (uint32_t i = 0; i < resp->nheaders; i++) {
    const tdm_header *h = &resp->headers[i];
    if (!header_passed_on(h))
      continue;
    if (tdm_buf_append(&lines, h->name.ptr, h->name.len) != 0 || tdm_buf_append(&lines, ": ", 2) != 0 ||
        tdm_buf_append(&lines, h->value.ptr, h->value.len) != 0 ||
        tdm_buf_append(&lines, "\r\n", 2) != 0) {
      tdm_buf_free(&lines);
      ps_stream_error(ps, 500, "Internal Server Error: response headers too large\n", 0);
      return;
    }
  }
  if (ri->conn_close)
    http_req_close_after(req);
  /* The backend is done with this stream: from here on the response is the
   * frontend's, and must not depend on the backend staying connected (it may
   * exit right after, as a drained one does).  A request body still coming
   * is not wanted any more: the stream is cancelled. */
  ps_step(ps, PE_RECV_END);
  access_req_backend_done(http_req_access(req));
  http_req_release_handler(req, TDM_CANCEL_NO_ERROR);      /* ps is gone */
  static_send_file(req, resp->body.ptr, resp->body.len, lines.base != NULL ? lines.base : "", lines.len,
                   (int) resp->status, ri->content_length, ri->have_date, ri->have_server);
  tdm_buf_free(&lines);
}

/* Checks a RESPONSE against the stream's state and its own rules.  Returns
 * 0, or UV_EPROTO if it was refused (and answered for). */
static int ps_check_response(proxy_stream *ps, const tdm_response *resp, struct resp_info *ri) {
  int status = (int) resp->status;
  const char *why;

  if (http_req_responded(ps->req) || ps_response_ended(ps)) {
    log_warn("%s: the backend sent a second RESPONSE", ps_describe(ps));
    ps_stream_error(ps, 502, "Bad Gateway: the backend answered twice\n", 1);
    return UV_EPROTO;
  }
  /* A rejected RESPONSE is a stream error (PROTOCOL.md section 5): its END
   * does not count, and the stream is cancelled even if the request ended. */
  if (status < 200 || status > 599) {
    log_warn("%s: the backend sent status %d; answering 500", ps_describe(ps), status);
    ps_stream_error(ps, 500, "Internal Server Error: the application sent an invalid status\n", 0);
    return UV_EPROTO;
  }
  why = resp_check_headers(resp, ri);
  if (why != NULL) {
    log_warn("%s: the backend sent an %s; answering 500", ps_describe(ps), why);
    ps_stream_error(ps, 500, !strcmp(why, "invalid content-length") ?
                    "Internal Server Error: invalid content-length\n" :
                    "Internal Server Error: invalid response header\n", 0);
    return UV_EPROTO;
  }
  if (resp->flags & TDM_FLAG_FILE)
    return 0;
  if (ri->content_length < 0 && (resp->flags & TDM_FLAG_END) && http_req_method(ps->req) != HTTP_HEAD)
    ri->content_length = resp->body.len;
  if (ri->content_length >= 0 && (resp->flags & TDM_FLAG_END) && http_req_method(ps->req) != HTTP_HEAD &&
      status != 204 && status != 304 && (int64_t) resp->body.len != ri->content_length) {
    log_warn("%s: the backend's response has content-length %" PRId64 " but %u body bytes",
             ps_describe(ps), ri->content_length, (unsigned) resp->body.len);
    ps_stream_error(ps, 500, "Internal Server Error: body does not match content-length\n", 0);
    return UV_EPROTO;
  }
  return 0;
}

static int ps_on_response(void *owner, const tdm_response *resp) {
  proxy_stream *ps = owner;
  http_req *req = ps->req;
  struct resp_info ri;

  if (ps->unacked + (uint64_t) resp->body.len > UPSTREAM_WINDOW)
    return UV_ENOBUFS;
  ps_touch(ps);
  ps->replay.len = 0;           /* answered: never to be re-sent */
  /* A file response's body is a path, not body bytes: it uses no window. */
  if (!(resp->flags & TDM_FLAG_FILE))
    ps->unacked += resp->body.len;
  if (ps_check_response(ps, resp, &ri) != 0)
    return 0;
  if (resp->flags & TDM_FLAG_FILE) {
    ps_file_response(ps, resp, &ri);
    return 0;
  }
  if (resp->flags & TDM_FLAG_END)
    ps_step(ps, PE_RECV_END);
  if (ri.conn_close)
    http_req_close_after(req);
  http_resp_begin(req, (int) resp->status, ri.content_length);
  for (uint32_t i = 0; i < resp->nheaders; i++) {
    const tdm_header *h = &resp->headers[i];
    if (header_passed_on(h))
      http_resp_header(req, h->name.ptr, h->name.len, h->value.ptr, h->value.len);
  }
  http_resp_end_head(req, ri.have_date, ri.have_server);
  if (http_req_handler_data(req) != ps)
    return 0;                   /* the connection closed */
  http_req_write(req, resp->body.ptr, resp->body.len);
  if (resp->flags & TDM_FLAG_END)
    http_req_end(req);
  return 0;
}

static int ps_on_data(void *owner, const tdm_data *d) {
  proxy_stream *ps = owner;
  http_req *req = ps->req;

  if (ps->unacked + (uint64_t) d->data.len > UPSTREAM_WINDOW)
    return UV_ENOBUFS;
  if (!http_req_responded(req) || ps_response_ended(ps)) {
    log_warn("%s: the backend sent DATA %s", ps_describe(ps),
             ps_response_ended(ps) ? "after END" : "before RESPONSE");
    ps_stream_error(ps, 502, "Bad Gateway\n", 1);
    return 0;
  }
  ps_touch(ps);
  ps->unacked += d->data.len;
  if (d->flags & TDM_FLAG_END)
    ps_step(ps, PE_RECV_END);
  http_req_write(req, d->data.ptr, d->data.len);
  if (http_req_handler_data(req) != ps)
    return 0;                   /* the connection closed */
  /* A body that is not sent (HEAD, 204, 304) is consumed as it arrives; no
   * write would ever give its window back. */
  if (http_req_no_body(req) && !ps_response_ended(ps) && ps->up != NULL &&
      ps->unacked >= UPSTREAM_WINDOW / 2) {
    upstream_send_window(ps->up, ps->sid, ps->unacked);
    ps->unacked = 0;
  }
  if (d->flags & TDM_FLAG_END)
    http_req_end(req);
  return 0;
}

static void ps_on_window(void *owner, uint32_t increment) {
  proxy_stream *ps = owner;

  ps_touch(ps);
  ps->send_window += increment;
  if (http_req_body(ps->req) != NULL && (ps->state == PS_OPEN || ps->state == PS_HALF_RESP)) {
    http_req *req = ps->req;
    ps_forward_body(ps);
    http_req_read_on(req);
  }
}

static void ps_on_cancel(void *owner, uint32_t code) {
  proxy_stream *ps = owner;

  /* The backend forgot the stream already. */
  metrics.cancelled_backend++;
  ps->up = NULL;
  ps_step(ps, PE_CLOSE);
  http_req_drop_body(ps->req);
  if (code == TDM_CANCEL_REFUSED)
    http_req_local(ps->req, 503, "retry-after: 1\r\n",
                   "Service Unavailable: the backend refused the request\n", 0);
  else
    http_req_local(ps->req, 502, NULL, "Bad Gateway: the backend cancelled the request\n", 0);
}

/* The backend of ps died before answering: send the same REQUEST frame,
 * kept in ps->replay, to another backend with room now.  Returns 0 if sent,
 * or a negative error. */
static int ps_resend(proxy_stream *ps) {
  upstream_conn *up;
  tdm_frame f;
  int64_t sid;

  if (!replay_ready) {
    if (tdm_decoder_init(&replay_dec, TDM_MAX_MAX_FRAME) != 0)
      return UV_ENOMEM;
    tdm_buf_init(&replay_scratch, PROXY_REPLAY_MAX);
    replay_ready = 1;
  }
  up = upstream_pick();
  if (up == NULL || tdm_decode(&replay_dec, ps->replay.base, ps->replay.len, &f) <= 0)
    return UV_EAGAIN;
  sid = upstream_open_stream(up, &stream_cb, ps);
  if (sid < 0)
    return (int) sid;
  f.stream_id = (uint32_t) sid;
  /* f points into ps->replay: the new copy goes elsewhere, then swaps in. */
  if (upstream_send_copy(up, &f, &replay_scratch) != 0) {
    upstream_stream_done(up, (uint32_t) sid);
    return UV_ENOBUFS;
  }
  {
    tdm_buf t = ps->replay;
    ps->replay = replay_scratch;
    replay_scratch = t;
  }
  log_info("%s %.*s: its backend went away before answering; sent again to backend pid %d",
           llhttp_method_name((llhttp_method_t) http_req_method(ps->req)), (int) f.u.request.target.len,
           f.u.request.target.ptr, upstream_pid(up));
  /* A new stream for the same request, whole in its REQUEST. */
  ps->state = PS_RESERVED;
  ps_step(ps, PE_SEND_HEAD);
  ps_step(ps, PE_SEND_END);
  ps->up = up;
  ps->sid = (uint32_t) sid;
  ps->unacked = 0;
  access_req_backend(http_req_access(ps->req), upstream_pid(up), upstream_generation(up));
  ps->send_window = (int64_t) upstream_peer_window(up) - f.u.request.body.len;
  if (ctx->cfg->request_timeout_ms > 0)
    list_append(&active, ps, ctx->cfg->request_timeout_ms);
  return 0;
}

static void ps_on_lost(void *owner, upstream_conn *up, uint32_t sid) {
  proxy_stream *ps = owner;
  int resend;

  if (ps->req == NULL || ps->up != up || ps->sid != sid)
    return;                     /* no longer this stream's owner */
  resend = ps->state == PS_HALF_REQ && !http_req_responded(ps->req) && ps->replay.len > 0;
  ps->up = NULL;
  ps_step(ps, PE_CLOSE);
  http_req_drop_body(ps->req);
  if (resend && ps_resend(ps) == 0)
    return;
  http_req_local(ps->req, 502, NULL, "Bad Gateway: the backend went away\n", 0);
}

/* The backend's answer to a WebSocket handshake (PROTOCOL.md section 8):
 * WS_ACCEPT hands the connection and the stream to ws.c; WS_CLOSE is a
 * refusal, 403.  Anything else is a stream error. */
static int ps_on_ws(void *owner, const tdm_frame *f) {
  proxy_stream *ps = owner;
  http_req *req = ps->req;
  upstream_conn *up = ps->up;
  uint32_t sid = ps->sid;
  int rc;

  if (!ps->ws_sent || http_req_responded(req) || f->type == TDM_WS_MESSAGE) {
    log_warn("backend sent %s on stream %u, which awaits no WebSocket answer", tdm_frame_type_name(f->type),
             (unsigned) sid);
    ps_stream_error(ps, 502, "Bad Gateway\n", 1);
    return 0;
  }
  list_unlink(ps);
  ps_step(ps, PE_RECV_END);    /* the stream is closed (a refusal) or no longer ps's */
  if (f->type == TDM_WS_CLOSE) {
    http_req_local(req, 403, NULL, "Forbidden: the application refused the WebSocket\n", 0);
    return 0;
  }
  ps->up = NULL;
  rc = ws_start(req, ps->ws_key, up, sid, &f->u.ws_accept);     /* 0: req and ps are gone */
  if (rc != 0) {
    upstream_cancel(up, sid, TDM_CANCEL_INTERNAL);
    http_req_local(req, rc == UV_EBUSY ? 400 : 502, NULL, rc == UV_EBUSY ?
                   "Bad Request: a WebSocket handshake must be alone on its connection\n" :
                   "Bad Gateway: the application's WebSocket accept is invalid\n", 1);
  }
  return 0;
}

static const upstream_stream_cb stream_cb = {
  .on_ws = ps_on_ws,
  .on_response = ps_on_response,
  .on_data = ps_on_data,
  .on_window = ps_on_window,
  .on_cancel = ps_on_cancel,
  .on_lost = ps_on_lost,
};

/* ---- lifetime ------------------------------------------------------------ */

void proxy_init(tdm_ctx *x) {
  ctx = x;
  upstream_init(x, proxy_on_capacity, NULL);
}

unsigned proxy_waiting(void) {
  return wait_queue.len;
}

void proxy_close(void) {
  if (wait_queue.timer_ready) {
    uv_close((uv_handle_t *) &wait_queue.timer, NULL);
    wait_queue.timer_ready = 0;
  }
  if (active.timer_ready) {
    uv_close((uv_handle_t *) &active.timer, NULL);
    active.timer_ready = 0;
  }
  if (replay_ready) {
    tdm_decoder_free(&replay_dec);
    tdm_buf_free(&replay_scratch);
    replay_ready = 0;
  }
  ctx_cancel_flush(ctx, &dispatcher);
  while (pool != NULL) {
    proxy_stream *ps = pool;
    pool = ps->next_free;
    tdm_buf_free(&ps->replay);
    free(ps);
  }
  pool_len = 0;
}
