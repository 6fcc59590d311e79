/* outbuf: the output of one stream socket, gathered during a loop iteration
 * and written with one uv_write.  Ground level: it names no other module of
 * the frontend. */
#ifndef TDM_OUTBUF_H
#define TDM_OUTBUF_H

#include <stddef.h>

#include <uv.h>

#include "tdm_proto.h"

/* Callers append to `out` during a loop iteration; outbuf_write() swaps it
 * with `wbuf` and writes that in one uv_write, so new output gathers while
 * the write is in flight.  Owner of both buffers: whoever embeds the outbuf. */
typedef struct outbuf {
  tdm_buf out;
  tdm_buf wbuf;
  uv_write_t wreq;
  int writing;
} outbuf;

/* Both buffers hold at most cap bytes. */
void outbuf_init(outbuf *o, size_t cap);
void outbuf_free(outbuf *o);
/* Writes what `out` holds (nothing to do if it is empty or a write is in
 * flight).  Returns OUTBUF_DONE if the kernel took all of it at once: no
 * callback follows, and the caller does now what cb would have done.
 * Otherwise the rest is written with a uv_write and cb runs with wreq.data ==
 * data; it must call outbuf_written().  Returns 0 then, or a negative libuv
 * error if the write could not start. */
#define OUTBUF_DONE 1
int outbuf_write(outbuf *o, uv_stream_t *s, uv_write_cb cb, void *data);
void outbuf_written(outbuf *o);
/* Bytes not yet handed to the kernel. */
static inline size_t outbuf_pending(const outbuf *o) {
  return o->out.len + o->wbuf.len;
}

#endif /* TDM_OUTBUF_H */
