/* http_ring: the pool of request rings (see http_ring.h). */
#include "http_ring.h"

#include <stdlib.h>

#include "http_conn_state.h"

/* Request rings given back by idle connections, for the next to take: a
 * ring is some 3 KB (an access log record and an id per request), which
 * 10,000 idle keep-alive connections would otherwise hold. */
#define RING_POOL_MAX 256
static struct http_req *ring_pool[RING_POOL_MAX];   /* owner: the pool */
static unsigned ring_pooled;

struct http_req *http_ring_get(struct http_conn *c) {
  struct http_req *r;

  if (ring_pooled > 0) {
    r = ring_pool[--ring_pooled];
  } else {
    r = calloc(HTTP_PIPELINE_MAX, sizeof(*r));   /* owner: c, then the pool */
    if (r == NULL)
      return NULL;
    for (unsigned i = 0; i < HTTP_PIPELINE_MAX; i++) {
      tdm_buf_init(&r[i].resp, HTTP_OUT_CAP);
      r[i].framing.remaining = -1;
    }
  }
  for (unsigned i = 0; i < HTTP_PIPELINE_MAX; i++)
    r[i].conn = c;
  return r;
}

void http_ring_put(struct http_req *r) {
  if (r == NULL)
    return;
  if (ring_pooled < RING_POOL_MAX)
    ring_pool[ring_pooled++] = r;
  else
    free(r);
}
