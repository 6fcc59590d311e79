/* http_conn: one client connection.
 *
 * Theory of operation.  Bytes read from the client go through llhttp; each
 * request takes the next slot of a small ring (the pipeline) so responses can
 * be written in request order whatever order their handlers produce them in.
 * Only the request at the head of the ring writes to the connection's output
 * buffer; the others keep what they produce in their own buffer until they
 * reach the head.  Output is gathered during a loop iteration and written
 * once, from the loop's flush (ctx.c).
 *
 * A request leaves the ring only when both its response has been produced
 * and its body has been read (or the connection closes after it): then the
 * next one becomes the head (conn_retire).  Any error found after a response
 * began ends in the connection closing after that response, never in a
 * request that nothing will retire (req_response_too_late).
 *
 * Bounds: the ring has HTTP_PIPELINE_MAX slots (the parser pauses when it is
 * full); the head buffer holds at most max_header_size bytes; request body
 * bytes wait in conn->body only while the handler cannot pass them on, and
 * reading stops then; response bytes are bounded by what handlers produce
 * while http_req_writable() (a backend's by the window granted per stream).
 * Between requests a connection holds no parser and no buffer (conn_idle):
 * they are taken when bytes arrive, from small pools.
 *
 * Calls: ctx, outbuf, http_head, access_log, config, log and the codec by
 * name; handlers only through req->handler, the server through the hooks.
 */
#include "http_conn.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llhttp.h>

#include "access_log.h"
#include "http_conn_state.h"
#include "http_framing.h"
#include "http_head.h"
#include "http_parse.h"
#include "http_ring.h"
#include "log.h"
#include "sock.h"

static tdm_ctx *ctx;                     /* given by http_conn_init(); not owned */
static const http_hooks *hooks;
static http_conn *all_conns;
static int nconns;

static void conn_close(http_conn *c);
static void conn_parse(http_conn *c, const char *data, size_t len);
static void conn_arm_timer(http_conn *c);
static void conn_stop_reading(http_conn *c);
static void conn_retire(http_conn *c);
static void conn_idle(http_conn *c);
static void req_response_too_late(http_req *req);

static http_req *conn_req(http_conn *c, unsigned i) {
  return &c->reqs[(c->head + i) % HTTP_PIPELINE_MAX];
}

static http_req *parsing_req(http_conn *c) {
  return conn_req(c, c->count - 1);
}

/* ---- a request's place and body: these, of what a handler asks, the
 * connection uses too, so they live here (http_req.c has the rest) ------ */

const char *http_req_id(const http_req *req, size_t *len) {
  *len = req->ident.id_len;
  return req->ident.id_len > 0 ? req->ident.id : NULL;
}

int http_req_is_head(const http_req *req) {
  return req->conn->count > 0 && &req->conn->reqs[req->conn->head] == req;
}

void http_req_drop_body(http_req *req) {
  req->body_taken = 0;
  if (req->conn->body_req == req) {
    req->conn->body_req = NULL;
    req->conn->body.len = 0;
  }
}

int http_req_idle_head(const http_req *req) {
  return http_req_is_head(req) && sock_pending(&req->conn->sock) == 0 && !req->conn->closing;
}

/* Output waits for the client to take it. */
static int conn_sending(const http_conn *c) {
  return sock_pending(&c->sock) > 0 || c->send_stalled;
}

/* So much output waits that no further request is parsed until the client
 * has taken half of it: a client that pipelines requests without reading
 * the answers holds at most this (and what its requests in the ring hold),
 * as nginx answers a pipelined request only once the one before is out. */
static int conn_backlogged(const http_conn *c) {
  return sock_unwritten(&c->sock) >= HTTP_OUT_HIGH;
}

/* Tells req's handler, if it has one, to let go of it; then it has none. */
static void req_release(http_req *req, uint32_t code) {
  const http_handler *h = req->handler;

  req->handler = NULL;
  req->body_taken = 0;
  if (h != NULL && h->release != NULL)
    h->release(req, code);
  req->hdata = NULL;
  http_req_drop_body(req);
}

/* ---- output -------------------------------------------------------------- */

void http_conn_emit(http_req *req, const char *data, size_t len, int fd, uint64_t off) {
  http_conn *c = req->conn;
  tdm_buf *dst = http_req_is_head(req) ? sock_out(&c->sock) : &req->resp;
  int rc;

  if (len == 0 || c->closing)
    return;
  if (dst != &req->resp && len >= SOCK_WRITE_NOW_MIN)
    rc = sock_write_now(&c->sock, data, len, fd, off);
  else
    rc = tdm_buf_append(dst, data, len);
  if (rc != 0) {
    /* Only a peer ignoring flow control gets here; there is no safe way to
     * finish this response. */
    log_error("client %s: output buffer over %d bytes, closing", c->peer, HTTP_OUT_CAP);
    conn_close(c);
    return;
  }
  if (dst != &req->resp)
    sock_flush_soon(&c->sock);
}

static void req_emit(http_req *req, const char *data, size_t len) {
  http_conn_emit(req, data, len, -1, 0);
}

/* The head request's handler may go on producing. */
static void conn_head_writable(http_conn *c) {
  http_req *head;

  if (c->count == 0)
    return;
  head = conn_req(c, 0);
  if (head->handler != NULL && head->handler->on_writable != NULL)
    head->handler->on_writable(head);
}

/* A write completed: the send timeout starts again, and the head request
 * may produce more once the client has taken enough. */
static void conn_on_written(void *owner, int status) {
  http_conn *c = owner;

  conn_arm_timer(c);
  if (status < 0) {
    log_debug("client %s: write failed: %s", c->peer, uv_strerror(status));
    conn_close(c);
    return;
  }
  if (sock_unwritten(&c->sock) < HTTP_OUT_HIGH / 2) {
    conn_head_writable(c);
    if (!c->closing)
      http_conn_resume(c);
  }
  conn_idle(c);
}

/* ---- response framing ----------------------------------------------------- */

#define LIT(s) s, sizeof(s) - 1

/* A header block is written in three steps: http_resp_begin() (the status
 * line), the header lines, and http_resp_end_head() (the headers every
 * response gets and the blank line). */
void http_resp_begin(http_req *req, int status, int64_t content_length) {
  char line[HTTP_STATUS_LINE_MAX];

  http_framing_start(&req->framing, req->method == HTTP_HEAD, req->http10, status, content_length);
  /* Once nothing more is read, the last request's response says close; the
   * ones before it (answered before an error's, say) are answered as usual.
   * The client may or may not send a body still awaited (100 Continue, or a
   * handler's: conn_head_done): the connection ends with this answer. */
  if (req->framing.until_close || !req->keep_alive || (req->expect_continue && !req->continued) ||
      (req->body_taken && !req->body_done) || (req->conn->read_done && req == parsing_req(req->conn)))
    req->close_after = 1;
  req->status = status;
  req->resp_started = 1;
  req_emit(req, line, http_framing_status_line(line, status));
}

void http_resp_end_head(http_req *req, int have_date, int have_server) {
  char line[HTTP_ID_LINE_MAX + HTTP_FRAMING_HEAD_MAX];
  size_t date_len = 0, n = http_ident_echo(&req->ident, line);
  const char *date = have_date ? NULL : ctx_date_line(ctx, &date_len);

  req_emit(req, line, n + http_framing_head_end(line + n, &req->framing, have_server, date, date_len,
                                                req->close_after, req->http10));
}

void http_req_write(http_req *req, const char *data, size_t len) {
  http_req_write_file(req, data, len, -1, 0);
}

void http_req_write_file(http_req *req, const char *data, size_t len, int fd, uint64_t off) {
  char chunk[HTTP_CHUNK_HEAD_MAX];
  size_t chunk_len;
  int over;

  if (len == 0 || req->resp_done)
    return;
  len = http_framing_body(&req->framing, len, &over, chunk, &chunk_len);
  if (over) {
    log_warn("response %d: more body than its content-length; truncated", req->status);
    req->close_after = 1;
  }
  if (len == 0)
    return;
  req->body_bytes += len;
  if (chunk_len > 0)
    req_emit(req, chunk, chunk_len);
  http_conn_emit(req, data, len, fd, off);
  if (chunk_len > 0)
    req_emit(req, "\r\n", 2);
}

int http_req_detach(http_req *req) {
  int fd = req->conn->count == 1 && http_req_idle_head(req) ? sock_dup(&req->conn->sock) : UV_EBUSY;

  if (fd >= 0) {
    /* The handshake's 101 was this request's response: logged as such (as
     * nginx logs an upgrade), not as a client gone, as the socket leaves. */
    access_req_end(&req->alog, req->conn->sock.peer_host, 101, 0, http_req_id(req, &req->alog.id_len));
    conn_close(req->conn);
  }
  return fd;
}

/* The access log's line for req, whose response is complete and in the
 * connection's output: a later request's is written when it reaches the
 * head, so one dropped before then is not logged as answered. */
static void req_log(http_req *req) {
  access_req_end(&req->alog, req->conn->sock.peer_host, req->status, req->body_bytes,
                 http_req_id(req, &req->alog.id_len));
}

/* The response is complete (aborted: it cannot be completed, and the
 * connection closes without a chunked terminator). */
static void req_end_response(http_req *req, int aborted) {
  if (req->resp_done || req->conn->closing)
    return;
  if (!aborted && req->framing.chunked)
    req_emit(req, "0\r\n\r\n", 5);
  if (aborted || !http_framing_complete(&req->framing))
    req->close_after = 1;
  req->resp_done = 1;
  if (http_req_is_head(req))
    req_log(req);
  conn_retire(req->conn);
}

void http_req_end(http_req *req) {
  req_end_response(req, 0);
}

void http_req_abort(http_req *req) {
  req_end_response(req, 1);
}

void http_req_release_handler(http_req *req, uint32_t code) {
  req_release(req, code);
}

void http_req_simple(http_req *req, int status, const char *extra_headers, const char *body) {
  size_t blen = strlen(body);

  http_resp_begin(req, status, (int64_t) blen);
  req_emit(req, LIT("content-type: text/plain; charset=utf-8\r\n"));
  if (extra_headers != NULL)
    req_emit(req, extra_headers, strlen(extra_headers));
  http_resp_end_head(req, 0, 0);
  http_req_write(req, body, blen);
  req_end_response(req, 0);
}

void http_req_local(http_req *req, int status, const char *extra, const char *body, int close) {
  req_release(req, TDM_CANCEL_NO_ERROR);
  if (close)
    req->close_after = 1;
  if (req->resp_started) {
    req_response_too_late(req);
    return;
  }
  http_req_simple(req, status, extra, body);
}

/* An error found after req's response began (in its body, or a timeout)
 * cannot be answered: the connection closes after that response.  One that
 * is complete is retired now if it is at the head; it may have been waiting
 * only for the rest of its body, which will never be read. */
static void req_response_too_late(http_req *req) {
  req->close_after = 1;
  if (req->resp_done)
    conn_retire(req->conn);
  else
    req_end_response(req, 1);
}

/* ---- the pipeline ---------------------------------------------------------- */

static void req_reset(http_req *req) {
  tdm_buf keep = req->resp;
  http_conn *c = req->conn;

  keep.len = 0;
  memset(req, 0, sizeof(*req));
  req->conn = c;
  req->resp = keep;
  req->framing.remaining = -1;
}

/* Takes the head request out of the ring. */
static void conn_pop(http_conn *c, uint32_t code) {
  http_req *head = conn_req(c, 0);

  req_release(head, code);
  access_req_forget(&head->alog);
  if (head->resp.base != NULL)     /* it held output while not at the head */
    tdm_buf_free(&head->resp);
  req_reset(head);
  c->head = (c->head + 1) % HTTP_PIPELINE_MAX;
  c->count--;
}

/* Whether the head request may leave the ring: its response is complete,
 * and its body has been read, or cannot be skipped (a handler was taking
 * it), or will not be read because the connection closes after it. */
static int conn_head_done(http_conn *c) {
  http_req *head = conn_req(c, 0);

  if (!head->resp_done)
    return 0;
  if (!head->body_done) {
    /* A handler answered before the client finished a body it was passing
     * on: the rest cannot be skipped reliably, so this is the last response.
     * Any other answer waits until the body has been read and dropped. */
    if (!head->body_taken && !head->close_after)
      return 0;
    head->close_after = 1;
  }
  return 1;
}

/* The head request's response is out: if it was the last one, the requests
 * after it are dropped and the connection closes once its output is
 * written; otherwise the next request becomes the head, its held output
 * moves into the connection's.  Returns UV_ECANCELED if the connection closed. */
static int conn_retire_head(http_conn *c) {
  http_req *head = conn_req(c, 0);
  int last = head->close_after;

  if (last) {
    conn_stop_reading(c);
    c->read_done = 1;
    c->parsing = 0;
  }
  conn_pop(c, TDM_CANCEL_NO_ERROR);
  if (last) {
    while (c->count > 0) {
      if (conn_req(c, 0)->deferred)
        access_req_drop(&conn_req(c, 0)->alog);   /* read, never run */
      conn_pop(c, TDM_CANCEL_CLIENT_GONE);
    }
    sock_end(&c->sock);
    return 0;
  }
  if (c->count == 0)
    return 0;
  head = conn_req(c, 0);
  if (head->resp.len > 0) {
    if (tdm_buf_append(sock_out(&c->sock), head->resp.base, head->resp.len) != 0) {
      conn_close(c);
      return UV_ECANCELED;
    }
    head->resp.len = 0;
  }
  if (head->resp_done)
    req_log(head);
  if (sock_pending(&c->sock) < HTTP_OUT_HIGH)
    conn_head_writable(c);
  return c->closing ? UV_ECANCELED : 0;
}

/* Retires finished requests from the head of the pipeline. */
static void conn_retire(http_conn *c) {
  if (c->closing)
    return;
  while (c->count > 0 && conn_head_done(c))
    if (conn_retire_head(c) != 0)
      return;
  if (c->read_done && c->count == 0)
    sock_end(&c->sock);
  sock_flush_soon(&c->sock);
  conn_arm_timer(c);
  http_conn_resume(c);
  conn_idle(c);
}

/* ---- memory: taken when a request comes, given back when idle ------------- */

static const http_parse_cb parse_cb;

/* Bytes arrived on a connection without a parser: it takes one (pooled,
 * http_parse_get) and a request ring.  Returns 0, or -1 after closing the
 * connection. */
static int conn_take_parser(http_conn *c) {
  const config *cfg = ctx->cfg;
  const http_parse_limits lim = { cfg->max_header_size, cfg->max_request_line, cfg->max_headers,
                                  cfg->max_body_size };
  sock *sk = &c->sock;

  c->parser = http_parse_get(&parse_cb, c, &lim);
  if (c->parser != NULL && c->reqs == NULL && (c->reqs = http_ring_get(c)) == NULL) {
    http_parse_put(c->parser);
    c->parser = NULL;
  }
  if (c->parser == NULL) {
    log_error("client %s: out of memory for a parser; closing", c->peer);
    conn_close(c);
    return -1;
  }
  http_parse_set_addrs(c->parser, sk->peer_host, sk->peer_port, sk->local_host, sk->local_port);
  return 0;
}

/* Between two requests, with no input kept, a connection gives back what only
 * a request needs: its parser (with the head's buffers), the input and body
 * buffers, what requests held of their responses, and its output buffers
 * once they are written.  So an idle keep-alive connection holds little more
 * than this struct and its socket, as nginx frees a keep-alive connection's
 * header buffers.  Not from inside the parser (c->feeding): conn_parse
 * comes here when the parser returns. */
static void conn_idle(http_conn *c) {
  if (c->count > 0 || c->parsing || c->paused || c->feeding || c->closing)
    return;
  http_parse_put(c->parser);
  c->parser = NULL;
  http_ring_put(c->reqs);
  c->reqs = NULL;
  /* Most often neither was taken: no call to free() for them.  (What
   * requests held of their responses went when they left the ring.) */
  if (c->in.base != NULL)
    tdm_buf_free(&c->in);
  if (c->body.base != NULL)
    tdm_buf_free(&c->body);
  sock_trim(&c->sock);
}

/* ---- parsing: the parser's callbacks -------------------------------------- */

/* Whether the client is a proxy of --forwarded-allow-ips: asked once. */
static int conn_trusted(http_conn *c) {
  if (!c->trust_known) {
    c->trusted = http_ident_trusted(c->sock.peer_host, &ctx->cfg->forwarded_allow) != 0;
    c->trust_known = 1;
  }
  return c->trusted;
}

/* After an answer that closes the connection: read nothing more. */
static int stop_parsing(http_conn *c) {
  c->read_done = 1;
  conn_stop_reading(c);
  return HTTP_PARSE_PAUSED;
}

static int conn_on_begin(void *owner) {
  http_conn *c = owner;
  http_req *req;

  if (c->read_done || c->closing)
    return HTTP_PARSE_PAUSED;
  if (ctx->stopping) {
    /* Shutting down: no new request; the connection closes after the last
     * response (conn_retire). */
    c->read_done = 1;
    conn_stop_reading(c);
    if (c->count == 0)
      sock_end(&c->sock);
    return HTTP_PARSE_PAUSED;
  }
  /* The ring has room: conn_on_complete pauses when it is full. */
  c->count++;
  req = parsing_req(c);
  req_reset(req);
  req->started = uv_now(ctx->loop);
  access_req_begin(&req->alog);
  c->parsing = 1;
  c->body_received = 0;
  c->body.len = 0;
  c->body_req = NULL;
  conn_arm_timer(c);
  return HTTP_PARSE_OK;
}

/* Whether a request may run while requests before it on its connection are
 * unanswered: RFC 9112 section 9.3.2 lets a server run pipelined requests
 * in parallel only if their methods are safe (RFC 9110 section 9.2.1); any
 * other waits for its turn, as nginx runs every pipelined request. */
static int method_is_safe(uint8_t method) {
  return method == HTTP_GET || method == HTTP_HEAD || method == HTTP_OPTIONS || method == HTTP_TRACE;
}

/* The request head is complete: a refused one is answered here, a valid one
 * goes to the route hook, which gives it a handler or answers it. */
static int conn_on_head(void *owner, int status, const char *body) {
  http_conn *c = owner;
  const http_parse_head *hd = http_parse_head_of(c->parser);
  http_req *req;

  if (c->read_done || c->closing || !c->parsing)
    return HTTP_PARSE_PAUSED;
  req = parsing_req(c);
  req->method = hd->method;
  req->http10 = hd->http10;
  req->keep_alive = hd->keep_alive;
  req->has_body = hd->has_body;
  req->expect_continue = hd->expect_continue;
  http_ident_req(&req->ident, &c->parser->head.rq, status == 0 && conn_trusted(c) ? &ctx->cfg->forwarded_allow : NULL);
  access_req_head(&req->alog, status == 0 || http_parse_refused_whole(status) ? &hd->rq : NULL);
  if (status != 0) {
    http_req_local(req, status, NULL, body, 1);
    return stop_parsing(c);
  }
  if (c->count > 1 && !method_is_safe(req->method)) {
    /* Requests before it are not answered yet: it runs once they are
     * (conn_run_deferred), its parser waiting after its head till then. */
    req->deferred = 1;
    return HTTP_PARSE_PAUSED;
  }
  hooks->route(req);
  /* Answered as the last response (Connection: close, say): what follows,
   * its body included, is not read, and an error in it not answered. */
  if (c->closing || c->read_done)
    return HTTP_PARSE_PAUSED;
  if (req->has_body)
    conn_arm_timer(c);           /* from the head's timeout to the body's */
  /* A held request pauses its connection's parser right after its head, so
   * its head stays where it is and its body stays unread; so does one whose
   * client waits for 100 Continue, until a handler wants its body. */
  return req->held || (req->expect_continue && !req->continued) ? HTTP_PARSE_PAUSED : HTTP_PARSE_OK;
}

static int conn_on_body(void *owner, const char *at, size_t len) {
  http_conn *c = owner;
  http_req *req;

  if (c->read_done || c->closing || !c->parsing)
    return HTTP_PARSE_PAUSED;
  req = parsing_req(c);

  c->body_received += len;
  if (ctx->cfg->max_body_size > 0 && c->body_received > ctx->cfg->max_body_size) {
    /* 413 if nothing was sent yet.  A response under way cannot be waited
     * for: its handler may be waiting for the rest of the body, which will
     * never be read.  So, as for a malformed body, the handler is released
     * (a backend's stream cancelled), the response cut short, and the
     * connection closes after it. */
    http_req_local(req, 413, NULL, "Content Too Large\n", 1);
    return HTTP_PARSE_PAUSED;     /* nothing more of this connection is read */
  }
  if (c->body_req == req && tdm_buf_append(&c->body, at, len) != 0) {
    conn_close(c);                /* only a handler ignoring its bound gets here */
    return HTTP_PARSE_PAUSED;
  }
  return HTTP_PARSE_OK;
}

static void req_on_body(http_req *req) {
  if (req->body_taken && req->handler != NULL && req->handler->on_body != NULL)
    req->handler->on_body(req);
}

static int conn_on_complete(void *owner) {
  http_conn *c = owner;
  http_req *req;
  int last;

  if (c->read_done || c->closing || !c->parsing)
    return HTTP_PARSE_PAUSED;
  req = parsing_req(c);
  last = !req->keep_alive;
  c->parsing = 0;
  req->body_done = 1;
  req_on_body(req);
  if (c->closing)
    return HTTP_PARSE_PAUSED;
  conn_retire(c);
  if (c->closing)
    return HTTP_PARSE_PAUSED;
  /* Its client said it was the last (Connection: close, or HTTP/1.0 without
   * keep-alive): nothing after it is read, as nginx reads nothing more (the
   * lingering close drains it), so bytes after it are no request to refuse. */
  if (last)
    return stop_parsing(c);
  /* Pause before the next request if there is no slot for it, or if this
   * one's body still waits to be passed on (conn->body must be free first). */
  if (c->count == HTTP_PIPELINE_MAX || c->body.len > 0 || c->read_done || conn_backlogged(c))
    return HTTP_PARSE_PAUSED;
  conn_arm_timer(c);
  return HTTP_PARSE_OK;
}

static const http_parse_cb parse_cb = {
  .on_begin = conn_on_begin,
  .on_head = conn_on_head,
  .on_body = conn_on_body,
  .on_complete = conn_on_complete,
};

static void conn_stop_reading(http_conn *c) {
  if (c->sock.reading) {
    sock_read_stop(&c->sock);
    conn_arm_timer(c);
  }
}

/* The parser stopped at input[used..len): keep the rest for when it resumes. */
static void conn_keep_input(http_conn *c, const char *data, size_t len, size_t used) {
  c->paused = 1;
  conn_stop_reading(c);
  if (used < len) {
    /* data may point into c->in itself: copy to a fresh buffer. */
    tdm_buf keep;
    tdm_buf_init(&keep, HTTP_READ_SIZE * 2);
    if (tdm_buf_append(&keep, data + used, len - used) != 0) {
      conn_close(c);
      return;
    }
    tdm_buf_free(&c->in);
    c->in = keep;
  } else {
    c->in.len = 0;
  }
}

/* The input was malformed (status > 0 says how to answer): answer and read
 * nothing more. */
static void conn_parse_error(http_conn *c, int status) {
  char body[64];
  http_req *req;

  log_debug("client %s: bad request: %s", c->peer, c->parser->error);
  c->read_done = 1;
  conn_stop_reading(c);
  if (c->parsing) {
    req = parsing_req(c);
    c->parsing = 0;
    req->body_done = 1;
  } else if (c->count < HTTP_PIPELINE_MAX) {
    c->count++;
    req = parsing_req(c);
    req_reset(req);
    req->body_done = 1;
  } else {
    conn_close(c);
    return;
  }
  snprintf(body, sizeof(body), "%s\n", http_status_reason(status));
  http_req_local(req, status, NULL, body, 1);
}

/* Feeds data to the parser; keeps what it does not take while paused. */
static void conn_parse(http_conn *c, const char *data, size_t len) {
  size_t used = 0;
  unsigned feeding = c->feeding;
  int rc;

  c->feeding = 1;
  rc = http_parse_feed(c->parser, data, len, &used);
  c->feeding = feeding;
  if (c->closing)
    return;
  if (rc == HTTP_PARSE_PAUSED) {
    if (!c->read_done)
      conn_keep_input(c, data, len, used);
    return;
  }
  if (rc != HTTP_PARSE_OK) {
    conn_parse_error(c, rc);
    return;
  }
  c->in.len = 0;
  c->paused = 0;
  /* End of this input: pass on what arrived of a body still in progress. */
  if (c->parsing && c->count > 0) {
    http_req *req = parsing_req(c);
    if (c->body_req == req) {
      req_on_body(req);
      if (!c->closing && c->body.len > 0)
        conn_stop_reading(c);
    }
  }
  conn_idle(c);
}

/* ---- reading ------------------------------------------------------------- */

static void conn_on_read(void *owner, const char *data, size_t len) {
  http_conn *c = owner;

  /* The body timeout bounds the gap between two reads, so a long upload
   * that keeps moving is not cut. */
  if (c->parsing && http_parse_in_body(c->parser))
    conn_arm_timer(c);
  if (c->parser == NULL && conn_take_parser(c) != 0)
    return;
  conn_parse(c, data, len);
}

/* Whether every request in the ring is whole and answered, or answered by
 * a handler that needs no one but the frontend (finishes_alone). */
static int conn_answers_alone(http_conn *c) {
  if (c->count == 0 || c->parsing || (c->paused && c->in.len > 0))
    return 0;
  for (unsigned i = 0; i < c->count; i++) {
    const http_req *req = conn_req(c, i);
    if (!req->body_done || (!req->resp_done && (req->handler == NULL || !req->handler->finishes_alone)))
      return 0;
  }
  return 1;
}

/* End of input is taken as the client leaving, as nginx and Go's net/http
 * take it: close() and shutdown(SHUT_WR) look the same from here, and a
 * client that has gone must not keep backends working for it (its streams
 * are cancelled).  Only requests the frontend answers by itself (a file, a
 * local answer) are still answered, and an answer being written is
 * finished, as nginx does, the connection ending after the last
 * (conn_retire).  The graceful end of a connection ends here too. */
static void conn_on_end(void *owner, int err) {
  http_conn *c = owner;

  if (err < 0 && err != UV_EOF)
    log_debug("client %s: read: %s", c->peer, uv_strerror(err));
  if (err == UV_EOF && !c->read_done && (conn_answers_alone(c) || (c->count == 0 && conn_sending(c)))) {
    c->read_done = 1;
    conn_stop_reading(c);
    if (c->count == 0)
      sock_end(&c->sock);       /* the last answer is still being written */
    return;
  }
  conn_close(c);
}

/* The deferred request (conn_on_head) is at the head, the requests before
 * it answered: it goes to the route hook now, as its head's did then. */
static void conn_run_deferred(http_conn *c) {
  http_req *req = parsing_req(c);

  req->deferred = 0;
  hooks->route(req);
  if (!c->closing && !c->read_done && req->has_body)
    conn_arm_timer(c);
}

void http_conn_resume(http_conn *c) {
  http_req *last;

  if (c->count == 1 && parsing_req(c)->deferred && !c->closing && !c->read_done)
    conn_run_deferred(c);
  if (c->closing)
    return;
  last = c->count > 0 ? parsing_req(c) : NULL;
  if (last != NULL && (last->held || last->deferred || (last->expect_continue && !last->continued)))
    return;
  if (c->closing || c->read_done || c->sock.lingering)
    return;
  if (c->body.len > 0 || c->count == HTTP_PIPELINE_MAX || conn_backlogged(c))
    return;
  if (c->paused) {
    /* Even with no input kept, llhttp has steps to finish (a request paused
     * after its head with no body completes only now), so it runs anyway.
     * conn_parse copies what it keeps, so parsing c->in in place is safe. */
    c->paused = 0;
    conn_parse(c, c->in.len > 0 ? c->in.base : "", c->in.len);
    if (c->closing || c->paused || c->read_done || c->body.len > 0)
      return;
  }
  if (!c->sock.reading && sock_read_start(&c->sock) == 0)
    conn_arm_timer(c);
}

/* ---- timers and lifetime -------------------------------------------------- */

static void conn_on_timeout(void *owner) {
  http_conn *c = owner;

  if (conn_sending(c)) {
    log_info("client %s: took no response bytes for %u s (--send-timeout); closing", c->peer,
             ctx->cfg->send_timeout_ms / 1000);
    conn_close(c);
    return;
  }
  if (c->count == 0) {
    log_debug("client %s: idle timeout", c->peer);
    conn_close(c);
    return;
  }
  if (c->parsing) {
    http_req *req = parsing_req(c);
    log_debug("client %s: 408, %s", c->peer, http_parse_in_body(c->parser) ?
              "no byte of the body within --body-timeout" : "the head not complete within --header-timeout");
    c->read_done = 1;
    c->parsing = 0;
    req->body_done = 1;
    conn_stop_reading(c);
    http_req_local(req, 408, NULL, "Request Timeout\n", 1);
  }
}

/* The timer runs only while we wait for the client: to take response bytes
 * (send timeout, restarted by each write that completes), to send the next
 * request (keep-alive timeout), to complete the head it began (header
 * timeout, counted from the head's first byte however it trickles in, as
 * nginx's client_header_timeout), or to send more of its body (body timeout,
 * restarted by each read).  Not while only a handler is working, nor while
 * the frontend itself has stopped reading because a backend's window is
 * closed or the request waits for a backend. */
static void conn_arm_timer(http_conn *c) {
  const config *cfg = ctx->cfg;
  uint64_t now, end;

  if (c->closing || c->sock.lingering)
    return;
  if (conn_sending(c)) {
    sock_timeout(&c->sock, cfg->send_timeout_ms);
  } else if (c->count == 0) {
    sock_timeout(&c->sock, cfg->keepalive_timeout_ms);
  } else if (c->parsing && c->sock.reading && http_parse_in_body(c->parser)) {
    sock_timeout(&c->sock, cfg->body_timeout_ms);
  } else if (c->parsing && c->sock.reading) {
    now = uv_now(ctx->loop);
    end = parsing_req(c)->started + cfg->header_timeout_ms;
    sock_timeout(&c->sock, end > now ? end - now : 0);
  } else {
    sock_timeout_stop(&c->sock);
  }
}

void http_conn_timer(http_conn *c) {
  conn_arm_timer(c);
}

/* The socket's handles are closed: the connection is freed. */
static void conn_on_closed(void *owner) {
  http_conn *c = owner;

  if (c->reqs != NULL) {
    for (unsigned i = 0; i < HTTP_PIPELINE_MAX; i++)
      tdm_buf_free(&c->reqs[i].resp);
    free(c->reqs);
  }
  tdm_buf_free(&c->in);
  http_parse_put(c->parser);
  tdm_buf_free(&c->body);
  free(c);
}

static void conn_close(http_conn *c) {
  if (c->closing)
    return;
  c->closing = 1;
  /* Cancel what handlers are doing for us. */
  while (c->count > 0) {
    req_release(conn_req(c, 0), TDM_CANCEL_CLIENT_GONE);
    access_req_forget(&conn_req(c, 0)->alog);
    c->head = (c->head + 1) % HTTP_PIPELINE_MAX;
    c->count--;
  }
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    all_conns = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  nconns--;
  sock_close(&c->sock);
  hooks->conn_gone(hooks->arg);
}

int http_conn_count(void) {
  return nconns;
}

void http_conn_stop_all(void) {
  http_conn *c, *next;

  for (c = all_conns; c != NULL; c = next) {
    next = c->next;
    if (c->count == 0 && !conn_sending(c)) {
      conn_close(c);
    } else if (c->count == 0) {
      /* Its last response is still being written: close after it. */
      c->read_done = 1;
      conn_stop_reading(c);
      sock_end(&c->sock);
    } else if (!c->parsing) {
      /* Answer what was asked; read nothing more (a request in the middle of
       * its head or body is read to its end, then on_message_begin stops). */
      c->read_done = 1;
      conn_stop_reading(c);
    }
  }
}

void http_conn_close_all(void) {
  while (all_conns != NULL)
    conn_close(all_conns);
}

/* The client has not taken all the output at once: the send timeout runs. */
static void conn_on_write_wait(void *owner) {
  conn_arm_timer(owner);
}

static const sock_cb conn_sock_cb = {
  .on_read = conn_on_read,
  .on_end = conn_on_end,
  .on_written = conn_on_written,
  .on_write_wait = conn_on_write_wait,
  .on_timeout = conn_on_timeout,
  .on_closed = conn_on_closed,
};

static http_conn *conn_new(void) {
  http_conn *c = calloc(1, sizeof(*c));   /* owner: itself, freed in conn_on_closed */

  if (c == NULL)
    return NULL;
  c->ctx = ctx;
  sock_init(&c->sock, ctx, &conn_sock_cb, c, HTTP_OUT_CAP);
  tdm_buf_init(&c->in, HTTP_READ_SIZE * 2);
  tdm_buf_init(&c->body, 4 * HTTP_READ_SIZE);
  return c;
}

void http_conn_init(tdm_ctx *x, const http_hooks *h) {
  ctx = x;
  hooks = h;
}

static void conn_start(http_conn *c) {
  sock *sk = &c->sock;

  snprintf(c->peer, sizeof(c->peer), "%s:%u", sk->peer_host, (unsigned) sk->peer_port);
  c->next = all_conns;
  if (all_conns != NULL)
    all_conns->prev = c;
  all_conns = c;
  nconns++;
  conn_arm_timer(c);
  if (sock_read_start(sk) != 0)
    conn_close(c);
}

void http_conn_accept(uv_stream_t *listener) {
  http_conn *c = conn_new();

  if (c == NULL) {
    log_error("out of memory accepting a client");
    sock_refuse(listener);
    return;
  }
  if (sock_accept(&c->sock, listener) != 0) {
    sock_close(&c->sock);
    return;
  }
  conn_start(c);
}

int http_conn_open_fd(int fd) {
  http_conn *c = conn_new();
  int rc;

  if (c == NULL)
    return UV_ENOMEM;
  rc = sock_open_fd(&c->sock, fd);
  if (rc != 0) {
    sock_close(&c->sock);
    return rc;
  }
  conn_start(c);
  return 0;
}
