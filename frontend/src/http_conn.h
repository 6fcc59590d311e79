/* http_conn: one client connection: llhttp parsing, the pipeline of requests
 * in arrival order, response framing and the coalesced writes to the client. */
#ifndef TDM_HTTP_CONN_H
#define TDM_HTTP_CONN_H

#include <stdint.h>

#include <uv.h>

#include "tdm_proto.h"

typedef struct http_req http_req;
typedef struct http_conn http_conn;
struct upstream_conn;

/* Accepts one client from listener.  The connection owns itself and frees
 * itself after its handles close. */
void http_conn_accept(uv_stream_t *listener);

/* Serves HTTP on an already connected stream socket fd (tests use a
 * socketpair).  Returns 0 or a negative libuv error. */
int http_conn_open_fd(int fd);

/* A backend has room for more streams: waiting requests may go to it. */
void http_conn_backend_capacity(void);

/* Graceful stop: idle connections close now, the others after the
 * response to the request they are on (no new request is read). */
void http_conn_stop_all(void);

/* Closes every client connection (shutdown). */
void http_conn_close_all(void);

/* Events from the backend side (upstream.c) about req's stream. */
/* These two return -1 (and do nothing) if the body exceeds the stream's
 * window: a connection error FLOW_CONTROL_ERROR for the caller. */
int http_req_on_response(http_req *req, const tdm_response *resp);
int http_req_on_data(http_req *req, const tdm_data *data);
void http_req_on_window(http_req *req, uint32_t increment);
void http_req_on_cancel(http_req *req, uint32_t code);
void http_req_on_upstream_lost(http_req *req);
/* Whether req's stream is still stream sid of up. */
int http_req_stream_of(const http_req *req, const struct upstream_conn *up, uint32_t sid);

/* Used by static.c: start a response with status and extra header lines
 * ("name: value\r\n" each, may be empty), content_length bytes to follow
 * (or -1 for none known); write body bytes; finish. */
void http_req_start(http_req *req, int status, const char *headers, size_t headers_len,
                    int64_t content_length);
void http_req_write(http_req *req, const char *data, size_t len);
void http_req_end(http_req *req);
/* Like http_req_start for a backend's file response: the header lines are the
 * backend's, and date/server are added only if they lack them. */
void http_req_start_file(http_req *req, int status, const char *headers, size_t headers_len,
                         int64_t content_length, int have_date, int have_server);
/* Whether req is at the head of its pipeline with nothing left to write
 * before it: then (and only then) body bytes may go to the socket directly. */
int http_req_idle_head(const http_req *req);
/* The client socket's descriptor, for sendfile. */
int http_req_socket(const http_req *req);
/* n body bytes went to the socket directly (sendfile). */
void http_req_sent(http_req *req, size_t n);
/* The client's socket is full and sendfile waits for it: the send timeout
 * runs until http_req_sent(). */
void http_req_wait_client(http_req *req);
/* The response cannot be completed: close the connection after what was sent. */
void http_req_abort(http_req *req);
/* A whole short response with a text/plain body. */
void http_req_simple(http_req *req, int status, const char *extra_headers, const char *body);
/* Whether req may produce more bytes now without growing buffers past their
 * bound; if not, static.c is told through static_on_writable(). */
int http_req_writable(const http_req *req);
int http_req_is_head(const http_req *req);

#endif /* TDM_HTTP_CONN_H */
