/* server: the frontend as a whole.  It owns the loop-wide context, the HTTP
 * listener and the signals, wires the modules together (the route hook of
 * http_conn, the handlers) and runs the graceful stop.  It is the top of
 * the tree: it may call every module; none calls it. */
#ifndef TDM_SERVER_H
#define TDM_SERVER_H

#include <uv.h>

#include "config.h"
#include "ctx.h"
#include "http_conn.h"

typedef struct server {
  tdm_ctx ctx;
  http_hooks hooks;
  uv_tcp_t listener;
  /* SIGINT, SIGTERM, SIGQUIT: stop gracefully, or at once when the same
   * signal comes again; SIGHUP, SIGUSR1: reopen the access log; SIGPIPE:
   * ignored (server.c, server_signals). */
  uv_signal_t signals[6];
  int stop_signal;               /* the signal that began the stop; 0 before */
  int finished;                  /* everything closed or closing */
  uv_timer_t shutdown_timer;
  int shutdown_timer_ready;
  flushable finisher;
  uint64_t refused;              /* clients refused since the last warning */
  uint64_t refused_said_at;      /* loop time of that warning; 0: none yet */
} server;

/* Sets up the loop-wide handles (flush, signals) and every module without
 * listening; tests use this with their own sockets.  Returns 0 or a
 * negative libuv error. */
int server_init(server *s, uv_loop_t *loop, const config *cfg);

/* Opens --record and --access-log, binds the HTTP listener, the backend
 * socket and --metrics-listen.  Returns 0 or a negative
 * libuv error, after logging what failed. */
int server_listen(server *s);

/* Graceful stop: stops accepting clients and backends, lets requests in
 * flight finish (each connection closes after its last response), then
 * closes everything and lets the loop end; after --shutdown-timeout, or on
 * a second call, everything closes at once. */
void server_stop(server *s);

#endif /* TDM_SERVER_H */
