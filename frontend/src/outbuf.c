/* outbuf: one socket's output, two buffers that swap at each write (see
 * outbuf.h).  Calls only libuv and the codec's byte buffers. */
#include "outbuf.h"

void outbuf_init(outbuf *o, size_t cap) {
  tdm_buf_init(&o->out, cap);
  tdm_buf_init(&o->wbuf, cap);
  o->writing = 0;
}

void outbuf_free(outbuf *o) {
  tdm_buf_free(&o->out);
  tdm_buf_free(&o->wbuf);
}

int outbuf_write(outbuf *o, uv_stream_t *s, uv_write_cb cb, void *data) {
  tdm_buf tmp;
  uv_buf_t buf;
  int n;
  int rc;

  if (o->writing || o->out.len == 0)
    return 0;
  /* Most writes fit in the socket's buffer: write now, without a request.
   * A uv_write that completes at once still queues its callback for the
   * next iteration and then rearms the socket's epoll registration: one
   * more system call per write. */
  buf = uv_buf_init(o->out.base, o->out.len);
  n = uv_try_write(s, &buf, 1);
  if (n == (int) o->out.len) {
    o->out.len = 0;
    return OUTBUF_DONE;
  }
  if (n < 0)
    n = 0;                      /* EAGAIN, or an error uv_write reports */
  tmp = o->wbuf;
  o->wbuf = o->out;
  o->out = tmp;
  o->out.len = 0;
  buf = uv_buf_init(o->wbuf.base + n, o->wbuf.len - (size_t) n);
  o->wreq.data = data;
  rc = uv_write(&o->wreq, s, &buf, 1, cb);
  if (rc == 0)
    o->writing = 1;
  return rc;
}

void outbuf_written(outbuf *o) {
  o->writing = 0;
  o->wbuf.len = 0;
}
