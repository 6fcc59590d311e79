/* http_req: what a request's handler asks of its request (see http_conn.h):
 * its head, its handler, its body, whether it may write, the header lines
 * and the 100 Continue it writes, and what the client took (its place in
 * the pipeline, dropping its body, the status line and the body's framing
 * are http_conn.c's, which uses them too).  Calls http_parse for the head,
 * sock for the output's level and http_framing for the lines; the
 * connection (http_conn.c) only through http_conn_state.h's three calls. */
#include "http_conn.h"

#include "http_conn_state.h"
#include "http_parse.h"
#include "sock.h"

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

access_req *http_req_access(http_req *req) {
  return &req->alog;
}

const tdm_request *http_req_head(const http_req *req) {
  return &http_parse_head_of(req->conn->parser)->rq;
}

const char *http_req_path(const http_req *req, size_t *len) {
  const http_parse_head *hd = http_parse_head_of(req->conn->parser);

  *len = hd->norm_len;
  return hd->norm;
}

const char *http_req_raw_path(const http_req *req, size_t *len) {
  const http_parse_head *hd = http_parse_head_of(req->conn->parser);

  *len = hd->target.path_len;
  return hd->target.path;
}

int http_req_method(const http_req *req) {
  return req->method;
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
  http_conn_resume(req->conn);
}

void http_req_take_body(http_req *req) {
  req->body_taken = 1;
  req->conn->body_req = req;
}

tdm_buf *http_req_body(http_req *req) {
  return req->conn->body_req == req ? &req->conn->body : NULL;
}

int http_req_body_complete(const http_req *req) {
  return req->body_done || !req->has_body;
}

void http_req_read_on(http_req *req) {
  http_conn_resume(req->conn);
}

int http_req_writable(const http_req *req) {
  if (http_req_is_head(req))
    return sock_pending(&req->conn->sock) < HTTP_OUT_HIGH;
  return req->resp.len < HTTP_OUT_HIGH;
}

size_t http_req_unsent(const http_req *req) {
  return http_req_is_head(req) ? sock_unwritten(&req->conn->sock) : req->resp.len;
}

int http_req_no_body(const http_req *req) {
  return req->framing.no_body;
}

int http_req_socket(const http_req *req) {
  return sock_fd(&req->conn->sock);
}

void http_req_close_after(http_req *req) {
  req->close_after = 1;
}

/* ---- writing: the head's pieces, and the client taking the body ----------- */

#define LIT(s) s, sizeof(s) - 1

static void emit(http_req *req, const char *data, size_t len) {
  http_conn_emit(req, data, len, -1, 0);
}

void http_resp_header(http_req *req, const char *name, size_t nlen, const char *value, size_t vlen) {
  char line[256];
  size_t n = http_framing_header_line(line, sizeof(line), name, nlen, value, vlen);

  http_ident_resp_header(&req->ident, name, nlen);
  if (n > 0) {
    emit(req, line, n);
    return;
  }
  emit(req, name, nlen);
  emit(req, ": ", 2);
  emit(req, value, vlen);
  emit(req, "\r\n", 2);
}

void http_resp_header_lines(http_req *req, const char *lines, size_t len) {
  emit(req, lines, len);
}

void http_req_start(http_req *req, int status, const char *headers, size_t headers_len,
                    int64_t content_length) {
  http_resp_begin(req, status, content_length);
  emit(req, headers, headers_len);
  http_resp_end_head(req, 0, 0);
}

void http_req_sent(http_req *req, size_t n) {
  http_framing_sent(&req->framing, n);
  req->body_bytes += n;
  req->conn->send_stalled = 0;
  http_conn_timer(req->conn);
}

void http_req_wait_client(http_req *req) {
  req->conn->send_stalled = 1;
  http_conn_timer(req->conn);
}

void http_req_continue(http_req *req) {
  if (!req->expect_continue || req->continued)
    return;
  /* Only the head of the pipeline may answer without breaking response
   * order; a later one's client sends its body after its own short wait, as
   * RFC 9110 section 10.1.1 lets it.  Either way the body is read now. */
  if (http_req_is_head(req) && !req->resp_started)
    emit(req, LIT("HTTP/1.1 100 Continue\r\n\r\n"));
  req->continued = 1;
  http_conn_resume(req->conn);
}
