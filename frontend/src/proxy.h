/* proxy: the handler that sends a request to a backend and its response to
 * the client.  It owns a request's stream: the wait for a backend with room,
 * the REQUEST and the body forwarded within the backend's window, the
 * response, the windows granted back, cancel, the re-send of an idempotent
 * request whose backend died, and the request timeout.  It may call
 * http_conn (below it), upstream, static (a backend's FILE response),
 * access_log and metrics. */
#ifndef TDM_PROXY_H
#define TDM_PROXY_H

#include "ctx.h"
#include "http_conn.h"

/* Sets up the module (and upstream's capacity hook): ctx must outlive it. */
void proxy_init(tdm_ctx *ctx);

/* Sends req to a backend with room now, or makes it wait for one (up to
 * --backend-wait), or answers 503.  Called while routing, or for a request
 * held since its routing (a static mount's --static-fallthrough).  Returns 1
 * if req waits for a backend, held until it gets one, else 0. */
int proxy_request(http_req *req);

/* Requests waiting for a backend with room. */
unsigned proxy_waiting(void);

/* Closes the module's timers and frees its pools (shutdown). */
void proxy_close(void);

#endif /* TDM_PROXY_H */
