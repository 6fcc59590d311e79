/* route: which handler answers a request.  A path under a --static mount
 * goes to static (or gets the frontend's own 301, 404 or 405); everything
 * else goes to a backend through proxy.  It may call http_conn, static,
 * proxy, config, http_head and access_log (the route kind). */
#ifndef TDM_ROUTE_H
#define TDM_ROUTE_H

#include "http_conn.h"

/* The route hook of http_conn: req's head is complete and valid. */
void route_request(http_req *req);

/* With --static-fallthrough: a GET or HEAD under a mount, held since its
 * routing, names no file; the backend answers it instead (static's hook). */
void route_fallthrough(http_req *req);

#endif /* TDM_ROUTE_H */
