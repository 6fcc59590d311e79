/* server: the process-wide state of the frontend, its listeners, signals and
 * the once-per-loop-iteration flush that batches every write. */
#ifndef TDM_SERVER_H
#define TDM_SERVER_H

#include <uv.h>

#include "config.h"

/* Anything with bytes gathered for one write per loop iteration. */
typedef struct flushable {
  struct flushable *next;
  void (*flush)(struct flushable *f);
  int queued;
} flushable;

typedef struct server {
  uv_loop_t *loop;
  const config *cfg;
  uv_tcp_t listener;
  uv_prepare_t flusher;
  uv_signal_t sigint;
  uv_signal_t sigterm;
  uv_signal_t sigpipe;
  flushable *flush_head;
  int nconns;
  int stopping;
  /* "date: <IMF-fixdate>\r\n", rebuilt when the second changes. */
  char date_line[48];
  size_t date_len;
  uint64_t date_stamp;
} server;

extern server *srv;

/* Sets up the loop-wide handles (flusher, signals) without listening; tests
 * use this with their own sockets.  Returns 0 or a negative libuv error. */
int server_init(server *s, uv_loop_t *loop, const config *cfg);

/* Binds the HTTP listener and the backend socket.  Returns 0 or a negative
 * libuv error, after logging what failed. */
int server_listen(server *s);

/* Stops accepting, closes every connection, lets the loop end. */
void server_stop(server *s);

/* Queues f to be flushed before the loop next waits for I/O. Idempotent. */
void server_schedule_flush(flushable *f);

/* Takes f off the queue; its owner calls this before freeing it.  Idempotent. */
void server_cancel_flush(flushable *f);

/* The current "date: ...\r\n" header line. */
const char *server_date_line(size_t *len);

#endif /* TDM_SERVER_H */
