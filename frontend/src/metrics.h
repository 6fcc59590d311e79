/* metrics: the frontend's counters, one global struct of plain integers that
 * the hot path increments directly (one loop thread: no atomics needed),
 * and their Prometheus text (version 0.0.4).  Gauges that are states rather
 * than events (connections open, requests queued, backends) are not kept
 * here: whoever renders asks their owners (status.c).  Ground level: it
 * names no other module of the frontend but the codec's byte buffer. */
#ifndef TDM_METRICS_H
#define TDM_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "tdm_proto.h"

/* Where a request went: refused before routing (a malformed head), a static
 * mount, or the backends. */
enum { ROUTE_NONE, ROUTE_STATIC, ROUTE_DYNAMIC, ROUTE_KINDS };

/* Why a backend connection ended. */
#define METRICS_DISCONNECT_MAP(XX)                                                    \
  XX(CLOSED, "closed")                  /* the backend closed it, or reading failed */ \
  XX(DRAINED, "drained")                /* it drained (superseded, or its own GOAWAY) */ \
  XX(ERROR, "error")                    /* the frontend closed it: protocol error, failed write */ \
  XX(SHUTDOWN, "shutdown")              /* the frontend is stopping */

enum {
#define XX(id, name) DISCONNECT_##id,
  METRICS_DISCONNECT_MAP(XX)
#undef XX
  DISCONNECT_REASONS
};

/* Request latency buckets, upper bounds in microseconds (+Inf after them). */
#define METRICS_LATENCY_BUCKETS 14

typedef struct metrics_counters {
  uint64_t requests[ROUTE_KINDS][6];            /* [kind][status / 100], [0]: no status */
  uint64_t latency[ROUTE_KINDS][METRICS_LATENCY_BUCKETS + 1];  /* not cumulative */
  uint64_t latency_sum_us[ROUTE_KINDS];
  uint64_t bytes_in;                            /* read from clients */
  uint64_t bytes_out;                           /* written to clients, sendfile included */
  uint64_t connections;                         /* client connections accepted */
  int64_t in_flight;                            /* requests read and not answered in full */
  uint64_t gateway[3];                          /* responses 502, 503, 504 */
  uint64_t request_timeouts;                    /* 504: --request-timeout */
  uint64_t wait_timeouts;                       /* 503: --backend-wait */
  uint64_t client_timeouts;                     /* a client too slow (header, send, keep-alive idle) */
  uint64_t cancelled_client;                    /* the client left before its response was complete */
  uint64_t cancelled_backend;                   /* the backend cancelled the stream */
  uint64_t swaps;                               /* a newer generation superseded an older one */
  uint64_t disconnects[DISCONNECT_REASONS];
  uint64_t access_log_dropped;                  /* lines lost: the buffer was full */
} metrics_counters;

extern metrics_counters metrics;

/* A request ended with status (0: none) after us microseconds. */
void metrics_request_done(int kind, int status, uint64_t us);

/* What is not a counter, filled in by the renderer's caller. */
typedef struct metrics_gauges {
  int connections;               /* client connections open */
  unsigned queued;               /* requests waiting for a backend */
} metrics_gauges;

/* Appends the counters and gauges as Prometheus text to out.  Returns 0, or
 * a negative error if out's cap was reached. */
int metrics_render(tdm_buf *out, const metrics_gauges *g);

/* printf onto out (bounded by its cap).  Returns 0 or TDM_ENOMEM. */
int metrics_printf(tdm_buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* TDM_METRICS_H */
