/* upstream: the backends connected on the Unix socket, their handshake, the
 * stream table of each, and frames gathered for one write per iteration. */
#ifndef TDM_UPSTREAM_H
#define TDM_UPSTREAM_H

#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "tdm_proto.h"

typedef struct upstream_conn upstream_conn;
struct http_req;

#define UPSTREAM_WINDOW (256 * 1024)     /* what we let a backend send per stream */

/* Creates the backend socket (mode from config, no window in which others can
 * connect) and listens.  Returns 0 or a negative libuv error. */
int upstream_listen(uv_loop_t *loop, const config *cfg);

/* Serves an already connected backend on fd (tests). */
int upstream_open_fd(uv_loop_t *loop, int fd);

/* Closes the backend socket (no new backends); connected ones stay. */
void upstream_stop_listening(void);
void upstream_close_all(void);

/* The ready backend with the most room, or NULL if none can take a stream. */
upstream_conn *upstream_pick(void);
/* Whether any backend is attached and not draining. */
int upstream_connected(void);

/* Opens a stream for req; returns its id (> 0) or a negative error. */
int64_t upstream_open_stream(upstream_conn *up, struct http_req *req);

/* Whether a frame of size bytes (with an empty body) fits the backend's limit. */
int upstream_frame_fits(const upstream_conn *up, size_t size);
/* The largest body chunk that fits one frame after a head of head_size bytes. */
size_t upstream_max_body(const upstream_conn *up, size_t head_size);
uint32_t upstream_peer_window(const upstream_conn *up);
int upstream_pid(const upstream_conn *up);

/* Frame senders; each appends to the gathered output. 0 or negative error. */
int upstream_send(upstream_conn *up, const tdm_frame *f);
/* The same, and the encoded frame's bytes are also put in copy (replacing
 * what it held; left empty if they do not fit its cap). */
int upstream_send_copy(upstream_conn *up, const tdm_frame *f, tdm_buf *copy);
int upstream_send_window(upstream_conn *up, uint32_t sid, uint32_t increment);

/* The stream ended normally on both sides: forget it. */
void upstream_stream_done(upstream_conn *up, uint32_t sid);
/* Ends the stream with CANCEL(code) and forgets it. */
void upstream_cancel(upstream_conn *up, uint32_t sid, uint32_t code);

#endif /* TDM_UPSTREAM_H */
