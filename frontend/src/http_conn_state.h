/* http_conn_state: the state of a client connection and of the requests in
 * its pipeline, shared by the two files that implement http_conn.h:
 * http_conn.c (reading, the pipeline, responses, timeouts, lifetime) and
 * http_req.c (what a request's handler asks of it).  Nothing else includes
 * it: handlers see only the opaque types of http_conn.h. */
#ifndef TDM_HTTP_CONN_STATE_H
#define TDM_HTTP_CONN_STATE_H

#include <arpa/inet.h>
#include <stdint.h>

#include "access_log.h"
#include "ctx.h"
#include "http_framing.h"
#include "http_ident.h"
#include "http_parse.h"
#include "sock.h"
#include "tdm_proto.h"

#define HTTP_PIPELINE_MAX 8
#define HTTP_READ_SIZE (64 * 1024)
#define HTTP_OUT_HIGH (256 * 1024)          /* stop producing above this much unwritten output */
#define HTTP_OUT_CAP (64 * 1024 * 1024)     /* hard cap of any one output buffer */

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
  unsigned deferred : 1;         /* not safe, behind unanswered requests: runs at the head */
  unsigned resp_started : 1;     /* the status line has been produced */
  unsigned resp_done : 1;        /* the whole response has been produced */
  unsigned close_after : 1;      /* close the connection after this response */
  unsigned expect_continue : 1;  /* the client waits for 100 Continue */
  unsigned continued : 1;        /* and got it */
  int status;
  http_framing framing;          /* how the response's body is delimited */
  tdm_buf resp;                  /* output held while not at the head; owner: req */
  uint64_t body_bytes;           /* response body bytes, for the access log */
  uint64_t started;              /* loop time (ms) the head began, for --header-timeout */
  access_req alog;               /* the access log's and the metrics' record of it */
  http_req_ident ident;          /* its id and forwarded client (http_ident.c) */
};

struct http_conn {
  sock sock;                     /* the client's socket and output; owner: conn */
  tdm_ctx *ctx;
  http_parser *parser;           /* while a request is read or answered, else NULL; owner: conn */
  struct http_req *reqs;         /* the pipeline's ring of HTTP_PIPELINE_MAX, taken with the parser;
                                    owner: conn, then the ring pool (http_conn.c) */
  unsigned head;                 /* index of the oldest request */
  unsigned count;                /* requests in the ring */
  unsigned parsing : 1;          /* a message has begun and is not complete */
  unsigned paused : 1;           /* the parser paused; unparsed bytes in `in` */
  unsigned read_done : 1;        /* no more requests will be read */
  unsigned closing : 1;
  unsigned send_stalled : 1;     /* sendfile waits for the client's socket to take more */
  unsigned trust_known : 1;      /* trusted says whether the peer is in --forwarded-allow-ips */
  unsigned trusted : 1;
  unsigned feeding : 1;          /* inside the parser: it may not be given back */
  tdm_buf in;                    /* unparsed input kept while paused; owner: conn */
  uint64_t body_received;
  struct http_req *body_req;     /* the request whose body sits in `body` */
  tdm_buf body;                  /* request body not yet forwarded; owner: conn */
  char peer[INET6_ADDRSTRLEN + 16];     /* "host:port", for the log */
  struct http_conn *prev, *next; /* all connections, for shutdown */
};

/* The parser may go on (http_conn.c): a request stopped holding it, or its
 * handler passed on the body bytes that stopped reading. */
void http_conn_resume(struct http_conn *c);

/* Queues or writes len bytes of req's response (http_conn.c): into the
 * connection's output if req is the pipeline's head, else into its own; with
 * fd >= 0 the bytes are also at offset off of fd, a memfd (sock_write_now()). */
void http_conn_emit(struct http_req *req, const char *data, size_t len, int fd, uint64_t off);
/* The connection's timer, set again for what it now waits for. */
void http_conn_timer(struct http_conn *c);

#endif /* TDM_HTTP_CONN_STATE_H */
