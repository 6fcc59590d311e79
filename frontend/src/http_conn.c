/* http_conn: one client connection.
 *
 * Theory of operation.  Bytes read from the client go through llhttp; each
 * request takes the next slot of a small ring (the pipeline) so responses can
 * be written in request order whatever order the backends answer in.  Only
 * the request at the head of the ring writes to the connection's output
 * buffer; the others keep what they produce in their own buffer until they
 * reach the head.  Output is gathered during a loop iteration and written
 * once, from the server's flush.
 *
 * Bounds: the ring has HTTP_PIPELINE_MAX slots (the parser pauses when it is
 * full); the head buffer holds at most max_header_size bytes; request body
 * bytes wait in conn->body only while the backend's window is closed, and
 * reading stops then; response bytes are bounded by the window we grant each
 * backend stream (UPSTREAM_WINDOW), which is only refilled when the client
 * has taken the bytes.
 */
#include "http_conn.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <llhttp.h>

#include "log.h"
#include "server.h"
#include "static.h"
#include "upstream.h"

#define HTTP_PIPELINE_MAX 8
#define HTTP_READ_SIZE (64 * 1024)
#define HTTP_OUT_HIGH (256 * 1024)          /* stop producing above this much unwritten output */
#define HTTP_OUT_CAP (64 * 1024 * 1024)     /* hard cap of any one output buffer */
#define HTTP_MAX_HEADERS 128
#define HTTP_MAX_URL 8192
#define HTTP_LINGER_MS 2000
#define HTTP_REPLAY_MAX (64 * 1024)     /* largest REQUEST frame kept for a re-send */

/* REQ_WAITING: no backend had room; the request waits in the wait queue
 * (its connection's parser paused after its head) for one, up to
 * --backend-wait. */
enum req_kind { REQ_NONE = 0, REQ_BACKEND, REQ_STATIC, REQ_LOCAL, REQ_WAITING };

struct http_req {
  http_conn *conn;
  enum req_kind kind;
  uint8_t method;
  unsigned http10 : 1;
  unsigned keep_alive : 1;
  unsigned body_done : 1;        /* the client sent the whole body */
  unsigned resp_started : 1;     /* the status line has been produced */
  unsigned resp_done : 1;        /* the whole response has been produced */
  unsigned close_after : 1;      /* close the connection after this response */
  unsigned no_body : 1;          /* HEAD, 204, 304: framing headers only */
  unsigned chunked : 1;
  unsigned until_close : 1;      /* HTTP/1.0 response without a length */
  unsigned head_sent : 1;        /* REQUEST frame sent */
  unsigned end_sent : 1;         /* request body END sent */
  unsigned resp_end : 1;         /* response END received */
  unsigned expect_continue : 1;  /* the client waits for 100 Continue */
  unsigned has_body : 1;         /* the request's head announces a body */
  int status;
  int64_t remaining;             /* Content-Length bytes still due, -1 if none */
  tdm_buf resp;                  /* output held while not at the head; owner: req */
  tdm_buf replay;                /* the REQUEST frame of an idempotent request, kept until
                                    its response starts, to re-send it if its backend dies;
                                    owner: req */
  upstream_conn *up;             /* NULL when no stream is open */
  uint32_t sid;
  int64_t send_window;           /* request body bytes the backend will take */
  uint32_t unacked;              /* response body bytes received, not yet granted back */
  static_file *sf;               /* owner: static.c until static_abort() */
  uint64_t body_bytes;           /* response body bytes, for the access log */
  uint64_t started;
  /* In one of two lists, both ordered by time: the wait queue (waiting for a
   * backend, until `deadline`) or the active list (at a backend; `deadline`
   * is the last exchange on its stream plus --request-timeout). */
  http_req *lprev, *lnext;
  struct req_list *list;
  uint64_t deadline;
};

/* A list of requests ordered by deadline, and the timer that fires at the
 * first one.  Appending keeps the order because every deadline in one list
 * is now plus the same timeout. */
struct req_list {
  http_req *head, *tail;
  unsigned len;
  uv_timer_t timer;
  int timer_ready;
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
  const char *exec_start;        /* the input llhttp is working on */
  const char *exec_end;
  unsigned bad_header : 1;       /* a header value held CR, LF or NUL */
  unsigned in_body : 1;          /* the request being parsed is past its head */
  unsigned waiting : 1;          /* the parsing request is in the wait queue */
  size_t trailer_bytes;          /* trailer fields of the body being parsed */
  unsigned send_stalled : 1;     /* sendfile waits for the client's socket to take more */
  int pending_closes;
  tdm_buf in;                    /* unparsed input kept while paused; owner: conn */
  tdm_buf head_buf;              /* url and headers of the request being parsed; owner: conn */
  uint32_t url_off, url_len;
  struct hdr_span hdrs[HTTP_MAX_HEADERS];
  unsigned nhdrs;
  tdm_header hdr_out[HTTP_MAX_HEADERS];
  tdm_request rq;                /* head of the request being parsed, points into head_buf */
  uint64_t body_received;
  http_req *body_req;            /* the request whose body sits in `body` */
  tdm_buf body;                  /* request body not yet forwarded; owner: conn */
  outbuf ob;                     /* output to the client; owner: conn */
  char peer_host[INET6_ADDRSTRLEN];
  char local_host[INET6_ADDRSTRLEN];
  uint32_t peer_port, local_port;
  struct http_conn *prev, *next; /* all connections, for shutdown */
};

static http_conn *all_conns;
static struct req_list wait_queue;       /* REQ_WAITING requests */
static struct req_list active;           /* requests with a stream at a backend */
static flushable dispatcher;             /* hands waiting requests to backends */
static llhttp_settings_t parser_settings;
static char read_buffer[HTTP_READ_SIZE];      /* reads are handled before the next one */
static int read_buffer_busy;

static void conn_close(http_conn *c);
static void conn_parse(http_conn *c, const char *data, size_t len);
static void conn_maybe_resume(http_conn *c);
static void conn_arm_timer(http_conn *c);
static int conn_sending(const http_conn *c);
static void req_finish_if_done(http_req *req);
static void req_forward_body(http_req *req);
static void req_emit(http_req *req, const char *data, size_t len);
static void req_response_too_late(http_req *req);
static void conn_stop_reading(http_conn *c);

static const char *status_reason(int status) {
  switch (status) {
  case 100: return "Continue";
  case 200: return "OK";
  case 201: return "Created";
  case 202: return "Accepted";
  case 204: return "No Content";
  case 206: return "Partial Content";
  case 301: return "Moved Permanently";
  case 302: return "Found";
  case 303: return "See Other";
  case 304: return "Not Modified";
  case 307: return "Temporary Redirect";
  case 308: return "Permanent Redirect";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 409: return "Conflict";
  case 410: return "Gone";
  case 411: return "Length Required";
  case 413: return "Content Too Large";
  case 414: return "URI Too Long";
  case 415: return "Unsupported Media Type";
  case 422: return "Unprocessable Content";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  case 505: return "HTTP Version Not Supported";
  }
  return "";
}

static http_req *conn_req(http_conn *c, unsigned i) {
  return &c->reqs[(c->head + i) % HTTP_PIPELINE_MAX];
}

int http_req_is_head(const http_req *req) {
  return req->conn->count > 0 && &req->conn->reqs[req->conn->head] == req;
}

static size_t conn_unwritten(const http_conn *c) {
  return outbuf_pending(&c->ob);
}

/* Output waits for the client to take it. */
static int conn_sending(const http_conn *c) {
  return conn_unwritten(c) > 0 || c->send_stalled;
}

int http_req_writable(const http_req *req) {
  if (http_req_is_head(req))
    return conn_unwritten(req->conn) < HTTP_OUT_HIGH;
  return req->resp.len < HTTP_OUT_HIGH;
}

/* ---- output -------------------------------------------------------------- */

static void conn_on_flush(flushable *f);

static void req_emit(http_req *req, const char *data, size_t len) {
  http_conn *c = req->conn;
  tdm_buf *dst = http_req_is_head(req) ? &c->ob.out : &req->resp;

  if (len == 0 || c->closing)
    return;
  if (tdm_buf_append(dst, data, len) != 0) {
    /* Only a peer ignoring flow control gets here; there is no safe way to
     * finish this response. */
    log_error("client %s:%u: output buffer over %d bytes, closing", c->peer_host,
              (unsigned) c->peer_port, HTTP_OUT_CAP);
    conn_close(c);
    return;
  }
  if (dst == &c->ob.out)
    server_schedule_flush(&c->fl);
}

static void conn_write_cb(uv_write_t *wr, int status) {
  http_conn *c = wr->data;
  http_req *head;

  outbuf_written(&c->ob);
  if (c->closing)
    return;
  conn_arm_timer(c);          /* progress: the send timeout starts again */
  if (status < 0) {
    log_debug("client %s:%u: write failed: %s", c->peer_host, (unsigned) c->peer_port,
              uv_strerror(status));
    conn_close(c);
    return;
  }
  /* The client took the bytes: let the head request produce more. */
  if (c->count > 0 && c->ob.out.len < HTTP_OUT_HIGH / 2) {
    head = conn_req(c, 0);
    /* Only bytes written are given back (PROTOCOL.md section 4): those still
     * in c->out, at most c->ob.out.len, wait for the write that takes them. */
    if (head->kind == REQ_BACKEND && head->up != NULL && !head->resp_end &&
        head->unacked > c->ob.out.len) {
      uint32_t grant = head->unacked - (uint32_t) c->ob.out.len;
      upstream_send_window(head->up, head->sid, grant);
      head->unacked -= grant;
    } else if (head->kind == REQ_STATIC && head->sf != NULL) {
      static_on_writable(head->sf);
      if (c->closing)
        return;
    }
  }
  if (c->ob.out.len > 0 || c->close_when_flushed)
    server_schedule_flush(&c->fl);
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

/* ---- responses ----------------------------------------------------------- */

static void access_log(http_req *req) {
  http_conn *c = req->conn;
  const config *cfg = srv->cfg;

  if (cfg == NULL || !cfg->access_log)
    return;
  log_msg(LOG_INFO, "%s:%u \"%s\" %d %" PRIu64 " %" PRIu64 "ms", c->peer_host,
          (unsigned) c->peer_port, llhttp_method_name((llhttp_method_t) req->method),
          req->status, req->body_bytes, uv_now(srv->loop) - req->started);
}

/* A header block is written in three steps: req_head_begin() (the status
 * line), the caller's own header lines through req_emit(), and req_head_end()
 * (the headers every response gets and the blank line).  No formatting
 * through printf: this runs for every response. */

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

static void req_head_begin(http_req *req, int status) {
  char line[64];
  const char *reason = status_reason(status);
  size_t rlen = strlen(reason), len;

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

static void req_head_end(http_req *req, int have_date, int have_server) {
  char line[256];
  size_t len = 0, date_len;
  const char *date;

#define PUT(str, n) (memcpy(line + len, str, n), len += (n))
#define PUTS(lit) PUT(lit, sizeof(lit) - 1)
  if (!have_server)
    PUTS("server: tandem\r\n");
  if (!have_date) {
    date = server_date_line(&date_len);
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

static void req_set_framing(http_req *req, int status, int64_t content_length) {
  req->no_body = req->method == HTTP_HEAD || status == 204 || status == 304 ||
                 (status >= 100 && status < 200);
  req->chunked = 0;
  req->until_close = 0;
  if (status == 204 || status == 304) {
    req->remaining = -1;
  } else if (content_length >= 0) {
    req->remaining = content_length;
  } else if (!req->http10) {
    req->remaining = -1;
    req->chunked = !req->no_body;
  } else {
    req->remaining = -1;
    if (!req->no_body) {
      req->until_close = 1;
      req->close_after = 1;
    }
  }
}

void http_req_start(http_req *req, int status, const char *headers, size_t headers_len,
                    int64_t content_length) {
  req_set_framing(req, status, content_length);
  req_head_begin(req, status);
  req_emit(req, headers, headers_len);
  req_head_end(req, 0, 0);
}

/* Body bytes of the response, framed as decided when it started. */
static void req_body(http_req *req, const char *data, size_t len) {
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

void http_req_write(http_req *req, const char *data, size_t len) {
  req_body(req, data, len);
}

void http_req_start_file(http_req *req, int status, const char *headers, size_t headers_len,
                         int64_t content_length, int have_date, int have_server) {
  req_set_framing(req, status, content_length);
  req_head_begin(req, status);
  req_emit(req, headers, headers_len);
  req_head_end(req, have_date, have_server);
}

int http_req_idle_head(const http_req *req) {
  return http_req_is_head(req) && conn_unwritten(req->conn) == 0 && !req->conn->closing;
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
  req_finish_if_done(req);
}

void http_req_end(http_req *req) {
  req_end_response(req, 0);
}

void http_req_abort(http_req *req) {
  req_end_response(req, 1);
}

void http_req_simple(http_req *req, int status, const char *extra_headers, const char *body) {
  size_t blen = strlen(body);

  req_set_framing(req, status, (int64_t) blen);
  req_head_begin(req, status);
  req_emit(req, LIT("content-type: text/plain; charset=utf-8\r\n"));
  if (extra_headers != NULL)
    req_emit(req, extra_headers, strlen(extra_headers));
  req_head_end(req, 0, 0);
  req_body(req, body, blen);
  req_end_response(req, 0);
}

/* An error found after req's response began (in its body, or a timeout)
 * cannot be answered: the connection closes after that response.  One that
 * is complete is retired now if it is at the head; it may have been waiting
 * only for the rest of its body, which will never be read. */
static void req_response_too_late(http_req *req) {
  req->close_after = 1;
  if (req->resp_done)
    req_finish_if_done(req);
  else
    req_end_response(req, 1);
}

/* ---- the wait queue and the request timeout ------------------------------- */

static void list_unlink(http_req *req) {
  struct req_list *l = req->list;

  if (l == NULL)
    return;
  if (req->lprev != NULL)
    req->lprev->lnext = req->lnext;
  else
    l->head = req->lnext;
  if (req->lnext != NULL)
    req->lnext->lprev = req->lprev;
  else
    l->tail = req->lprev;
  req->lprev = req->lnext = NULL;
  req->list = NULL;
  l->len--;
}

static void list_on_timer(uv_timer_t *t);

/* Puts req at the tail of l with a deadline timeout_ms from now (moving it
 * there if it is in l already). */
static void list_append(struct req_list *l, http_req *req, unsigned timeout_ms) {
  list_unlink(req);
  req->deadline = uv_now(srv->loop) + timeout_ms;
  req->list = l;
  req->lprev = l->tail;
  req->lnext = NULL;
  if (l->tail != NULL)
    l->tail->lnext = req;
  else
    l->head = req;
  l->tail = req;
  l->len++;
  if (!l->timer_ready) {
    uv_timer_init(srv->loop, &l->timer);
    l->timer.data = l;
    l->timer_ready = 1;
  }
  /* The timer runs while the list is not empty; a stale earlier expiry just
   * finds nothing due and re-arms. */
  if (!uv_is_active((uv_handle_t *) &l->timer))
    uv_timer_start(&l->timer, list_on_timer, timeout_ms, 0);
}

/* The request was at a backend and its stream had traffic: push its
 * deadline back. */
static void req_touch(http_req *req) {
  if (req->list == &active)
    list_append(&active, req, srv->cfg->request_timeout_ms);
}

static int req_in_flight(const http_req *req) {
  return req->kind == REQ_BACKEND && req->up != NULL && !req->resp_end;
}

static void req_timed_out(http_req *req);
static void req_wait_expired(http_req *req);

static void list_on_timer(uv_timer_t *t) {
  struct req_list *l = t->data;
  uint64_t now = uv_now(srv->loop);
  http_req *req;

  while ((req = l->head) != NULL) {
    if (l == &active && !req_in_flight(req)) {
      list_unlink(req);        /* answered since; nothing to time */
      continue;
    }
    if (req->deadline > now) {
      uv_timer_start(t, list_on_timer, req->deadline - now, 0);
      return;
    }
    list_unlink(req);
    if (l == &active)
      req_timed_out(req);
    else
      req_wait_expired(req);
  }
}

/* Gives req a stream at up and makes it a backend request. */
static int req_dispatch(http_req *req, upstream_conn *up) {
  int64_t sid = upstream_open_stream(up, req);

  if (sid < 0)
    return -1;
  req->kind = REQ_BACKEND;
  req->up = up;
  req->sid = (uint32_t) sid;
  req->send_window = upstream_peer_window(up);
  req->conn->body_req = req;
  if (srv->cfg->request_timeout_ms > 0)
    list_append(&active, req, srv->cfg->request_timeout_ms);
  /* A client waiting for "100 Continue" before it sends its body gets it now
   * that a backend will take the body.  Only the head of the pipeline may
   * answer without breaking response order; a later one's client sends its
   * body after its own short wait, as RFC 9110 section 10.1.1 lets it. */
  if (req->expect_continue && http_req_is_head(req))
    req_emit(req, "HTTP/1.1 100 Continue\r\n\r\n", 25);
  return 0;
}

/* Runs from the server's flush, outside any callback: while backends have
 * room, the oldest waiting requests get it, and their connections read on. */
static void dispatcher_on_flush(flushable *f) {
  (void) f;
  while (wait_queue.head != NULL) {
    http_req *req = wait_queue.head;
    upstream_conn *up = upstream_pick();
    if (up == NULL)
      return;
    list_unlink(req);
    if (req_dispatch(req, up) != 0)
      return;
    /* Its REQUEST goes out now, in the order of stream ids, even if its
     * connection cannot read on yet (its pipeline is full): a stream opened
     * later for another client must not reach the backend first. */
    req_forward_body(req);
    conn_maybe_resume(req->conn);
  }
}

void http_conn_backend_capacity(void) {
  if (wait_queue.head != NULL) {
    dispatcher.flush = dispatcher_on_flush;
    server_schedule_flush(&dispatcher);
  }
}

static void req_release_stream(http_req *req, uint32_t code) {
  if (req->up == NULL)
    return;
  /* A stream whose REQUEST never went out is unknown to the backend, which
   * would take a CANCEL for it as a protocol error (PROTOCOL.md section 5). */
  if ((req->end_sent && req->resp_end) || !req->head_sent)
    upstream_stream_done(req->up, req->sid);
  else
    upstream_cancel(req->up, req->sid, code);
  req->up = NULL;
  if (req->conn->body_req == req) {
    req->conn->body.len = 0;
  }
}

/* A response produced by the frontend itself in place of whatever req was
 * going to get (its stream, if any, is cancelled). */
static void req_local(http_req *req, int status, const char *extra, const char *body, int close) {
  list_unlink(req);
  if (req->kind == REQ_STATIC && req->sf != NULL) {
    static_abort(req->sf);
    req->sf = NULL;
  }
  req_release_stream(req, TDM_CANCEL_NO_ERROR);
  req->kind = REQ_LOCAL;
  if (close)
    req->close_after = 1;
  if (req->resp_started) {
    req_response_too_late(req);
    return;
  }
  http_req_simple(req, status, extra, body);
}

/* --request-timeout passed without a frame on req's stream. */
static void req_timed_out(http_req *req) {
  log_warn("request %s:%u stream %u: no answer from the backend within %u s; answering 504",
           req->conn->peer_host, (unsigned) req->conn->peer_port, (unsigned) req->sid,
           srv->cfg->request_timeout_ms / 1000);
  req_release_stream(req, TDM_CANCEL_TIMEOUT);
  if (req->resp_started)
    req->close_after = 1;
  req_local(req, 504, NULL, "Gateway Timeout: the application did not answer in time\n", 0);
}

/* No backend could take req: 503, saying why. */
static void req_unavailable(http_req *req) {
  req_local(req, 503, "retry-after: 1\r\n", upstream_connected() ?
            "Service Unavailable: every backend is busy\n" :
            "Service Unavailable: no backend is connected\n", 0);
}

/* --backend-wait passed and no backend took req. */
static void req_wait_expired(http_req *req) {
  http_conn *c = req->conn;

  req->kind = REQ_LOCAL;
  if (c->body_req == req)
    c->body_req = NULL;
  req_unavailable(req);
  /* Its body, if any, is read and dropped. */
  conn_maybe_resume(c);
}

static void req_reset(http_req *req) {
  tdm_buf keep = req->resp, replay = req->replay;
  http_conn *c = req->conn;

  list_unlink(req);
  keep.len = 0;
  replay.len = 0;
  memset(req, 0, sizeof(*req));
  req->conn = c;
  req->resp = keep;
  req->replay = replay;
  req->remaining = -1;
}

/* Retires finished requests from the head of the pipeline, moving the next
 * one's held output into the connection's output. */
static void req_finish_if_done(http_req *req) {
  http_conn *c = req->conn;
  http_req *head;

  if (c->closing)
    return;
  while (c->count > 0) {
    head = conn_req(c, 0);
    if (!head->resp_done)
      break;
    if (!head->body_done) {
      /* A backend answered before the client finished its body: the rest of
       * that body cannot be skipped reliably, so this is the last response.
       * A local answer waits until the body has been read and dropped. */
      if (head->kind != REQ_BACKEND && !head->close_after)
        break;
      head->close_after = 1;
    }
    if (head->close_after) {
      c->close_when_flushed = 1;
      conn_stop_reading(c);
      c->read_done = 1;
      c->parsing = 0;
    }
    req_release_stream(head, TDM_CANCEL_NO_ERROR);
    if (head->sf != NULL) {
      static_abort(head->sf);
      head->sf = NULL;
    }
    if (c->body_req == head)
      c->body_req = NULL;
    if (head->resp.size > HTTP_OUT_HIGH)
      tdm_buf_free(&head->resp);
    req_reset(head);
    c->head = (c->head + 1) % HTTP_PIPELINE_MAX;
    c->count--;
    if (c->close_when_flushed) {
      /* Requests after the last response are dropped. */
      while (c->count > 0) {
        http_req *r = conn_req(c, 0);
        req_release_stream(r, TDM_CANCEL_CLIENT_GONE);
        if (r->sf != NULL)
          static_abort(r->sf);
        req_reset(r);
        c->head = (c->head + 1) % HTTP_PIPELINE_MAX;
        c->count--;
      }
      break;
    }
    if (c->count > 0) {
      head = conn_req(c, 0);
      if (head->resp.len > 0) {
        if (tdm_buf_append(&c->ob.out, head->resp.base, head->resp.len) != 0) {
          conn_close(c);
          return;
        }
        head->resp.len = 0;
      }
      if (head->kind == REQ_STATIC && head->sf != NULL && conn_unwritten(c) < HTTP_OUT_HIGH)
        static_on_writable(head->sf);
      if (c->closing)
        return;
    }
  }
  if (c->read_done && c->count == 0)
    c->close_when_flushed = 1;
  server_schedule_flush(&c->fl);
  conn_arm_timer(c);
  conn_maybe_resume(c);
}

/* ---- events from the backend -------------------------------------------- */

static int is_tchar(unsigned char ch) {
  return isalnum(ch) || strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

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

/* A RESPONSE with FILE: the body is a path, and static.c sends the file once
 * it is open (its size gives the content-length). */
static void req_file_response(http_req *req, const tdm_response *resp, int status,
                              int64_t content_length, int have_date, int have_server,
                              int conn_close_hdr) {
  tdm_buf lines;
  uint32_t i;

  if (!(resp->flags & TDM_FLAG_END)) {
    log_warn("backend sent FILE without END on stream %u", (unsigned) req->sid);
    req_release_stream(req, TDM_CANCEL_INTERNAL);
    req_local(req, 502, NULL, "Bad Gateway\n", 0);
    return;
  }
  tdm_buf_init(&lines, srv->cfg != NULL ? srv->cfg->max_header_size * 4 : 1 << 20);
  for (i = 0; i < resp->nheaders; i++) {
    const tdm_header *h = &resp->headers[i];
    int kind = header_kind(&h->name);
    if (kind != HDR_PASS && kind != HDR_DATE && kind != HDR_SERVER)
      continue;
    if (tdm_buf_append(&lines, h->name.ptr, h->name.len) != 0 || tdm_buf_append(&lines, ": ", 2) != 0 ||
        tdm_buf_append(&lines, h->value.ptr, h->value.len) != 0 ||
        tdm_buf_append(&lines, "\r\n", 2) != 0) {
      tdm_buf_free(&lines);
      req_release_stream(req, TDM_CANCEL_INTERNAL);
      req_local(req, 500, NULL, "Internal Server Error: response headers too large\n", 0);
      return;
    }
  }
  req->resp_end = 1;
  if (conn_close_hdr)
    req->close_after = 1;
  /* The backend is done with this stream: from here on the response is the
   * frontend's, and must not depend on the backend staying connected (it may
   * exit right after, as a drained one does).  A request body still coming
   * is not wanted any more: the stream is cancelled, and the connection
   * closes after the response (req_finish_if_done). */
  req_release_stream(req, TDM_CANCEL_NO_ERROR);
  req->kind = REQ_STATIC;
  static_send_file(req, resp->body.ptr, resp->body.len,
                   req->method == HTTP_HEAD || status == 204 || status == 304, status,
                   lines.base != NULL ? lines.base : "", lines.len, content_length, have_date,
                   have_server, &req->sf);
  tdm_buf_free(&lines);
}

int http_req_on_response(http_req *req, const tdm_response *resp) {
  int have_date = 0, have_server = 0, conn_close_hdr = 0;
  int64_t content_length = -1;
  uint32_t i, j;
  int status = (int) resp->status;

  if (req->unacked + (uint64_t) resp->body.len > UPSTREAM_WINDOW)
    return -1;
  if (req->resp_started || req->kind != REQ_BACKEND) {
    log_warn("backend sent a second RESPONSE on stream %u", (unsigned) req->sid);
    req_release_stream(req, TDM_CANCEL_INTERNAL);
    req_local(req, 502, NULL, "Bad Gateway: the backend answered twice\n", 1);
    return 0;
  }
  req_touch(req);
  req->replay.len = 0;          /* answered: never to be re-sent */
  /* A file response's body is a path, not body bytes: it uses no window. */
  if (!(resp->flags & TDM_FLAG_FILE))
    req->unacked += resp->body.len;
  /* A rejected RESPONSE is a stream error (PROTOCOL.md section 5): its END
   * does not count, and the stream is cancelled even if the request ended. */
  if (status < 200 || status > 599) {
    log_warn("backend sent status %d on stream %u; answering 500", status, (unsigned) req->sid);
    req_release_stream(req, TDM_CANCEL_INTERNAL);
    req_local(req, 500, NULL, "Internal Server Error: the application sent an invalid status\n", 0);
    return 0;
  }
  /* First every check, so that nothing is written before we know the
   * response is good; then the headers go straight to the output. */
  for (i = 0; i < resp->nheaders; i++) {
    const tdm_header *h = &resp->headers[i];
    int valid = h->name.len > 0;
    for (j = 0; valid && j < h->name.len; j++)
      valid = is_tchar((unsigned char) h->name.ptr[j]);
    for (j = 0; valid && j < h->value.len; j++) {
      unsigned char ch = (unsigned char) h->value.ptr[j];
      valid = ch != '\r' && ch != '\n' && ch != '\0';
    }
    if (!valid) {
      log_warn("backend sent an invalid response header on stream %u; answering 500",
               (unsigned) req->sid);
      req_release_stream(req, TDM_CANCEL_INTERNAL);
      req_local(req, 500, NULL, "Internal Server Error: invalid response header\n", 0);
      return 0;
    }
    switch (header_kind(&h->name)) {
    case HDR_CONTENT_LENGTH: {
      int64_t v = 0;
      int ok = h->value.len > 0 && h->value.len < 19;
      for (j = 0; ok && j < h->value.len; j++) {
        ok = h->value.ptr[j] >= '0' && h->value.ptr[j] <= '9';
        v = v * 10 + (h->value.ptr[j] - '0');
      }
      if (!ok || (content_length >= 0 && content_length != v)) {
        req_release_stream(req, TDM_CANCEL_INTERNAL);
        req_local(req, 500, NULL, "Internal Server Error: invalid content-length\n", 0);
        return 0;
      }
      content_length = v;
      break;
    }
    case HDR_CONNECTION:
      if (h->value.len == 5 && strncasecmp(h->value.ptr, "close", 5) == 0)
        conn_close_hdr = 1;
      break;
    case HDR_DATE:
      have_date = 1;
      break;
    case HDR_SERVER:
      have_server = 1;
      break;
    }
  }
  if (resp->flags & TDM_FLAG_FILE) {
    req_file_response(req, resp, status, content_length, have_date, have_server, conn_close_hdr);
    return 0;
  }
  if (content_length < 0 && (resp->flags & TDM_FLAG_END) && req->method != HTTP_HEAD)
    content_length = resp->body.len;
  if (content_length >= 0 && (resp->flags & TDM_FLAG_END) && req->method != HTTP_HEAD &&
      status != 204 && status != 304 && (int64_t) resp->body.len != content_length) {
    log_warn("backend response on stream %u: content-length %" PRId64 " but %u body bytes",
             (unsigned) req->sid, content_length, (unsigned) resp->body.len);
    req_release_stream(req, TDM_CANCEL_INTERNAL);
    req_local(req, 500, NULL, "Internal Server Error: body does not match content-length\n", 0);
    return 0;
  }
  if (resp->flags & TDM_FLAG_END)
    req->resp_end = 1;
  if (conn_close_hdr)
    req->close_after = 1;

  req_set_framing(req, status, content_length);
  req_head_begin(req, status);
  for (i = 0; i < resp->nheaders; i++) {
    const tdm_header *h = &resp->headers[i];
    int kind = header_kind(&h->name);
    if (kind != HDR_PASS && kind != HDR_DATE && kind != HDR_SERVER)
      continue;
    req_emit(req, h->name.ptr, h->name.len);
    req_emit(req, ": ", 2);
    req_emit(req, h->value.ptr, h->value.len);
    req_emit(req, "\r\n", 2);
  }
  req_head_end(req, have_date, have_server);
  if (req->conn->closing)
    return 0;
  req_body(req, resp->body.ptr, resp->body.len);
  if (resp->flags & TDM_FLAG_END)
    req_end_response(req, 0);
  return 0;
}

int http_req_on_data(http_req *req, const tdm_data *d) {
  if (req->unacked + (uint64_t) d->data.len > UPSTREAM_WINDOW)
    return -1;
  if (!req->resp_started || req->resp_end) {
    log_warn("backend sent DATA %s on stream %u", req->resp_end ? "after END" : "before RESPONSE",
             (unsigned) req->sid);
    req_release_stream(req, TDM_CANCEL_INTERNAL);
    req_local(req, 502, NULL, "Bad Gateway\n", 1);
    return 0;
  }
  req_touch(req);
  req->unacked += d->data.len;
  if (d->flags & TDM_FLAG_END)
    req->resp_end = 1;
  req_body(req, d->data.ptr, d->data.len);
  if (req->conn->closing)
    return 0;
  /* A body that is not sent (HEAD, 204, 304) is consumed as it arrives; no
   * write would ever give its window back. */
  if (req->no_body && !req->resp_end && req->up != NULL && req->unacked >= UPSTREAM_WINDOW / 2) {
    upstream_send_window(req->up, req->sid, req->unacked);
    req->unacked = 0;
  }
  if (d->flags & TDM_FLAG_END)
    req_end_response(req, 0);
  return 0;
}

void http_req_on_window(http_req *req, uint32_t increment) {
  req_touch(req);
  req->send_window += increment;
  if (req->conn->body_req == req && !req->end_sent) {
    req_forward_body(req);
    conn_maybe_resume(req->conn);
  }
}

void http_req_on_cancel(http_req *req, uint32_t code) {
  /* The backend forgot the stream already. */
  req->up = NULL;
  if (req->conn->body_req == req)
    req->conn->body.len = 0;
  if (code == TDM_CANCEL_REFUSED)
    req_local(req, 503, "retry-after: 1\r\n", "Service Unavailable: the backend refused the request\n", 0);
  else
    req_local(req, 502, NULL, "Bad Gateway: the backend cancelled the request\n", 0);
}

/* The backend of req died before answering: send the same REQUEST frame,
 * kept in req->replay, to another backend with room now.  0 if sent. */
static tdm_decoder replay_dec;           /* decodes kept REQUEST frames again */
static tdm_buf replay_scratch;           /* the re-sent frame's new copy */
static int replay_ready;

static int req_resend(http_req *req) {
  upstream_conn *up;
  tdm_frame f;
  int64_t sid;

  if (!replay_ready) {
    if (tdm_decoder_init(&replay_dec, TDM_MAX_MAX_FRAME) != 0)
      return -1;
    tdm_buf_init(&replay_scratch, HTTP_REPLAY_MAX);
    replay_ready = 1;
  }
  up = upstream_pick();
  if (up == NULL || tdm_decode(&replay_dec, req->replay.base, req->replay.len, &f) <= 0)
    return -1;
  sid = upstream_open_stream(up, req);
  if (sid < 0)
    return -1;
  f.stream_id = (uint32_t) sid;
  /* f points into req->replay: the new copy goes elsewhere, then swaps in. */
  if (upstream_send_copy(up, &f, &replay_scratch) != 0) {
    upstream_stream_done(up, (uint32_t) sid);
    return -1;
  }
  {
    tdm_buf t = req->replay;
    req->replay = replay_scratch;
    replay_scratch = t;
  }
  log_info("%s %.*s: its backend went away before answering; sent again to backend pid %d",
           llhttp_method_name((llhttp_method_t) req->method), (int) f.u.request.target.len,
           f.u.request.target.ptr, upstream_pid(up));
  req->up = up;
  req->sid = (uint32_t) sid;
  req->unacked = 0;
  req->send_window = (int64_t) upstream_peer_window(up) - f.u.request.body.len;
  if (srv->cfg->request_timeout_ms > 0)
    list_append(&active, req, srv->cfg->request_timeout_ms);
  return 0;
}

int http_req_stream_of(const http_req *req, const upstream_conn *up, uint32_t sid) {
  return req->up == up && req->sid == sid;
}

void http_req_on_upstream_lost(http_req *req) {
  req->up = NULL;
  if (req->conn->body_req == req)
    req->conn->body.len = 0;
  if (req->kind == REQ_BACKEND && !req->resp_started && req->end_sent && req->replay.len > 0 &&
      req_resend(req) == 0)
    return;
  req_local(req, 502, NULL, "Bad Gateway: the backend went away\n", 0);
}

/* ---- request forwarding -------------------------------------------------- */

static int req_replayable(const http_req *req) {
  return req->method == HTTP_GET || req->method == HTTP_HEAD || req->method == HTTP_OPTIONS;
}

/* Sends what the window allows of the body gathered for req: first the
 * REQUEST frame (which takes the whole body when it fits, the fast path),
 * then DATA frames. */
static void req_forward_body(http_req *req) {
  http_conn *c = req->conn;
  tdm_frame f;
  size_t n, off = 0;
  int end;

  if (req->up == NULL || req->end_sent)
    return;
  if (!req->head_sent) {
    memset(&f, 0, sizeof(f));
    f.type = TDM_REQUEST;
    f.stream_id = req->sid;
    f.u.request = c->rq;
    f.u.request.body.len = 0;
    if (!upstream_frame_fits(req->up, tdm_encoded_size(&f))) {
      /* The head alone is more than this backend takes in one frame. */
      req_release_stream(req, TDM_CANCEL_NO_ERROR);
      req_local(req, 431, NULL, "Request Header Fields Too Large\n", 1);
      return;
    }
    n = upstream_max_body(req->up, tdm_encoded_size(&f));
    if (n > c->body.len)
      n = c->body.len;
    if ((int64_t) n > req->send_window)
      n = req->send_window > 0 ? (size_t) req->send_window : 0;
    end = (req->body_done || !req->has_body) && n == c->body.len;
    f.u.request.flags = end ? TDM_FLAG_END : 0;
    f.u.request.body.ptr = c->body.base;
    f.u.request.body.len = (uint32_t) n;
    /* A request that may be sent twice (RFC 9110 section 9.2.2), whole in
     * this frame, is kept until its response starts. */
    if (upstream_send_copy(req->up, &f, end && req_replayable(req) ? &req->replay : NULL) != 0) {
      req_local(req, 503, "retry-after: 1\r\n", "Service Unavailable: the backend is overloaded\n", 0);
      return;
    }
    req->head_sent = 1;
    req->end_sent = end;
    req->send_window -= n;
    off = n;
  }
  while (!req->end_sent) {
    n = c->body.len - off;
    if (n > upstream_max_body(req->up, 32))
      n = upstream_max_body(req->up, 32);
    if ((int64_t) n > req->send_window)
      n = req->send_window > 0 ? (size_t) req->send_window : 0;
    end = req->body_done && off + n == c->body.len;
    if (n == 0 && !end)
      break;
    memset(&f, 0, sizeof(f));
    f.type = TDM_DATA;
    f.stream_id = req->sid;
    f.u.data.flags = end ? TDM_FLAG_END : 0;
    f.u.data.data.ptr = c->body.base + off;
    f.u.data.data.len = (uint32_t) n;
    if (upstream_send(req->up, &f) != 0) {
      req_local(req, 502, NULL, "Bad Gateway\n", 1);
      return;
    }
    req->send_window -= n;
    req->end_sent = end;
    off += n;
  }
  if (off > 0)
    req_touch(req);
  tdm_buf_consume(&c->body, off);
  if (req->end_sent) {
    c->body_req = NULL;
    if (req->resp_end && req->up != NULL) {
      upstream_stream_done(req->up, req->sid);
      req->up = NULL;
    }
  }
}

/* ---- parsing ------------------------------------------------------------- */

static http_conn *parser_conn(llhttp_t *p) {
  return p->data;
}

static http_req *parsing_req(http_conn *c) {
  return conn_req(c, c->count - 1);
}

static int head_append(http_conn *c, const char *at, size_t len) {
  if (c->head_buf.len + len > srv->cfg->max_header_size) {
    llhttp_set_error_reason(&c->parser, "request head too large");
    return HPE_USER;
  }
  if (tdm_buf_append(&c->head_buf, at, len) != 0)
    return HPE_USER;
  return 0;
}

static int on_message_begin(llhttp_t *p) {
  http_conn *c = parser_conn(p);
  http_req *req;

  if (c->read_done || c->closing)
    return HPE_PAUSED;
  if (srv->stopping) {
    /* Shutting down: no new request; the connection closes after the last
     * response (req_finish_if_done). */
    c->read_done = 1;
    conn_stop_reading(c);
    if (c->count == 0)
      c->close_when_flushed = 1;
    server_schedule_flush(&c->fl);
    return HPE_PAUSED;
  }

  /* The ring has room: on_message_complete pauses when it is full. */
  c->count++;
  req = parsing_req(c);
  req_reset(req);
  req->started = uv_now(srv->loop);
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
  http_conn *c = parser_conn(p);

  if (c->read_done || c->closing)
    return HPE_PAUSED;

  if (c->url_len + len > HTTP_MAX_URL) {
    llhttp_set_error_reason(p, "URI too long");
    return HPE_USER;
  }
  c->url_len += len;
  return head_append(c, at, len);
}

/* Trailer fields of a chunked body come through the header callbacks too.
 * They are not forwarded (the head has been sent, or is about to be, from
 * head_buf, which must not move), only counted against the head's limit. */
static int on_trailer(http_conn *c, llhttp_t *p, size_t len) {
  c->trailer_bytes += len;
  if (c->trailer_bytes > srv->cfg->max_header_size) {
    llhttp_set_error_reason(p, "request head too large");
    return HPE_USER;
  }
  return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len) {
  http_conn *c = parser_conn(p);
  struct hdr_span *h;

  if (c->read_done || c->closing)
    return HPE_PAUSED;
  if (c->in_body)
    return on_trailer(c, p, len);

  if (c->nhdrs == 0 || c->header_value) {
    if (c->nhdrs == HTTP_MAX_HEADERS) {
      llhttp_set_error_reason(p, "too many headers");
      return HPE_USER;
    }
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
  http_conn *c = parser_conn(p);
  struct hdr_span *h;

  if (c->read_done || c->closing)
    return HPE_PAUSED;
  if (c->in_body)
    return on_trailer(c, p, len);
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
  /* llhttp 8 passes an obs-fold line break inside the value; RFC 9112
   * section 5.2 lets a server reject it, and we do (so do h11 and nginx). */
  if (memchr(at, '\r', len) != NULL || memchr(at, '\n', len) != NULL || memchr(at, '\0', len) != NULL)
    c->bad_header = 1;
  return head_append(c, at, len);
}

static int hex_value(char ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  ch |= 0x20;
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  return -1;
}

/* Percent-decodes src into dst (room for len bytes).  Returns the decoded
 * length, or -1 for a malformed escape or a NUL. */
static ssize_t percent_decode(const char *src, size_t len, char *dst) {
  size_t i, o = 0;

  for (i = 0; i < len; i++) {
    char ch = src[i];
    if (ch == '%') {
      int hi, lo;
      if (i + 2 >= len)
        return -1;
      hi = hex_value(src[i + 1]);
      lo = hex_value(src[i + 2]);
      if (hi < 0 || lo < 0)
        return -1;
      ch = (char) (hi << 4 | lo);
      i += 2;
    }
    if (ch == '\0')
      return -1;
    dst[o++] = ch;
  }
  return (ssize_t) o;
}

/* Resolves "." and ".." segments of an absolute path in place and merges
 * repeated slashes.  Returns the new length, or -1 if ".." climbs above the
 * root. */
static ssize_t normalize_path(char *p, size_t len) {
  size_t i = 0, o = 0;

  while (i < len) {
    size_t start, seg;
    while (i < len && p[i] == '/')
      i++;
    start = i;
    while (i < len && p[i] != '/')
      i++;
    seg = i - start;
    if (seg == 0)
      break;
    if (seg == 1 && p[start] == '.')
      continue;
    if (seg == 2 && p[start] == '.' && p[start + 1] == '.') {
      if (o == 0)
        return -1;
      while (o > 0 && p[o - 1] != '/')
        o--;
      if (o > 0)
        o--;
      continue;
    }
    p[o++] = '/';
    memmove(p + o, p + start, seg);
    o += seg;
  }
  if (o == 0 || (len > 0 && p[len - 1] == '/' && p[o - 1] != '/'))
    p[o++] = '/';
  return (ssize_t) o;
}

static int contains_ci(const char *s, size_t len, const char *needle) {
  size_t n = strlen(needle);
  for (size_t i = 0; i + n <= len; i++)
    if (strncasecmp(s + i, needle, n) == 0)
      return 1;
  return 0;
}

/* The request head is complete: check it, then route it to a static mount,
 * a backend, or a local error. */
/* After an answer that closes the connection: read nothing more. */
static int stop_parsing(http_conn *c) {
  c->read_done = 1;
  conn_stop_reading(c);
  return HPE_PAUSED;
}

static int on_headers_complete(llhttp_t *p) {
  http_conn *c = parser_conn(p);
  http_req *req;
  const config *cfg = srv->cfg;
  const char *url, *path_start, *path_end, *q;
  char *decoded, *norm;
  ssize_t dlen, nlen;
  size_t plen, need;
  int hosts = 0, te_chunked_last = 0, has_te = 0, expect_continue = 0;
  unsigned i;

  if (c->read_done || c->closing || !c->parsing)
    return HPE_PAUSED;
  c->in_body = 1;
  req = parsing_req(c);
  req->method = (uint8_t) llhttp_get_method(p);
  req->http10 = p->http_major == 1 && p->http_minor == 0;
  req->keep_alive = llhttp_should_keep_alive(p);
  req->has_body = (p->flags & F_CHUNKED) || ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0);
  req->remaining = -1;

  /* Decoded path and its normalized copy go after the head bytes; reserve
   * first so the pointers taken below stay valid. */
  need = 2 * (size_t) c->url_len + 2;
  if (tdm_buf_reserve(&c->head_buf, need) != 0)
    return HPE_USER;

  for (i = 0; i < c->nhdrs; i++) {
    struct hdr_span *h = &c->hdrs[i];
    char *name = c->head_buf.base + h->name_off;
    for (uint32_t j = 0; j < h->name_len; j++) {
      if (!is_tchar((unsigned char) name[j]))
        c->bad_header = 1;
      name[j] = (char) tolower((unsigned char) name[j]);
    }
    if (h->name_len == 0)
      c->bad_header = 1;
    c->hdr_out[i].name.ptr = name;
    c->hdr_out[i].name.len = h->name_len;
    c->hdr_out[i].value.ptr = c->head_buf.base + h->value_off;
    c->hdr_out[i].value.len = h->value_len;
    if (h->name_len == 4 && memcmp(name, "host", 4) == 0)
      hosts++;
    if (h->name_len == 6 && memcmp(name, "expect", 6) == 0 && h->value_len == 12 &&
        strncasecmp(c->head_buf.base + h->value_off, "100-continue", 12) == 0)
      expect_continue = 1;
    if (h->name_len == 17 && memcmp(name, "transfer-encoding", 17) == 0) {
      /* Only "chunked" as the final coding frames a request (RFC 9112 6.1). */
      const char *v = c->head_buf.base + h->value_off;
      size_t vl = h->value_len;
      while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
      has_te = 1;
      te_chunked_last = vl >= 7 && strncasecmp(v + vl - 7, "chunked", 7) == 0 &&
                        (vl == 7 || v[vl - 8] == ',' || v[vl - 8] == ' ' || v[vl - 8] == '\t');
    }
  }

  if (c->bad_header) {
    req_local(req, 400, NULL, "Bad Request: invalid header value\n", 1);
    return stop_parsing(c);
  }
  if (!req->http10 && hosts != 1) {
    req_local(req, 400, NULL, "Bad Request: exactly one Host header is required\n", 1);
    return stop_parsing(c);
  }
  if (has_te && (req->http10 || !te_chunked_last)) {
    if (req->http10)
      req_local(req, 400, NULL, "Bad Request: transfer-encoding in an HTTP/1.0 request\n", 1);
    else
      req_local(req, 501, NULL, "Not Implemented: unsupported transfer-encoding\n", 1);
    return stop_parsing(c);
  }
  if (cfg->max_body_size > 0 && p->content_length > cfg->max_body_size &&
      p->content_length != UINT64_MAX) {
    req_local(req, 413, NULL, "Content Too Large\n", 1);
    return stop_parsing(c);
  }

  url = c->head_buf.base + c->url_off;
  path_start = url;
  path_end = url + c->url_len;
  if (c->url_len > 0 && url[0] != '/' && url[0] != '*') {
    /* absolute-form: skip "scheme://authority". */
    const char *s = memchr(url, ':', c->url_len);
    if (s != NULL && s + 2 < path_end && s[1] == '/' && s[2] == '/') {
      path_start = memchr(s + 3, '/', path_end - (s + 3));
      if (path_start == NULL)
        path_start = path_end;
    }
  }
  q = memchr(path_start, '?', path_end - path_start);
  plen = (q != NULL ? q : path_end) - path_start;
  {
    const char *hash = memchr(path_start, '#', plen);
    if (hash != NULL)
      plen = hash - path_start;
  }

  decoded = c->head_buf.base + c->head_buf.len;
  dlen = percent_decode(path_start, plen, decoded);
  if (dlen < 0) {
    req_local(req, 400, NULL, "Bad Request: invalid percent-encoding in the path\n", 1);
    return stop_parsing(c);
  }
  if (dlen == 0)
    decoded[dlen++] = '/';
  c->head_buf.len += dlen;

  c->rq.flags = 0;
  c->rq.method.ptr = llhttp_method_name((llhttp_method_t) req->method);
  c->rq.method.len = strlen(c->rq.method.ptr);
  c->rq.target.ptr = url;
  c->rq.target.len = c->url_len;
  c->rq.path.ptr = decoded;
  c->rq.path.len = (uint32_t) dlen;
  c->rq.query.ptr = q != NULL ? q + 1 : "";
  c->rq.query.len = q != NULL ? (uint32_t) (path_end - q - 1) : 0;
  if (q != NULL) {
    const char *hash = memchr(q, '#', path_end - q);
    if (hash != NULL)
      c->rq.query.len = (uint32_t) (hash - q - 1);
  }
  c->rq.http_version.ptr = req->http10 ? "1.0" : "1.1";
  c->rq.http_version.len = 3;
  c->rq.headers = c->hdr_out;
  c->rq.nheaders = c->nhdrs;
  c->rq.client.present = c->peer_host[0] != '\0';
  c->rq.client.host.ptr = c->peer_host;
  c->rq.client.host.len = strlen(c->peer_host);
  c->rq.client.port = c->peer_port;
  c->rq.server.present = c->local_host[0] != '\0';
  c->rq.server.host.ptr = c->local_host;
  c->rq.server.host.len = strlen(c->local_host);
  c->rq.server.port = c->local_port;
  c->rq.scheme.ptr = "http";
  c->rq.scheme.len = 4;
  c->rq.body.ptr = NULL;
  c->rq.body.len = 0;

  /* A path that climbs above the root is refused whatever serves it (as
   * nginx does); static mounts match on the normalized path.  This holds for
   * the origin form ("/a/b") and the absolute form ("http://h/a/b") alike. */
  if (decoded[0] == '/') {
    norm = c->head_buf.base + c->head_buf.len;
    memcpy(norm, decoded, dlen);
    nlen = normalize_path(norm, dlen);
    if (nlen < 0) {
      req_local(req, 400, NULL, "Bad Request: the path climbs above the root\n", 1);
      return stop_parsing(c);
    }
    for (int m = 0; m < cfg->nstatics; m++) {
      const static_mount *mt = &cfg->statics[m];
      if ((size_t) nlen < mt->prefix_len || memcmp(norm, mt->prefix, mt->prefix_len) != 0 ||
          ((size_t) nlen > mt->prefix_len && norm[mt->prefix_len] != '/' && mt->prefix_len > 0))
        continue;
      if ((size_t) nlen == mt->prefix_len && mt->prefix_len > 0) {
        /* "/static" itself: the directory, with a slash. */
        char loc[HTTP_MAX_URL + 32];
        snprintf(loc, sizeof(loc), "location: %.*s/\r\n", (int) mt->prefix_len, mt->prefix);
        req->kind = REQ_LOCAL;
        req_local(req, 301, loc, "Moved Permanently\n", 0);
        return 0;
      }
      if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
        req_local(req, 405, "allow: GET, HEAD\r\n", "Method Not Allowed\n", 0);
        return 0;
      }
      if (contains_ci(path_start, plen, "%2f") || contains_ci(path_start, plen, "%5c") ||
          memchr(norm, '\\', nlen) != NULL) {
        req_local(req, 404, NULL, "Not Found\n", 0);
        return 0;
      }
      req->kind = REQ_STATIC;
      static_serve(req, mt, norm + mt->prefix_len, nlen - mt->prefix_len,
                   req->method == HTTP_HEAD, &req->sf);
      return 0;
    }
  }

  /* Everything else goes to a backend: one with room now, or the first to
   * have room within --backend-wait.  A waiting request pauses its
   * connection's parser right after its head, so its head stays where it is
   * and its body stays unread until it is dispatched. */
  req->expect_continue = expect_continue && !req->http10 &&
                         (p->flags & F_CHUNKED || (p->content_length > 0 &&
                                                   p->content_length != UINT64_MAX));
  {
    /* Requests already waiting go first. */
    upstream_conn *up = wait_queue.head == NULL ? upstream_pick() : NULL;
    if (up != NULL && req_dispatch(req, up) == 0)
      return 0;
    if (srv->cfg->backend_wait_ms > 0 && wait_queue.len < srv->cfg->backend_queue && !srv->stopping) {
      req->kind = REQ_WAITING;
      list_append(&wait_queue, req, srv->cfg->backend_wait_ms);
      c->waiting = 1;
      return HPE_PAUSED;
    }
    req_unavailable(req);
  }
  return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len) {
  http_conn *c = parser_conn(p);
  http_req *req;

  if (c->read_done || c->closing || !c->parsing)
    return HPE_PAUSED;
  req = parsing_req(c);

  c->body_received += len;
  if (srv->cfg->max_body_size > 0 && c->body_received > srv->cfg->max_body_size) {
    if (!req->resp_started)
      req_local(req, 413, NULL, "Content Too Large\n", 1);
    else if (req->resp_done)
      req_response_too_late(req);
    else
      req->close_after = 1;       /* the response in progress is the last */
    return HPE_PAUSED;    /* nothing more of this connection is read */
  }
  if (c->body_req == req && req->up != NULL) {
    if (tdm_buf_append(&c->body, at, len) != 0)
      return HPE_USER;
  }
  return 0;
}

static int on_message_complete(llhttp_t *p) {
  http_conn *c = parser_conn(p);
  http_req *req;

  if (c->read_done || c->closing || !c->parsing)
    return HPE_PAUSED;
  req = parsing_req(c);

  c->parsing = 0;
  req->body_done = 1;
  if (req->kind == REQ_BACKEND)
    req_forward_body(req);
  if (c->closing)
    return HPE_PAUSED;
  req_finish_if_done(req);
  if (c->closing)
    return HPE_PAUSED;
  /* Pause before the next request if there is no slot for it, or if this
   * one's body still waits for window (conn->body must be free first). */
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

/* Feeds data to the parser; keeps what it does not take while paused. */
static void conn_parse(http_conn *c, const char *data, size_t len) {
  llhttp_errno_t err;
  http_req *req;

  c->exec_start = data;
  c->exec_end = data + len;
  err = llhttp_execute(&c->parser, data, len);
  if (c->closing)
    return;
  if (err == HPE_PAUSED_UPGRADE) {
    /* A request asking to upgrade (Upgrade: websocket, h2c) went to the
     * backend as an ordinary request; no protocol switch is offered, so the
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
    size_t used = (size_t) (llhttp_get_error_pos(&c->parser) - data);
    llhttp_resume(&c->parser);
    if (c->read_done)
      return;
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
    return;
  }
  if (err != HPE_OK) {
    const char *reason = llhttp_get_error_reason(&c->parser);
    int status = 400;
    log_debug("client %s:%u: bad request: %s (%s)", c->peer_host, (unsigned) c->peer_port,
              llhttp_errno_name(err), reason ? reason : "");
    if (reason != NULL && strcmp(reason, "URI too long") == 0)
      status = 414;
    else if (reason != NULL && (strcmp(reason, "request head too large") == 0 ||
                                strcmp(reason, "too many headers") == 0))
      status = 431;
    c->read_done = 1;
    conn_stop_reading(c);
    if (c->parsing) {
      req = parsing_req(c);
      c->parsing = 0;
      req->body_done = 1;
      req_local(req, status, NULL, status == 400 ? "Bad Request\n" :
                                   status == 414 ? "URI Too Long\n" :
                                   "Request Header Fields Too Large\n", 1);
    } else if (c->count < HTTP_PIPELINE_MAX) {
      c->count++;
      req = parsing_req(c);
      req_reset(req);
      req->body_done = 1;
      req_local(req, 400, NULL, "Bad Request\n", 1);
    } else {
      conn_close(c);
    }
    return;
  }
  c->in.len = 0;
  c->paused = 0;
  /* End of this input: forward what arrived of a body still in progress. */
  if (c->parsing && c->count > 0) {
    req = parsing_req(c);
    if (req->kind == REQ_BACKEND && req->up != NULL && c->body_req == req) {
      req_forward_body(req);
      if (c->body.len > 0)
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
      log_debug("client %s:%u: read: %s", c->peer_host, (unsigned) c->peer_port,
                uv_strerror((int) nread));
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
  if (c->waiting && c->count > 0 && conn_req(c, c->count - 1)->kind == REQ_WAITING)
    return;
  c->waiting = 0;
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
    log_info("client %s:%u: took no response bytes for %u s; closing", c->peer_host,
             (unsigned) c->peer_port, srv->cfg->header_timeout_ms / 1000);
    conn_close(c);
    return;
  }
  if (c->count == 0) {
    log_debug("client %s:%u: idle timeout", c->peer_host, (unsigned) c->peer_port);
    conn_close(c);
    return;
  }
  if (c->parsing) {
    http_req *req = parsing_req(c);
    log_debug("client %s:%u: request timeout", c->peer_host, (unsigned) c->peer_port);
    c->read_done = 1;
    c->parsing = 0;
    req->body_done = 1;
    conn_stop_reading(c);
    req_local(req, 408, NULL, "Request Timeout\n", 1);
  }
}

/* The timer runs only while we wait for the client: to take response bytes
 * (send timeout, restarted by each write that completes), to send the next
 * request (keep-alive timeout), or to send the rest of the one it began
 * (header timeout, restarted by each read of its body).  Not while only the
 * backend is working, nor while the frontend itself has stopped reading
 * because a backend's window is closed or the request waits for a backend. */
static void conn_arm_timer(http_conn *c) {
  const config *cfg = srv->cfg;

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
  server_cancel_flush(&c->fl);
  for (unsigned i = 0; i < HTTP_PIPELINE_MAX; i++) {
    tdm_buf_free(&c->reqs[i].resp);
    tdm_buf_free(&c->reqs[i].replay);
  }
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
  /* Cancel what backends and the file reader are doing for us. */
  while (c->count > 0) {
    http_req *r = conn_req(c, 0);
    list_unlink(r);
    req_release_stream(r, TDM_CANCEL_CLIENT_GONE);
    if (r->sf != NULL) {
      static_abort(r->sf);
      r->sf = NULL;
    }
    c->head = (c->head + 1) % HTTP_PIPELINE_MAX;
    c->count--;
  }
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    all_conns = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  srv->nconns--;
  server_conn_gone();
  c->pending_closes = 2;
  uv_close(&c->h.handle, conn_on_close);
  uv_close((uv_handle_t *) &c->timer, conn_on_close);
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
      server_schedule_flush(&c->fl);
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
  llhttp_init(&c->parser, HTTP_REQUEST, &parser_settings);
  c->parser.data = c;
  c->fl.flush = conn_on_flush;
  for (unsigned i = 0; i < HTTP_PIPELINE_MAX; i++) {
    c->reqs[i].conn = c;
    tdm_buf_init(&c->reqs[i].resp, HTTP_OUT_CAP);
    tdm_buf_init(&c->reqs[i].replay, HTTP_REPLAY_MAX);
    c->reqs[i].remaining = -1;
  }
  tdm_buf_init(&c->in, HTTP_READ_SIZE * 2);
  tdm_buf_init(&c->head_buf, 3 * (1 << 20));
  tdm_buf_init(&c->body, 4 * HTTP_READ_SIZE);
  outbuf_init(&c->ob, HTTP_OUT_CAP);
  return c;
}

static void settings_init(void) {
  static int done;

  if (done)
    return;
  done = 1;
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
  c->h.handle.data = c;
  c->timer.data = c;
  uv_timer_init(srv->loop, &c->timer);
  c->next = all_conns;
  if (all_conns != NULL)
    all_conns->prev = c;
  all_conns = c;
  srv->nconns++;
  conn_arm_timer(c);
  if (uv_read_start(&c->h.stream, conn_alloc_cb, conn_read_cb) == 0)
    c->reading = 1;
  else
    conn_close(c);
}

void http_conn_accept(uv_stream_t *listener) {
  http_conn *c;
  struct sockaddr_storage ss;
  int len;

  settings_init();
  c = conn_new();
  if (c == NULL) {
    log_error("out of memory accepting a client");
    return;
  }
  uv_tcp_init(srv->loop, &c->h.tcp);
  if (uv_accept(listener, &c->h.stream) != 0) {
    c->pending_closes = 1;
    c->h.handle.data = c;
    c->closing = 1;
    uv_close(&c->h.handle, conn_on_close);
    return;
  }
  uv_tcp_nodelay(&c->h.tcp, 1);
  len = sizeof(ss);
  if (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *) &ss, &len) == 0)
    addr_to_str(&ss, c->peer_host, sizeof(c->peer_host), &c->peer_port);
  len = sizeof(ss);
  if (uv_tcp_getsockname(&c->h.tcp, (struct sockaddr *) &ss, &len) == 0)
    addr_to_str(&ss, c->local_host, sizeof(c->local_host), &c->local_port);
  if (srv->nconns >= srv->cfg->max_connections) {
    log_warn("refusing client %s:%u: --max-connections (%d) reached", c->peer_host,
             (unsigned) c->peer_port, srv->cfg->max_connections);
    c->pending_closes = 1;
    c->h.handle.data = c;
    c->closing = 1;
    uv_close(&c->h.handle, conn_on_close);
    return;
  }
  conn_start(c);
}

int http_conn_open_fd(int fd) {
  http_conn *c;
  int rc;

  settings_init();
  c = conn_new();
  if (c == NULL)
    return UV_ENOMEM;
  uv_pipe_init(srv->loop, &c->h.pipe, 0);
  rc = uv_pipe_open(&c->h.pipe, fd);
  if (rc != 0) {
    c->pending_closes = 1;
    c->h.handle.data = c;
    c->closing = 1;
    uv_close(&c->h.handle, conn_on_close);
    return rc;
  }
  strcpy(c->peer_host, "127.0.0.1");
  c->peer_port = 1;
  conn_start(c);
  return 0;
}
