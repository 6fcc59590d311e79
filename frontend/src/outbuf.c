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
  int rc;

  if (o->writing || o->out.len == 0)
    return 0;
  tmp = o->wbuf;
  o->wbuf = o->out;
  o->out = tmp;
  o->out.len = 0;
  buf = uv_buf_init(o->wbuf.base, o->wbuf.len);
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
