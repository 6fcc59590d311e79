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
 *
 * Calls: ctx, outbuf, http_head, config, log and the codec by name; handlers
 * only through req->handler, and the server through the hooks.
 */
#include "http_conn.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <llhttp.h>

#include "http_head.h"
#include "log.h"
#include "outbuf.h"

#define HTTP_PIPELINE_MAX 8
#define HTTP_READ_SIZE (64 * 1024)
#define HTTP_OUT_HIGH (256 * 1024)          /* stop producing above this much unwritten output */
#define HTTP_OUT_CAP (64 * 1024 * 1024)     /* hard cap of any one output buffer */
#define HTTP_MAX_HEADERS 128
#define HTTP_MAX_URL 8192
#define HTTP_LINGER_MS 2000

struct http_req {
  http_conn *conn;
  const http_handler *handler;   /* NULL: answered by the connection itself, or not yet */
  void *hdata;                   /* owner: the handler */
  uint8_t method;
  unsigned http10 : 1;
  unsigned keep_alive : 1;
  unsigned has_body : 1;         /* the head announces a body */
  unsigned body_done : 1;        /* the client sent the whole body */
  unsigned body_taken : 1;       /* the handler forwards the body (it cannot be skipped) */
  unsigned held : 1;             /* the parser waits after this head */
  unsigned resp_started : 1;     /* the status line has been produced */
  unsigned resp_done : 1;        /* the whole response has been produced */
  unsigned close_after : 1;      /* close the connection after this response */
  unsigned no_body : 1;          /* HEAD, 204, 304: framing headers only */
  unsigned chunked : 1;
  unsigned expect_continue : 1;  /* the client waits for 100 Continue */
  int status;
  int64_t remaining;             /* Content-Length bytes still due, -1 if none */
  tdm_buf resp;                  /* output held while not at the head; owner: req */
  uint64_t body_bytes;           /* response body bytes, for the access log */
  uint64_t started;
};

struct hdr_span {
  uint32_t name_off, name_len, value_off, value_len;
};

struct http_conn {
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } h;
  tdm_ctx *ctx;
  uv_timer_t timer;
  uv_shutdown_t sreq;
  flushable fl;
  llhttp_t parser;
  http_req reqs[HTTP_PIPELINE_MAX];
  unsigned head;                 /* index of the oldest request */
  unsigned count;                /* requests in the ring */
  unsigned parsing : 1;          /* a message has begun and is not complete */
  unsigned reading : 1;
  unsigned paused : 1;           /* llhttp paused; unparsed bytes in `in` */
  unsigned read_done : 1;        /* no more requests will be read */
  unsigned close_when_flushed : 1;
  unsigned lingering : 1;
  unsigned closing : 1;
  unsigned header_value : 1;     /* the last header callback was a value */
  unsigned value_at_end : 1;     /* the last value span ended at the end of the input */
  unsigned bad_header : 1;       /* a header value held CR, LF or NUL, or was folded */
  unsigned in_body : 1;          /* the request being parsed is past its head */
  unsigned send_stalled : 1;     /* sendfile waits for the client's socket to take more */
  int parse_status;              /* the status for a head our callbacks refused (HPE_USER) */
  const char *exec_start;        /* the input llhttp is working on */
  const char *exec_end;
  size_t trailer_bytes;          /* trailer fields of the body being parsed */
  int pending_closes;
  tdm_buf in;                    /* unparsed input kept while paused; owner: conn */
  tdm_buf head_buf;              /* url and headers of the request being parsed; owner: conn */
  uint32_t url_off, url_len;
  struct hdr_span hdrs[HTTP_MAX_HEADERS];
  unsigned nhdrs;
  tdm_header hdr_out[HTTP_MAX_HEADERS];
  tdm_request rq;                /* head of the request being parsed, points into head_buf */
  http_target target;            /* its raw path and query, pointing into head_buf */
  const char *norm;              /* its normalised path in head_buf, NULL if not a path */
  size_t norm_len;
  uint64_t body_received;
  http_req *body_req;            /* the request whose body sits in `body` */
  tdm_buf body;                  /* request body not yet forwarded; owner: conn */
  outbuf ob;                     /* output to the client; owner: conn */
  char peer[INET6_ADDRSTRLEN + 16];     /* "host:port", for the log */
  char peer_host[INET6_ADDRSTRLEN];
  char local_host[INET6_ADDRSTRLEN];
  uint32_t peer_port, local_port;
  struct http_conn *prev, *next; /* all connections, for shutdown */
};

static tdm_ctx *ctx;                     /* given by http_conn_init(); not owned */
static const http_hooks *hooks;
static http_conn *all_conns;
static int nconns;
static llhttp_settings_t parser_settings;
static char read_buffer[HTTP_READ_SIZE];      /* reads are handled before the next one */
static int read_buffer_busy;

static void conn_close(http_conn *c);
static void conn_parse(http_conn *c, const char *data, size_t len);
static void conn_maybe_resume(http_conn *c);
static void conn_arm_timer(http_conn *c);
static void conn_stop_reading(http_conn *c);
static void conn_retire(http_conn *c);
static void req_response_too_late(http_req *req);

static http_req *conn_req(http_conn *c, unsigned i) {
  return &c->reqs[(c->head + i) % HTTP_PIPELINE_MAX];
}

static http_req *parsing_req(http_conn *c) {
  return conn_req(c, c->count - 1);
}

/* Output waits for the client to take it. */
static int conn_sending(const http_conn *c) {
  return outbuf_pending(&c->ob) > 0 || c->send_stalled;
}

/* Tells req's handler, if it has one, to let go of it; then it has none. */
static void req_release(http_req *req, uint32_t code) {
  const http_handler *h = req->handler;

  req->handler = NULL;
  req->body_taken = 0;
  if (h != NULL && h->release != NULL)
    h->release(req, code);
  req->hdata = NULL;
  if (req->conn->body_req == req) {
    req->conn->body_req = NULL;
    req->conn->body.len = 0;
  }
}

/* ---- the request, for its handler ----------------------------------------- */

void http_req_set_handler(http_req *req, const http_handler *h, void *data) {
  req->handler = h;
  req->hdata = data;
  req->body_taken = 0;
}

void *http_req_handler_data(const http_req *req) {
  return req->hdata;
}

tdm_ctx *http_req_ctx(const http_req *req) {
  return req->conn->ctx;
}

const tdm_request *http_req_head(const http_req *req) {
  return &req->conn->rq;
}

const char *http_req_path(const http_req *req, size_t *len) {
  *len = req->conn->norm_len;
  return req->conn->norm;
}

const char *http_req_raw_path(const http_req *req, size_t *len) {
  *len = req->conn->target.path_len;
  return req->conn->target.path;
}

int http_req_method(const http_req *req) {
  return req->method;
}

int http_req_is_head(const http_req *req) {
  return req->conn->count > 0 && &req->conn->reqs[req->conn->head] == req;
}

int http_req_responded(const http_req *req) {
  return req->resp_started;
}

const char *http_req_peer(const http_req *req) {
  return req->conn->peer;
}

void http_req_hold(http_req *req) {
  req->held = 1;
}

void http_req_unhold(http_req *req) {
  req->held = 0;
  conn_maybe_resume(req->conn);
}

void http_req_take_body(http_req *req) {
  req->body_taken = 1;
  req->conn->body_req = req;
}

void http_req_drop_body(http_req *req) {
  req->body_taken = 0;
  if (req->conn->body_req == req) {
    req->conn->body_req = NULL;
    req->conn->body.len = 0;
  }
}

tdm_buf *http_req_body(http_req *req) {
  return req->conn->body_req == req ? &req->conn->body : NULL;
}

int http_req_body_complete(const http_req *req) {
  return req->body_done || !req->has_body;
}

void http_req_read_on(http_req *req) {
  conn_maybe_resume(req->conn);
}

/* ---- output -------------------------------------------------------------- */

static void req_emit(http_req *req, const char *data, size_t len) {
  http_conn *c = req->conn;
  tdm_buf *dst = http_req_is_head(req) ? &c->ob.out : &req->resp;

  if (len == 0 || c->closing)
    return;
  if (tdm_buf_append(dst, data, len) != 0) {
    /* Only a peer ignoring flow control gets here; there is no safe way to
     * finish this response. */
    log_error("client %s: output buffer over %d bytes, closing", c->peer, HTTP_OUT_CAP);
    conn_close(c);
    return;
  }
  if (dst == &c->ob.out)
    ctx_schedule_flush(ctx, &c->fl);
}

int http_req_writable(const http_req *req) {
  if (http_req_is_head(req))
    return outbuf_pending(&req->conn->ob) < HTTP_OUT_HIGH;
  return req->resp.len < HTTP_OUT_HIGH;
}

size_t http_req_unsent(const http_req *req) {
  return http_req_is_head(req) ? req->conn->ob.out.len : req->resp.len;
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

static void conn_write_cb(uv_write_t *wr, int status) {
  http_conn *c = wr->data;

  outbuf_written(&c->ob);
  if (c->closing)
    return;
  conn_arm_timer(c);          /* progress: the send timeout starts again */
  if (status < 0) {
    log_debug("client %s: write failed: %s", c->peer, uv_strerror(status));
    conn_close(c);
    return;
  }
  /* The client took the bytes: let the head request produce more. */
  if (c->ob.out.len < HTTP_OUT_HIGH / 2) {
    conn_head_writable(c);
    if (c->closing)
      return;
  }
  if (c->ob.out.len > 0 || c->close_when_flushed)
    ctx_schedule_flush(ctx, &c->fl);
}

static void conn_linger_timeout(uv_timer_t *t) {
  conn_close(t->data);
}

static void conn_linger_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void) h;
  (void) suggested;
  *buf = uv_buf_init(read_buffer, sizeof(read_buffer));
}

static void conn_linger_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  (void) buf;
  if (nread < 0)
    conn_close(s->data);
}

/* After the last response of a connection we close: send FIN, then read and
 * drop whatever the client still sends for a short while, so that unread
 * input does not make the kernel answer with RST and destroy the response
 * before the client reads it (what nginx calls lingering close). */
static void conn_shutdown_cb(uv_shutdown_t *req, int status) {
  http_conn *c = req->data;

  if (c->closing)
    return;
  if (status < 0) {
    conn_close(c);
    return;
  }
  c->lingering = 1;
  uv_read_stop(&c->h.stream);
  if (uv_read_start(&c->h.stream, conn_linger_alloc, conn_linger_read) != 0) {
    conn_close(c);
    return;
  }
  uv_timer_start(&c->timer, conn_linger_timeout, HTTP_LINGER_MS, 0);
}

static void conn_on_flush(flushable *f) {
  http_conn *c = (http_conn *) ((char *) f - offsetof(http_conn, fl));

  if (c->closing || c->ob.writing || c->lingering)
    return;
  if (c->ob.out.len == 0) {
    if (c->close_when_flushed && c->count == 0) {
      c->lingering = 1;       /* no more output; one shutdown */
      c->sreq.data = c;
      if (uv_shutdown(&c->sreq, &c->h.stream, conn_shutdown_cb) != 0)
        conn_close(c);
    }
    return;
  }
  if (outbuf_write(&c->ob, &c->h.stream, conn_write_cb, c) != 0)
    conn_close(c);
}

/* ---- response framing ----------------------------------------------------- */

static void access_log(http_req *req) {
  if (!ctx->cfg->access_log)
    return;
  log_msg(LOG_INFO, "%s \"%s\" %d %" PRIu64 " %" PRIu64 "ms", req->conn->peer,
          llhttp_method_name((llhttp_method_t) req->method), req->status, req->body_bytes,
          uv_now(ctx->loop) - req->started);
}

#define LIT(s) s, sizeof(s) - 1

/* Writes v in decimal at dst; returns the length. */
static size_t fmt_u64(char *dst, uint64_t v) {
  char tmp[20];
  size_t n = 0, i;

  do {
    tmp[n++] = (char) ('0' + v % 10);
    v /= 10;
  } while (v != 0);
  for (i = 0; i < n; i++)
    dst[i] = tmp[n - 1 - i];
  return n;
}

/* How the body will be framed: content-length, chunked, until the close
 * (HTTP/1.0 without a length), or none at all. */
static void req_set_framing(http_req *req, int status, int64_t content_length) {
  req->no_body = req->method == HTTP_HEAD || status == 204 || status == 304 ||
                 (status >= 100 && status < 200);
  req->chunked = 0;
  req->remaining = -1;
  if (status == 204 || status == 304)
    return;
  if (content_length >= 0)
    req->remaining = content_length;
  else if (!req->http10)
    req->chunked = !req->no_body;
  else if (!req->no_body)
    req->close_after = 1;
}

/* A header block is written in three steps: http_resp_begin() (the status
 * line), the header lines, and http_resp_end_head() (the headers every
 * response gets and the blank line).  No formatting through printf: this
 * runs for every response. */
void http_resp_begin(http_req *req, int status, int64_t content_length) {
  char line[64];
  const char *reason = http_status_reason(status);
  size_t rlen = strlen(reason), len;

  req_set_framing(req, status, content_length);
  req->status = status;
  req->resp_started = 1;
  if (!req->keep_alive || req->conn->read_done)
    req->close_after = 1;
  memcpy(line, "HTTP/1.1 ", 9);
  len = 9 + fmt_u64(line + 9, (uint64_t) status);
  line[len++] = ' ';
  memcpy(line + len, reason, rlen);
  len += rlen;
  line[len++] = '\r';
  line[len++] = '\n';
  req_emit(req, line, len);
}

void http_resp_header(http_req *req, const char *name, size_t nlen, const char *value, size_t vlen) {
  req_emit(req, name, nlen);
  req_emit(req, ": ", 2);
  req_emit(req, value, vlen);
  req_emit(req, "\r\n", 2);
}

void http_resp_header_lines(http_req *req, const char *lines, size_t len) {
  req_emit(req, lines, len);
}

void http_resp_end_head(http_req *req, int have_date, int have_server) {
  char line[256];
  size_t len = 0, date_len;
  const char *date;

#define PUT(str, n) (memcpy(line + len, str, n), len += (n))
#define PUTS(lit) PUT(lit, sizeof(lit) - 1)
  if (!have_server)
    PUTS("server: tandem\r\n");
  if (!have_date) {
    date = ctx_date_line(ctx, &date_len);
    PUT(date, date_len);
  }
  if (req->chunked) {
    PUTS("transfer-encoding: chunked\r\n");
  } else if (req->remaining >= 0) {
    PUTS("content-length: ");
    len += fmt_u64(line + len, (uint64_t) req->remaining);
    PUTS("\r\n");
  }
  if (req->close_after)
    PUTS("connection: close\r\n");
  else if (req->http10)
    PUTS("connection: keep-alive\r\n");
  PUTS("\r\n");
#undef PUTS
#undef PUT
  req_emit(req, line, len);
  if (req->method == HTTP_HEAD || req->status == 204 || req->status == 304)
    req->remaining = 0;
}

void http_req_start(http_req *req, int status, const char *headers, size_t headers_len,
                    int64_t content_length) {
  http_resp_begin(req, status, content_length);
  req_emit(req, headers, headers_len);
  http_resp_end_head(req, 0, 0);
}

void http_req_write(http_req *req, const char *data, size_t len) {
  char hex[24];
  int n;

  if (len == 0 || req->no_body || req->resp_done)
    return;
  if (req->remaining >= 0) {
    if ((int64_t) len > req->remaining) {
      log_warn("response %d: more body than its content-length; truncated", req->status);
      len = (size_t) req->remaining;
      req->close_after = 1;
    }
    req->remaining -= len;
  }
  req->body_bytes += len;
  if (req->chunked) {
    n = snprintf(hex, sizeof(hex), "%zx\r\n", len);
    req_emit(req, hex, n);
    req_emit(req, data, len);
    req_emit(req, "\r\n", 2);
  } else {
    req_emit(req, data, len);
  }
}

int http_req_no_body(const http_req *req) {
  return req->no_body;
}

int http_req_idle_head(const http_req *req) {
  return http_req_is_head(req) && outbuf_pending(&req->conn->ob) == 0 && !req->conn->closing;
}

int http_req_socket(const http_req *req) {
  uv_os_fd_t fd = -1;

  uv_fileno((const uv_handle_t *) &req->conn->h.handle, &fd);
  return fd;
}

void http_req_sent(http_req *req, size_t n) {
  if (req->remaining >= 0)
    req->remaining -= (int64_t) n < req->remaining ? (int64_t) n : req->remaining;
  req->body_bytes += n;
  req->conn->send_stalled = 0;
  conn_arm_timer(req->conn);
}

void http_req_wait_client(http_req *req) {
  req->conn->send_stalled = 1;
  conn_arm_timer(req->conn);
}

/* The response is complete (aborted: it cannot be completed, and the
 * connection closes without a chunked terminator). */
static void req_end_response(http_req *req, int aborted) {
  if (req->resp_done)
    return;
  if (!aborted && req->chunked)
    req_emit(req, "0\r\n\r\n", 5);
  if (aborted || (req->remaining > 0 && !req->no_body))
    req->close_after = 1;
  req->resp_done = 1;
  access_log(req);
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

void http_req_close_after(http_req *req) {
  req->close_after = 1;
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

void http_req_continue(http_req *req) {
  /* Only the head of the pipeline may answer without breaking response
   * order; a later one's client sends its body after its own short wait, as
   * RFC 9110 section 10.1.1 lets it. */
  if (req->expect_continue && http_req_is_head(req))
    req_emit(req, LIT("HTTP/1.1 100 Continue\r\n\r\n"));
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
  req->remaining = -1;
}

/* Takes the head request out of the ring. */
static void conn_pop(http_conn *c, uint32_t code) {
  http_req *head = conn_req(c, 0);

  req_release(head, code);
  if (head->resp.size > HTTP_OUT_HIGH)
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
 * moves into the connection's.  Returns -1 if the connection closed. */
static int conn_retire_head(http_conn *c) {
  http_req *head = conn_req(c, 0);
  int last = head->close_after;

  if (last) {
    c->close_when_flushed = 1;
    conn_stop_reading(c);
    c->read_done = 1;
    c->parsing = 0;
  }
  conn_pop(c, TDM_CANCEL_NO_ERROR);
  if (c->close_when_flushed) {
    while (c->count > 0)
      conn_pop(c, TDM_CANCEL_CLIENT_GONE);
    return 0;
  }
  if (c->count == 0)
    return 0;
  head = conn_req(c, 0);
  if (head->resp.len > 0) {
    if (tdm_buf_append(&c->ob.out, head->resp.base, head->resp.len) != 0) {
      conn_close(c);
      return -1;
    }
    head->resp.len = 0;
  }
  if (outbuf_pending(&c->ob) < HTTP_OUT_HIGH)
    conn_head_writable(c);
  return c->closing ? -1 : 0;
}

/* Retires finished requests from the head of the pipeline. */
static void conn_retire(http_conn *c) {
  if (c->closing)
    return;
  while (c->count > 0 && conn_head_done(c))
    if (conn_retire_head(c) != 0)
      return;
  if (c->read_done && c->count == 0)
    c->close_when_flushed = 1;
  ctx_schedule_flush(ctx, &c->fl);
  conn_arm_timer(c);
  conn_maybe_resume(c);
}

/* ---- parsing ------------------------------------------------------------- */

/* Our callbacks refuse a head with HPE_USER and say which status to answer. */
static int parse_refuse(http_conn *c, int status, const char *reason) {
  c->parse_status = status;
  llhttp_set_error_reason(&c->parser, reason);
  return HPE_USER;
}

static int head_append(http_conn *c, const char *at, size_t len) {
  if (c->head_buf.len + len > ctx->cfg->max_header_size)
    return parse_refuse(c, 431, "request head too large");
  if (tdm_buf_append(&c->head_buf, at, len) != 0)
    return parse_refuse(c, 431, "request head too large");
  return 0;
}

static int on_message_begin(llhttp_t *p) {
  http_conn *c = p->data;
  http_req *req;

  if (c->read_done || c->closing)
    return HPE_PAUSED;
  if (ctx->stopping) {
    /* Shutting down: no new request; the connection closes after the last
     * response (conn_retire). */
    c->read_done = 1;
    conn_stop_reading(c);
    if (c->count == 0)
      c->close_when_flushed = 1;
    ctx_schedule_flush(ctx, &c->fl);
    return HPE_PAUSED;
  }

  /* The ring has room: on_message_complete pauses when it is full. */
  c->count++;
  req = parsing_req(c);
  req_reset(req);
  req->started = uv_now(ctx->loop);
  c->parsing = 1;
  c->head_buf.len = 0;
  c->url_off = c->url_len = 0;
  c->nhdrs = 0;
  c->header_value = 0;
  c->bad_header = 0;
  c->body_received = 0;
  c->in_body = 0;
  c->trailer_bytes = 0;
  c->body.len = 0;
  c->body_req = NULL;
  conn_arm_timer(c);
  return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len) {
  http_conn *c = p->data;

  if (c->read_done || c->closing)
    return HPE_PAUSED;
  if (c->url_len + len > HTTP_MAX_URL)
    return parse_refuse(c, 414, "URI too long");
  c->url_len += len;
  return head_append(c, at, len);
}

/* Trailer fields of a chunked body come through the header callbacks too.
 * They are not forwarded (the head has been sent, or is about to be, from
 * head_buf, which must not move), only counted against the head's limit. */
static int on_trailer(http_conn *c, size_t len) {
  c->trailer_bytes += len;
  if (c->trailer_bytes > ctx->cfg->max_header_size)
    return parse_refuse(c, 431, "request head too large");
  return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len) {
  http_conn *c = p->data;
  struct hdr_span *h;

  if (c->read_done || c->closing)
    return HPE_PAUSED;
  if (c->in_body)
    return on_trailer(c, len);

  if (c->nhdrs == 0 || c->header_value) {
    if (c->nhdrs == HTTP_MAX_HEADERS)
      return parse_refuse(c, 431, "too many headers");
    h = &c->hdrs[c->nhdrs++];
    h->name_off = c->head_buf.len;
    h->name_len = 0;
    h->value_off = 0;
    h->value_len = 0;
    c->header_value = 0;
  }
  c->hdrs[c->nhdrs - 1].name_len += len;
  return head_append(c, at, len);
}

static int on_header_value(llhttp_t *p, const char *at, size_t len) {
  http_conn *c = p->data;
  struct hdr_span *h;

  if (c->read_done || c->closing)
    return HPE_PAUSED;
  if (c->in_body)
    return on_trailer(c, len);
  h = &c->hdrs[c->nhdrs - 1];

  if (!c->header_value)
    h->value_off = c->head_buf.len;
  /* llhttp 8 accepts obs-fold (a value continued on the next line) and
   * reports the continuation as another span of the same value.  A second
   * span is legitimate only when the first ended with the input and this one
   * starts the next input; RFC 9112 section 5.2 lets a server reject obs-fold,
   * and we do, as h11 and nginx do. */
  if (c->header_value && !(c->value_at_end && at == c->exec_start))
    c->bad_header = 1;
  c->value_at_end = at + len == c->exec_end;
  c->header_value = 1;
  h->value_len += len;
  /* llhttp 8 passes an obs-fold line break inside the value. */
  if (memchr(at, '\r', len) != NULL || memchr(at, '\n', len) != NULL || memchr(at, '\0', len) != NULL)
    c->bad_header = 1;
  return head_append(c, at, len);
}

/* After an answer that closes the connection: read nothing more. */
static int stop_parsing(http_conn *c) {
  c->read_done = 1;
  conn_stop_reading(c);
  return HPE_PAUSED;
}

/* Fills c->rq, the head as the codec sends it, from the parsed spans. */
static void head_build(http_conn *c, const http_req *req, const char *decoded, size_t dlen) {
  tdm_request *rq = &c->rq;

  rq->flags = 0;
  rq->method.ptr = llhttp_method_name((llhttp_method_t) req->method);
  rq->method.len = (uint32_t) strlen(rq->method.ptr);
  rq->target.ptr = c->head_buf.base + c->url_off;
  rq->target.len = c->url_len;
  rq->path.ptr = decoded;
  rq->path.len = (uint32_t) dlen;
  rq->query.ptr = c->target.query != NULL ? c->target.query : "";
  rq->query.len = (uint32_t) c->target.query_len;
  rq->http_version.ptr = req->http10 ? "1.0" : "1.1";
  rq->http_version.len = 3;
  rq->headers = c->hdr_out;
  rq->nheaders = c->nhdrs;
  rq->client.present = c->peer_host[0] != '\0';
  rq->client.host.ptr = c->peer_host;
  rq->client.host.len = (uint32_t) strlen(c->peer_host);
  rq->client.port = c->peer_port;
  rq->server.present = c->local_host[0] != '\0';
  rq->server.host.ptr = c->local_host;
  rq->server.host.len = (uint32_t) strlen(c->local_host);
  rq->server.port = c->local_port;
  rq->scheme.ptr = "http";
  rq->scheme.len = 4;
  rq->body.ptr = NULL;
  rq->body.len = 0;
}

/* Checks the head's headers and framing.  Returns 0, or the status with
 * which the request was refused. */
static int head_check(http_conn *c, http_req *req, llhttp_t *p) {
  http_head_info info;
  const char *why = NULL;
  int status;

  for (unsigned i = 0; i < c->nhdrs; i++) {
    c->hdr_out[i].name.ptr = c->head_buf.base + c->hdrs[i].name_off;
    c->hdr_out[i].name.len = c->hdrs[i].name_len;
    c->hdr_out[i].value.ptr = c->head_buf.base + c->hdrs[i].value_off;
    c->hdr_out[i].value.len = c->hdrs[i].value_len;
  }
  if (http_scan_headers(c->hdr_out, c->nhdrs, &info) != 0 || c->bad_header) {
    http_req_local(req, 400, NULL, "Bad Request: invalid header value\n", 1);
    return 400;
  }
  status = http_check_framing(&info, req->http10, &why);
  if (status != 0) {
    char body[96];
    snprintf(body, sizeof(body), "%s: %s\n", http_status_reason(status), why);
    http_req_local(req, status, NULL, body, 1);
    return status;
  }
  if (ctx->cfg->max_body_size > 0 && (p->flags & F_CONTENT_LENGTH) &&
      p->content_length > ctx->cfg->max_body_size) {
    http_req_local(req, 413, NULL, "Content Too Large\n", 1);
    return 413;
  }
  req->expect_continue = info.expect_continue && !req->http10 && req->has_body;
  return 0;
}

/* Splits the target, decodes and normalises its path into head_buf (room
 * reserved by the caller).  Returns 0, or the status it was refused with. */
static int head_path(http_conn *c, http_req *req) {
  char *decoded, *norm;
  ssize_t dlen, nlen;

  http_split_target(c->head_buf.base + c->url_off, c->url_len, &c->target);
  decoded = c->head_buf.base + c->head_buf.len;
  dlen = http_percent_decode(c->target.path, c->target.path_len, decoded);
  if (dlen < 0) {
    http_req_local(req, 400, NULL, "Bad Request: invalid percent-encoding in the path\n", 1);
    return 400;
  }
  if (dlen == 0)
    decoded[dlen++] = '/';
  c->head_buf.len += dlen;
  head_build(c, req, decoded, (size_t) dlen);

  /* A path that climbs above the root is refused whatever serves it (as
   * nginx does); static mounts match on the normalized path.  This holds for
   * the origin form ("/a/b") and the absolute form ("http://h/a/b") alike. */
  c->norm = NULL;
  c->norm_len = 0;
  if (decoded[0] != '/')
    return 0;
  norm = c->head_buf.base + c->head_buf.len;
  memcpy(norm, decoded, (size_t) dlen);
  nlen = http_normalize_path(norm, (size_t) dlen);
  if (nlen < 0) {
    http_req_local(req, 400, NULL, "Bad Request: the path climbs above the root\n", 1);
    return 400;
  }
  c->norm = norm;
  c->norm_len = (size_t) nlen;
  return 0;
}

/* The request head is complete: check it, then hand it to the route hook,
 * which gives it a handler or answers it. */
static int on_headers_complete(llhttp_t *p) {
  http_conn *c = p->data;
  http_req *req;

  if (c->read_done || c->closing || !c->parsing)
    return HPE_PAUSED;
  c->in_body = 1;
  req = parsing_req(c);
  req->method = (uint8_t) llhttp_get_method(p);
  req->http10 = p->http_major == 1 && p->http_minor == 0;
  req->keep_alive = llhttp_should_keep_alive(p);
  req->has_body = (p->flags & F_CHUNKED) || ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0);
  req->remaining = -1;

  /* The decoded path and its normalized copy go after the head bytes;
   * reserve first so the pointers taken below stay valid. */
  if (tdm_buf_reserve(&c->head_buf, 2 * (size_t) c->url_len + 2) != 0)
    return parse_refuse(c, 431, "request head too large");
  if (head_check(c, req, p) != 0 || head_path(c, req) != 0)
    return stop_parsing(c);
  hooks->route(req);
  if (c->closing)
    return HPE_PAUSED;
  /* A held request pauses its connection's parser right after its head, so
   * its head stays where it is and its body stays unread. */
  return req->held ? HPE_PAUSED : 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len) {
  http_conn *c = p->data;
  http_req *req;

  if (c->read_done || c->closing || !c->parsing)
    return HPE_PAUSED;
  req = parsing_req(c);

  c->body_received += len;
  if (ctx->cfg->max_body_size > 0 && c->body_received > ctx->cfg->max_body_size) {
    if (!req->resp_started)
      http_req_local(req, 413, NULL, "Content Too Large\n", 1);
    else if (req->resp_done)
      req_response_too_late(req);
    else
      req->close_after = 1;       /* the response in progress is the last */
    return HPE_PAUSED;    /* nothing more of this connection is read */
  }
  if (c->body_req == req && tdm_buf_append(&c->body, at, len) != 0)
    return parse_refuse(c, 413, "request body buffer full");
  return 0;
}

static void req_on_body(http_req *req) {
  if (req->body_taken && req->handler != NULL && req->handler->on_body != NULL)
    req->handler->on_body(req);
}

static int on_message_complete(llhttp_t *p) {
  http_conn *c = p->data;
  http_req *req;

  if (c->read_done || c->closing || !c->parsing)
    return HPE_PAUSED;
  req = parsing_req(c);

  c->parsing = 0;
  req->body_done = 1;
  req_on_body(req);
  if (c->closing)
    return HPE_PAUSED;
  conn_retire(c);
  if (c->closing)
    return HPE_PAUSED;
  /* Pause before the next request if there is no slot for it, or if this
   * one's body still waits to be passed on (conn->body must be free first). */
  if (c->count == HTTP_PIPELINE_MAX || c->body.len > 0 || c->read_done)
    return HPE_PAUSED;
  conn_arm_timer(c);
  return 0;
}

static void conn_stop_reading(http_conn *c) {
  if (c->reading) {
    uv_read_stop(&c->h.stream);
    c->reading = 0;
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

/* llhttp refused the input (or one of our callbacks did): answer and read
 * nothing more. */
static void conn_parse_error(http_conn *c, llhttp_errno_t err) {
  const char *reason = llhttp_get_error_reason(&c->parser);
  int status = err == HPE_USER && c->parse_status != 0 ? c->parse_status : 400;
  http_req *req;

  log_debug("client %s: bad request: %s (%s)", c->peer, llhttp_errno_name(err), reason ? reason : "");
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
  http_req_local(req, status, NULL, status == 414 ? "URI Too Long\n" :
                                    status == 431 ? "Request Header Fields Too Large\n" :
                                    status == 413 ? "Content Too Large\n" : "Bad Request\n", 1);
}

/* Feeds data to the parser; keeps what it does not take while paused. */
static void conn_parse(http_conn *c, const char *data, size_t len) {
  llhttp_errno_t err;

  c->exec_start = data;
  c->exec_end = data + len;
  c->parse_status = 0;
  err = llhttp_execute(&c->parser, data, len);
  if (c->closing)
    return;
  if (err == HPE_PAUSED_UPGRADE) {
    /* A request asking to upgrade (Upgrade: websocket, h2c) went to its
     * handler as an ordinary request; no protocol switch is offered, so the
     * connection goes on as HTTP/1.1 with what follows it. */
    size_t used = (size_t) (llhttp_get_error_pos(&c->parser) - data);
    llhttp_resume_after_upgrade(&c->parser);
    if (used < len) {
      conn_parse(c, data + used, len - used);
      return;
    }
    err = HPE_OK;
  }
  if (err == HPE_PAUSED) {
    llhttp_resume(&c->parser);
    if (!c->read_done)
      conn_keep_input(c, data, len, (size_t) (llhttp_get_error_pos(&c->parser) - data));
    return;
  }
  if (err != HPE_OK) {
    conn_parse_error(c, err);
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
}

/* ---- reading ------------------------------------------------------------- */

static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void) h;
  (void) suggested;
  if (read_buffer_busy) {
    buf->base = NULL;
    buf->len = 0;
    return;
  }
  read_buffer_busy = 1;
  *buf = uv_buf_init(read_buffer, sizeof(read_buffer));
}

static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  http_conn *c = s->data;

  read_buffer_busy = 0;
  (void) buf;
  if (nread == 0)
    return;
  if (nread < 0) {
    if (nread != UV_EOF)
      log_debug("client %s: read: %s", c->peer, uv_strerror((int) nread));
    /* End of input is taken as the client leaving, as nginx and Go's
     * net/http take it: close() and shutdown(SHUT_WR) look the same from
     * here, clients that half-close are rare, and a client that has gone
     * must not keep backends working for it (its streams are cancelled). */
    conn_close(c);
    return;
  }
  /* The header timeout bounds the whole head; for a body it bounds the gap
   * between two reads, so a long upload that keeps moving is not cut. */
  if (c->parsing && c->in_body)
    conn_arm_timer(c);
  conn_parse(c, read_buffer, (size_t) nread);
}

static void conn_maybe_resume(http_conn *c) {
  if (c->count > 0 && parsing_req(c)->held)
    return;
  if (c->closing || c->read_done || c->lingering)
    return;
  if (c->body.len > 0 || c->count == HTTP_PIPELINE_MAX)
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
  if (!c->reading && uv_read_start(&c->h.stream, conn_alloc_cb, conn_read_cb) == 0) {
    c->reading = 1;
    conn_arm_timer(c);
  }
}

/* ---- timers and lifetime -------------------------------------------------- */

static void conn_on_timeout(uv_timer_t *t) {
  http_conn *c = t->data;

  if (conn_sending(c)) {
    log_info("client %s: took no response bytes for %u s; closing", c->peer,
             ctx->cfg->header_timeout_ms / 1000);
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
    log_debug("client %s: request timeout", c->peer);
    c->read_done = 1;
    c->parsing = 0;
    req->body_done = 1;
    conn_stop_reading(c);
    http_req_local(req, 408, NULL, "Request Timeout\n", 1);
  }
}

/* The timer runs only while we wait for the client: to take response bytes
 * (send timeout, restarted by each write that completes), to send the next
 * request (keep-alive timeout), or to send the rest of the one it began
 * (header timeout, restarted by each read of its body).  Not while only a
 * handler is working, nor while the frontend itself has stopped reading
 * because a backend's window is closed or the request waits for a backend. */
static void conn_arm_timer(http_conn *c) {
  const config *cfg = ctx->cfg;

  if (c->closing || c->lingering)
    return;
  if (conn_sending(c))
    uv_timer_start(&c->timer, conn_on_timeout, cfg->header_timeout_ms, 0);
  else if (c->count == 0)
    uv_timer_start(&c->timer, conn_on_timeout, cfg->keepalive_timeout_ms, 0);
  else if (c->parsing && c->reading)
    uv_timer_start(&c->timer, conn_on_timeout, cfg->header_timeout_ms, 0);
  else
    uv_timer_stop(&c->timer);
}

static void conn_on_close(uv_handle_t *h) {
  http_conn *c = h->data;

  if (--c->pending_closes > 0)
    return;
  /* Output may have been queued in the iteration the connection closed in. */
  ctx_cancel_flush(ctx, &c->fl);
  for (unsigned i = 0; i < HTTP_PIPELINE_MAX; i++)
    tdm_buf_free(&c->reqs[i].resp);
  tdm_buf_free(&c->in);
  tdm_buf_free(&c->head_buf);
  tdm_buf_free(&c->body);
  outbuf_free(&c->ob);
  free(c);
}

static void conn_close(http_conn *c) {
  if (c->closing)
    return;
  c->closing = 1;
  /* Cancel what handlers are doing for us. */
  while (c->count > 0) {
    req_release(conn_req(c, 0), TDM_CANCEL_CLIENT_GONE);
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
  c->pending_closes = 2;
  uv_close(&c->h.handle, conn_on_close);
  uv_close((uv_handle_t *) &c->timer, conn_on_close);
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
      c->close_when_flushed = 1;
      ctx_schedule_flush(ctx, &c->fl);
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

static void addr_to_str(const struct sockaddr_storage *ss, char *host, size_t hostlen,
                        uint32_t *port) {
  host[0] = '\0';
  *port = 0;
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *) ss;
    uv_ip4_name(a, host, hostlen);
    *port = ntohs(a->sin_port);
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *) ss;
    uv_ip6_name(a, host, hostlen);
    *port = ntohs(a->sin6_port);
  }
}

static http_conn *conn_new(void) {
  http_conn *c = calloc(1, sizeof(*c));   /* owner: itself, freed in conn_on_close */

  if (c == NULL)
    return NULL;
  c->ctx = ctx;
  llhttp_init(&c->parser, HTTP_REQUEST, &parser_settings);
  c->parser.data = c;
  c->fl.flush = conn_on_flush;
  for (unsigned i = 0; i < HTTP_PIPELINE_MAX; i++) {
    c->reqs[i].conn = c;
    tdm_buf_init(&c->reqs[i].resp, HTTP_OUT_CAP);
    c->reqs[i].remaining = -1;
  }
  tdm_buf_init(&c->in, HTTP_READ_SIZE * 2);
  tdm_buf_init(&c->head_buf, 3 * (1 << 20));
  tdm_buf_init(&c->body, 4 * HTTP_READ_SIZE);
  outbuf_init(&c->ob, HTTP_OUT_CAP);
  return c;
}

/* A connection that never started: only its stream handle to close. */
static void conn_discard(http_conn *c) {
  c->pending_closes = 1;
  c->h.handle.data = c;
  c->closing = 1;
  uv_close(&c->h.handle, conn_on_close);
}

void http_conn_init(tdm_ctx *x, const http_hooks *h) {
  ctx = x;
  hooks = h;
  llhttp_settings_init(&parser_settings);
  parser_settings.on_message_begin = on_message_begin;
  parser_settings.on_url = on_url;
  parser_settings.on_header_field = on_header_field;
  parser_settings.on_header_value = on_header_value;
  parser_settings.on_headers_complete = on_headers_complete;
  parser_settings.on_body = on_body;
  parser_settings.on_message_complete = on_message_complete;
}

static void conn_start(http_conn *c) {
  snprintf(c->peer, sizeof(c->peer), "%s:%u", c->peer_host, (unsigned) c->peer_port);
  c->h.handle.data = c;
  c->timer.data = c;
  uv_timer_init(ctx->loop, &c->timer);
  c->next = all_conns;
  if (all_conns != NULL)
    all_conns->prev = c;
  all_conns = c;
  nconns++;
  conn_arm_timer(c);
  if (uv_read_start(&c->h.stream, conn_alloc_cb, conn_read_cb) == 0)
    c->reading = 1;
  else
    conn_close(c);
}

void http_conn_accept(uv_stream_t *listener) {
  http_conn *c = conn_new();
  struct sockaddr_storage ss;
  int len;

  if (c == NULL) {
    log_error("out of memory accepting a client");
    return;
  }
  uv_tcp_init(ctx->loop, &c->h.tcp);
  if (uv_accept(listener, &c->h.stream) != 0) {
    conn_discard(c);
    return;
  }
  uv_tcp_nodelay(&c->h.tcp, 1);
  len = sizeof(ss);
  if (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *) &ss, &len) == 0)
    addr_to_str(&ss, c->peer_host, sizeof(c->peer_host), &c->peer_port);
  len = sizeof(ss);
  if (uv_tcp_getsockname(&c->h.tcp, (struct sockaddr *) &ss, &len) == 0)
    addr_to_str(&ss, c->local_host, sizeof(c->local_host), &c->local_port);
  if (nconns >= ctx->cfg->max_connections) {
    log_warn("refusing client %s:%u: --max-connections (%d) reached", c->peer_host,
             (unsigned) c->peer_port, ctx->cfg->max_connections);
    conn_discard(c);
    return;
  }
  conn_start(c);
}

int http_conn_open_fd(int fd) {
  http_conn *c = conn_new();
  int rc;

  if (c == NULL)
    return UV_ENOMEM;
  uv_pipe_init(ctx->loop, &c->h.pipe, 0);
  rc = uv_pipe_open(&c->h.pipe, fd);
  if (rc != 0) {
    conn_discard(c);
    return rc;
  }
  strcpy(c->peer_host, "127.0.0.1");
  c->peer_port = 1;
  conn_start(c);
  return 0;
}
