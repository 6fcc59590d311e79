/* ctx: what every part of the frontend is handed when it starts: the loop,
 * the settings, whether the server is stopping, the flush that runs once per
 * loop iteration (so each socket's output of an iteration goes out in one
 * write), and the cached date header.  It names only http_cond (the date's
 * format), which is ground level. */
#ifndef TDM_CTX_H
#define TDM_CTX_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "config.h"

/* Anything with bytes gathered for one write per loop iteration.  Owner:
 * whoever embeds it, who must call ctx_cancel_flush() before freeing it. */
typedef struct flushable {
  struct flushable *next;
  void (*flush)(struct flushable *f);
  int queued;
} flushable;

typedef struct tdm_ctx {
  uv_loop_t *loop;
  const config *cfg;
  int stopping;                  /* SIGTERM: finishing what is in flight */
  uv_prepare_t flusher;
  flushable *flush_head;
  /* "date: <IMF-fixdate>\r\n", rebuilt when the second changes. */
  char date_line[48];
  size_t date_len;
  uint64_t date_stamp;           /* the second date_line says */
} tdm_ctx;

/* Starts the per-iteration flush on loop.  Returns 0 or a negative libuv
 * error. */
int ctx_init(tdm_ctx *x, uv_loop_t *loop, const config *cfg);

/* Runs every queued flush now, then closes the flush handle. */
void ctx_close(tdm_ctx *x);

/* Queues f to be flushed before the loop next waits for I/O.  Idempotent;
 * inline, since every write of every socket passes here. */
static inline void ctx_schedule_flush(tdm_ctx *x, flushable *f) {
  if (f->queued)
    return;
  f->queued = 1;
  f->next = x->flush_head;
  x->flush_head = f;
}

/* Takes f off the queue.  Idempotent. */
void ctx_cancel_flush(tdm_ctx *x, flushable *f);

/* Runs every queued flush now (a flush may queue more; they run too). */
void ctx_flush_now(tdm_ctx *x);

/* The current "date: ...\r\n" header line; len gets its length. */
const char *ctx_date_line(tdm_ctx *x, size_t *len);

#endif /* TDM_CTX_H */
