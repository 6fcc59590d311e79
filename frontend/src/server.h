/* server: the process-wide state of the frontend, its listeners, signals and
 * the once-per-loop-iteration flush that batches every write. */
#ifndef TDM_SERVER_H
#define TDM_SERVER_H

#include <uv.h>

#include "config.h"
#include "tdm_proto.h"

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
  int stopping;                  /* SIGTERM: finishing what is in flight */
  int finished;                  /* everything closed or closing */
  uv_timer_t shutdown_timer;
  int shutdown_timer_ready;
  flushable finisher;
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

/* Graceful stop: stops accepting clients and backends, lets requests in
 * flight finish (each connection closes after its last response), then
 * closes everything and lets the loop end; after --shutdown-timeout, or on
 * a second call, everything closes at once. */
void server_stop(server *s);

/* A client connection closed (for the graceful stop's accounting). */
void server_conn_gone(void);

/* Output of one stream socket: callers append to `out` during a loop
 * iteration; outbuf_write() swaps it with `wbuf` and writes that in one
 * uv_write, so new output gathers while the write is in flight.  Owner of
 * both buffers: whoever embeds the outbuf. */
typedef struct outbuf {
  tdm_buf out;
  tdm_buf wbuf;
  uv_write_t wreq;
  int writing;
} outbuf;

void outbuf_init(outbuf *o, size_t cap);
void outbuf_free(outbuf *o);
/* Starts writing what `out` holds (nothing to do if it is empty or a write is
 * in flight).  cb runs with wreq.data == data; it must call outbuf_written().
 * Returns 0 or a negative libuv error. */
int outbuf_write(outbuf *o, uv_stream_t *s, uv_write_cb cb, void *data);
void outbuf_written(outbuf *o);
/* Bytes not yet handed to the kernel. */
size_t outbuf_pending(const outbuf *o);

/* Queues f to be flushed before the loop next waits for I/O. Idempotent. */
void server_schedule_flush(flushable *f);

/* Takes f off the queue; its owner calls this before freeing it.  Idempotent. */
void server_cancel_flush(flushable *f);

/* The current "date: ...\r\n" header line. */
const char *server_date_line(size_t *len);

#endif /* TDM_SERVER_H */
