/* http_req: what a request's handler asks of its request (see http_conn.h):
 * its head, its handler, its body, whether it may write (its place in the
 * pipeline and dropping its body are http_conn.c's, which uses them too).
 * Calls http_parse for the head and sock for the output's level; the
 * connection (http_conn.c) only through http_conn_resume(). */
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
