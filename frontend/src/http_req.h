/* http_req: the record of one request in a client connection's pipeline.
 * Private to http_conn.c, which alone reads and writes it: handlers see a
 * request only through the functions of http_conn.h.  It names no module
 * above it (struct tags only), so that it adds no edge back to http_conn. */
#ifndef TDM_HTTP_REQ_H
#define TDM_HTTP_REQ_H

#include <stdint.h>

#include "http_framing.h"
#include "http_ident.h"
#include "tdm_proto.h"

struct http_req {
  struct http_conn *conn;
  const struct http_handler *handler;   /* NULL: answered by the connection itself, or not yet */
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
  unsigned expect_continue : 1;  /* the client waits for 100 Continue */
  unsigned continued : 1;        /* and got it */
  int status;
  http_framing framing;          /* how the response's body is delimited */
  tdm_buf resp;                  /* output held while not at the head; owner: req */
  uint64_t body_bytes;           /* response body bytes, for the access log */
  uint64_t started;
  http_req_ident ident;          /* its id and forwarded client (http_ident.c) */
};

#endif /* TDM_HTTP_REQ_H */
