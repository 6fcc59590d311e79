/* upstream: the backends connected on the Unix socket, their handshake, the
 * stream table of each, and frames gathered for one write per iteration.
 *
 * A stream's owner is told what arrives on it through the callbacks it gives
 * when it opens the stream, and the module's user is told when a backend has
 * room through the hook given to upstream_init(): this module names none of
 * its users.  It may call ctx, outbuf, config, log, metrics and the codec. */
#ifndef TDM_UPSTREAM_H
#define TDM_UPSTREAM_H

#include <stdint.h>

#include <uv.h>

#include "ctx.h"
#include "tdm_proto.h"

typedef struct upstream_conn upstream_conn;

#define UPSTREAM_WINDOW (256 * 1024)     /* what we let a backend send per stream */

/* What a stream's owner is told; each gets the owner pointer it opened the
 * stream with. */
typedef struct upstream_stream_cb {
  /* These two return UV_ENOBUFS (and do nothing) if the body exceeds the
   * stream's window: a connection error FLOW_CONTROL_ERROR. */
  int (*on_response)(void *owner, const tdm_response *resp);
  int (*on_data)(void *owner, const tdm_data *data);
  void (*on_window)(void *owner, uint32_t increment);
  /* The backend cancelled the stream; it is forgotten already. */
  void (*on_cancel)(void *owner, uint32_t code);
  /* The backend connection closed with the stream open (forgotten already).
   * Answering one owner may retire others, so each is told which stream was
   * lost and acts only if that is still its stream. */
  void (*on_lost)(void *owner, upstream_conn *up, uint32_t sid);
  /* WS_ACCEPT, WS_MESSAGE or WS_CLOSE (PROTOCOL.md section 8); returns
   * UV_ENOBUFS like on_data for message bytes beyond the window. */
  int (*on_ws)(void *owner, const tdm_frame *f);
} upstream_stream_cb;

/* Sets up the module; on_capacity(arg) runs whenever a backend may take more
 * streams.  ctx must outlive the module's use. */
void upstream_init(tdm_ctx *ctx, void (*on_capacity)(void *arg), void *arg);

/* Creates the backend socket (mode from config, no window in which others can
 * connect) and listens.  Returns 0 or a negative libuv error. */
int upstream_listen(void);

/* Serves an already connected backend on fd (tests). */
int upstream_open_fd(int fd);

/* Closes the backend socket (no new backends); connected ones stay. */
void upstream_stop_listening(void);
void upstream_close_all(void);

/* The ready backend with the most room, or NULL if none can take a stream. */
upstream_conn *upstream_pick(void);
/* Whether any backend is attached and not draining. */
int upstream_connected(void);

/* Opens a stream whose frames go to cb with owner; returns its id (> 0) or
 * a negative error.  cb must outlive the stream. */
int64_t upstream_open_stream(upstream_conn *up, const upstream_stream_cb *cb, void *owner);

/* Whether a frame of size bytes (with an empty body) fits the backend's limit. */
int upstream_frame_fits(const upstream_conn *up, size_t size);
/* The largest body chunk that fits one frame after a head of head_size bytes. */
size_t upstream_max_body(const upstream_conn *up, size_t head_size);
uint32_t upstream_peer_window(const upstream_conn *up);
/* The TDM_FEATURE_* bits the backend announced in its HELLO. */
uint32_t upstream_features(const upstream_conn *up);
/* The stream's frames go to cb with owner from now on (a WebSocket's stream
 * passes from the request's handler to its connection).  0 or UV_ENOENT. */
int upstream_rebind(upstream_conn *up, uint32_t sid, const upstream_stream_cb *cb, void *owner);
int upstream_pid(const upstream_conn *up);
uint64_t upstream_generation(const upstream_conn *up);

/* What /status and /metrics show of a backend connection. */
typedef struct upstream_info {
  const char *app;               /* from its HELLO ("?" before it) */
  uint64_t pid;
  uint64_t generation;
  const char *state;             /* "handshake", "ready", "draining" or "closing" */
  uint32_t in_flight;            /* streams open on it */
  uint32_t max_streams;
  uint64_t served;               /* streams opened on it so far */
} upstream_info;

/* Calls fn(info, arg) for every backend connection; info lives for the call. */
void upstream_foreach(void (*fn)(const upstream_info *info, void *arg), void *arg);

/* Frame senders; each appends to the gathered output. 0 or a negative
 * error. */
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
