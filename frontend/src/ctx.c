/* ctx: the loop-wide state every module is handed (see ctx.h).  Calls only
 * libuv, the C library and http_cond's date format. */
#include "ctx.h"

#include <string.h>
#include <time.h>

#include "http_cond.h"

static void ctx_on_prepare(uv_prepare_t *h) {
  ctx_flush_now(h->data);
}

int ctx_init(tdm_ctx *x, uv_loop_t *loop, const config *cfg) {
  int rc;

  memset(x, 0, sizeof(*x));
  x->loop = loop;
  x->cfg = cfg;
  rc = uv_prepare_init(loop, &x->flusher);
  if (rc != 0)
    return rc;
  x->flusher.data = x;
  return uv_prepare_start(&x->flusher, ctx_on_prepare);
}

void ctx_close(tdm_ctx *x) {
  ctx_flush_now(x);
  uv_close((uv_handle_t *) &x->flusher, NULL);
}

void ctx_cancel_flush(tdm_ctx *x, flushable *f) {
  flushable **p;

  if (!f->queued)
    return;
  for (p = &x->flush_head; *p != NULL; p = &(*p)->next) {
    if (*p == f) {
      *p = f->next;
      break;
    }
  }
  f->next = NULL;
  f->queued = 0;
}

/* Runs just before the loop waits for I/O: every socket that gathered output
 * in this iteration writes it now, in one write each.  A flush may queue
 * more (a write that completes at once does not call back synchronously in
 * libuv, so this terminates). */
void ctx_flush_now(tdm_ctx *x) {
  while (x->flush_head != NULL) {
    flushable *f = x->flush_head;
    x->flush_head = f->next;
    f->next = NULL;
    f->queued = 0;
    f->flush(f);
  }
}

const char *ctx_date_line(tdm_ctx *x, size_t *len) {
  /* The wall clock's second (time() reads it from the vDSO, with no system
   * call), not the loop's: a Last-Modified clamped to the present
   * (http_validator_make) is then never later than the Date beside it. */
  time_t now = time(NULL);

  if ((uint64_t) now != x->date_stamp || x->date_len == 0) {
    memcpy(x->date_line, "date: ", 6);
    x->date_len = 6 + http_date_format(now, x->date_line + 6);
    memcpy(x->date_line + x->date_len, "\r\n", 2);
    x->date_len += 2;
    x->date_stamp = (uint64_t) now;
  }
  *len = x->date_len;
  return x->date_line;
}
