/* http_conn: one client connection.  It reads and parses requests (llhttp),
 * keeps them in a pipeline in arrival order, frames each response and
 * writes the responses in request order with one write per loop iteration.
 *
 * What produces a response is a request's handler (static.c, proxy.c),
 * reached only through the http_handler a handler sets on the request; which
 * handler takes a request is decided by the route hook the server gives at
 * http_conn_init().  So this module names no module above it: handlers call
 * down into the http_req_* functions below, and are called back through
 * their ops.  It may call ctx, outbuf, http_head, access_log (each request's
 * record: the access log and the request counters), config, log and the
 * codec. */
#ifndef TDM_HTTP_CONN_H
#define TDM_HTTP_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "ctx.h"
#include "tdm_proto.h"

typedef struct http_req http_req;
typedef struct http_conn http_conn;

/* A request's handler.  Every op may be NULL. */
typedef struct http_handler {
  /* req may produce more output now: it became the head of its pipeline, or
   * its connection's output drained below the high-water mark. */
  void (*on_writable)(http_req *req);
  /* More of req's body is in http_req_body(), or the body is complete. */
  void (*on_body)(http_req *req);
  /* req's response is replaced or finished, or its connection closes: stop
   * and release everything (code is a TDM_CANCEL_* code saying why).  The
   * handler is detached from req when this returns. */
  void (*release)(http_req *req, uint32_t code);
  /* Nonzero if its answer needs no one but the frontend (a file): a client
   * that half-closes after its request still gets it, as from nginx; any
   * other handler is released when the client's input ends. */
  int finishes_alone;
} http_handler;

typedef struct http_hooks {
  /* A request's head is complete and valid: give it a handler, or answer
   * it.  Called from inside the parser; for a request that waited for the
   * ones before it (a method that is not safe), once it is the head. */
  void (*route)(http_req *req);
  /* A client connection has closed (http_conn_count() is one less). */
  void (*conn_gone)(void *arg);
  void *arg;
} http_hooks;

/* Sets up the module: ctx and hooks must outlive every connection. */
void http_conn_init(tdm_ctx *ctx, const http_hooks *hooks);

/* Accepts one client from listener.  The connection owns itself and frees
 * itself after its handles close. */
void http_conn_accept(uv_stream_t *listener);

/* Serves HTTP on an already connected stream socket fd (tests use a
 * socketpair).  Returns 0 or a negative libuv error. */
int http_conn_open_fd(int fd);

/* Client connections open now. */
int http_conn_count(void);

/* Graceful stop: idle connections close now, the others after the
 * response to the request they are on (no new request is read). */
void http_conn_stop_all(void);

/* Closes every client connection (shutdown). */
void http_conn_close_all(void);

/* ---- the request, for its handler ----------------------------------------- */

/* Attaches handler h to req, with data for it (owner: the handler, which
 * frees it in its release op). */
void http_req_set_handler(http_req *req, const http_handler *h, void *data);
void *http_req_handler_data(const http_req *req);
tdm_ctx *http_req_ctx(const http_req *req);
/* The access log's and the metrics' record of req (access_log.h), for the
 * handlers to say where req went. */
struct access_req *http_req_access(http_req *req);
/* The request's head as the codec sends it.  Valid until the request's body
 * is complete (the parser keeps the head while a request is held). */
const tdm_request *http_req_head(const http_req *req);
/* The target's path, decoded and normalised (always starts with '/'); NULL
 * if the target is not a path ("*"). */
const char *http_req_path(const http_req *req, size_t *len);
/* The raw (still encoded) path of the target. */
const char *http_req_raw_path(const http_req *req, size_t *len);
int http_req_method(const http_req *req);         /* an llhttp_method_t */
int http_req_is_head(const http_req *req);        /* at the head of its pipeline */
int http_req_responded(const http_req *req);      /* a status line has been produced */
/* "client 1.2.3.4:5678", for log lines. */
const char *http_req_peer(const http_req *req);
/* The request id (the REQUEST's request_id, the response's X-Request-Id),
 * *len bytes of visible ASCII, NUL-terminated; NULL (and *len 0) if the
 * request has none (its head was never read whole). */
const char *http_req_id(const http_req *req, size_t *len);

/* Only while routing: the parser stops after this head until
 * http_req_unhold() (the request waits for a backend). */
void http_req_hold(http_req *req);
void http_req_unhold(http_req *req);

/* The body: a handler that takes it gets each piece read into the
 * connection's body buffer, consumes what it has forwarded, and reading
 * stops while the buffer holds anything. */
void http_req_take_body(http_req *req);
/* Stops taking it: what is buffered is dropped, the rest read and dropped. */
void http_req_drop_body(http_req *req);
/* The body bytes read and not consumed, or NULL if req does not take them. */
tdm_buf *http_req_body(http_req *req);
/* Whether the whole body has been read (or there is none). */
int http_req_body_complete(const http_req *req);
/* The handler passed bytes of http_req_body() on: reading may go on. */
void http_req_read_on(http_req *req);
/* A handler wants req's body: a client that waits for "100 Continue" gets
 * it now (if req is the head), and the body is read.  Until then nothing
 * after such a request's head is read; answered first, it is the last
 * request of its connection. */
void http_req_continue(http_req *req);

/* ---- its response ---------------------------------------------------------- */

/* A response head in three steps: the status line with content_length bytes
 * to follow (-1 for none known), header lines, then the headers every
 * response gets (date and server unless it has them) and the blank line. */
void http_resp_begin(http_req *req, int status, int64_t content_length);
void http_resp_header(http_req *req, const char *name, size_t nlen, const char *value, size_t vlen);
/* Header lines already formatted ("name: value\r\n" each). */
void http_resp_header_lines(http_req *req, const char *lines, size_t len);
void http_resp_end_head(http_req *req, int have_date, int have_server);
/* http_resp_begin, the lines, http_resp_end_head(req, 0, 0). */
void http_req_start(http_req *req, int status, const char *headers, size_t headers_len,
                    int64_t content_length);
/* Body bytes, framed as the head said. */
void http_req_write(http_req *req, const char *data, size_t len);
/* The same for bytes that are also at offset off of fd, a file whose pages
 * are memory (a memfd), which the socket may then send without a copy
 * (sock_write_now()). */
void http_req_write_file(http_req *req, const char *data, size_t len, int fd, uint64_t off);
void http_req_end(http_req *req);
/* The response cannot be completed: close the connection after what was sent. */
void http_req_abort(http_req *req);
/* A whole short response with a text/plain body. */
void http_req_simple(http_req *req, int status, const char *extra_headers, const char *body);
/* A response made by the frontend in place of whatever req was getting: its
 * handler is released first.  If a response has begun already it is cut
 * short and the connection closes after it.  close: close after this one. */
void http_req_local(http_req *req, int status, const char *extra, const char *body, int close);
/* Detaches req's handler (its release op runs with code); the caller then
 * gives req another handler or answers it. */
void http_req_release_handler(http_req *req, uint32_t code);
/* The connection closes after this response. */
void http_req_close_after(http_req *req);
/* Whether req's response sends no body (HEAD, 204, 304). */
int http_req_no_body(const http_req *req);
/* Response bytes produced and not yet handed to a write. */
size_t http_req_unsent(const http_req *req);

/* Whether req may produce more bytes now without growing buffers past their
 * bound; if not, its handler's on_writable tells it when. */
int http_req_writable(const http_req *req);
/* Whether req is at the head of its pipeline with nothing left to write
 * before it: then (and only then) body bytes may go to the socket directly. */
int http_req_idle_head(const http_req *req);
/* The client socket's descriptor, for sendfile. */
int http_req_socket(const http_req *req);
/* The connection switches protocols after req (a WebSocket): returns a
 * descriptor of its socket that the caller owns (and closes), and the
 * connection closes without a word to the client (req's handler is released
 * with TDM_CANCEL_CLIENT_GONE).  Only for the one request of its connection,
 * at the head with nothing left to write and nothing read after it; else
 * UV_EBUSY, changing nothing. */
int http_req_detach(http_req *req);
/* n body bytes went to the socket directly (sendfile). */
void http_req_sent(http_req *req, size_t n);
/* The client's socket is full and sendfile waits for it: the send timeout
 * runs until http_req_sent(). */
void http_req_wait_client(http_req *req);

#endif /* TDM_HTTP_CONN_H */
