/* status: --metrics-listen HOST:PORT, a second listener for operators.  It
 * serves GET (and HEAD) of
 *
 *   /metrics       the counters in Prometheus text format 0.0.4 (metrics.h),
 *                  with the gauges and the backends' own series;
 *   /status        the same state as JSON;
 *   /status.html   a self-contained page that fetches /status every second
 *                  and shows the backends and the live request rate;
 *
 * and 404 for any other path (405 for other methods).  Its HTTP is minimal
 * and bounded: one request per connection (answered with connection:
 * close), a head of at most STATUS_HEAD_MAX bytes read within
 * STATUS_TIMEOUT_MS, at most STATUS_MAX_CONNS connections at once.
 *
 * It may call metrics, upstream (the backends), proxy (the wait queue),
 * http_conn (connections open), http_head (status reasons), status_page,
 * ctx, config and log. */
#ifndef TDM_STATUS_H
#define TDM_STATUS_H

#include "ctx.h"

#define STATUS_HEAD_MAX 8192
#define STATUS_TIMEOUT_MS 10000
#define STATUS_MAX_CONNS 64
#define STATUS_BODY_MAX (16 * 1024 * 1024)

/* Listens on cfg's --metrics-listen, if it gives one.  Returns 0 or a
 * negative libuv error, after logging what failed. */
int status_listen(tdm_ctx *x);

/* Stops listening and closes every connection (shutdown). */
void status_close(void);

#endif /* TDM_STATUS_H */
