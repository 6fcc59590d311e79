/* ws: the WebSocket connections (RFC 6455) the frontend terminates for its
 * clients, each carried to its backend as one stream (PROTOCOL.md section
 * 8).  A connection begins as an HTTP request whose backend accepted the
 * upgrade (proxy.c hands it over with ws_start()); from then on this module
 * owns its socket and its stream.  It may call http_conn (to take the
 * request's socket), upstream, sock, ws_frame, ws_handshake, ctx, config,
 * log and the codec. */
#ifndef TDM_WS_H
#define TDM_WS_H

#include <stdint.h>

#include "ctx.h"
#include "http_conn.h"
#include "tdm_proto.h"
#include "upstream.h"

/* Sets up the module; conn_gone(arg) runs whenever a WebSocket connection
 * has closed (ws_count() is one less).  ctx must outlive the module's use. */
void ws_init(tdm_ctx *ctx, void (*conn_gone)(void *arg), void *arg);

/* The backend accepted req's upgrade (whose Sec-WebSocket-Key is key) on
 * stream sid of up with a: sends the 101 and takes req's connection over (req and its connection are gone when
 * this returns 0), and the stream's frames come here from now on.  Returns
 * a negative error if it cannot (UV_EINVAL: a is not valid; UV_EBUSY: req
 * is not alone on its connection with nothing left to write), changing
 * nothing: the caller still owns req and the stream. */
int ws_start(http_req *req, const char *key, upstream_conn *up, uint32_t sid, const tdm_ws_accept *a);

/* WebSocket connections open now. */
int ws_count(void);

/* Graceful stop: every connection gets close 1001 (and its backend
 * WS_CLOSE 1001), and closes once its client answers or --ws-ping-timeout
 * passes. */
void ws_stop_all(void);

/* Closes every connection now (shutdown). */
void ws_close_all(void);

#endif /* TDM_WS_H */
