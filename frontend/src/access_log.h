/* access_log: --access-log, one line per request in nginx's `combined`
 * format with four fields after it, or as JSON (--access-log-format); and
 * the per-request bookkeeping the metrics count from (metrics.h).
 *
 * A request's record (access_req) lives in the request (http_conn.c); the
 * connection calls begin (first byte), head (the head is read), end (the
 * response is complete) and forget (the request leaves the pipeline), the
 * handlers say where it went (route, backend).  Fields of the head are
 * escaped and kept at head time, since the head is gone by the time the
 * response ends.
 *
 * Writing never blocks the loop: lines gather in a bounded buffer written
 * by an afile (ACCESS_LOG_BUFFER bytes, twice); a line that finds the buffer
 * full is dropped and counted, with a warning in the error log (at most one
 * a second).  Calls afile, metrics, ctx, config, log and the codec. */
#ifndef TDM_ACCESS_LOG_H
#define TDM_ACCESS_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "ctx.h"
#include "tdm_proto.h"

#define ACCESS_LOG_BUFFER (1024 * 1024)
#define ACCESS_LOG_FIELD_MAX 8192        /* escaped bytes kept of one field; more is cut */

typedef struct access_req {
  uint64_t started;              /* uv_hrtime() at the request's first byte; 0: none */
  uint64_t upstream_start;       /* when it got a backend's stream; 0: never */
  uint64_t upstream_end;         /* when the backend's response ended */
  char *fields;                  /* remote address, request line, referer, user agent, escaped;
                                    owner: this record (freed by end or forget) */
  uint32_t lens[4];
  uint64_t backend_gen;
  int backend_pid;
  size_t id_len;                 /* the length of the id given to access_req_end */
  uint8_t kind;                  /* ROUTE_* */
  uint8_t active;                /* begun, not yet ended or forgotten */
  uint8_t headed;                /* its head was read */
} access_req;

/* Opens the log cfg names (nothing if none).  Returns 0, or a negative
 * errno after logging why. */
int access_log_open(tdm_ctx *x, const config *cfg);
/* Reopens the log file (SIGUSR1: log rotation). */
void access_log_reopen(void);
/* Whether a write to the log is in flight. */
int access_log_pending(void);
/* At exit, once the loop has stopped: writes what is left, and closes. */
void access_log_close(void);

/* The request's first byte arrived (its record is all zeros). */
void access_req_begin(access_req *ar);
/* Its head was read: rq, or NULL if the head was refused. */
void access_req_head(access_req *ar, const tdm_request *rq);
/* It was routed to kind (ROUTE_STATIC, ROUTE_DYNAMIC). */
void access_req_route(access_req *ar, int kind);
/* It was sent to the backend pid of generation gen (again, if its first died). */
void access_req_backend(access_req *ar, int pid, uint64_t gen);
/* The backend's part of it is over: its response ended, or the stream did. */
void access_req_backend_done(access_req *ar);
/* Its response is complete and in the connection's output (it is the
 * pipeline's head): logged and counted.  peer: the client's address
 * when the head gave none; id: the request id (ar->id_len bytes), or NULL. */
void access_req_end(access_req *ar, const char *peer, int status, uint64_t body_bytes, const char *id);
/* It leaves the pipeline: if its response was not complete, the client left
 * first (logged as 499, as nginx does, if its head was read). */
void access_req_forget(access_req *ar);
/* It leaves the pipeline without having run (an earlier response closed the
 * connection before its turn): neither logged nor counted, as a request
 * nginx would not have read. */
void access_req_drop(access_req *ar);

#endif /* TDM_ACCESS_LOG_H */
