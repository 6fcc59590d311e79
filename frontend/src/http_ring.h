/* http_ring: the pipeline's rings of HTTP_PIPELINE_MAX requests, which
 * connections take when bytes arrive and give back when idle (http_conn.c):
 * a pool, so that idle connections hold none.  Calls only the C library. */
#ifndef TDM_HTTP_RING_H
#define TDM_HTTP_RING_H

struct http_conn;
struct http_req;

/* A ring for c, from the pool or new (NULL if out of memory). */
struct http_req *http_ring_get(struct http_conn *c);
/* Gives back an empty ring (every request popped and reset, no output
 * held); NULL is ignored. */
void http_ring_put(struct http_req *r);

#endif /* TDM_HTTP_RING_H */
