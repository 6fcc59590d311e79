/* upstream: backends connected on the Unix socket.
 *
 * Each backend connection goes HANDSHAKE -> READY -> (DRAINING) -> closed.
 * Frames for it are gathered in `out` during a loop iteration and written
 * with one uv_write from the loop's flush; while a write is in progress
 * new frames gather in the other buffer.  Every open stream is in the
 * connection's table (stream id -> its owner and the owner's callbacks); a
 * connection that closes tells each of its streams' owners (on_lost).
 *
 * Calls: ctx, outbuf, config, log, record (--record), metrics and the codec; stream owners
 * and the module's user only through the callbacks they registered.
 */
#include "upstream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "outbuf.h"
#include "record.h"

#define UPSTREAM_OUT_CAP (64u * 1024 * 1024)   /* frames waiting for one backend */
/* A backend that is not reading (stopped, or overloaded) gets no new streams
 * until it catches up: it is congested while more than UPSTREAM_CONGESTED
 * bytes wait to be written to it, or one write has waited more than
 * UPSTREAM_STALL_MS for the socket to take it. */
#define UPSTREAM_CONGESTED (1u * 1024 * 1024)
#define UPSTREAM_STALL_MS 1000
#define UPSTREAM_MAX_FRAME TDM_DEFAULT_MAX_FRAME
/* A drained connection closes once what is queued for it (its GOAWAY) has
 * been written, or after this long if the backend does not read it. */
#define UPSTREAM_DRAIN_FLUSH_MS 5000
/* How long a connection closed by an error waits for the write in flight to
 * end, so that the GOAWAY saying why can follow it (PROTOCOL.md section 5). */
#define UPSTREAM_GOAWAY_MS 1000

enum upstream_state { UP_HANDSHAKE, UP_READY, UP_DRAINING, UP_CLOSING };

struct stream_slot {
  uint32_t sid;                  /* 0: empty */
  const upstream_stream_cb *cb;
  void *owner;
};

struct upstream_conn {
  uv_pipe_t pipe;
  flushable fl;
  enum upstream_state state;
  tdm_decoder dec;
  char *rbuf;                    /* owner: this connection */
  size_t rlen, rcap;
  outbuf ob;                     /* frames to the backend; owner: this connection */
  uint64_t write_since;          /* when the write in flight started */
  uv_timer_t drain_timer;        /* bounds the wait of close_when_flushed */
  unsigned close_when_flushed : 1;  /* drained: close once the output is written */
  unsigned drain_timer_ready : 1;
  unsigned goaway_after_write : 1;  /* closing: the GOAWAY goes once the write in flight ends */
  uint32_t number;               /* 1, 2, ... in the order of accept (--record) */
  int pending_closes;            /* handles whose close callback is still due */
  uint64_t last_pick;            /* upstream_pick's count when it last chose this one */
  uint64_t served;               /* streams opened on it */
  /* From the backend's HELLO. */
  char app[128];
  uint64_t pid;
  uint64_t generation;
  uint32_t max_frame;            /* largest payload we may send */
  uint32_t max_streams;
  uint32_t peer_window;          /* initial window for our request bodies */
  uint32_t features;             /* TDM_FEATURE_* bits of its HELLO */
  /* Streams. */
  uint32_t last_sid;
  uint32_t nstreams;
  struct stream_slot *slots;     /* owner: this connection */
  uint32_t nslots;               /* power of two, > 2 * max_streams */
  upstream_conn *prev, *next;
};

static tdm_ctx *ctx;                     /* given by upstream_init(); not owned */
static void (*capacity_cb)(void *arg);
static void *capacity_arg;
static uv_pipe_t listener;
static int listening;
static char *socket_path;        /* owner: this module */
static upstream_conn *backends;

static void up_close(upstream_conn *up, uint32_t code, const char *why);
static void up_goaway_timeout(uv_timer_t *t);

/* ---- stream table: open addressing, linear probing, backward-shift delete -- */

static uint32_t slot_of(const upstream_conn *up, uint32_t sid) {
  return (sid * 2654435761u) & (up->nslots - 1);
}

static struct stream_slot *table_find(upstream_conn *up, uint32_t sid) {
  uint32_t i = slot_of(up, sid);

  while (up->slots[i].sid != 0) {
    if (up->slots[i].sid == sid)
      return &up->slots[i];
    i = (i + 1) & (up->nslots - 1);
  }
  return NULL;
}

static void table_insert(upstream_conn *up, uint32_t sid, const upstream_stream_cb *cb, void *owner) {
  uint32_t i = slot_of(up, sid);

  while (up->slots[i].sid != 0)
    i = (i + 1) & (up->nslots - 1);
  up->slots[i].sid = sid;
  up->slots[i].cb = cb;
  up->slots[i].owner = owner;
  up->nstreams++;
}

static void table_remove(upstream_conn *up, struct stream_slot *s) {
  uint32_t mask = up->nslots - 1;
  uint32_t i = (uint32_t) (s - up->slots), j = i;

  up->nstreams--;
  if (up->state == UP_READY)
    capacity_cb(capacity_arg);
  for (;;) {
    uint32_t home;
    j = (j + 1) & mask;
    if (up->slots[j].sid == 0)
      break;
    home = slot_of(up, up->slots[j].sid);
    /* Move j back to i unless its home lies cyclically in (i, j]. */
    if ((i <= j) ? (i < home && home <= j) : (i < home || home <= j))
      continue;
    up->slots[i] = up->slots[j];
    i = j;
  }
  up->slots[i].sid = 0;
  up->slots[i].cb = NULL;
  up->slots[i].owner = NULL;
}

/* ---- output -------------------------------------------------------------- */

static int up_congested(const upstream_conn *up) {
  return outbuf_pending(&up->ob) > UPSTREAM_CONGESTED ||
         (up->ob.writing && uv_now(ctx->loop) - up->write_since > UPSTREAM_STALL_MS);
}

/* A write ended, at once or in its callback; was_congested: whether the
 * connection was congested before it. */
static void up_written(upstream_conn *up, int was_congested, int status) {
  if (was_congested && !up_congested(up) && up->state == UP_READY) {
    log_info("backend %s[%llu] is reading again", up->app, (unsigned long long) up->pid);
    capacity_cb(capacity_arg);
  }
  if (up->state == UP_CLOSING)
    return;
  if (status < 0) {
    up_close(up, TDM_GOAWAY_INTERNAL_ERROR, uv_strerror(status));
    return;
  }
  if (up->ob.out.len > 0)
    ctx_schedule_flush(ctx, &up->fl);
  else if (up->close_when_flushed && up->nstreams == 0)
    up_close(up, TDM_GOAWAY_NO_ERROR, NULL);
}

static void up_release(upstream_conn *up);
static void up_write_rest(upstream_conn *up);
static void up_write_cb(uv_write_t *wr, int status);

/* Starts writing what is queued (nothing if a write is in flight): outbuf_write()'s result. */
static int up_write_out(upstream_conn *up) {
  if (!up->ob.writing) {
    up->write_since = uv_now(ctx->loop);
    record_bytes(up->number, RECORD_TO_BACKEND, up->ob.out.base, up->ob.out.len);
  }
  return outbuf_write(&up->ob, (uv_stream_t *) &up->pipe, up_write_cb, up);
}

/* Closing with a GOAWAY queued: writes it once no write is in flight, waiting for room in the socket like any
 * write.  Returns 0 while a write is in flight (up_write_cb goes on), 1 once all is written, or a negative
 * libuv error. */
static int up_write_closing(upstream_conn *up) {
  int rc;

  if (up->ob.writing)
    return 0;
  rc = up_write_out(up);
  if (rc == 0)
    return up->ob.writing ? 0 : 1;
  return rc == OUTBUF_DONE ? 1 : rc;
}

static void up_write_cb(uv_write_t *wr, int status) {
  upstream_conn *up = wr->data;
  int was_congested = up_congested(up);

  outbuf_written(&up->ob);
  if (up->goaway_after_write) {
    /* The write before the GOAWAY has ended: the GOAWAY follows it in a write of its own, still bounded by
     * UPSTREAM_GOAWAY_MS (up_goaway_timeout), and the connection goes once that one has ended too. */
    if (status == 0 && up_write_closing(up) == 0)
      return;
    up->goaway_after_write = 0;
    uv_timer_stop(&up->drain_timer);
    up_release(up);
    return;
  }
  up_written(up, was_congested, status);
}

static void up_on_flush(flushable *f) {
  upstream_conn *up = (upstream_conn *) ((char *) f - offsetof(upstream_conn, fl));
  int was_congested;
  int rc;

  if (up->state == UP_CLOSING)
    return;
  was_congested = up_congested(up);
  rc = up_write_out(up);
  if (rc == OUTBUF_DONE)
    up_written(up, was_congested, 0);
  else if (rc != 0)
    up_close(up, TDM_GOAWAY_INTERNAL_ERROR, "write failed");
}

int upstream_send_copy(upstream_conn *up, const tdm_frame *f, tdm_buf *copy) {
  ssize_t n;

  if (up->state == UP_CLOSING)
    return TDM_EINVAL;
  n = tdm_encode(&up->ob.out, f);
  if (n < 0) {
    log_warn("backend %s[%llu]: %s while queueing a %s frame", up->app,
             (unsigned long long) up->pid, tdm_strerror((int) n), tdm_frame_type_name(f->type));
    return (int) n;
  }
  if (copy != NULL) {
    copy->len = 0;
    if (tdm_buf_append(copy, up->ob.out.base + up->ob.out.len - n, (size_t) n) != 0)
      copy->len = 0;          /* too large to keep: the request will not be re-sent */
  }
  ctx_schedule_flush(ctx, &up->fl);
  return 0;
}

int upstream_send(upstream_conn *up, const tdm_frame *f) {
  return upstream_send_copy(up, f, NULL);
}

int upstream_send_window(upstream_conn *up, uint32_t sid, uint32_t increment) {
  tdm_frame f;

  memset(&f, 0, sizeof(f));
  f.type = TDM_WINDOW;
  f.stream_id = sid;
  f.u.window_increment = increment;
  return upstream_send(up, &f);
}

static void send_goaway(upstream_conn *up, uint32_t code, const char *message) {
  tdm_frame f;

  memset(&f, 0, sizeof(f));
  f.type = TDM_GOAWAY;
  f.u.goaway.code = code;
  f.u.goaway.message.ptr = message;
  f.u.goaway.message.len = (uint32_t) strlen(message);
  upstream_send(up, &f);
}

/* ---- streams ------------------------------------------------------------- */

int upstream_connected(void) {
  for (upstream_conn *up = backends; up != NULL; up = up->next)
    if (up->state == UP_READY)
      return 1;
  return 0;
}

upstream_conn *upstream_pick(void) {
  static uint64_t picks;
  upstream_conn *best = NULL, *up;
  uint64_t best_load = UINT64_MAX;

  for (up = backends; up != NULL; up = up->next) {
    uint64_t load;
    if (up->state != UP_READY)
      continue;
    if (up->nstreams >= up->max_streams || up->last_sid >= TDM_MAX_STREAM_ID || up_congested(up))
      continue;
    /* Fewest open streams relative to what the backend said it takes; among
     * equals, the one chosen longest ago, so idle backends take turns. */
    load = ((uint64_t) up->nstreams << 32) / up->max_streams;
    if (load < best_load || (load == best_load && up->last_pick < best->last_pick)) {
      best_load = load;
      best = up;
    }
  }
  if (best != NULL)
    best->last_pick = ++picks;
  return best;
}

int64_t upstream_open_stream(upstream_conn *up, const upstream_stream_cb *cb, void *owner) {
  uint32_t sid;

  if (up->state != UP_READY || up->nstreams >= up->max_streams)
    return TDM_EINVAL;
  sid = ++up->last_sid;
  table_insert(up, sid, cb, owner);
  up->served++;
  if (up->last_sid == TDM_MAX_STREAM_ID) {
    /* Ids are never reused: this connection drains, the backend reconnects. */
    log_info("backend %s[%llu]: stream ids exhausted, draining", up->app,
             (unsigned long long) up->pid);
    up->state = UP_DRAINING;
    send_goaway(up, TDM_GOAWAY_NO_ERROR, "stream ids exhausted; reconnect");
  }
  return sid;
}

int upstream_frame_fits(const upstream_conn *up, size_t size) {
  return size + 16 < up->max_frame;
}

size_t upstream_max_body(const upstream_conn *up, size_t head_size) {
  /* The bin header of the body takes at most 5 bytes, the length prefix 4. */
  size_t room = up->max_frame;
  if (head_size + 16 >= room)
    return 0;
  room -= head_size + 16;
  return room > 256 * 1024 ? 256 * 1024 : room;
}

int upstream_pid(const upstream_conn *up) {
  return (int) up->pid;
}

uint64_t upstream_generation(const upstream_conn *up) {
  return up->generation;
}

void upstream_foreach(void (*fn)(const upstream_info *info, void *arg), void *arg) {
  static const char *const states[] = { "handshake", "ready", "draining", "closing" };
  upstream_info info;

  for (const upstream_conn *up = backends; up != NULL; up = up->next) {
    info.app = up->app;
    info.pid = up->pid;
    info.generation = up->generation;
    info.state = states[up->state];
    info.in_flight = up->nstreams;
    info.max_streams = up->max_streams;
    info.served = up->served;
    fn(&info, arg);
  }
}

uint32_t upstream_peer_window(const upstream_conn *up) {
  return up->peer_window;
}

uint32_t upstream_features(const upstream_conn *up) {
  return up->features;
}

int upstream_rebind(upstream_conn *up, uint32_t sid, const upstream_stream_cb *cb, void *owner) {
  struct stream_slot *s = table_find(up, sid);

  if (s == NULL)
    return UV_ENOENT;
  s->cb = cb;
  s->owner = owner;
  return 0;
}

/* Starts the connection's one timer (made the first time).  Returns 0, or a
 * negative libuv error. */
static int up_timer(upstream_conn *up, uv_timer_cb cb, uint64_t ms) {
  if (!up->drain_timer_ready) {
    int rc = uv_timer_init(ctx->loop, &up->drain_timer);
    if (rc != 0)
      return rc;
    up->drain_timer.data = up;
    up->drain_timer_ready = 1;
  }
  return uv_timer_start(&up->drain_timer, cb, ms, 0);
}

static void up_drain_timeout(uv_timer_t *t) {
  up_close(t->data, TDM_GOAWAY_NO_ERROR, NULL);
}

/* A draining connection whose streams are all done closes, but only once its
 * queued output (the GOAWAY that says why) has reached the socket: closing
 * with a write in flight would lose it, and a backend that was not told it
 * was superseded would reconnect as if the frontend had restarted. */
static void up_maybe_finish_drain(upstream_conn *up) {
  if (up->state != UP_DRAINING || up->nstreams != 0)
    return;
  if (outbuf_pending(&up->ob) == 0) {
    up_close(up, TDM_GOAWAY_NO_ERROR, NULL);
    return;
  }
  if (up->close_when_flushed)
    return;
  up->close_when_flushed = 1;
  ctx_schedule_flush(ctx, &up->fl);
  up_timer(up, up_drain_timeout, UPSTREAM_DRAIN_FLUSH_MS);
}

void upstream_stream_done(upstream_conn *up, uint32_t sid) {
  struct stream_slot *s = table_find(up, sid);

  if (s != NULL)
    table_remove(up, s);
  up_maybe_finish_drain(up);
}

void upstream_cancel(upstream_conn *up, uint32_t sid, uint32_t code) {
  struct stream_slot *s = table_find(up, sid);
  tdm_frame f;

  if (s == NULL)
    return;
  table_remove(up, s);
  if (up->state != UP_CLOSING) {
    memset(&f, 0, sizeof(f));
    f.type = TDM_CANCEL;
    f.stream_id = sid;
    f.u.cancel_code = code;
    upstream_send(up, &f);
  }
  up_maybe_finish_drain(up);
}

/* ---- input --------------------------------------------------------------- */

/* old stops taking streams and exits once its streams are done: a newer
 * generation of its app has attached (PROTOCOL.md, GOAWAY). */
static void up_supersede(upstream_conn *old, const upstream_conn *by) {
  char msg[192];

  snprintf(msg, sizeof(msg), "generation %llu of %s has attached (pid %llu)",
           (unsigned long long) by->generation, by->app, (unsigned long long) by->pid);
  log_info("backend %s pid %llu generation %llu: draining, %s", old->app,
           (unsigned long long) old->pid, (unsigned long long) old->generation, msg);
  send_goaway(old, TDM_GOAWAY_SUPERSEDED, msg);
  old->state = UP_DRAINING;
  up_maybe_finish_drain(old);
}

/* up has just attached: of the backends of its app, only those of the
 * newest generation take new streams; the others drain and exit. */
static void up_apply_generations(upstream_conn *up) {
  upstream_conn *other, *next;
  int swapped = 0;

  for (other = backends; other != NULL; other = next) {
    next = other->next;
    if (other == up || other->state != UP_READY || strcmp(other->app, up->app) != 0)
      continue;
    if (other->generation < up->generation) {
      metrics.swaps += !swapped;
      swapped = 1;
      up_supersede(other, up);
    } else if (other->generation > up->generation) {
      up_supersede(up, other);
      return;
    }
  }
}

static int on_hello(upstream_conn *up, const tdm_hello *h) {
  char msg[160];
  tdm_frame f;
  uint32_t n;

  if (h->version != TDM_PROTO_VERSION) {
    snprintf(msg, sizeof(msg), "frontend speaks protocol version %d, backend sent %u",
             TDM_PROTO_VERSION, (unsigned) h->version);
    up_close(up, TDM_GOAWAY_VERSION_MISMATCH, msg);
    return UV_EPROTO;
  }
  if (h->role.len != 7 || memcmp(h->role.ptr, "backend", 7) != 0) {
    up_close(up, TDM_GOAWAY_PROTOCOL_ERROR, "expected role \"backend\"");
    return UV_EPROTO;
  }
  if (h->max_frame_size < TDM_MIN_MAX_FRAME || h->max_frame_size > TDM_MAX_MAX_FRAME ||
      h->max_streams < 1 || h->max_streams > 65535 || h->initial_window < TDM_MIN_WINDOW ||
      h->initial_window > 0x7fffffffu) {
    up_close(up, TDM_GOAWAY_PROTOCOL_ERROR, "HELLO limits out of range");
    return UV_EPROTO;
  }
  n = h->app.len < sizeof(up->app) - 1 ? h->app.len : (uint32_t) sizeof(up->app) - 1;
  memcpy(up->app, h->app.ptr, n);
  up->app[n] = '\0';
  up->pid = h->pid;
  up->generation = h->generation;
  up->max_frame = h->max_frame_size;
  up->max_streams = h->max_streams;
  up->peer_window = h->initial_window;
  up->features = h->features;
  for (up->nslots = 16; up->nslots <= 2 * up->max_streams; up->nslots *= 2) {
  }
  up->slots = calloc(up->nslots, sizeof(*up->slots));   /* owner: up */
  /* After HELLO our frames may be as large as we announce. */
  {
    char *bigger = realloc(up->rbuf, UPSTREAM_MAX_FRAME + TDM_FRAME_HEADER_SIZE);
    if (up->slots == NULL || bigger == NULL) {
      if (bigger != NULL)
        up->rbuf = bigger;
      up_close(up, TDM_GOAWAY_INTERNAL_ERROR, "out of memory");
      return UV_ENOMEM;
    }
    up->rbuf = bigger;
    up->rcap = UPSTREAM_MAX_FRAME + TDM_FRAME_HEADER_SIZE;
    up->dec.max_frame_size = UPSTREAM_MAX_FRAME;
  }

  memset(&f, 0, sizeof(f));
  f.type = TDM_HELLO;
  f.u.hello.version = TDM_PROTO_VERSION;
  f.u.hello.role.ptr = "frontend";
  f.u.hello.role.len = 8;
  f.u.hello.app.ptr = "tandem-frontend";
  f.u.hello.app.len = 15;
  f.u.hello.pid = (uint64_t) getpid();
  f.u.hello.generation = 0;
  f.u.hello.max_frame_size = UPSTREAM_MAX_FRAME;
  f.u.hello.max_streams = 0;
  f.u.hello.initial_window = UPSTREAM_WINDOW;
  f.u.hello.features = TDM_FEATURE_WEBSOCKET;
  upstream_send(up, &f);
  up->state = UP_READY;
  log_info("backend %s pid %llu generation %llu attached (max %u streams)", up->app,
           (unsigned long long) up->pid, (unsigned long long) up->generation,
           (unsigned) up->max_streams);
  up_apply_generations(up);
  capacity_cb(capacity_arg);
  return up->state == UP_CLOSING ? UV_ECANCELED : 0;
}

/* Handles one decoded frame; returns UV_ECANCELED if the connection was closed. */
static int on_frame(upstream_conn *up, const tdm_frame *f) {
  struct stream_slot *s;
  void *owner;
  char msg[96];

  if (up->state == UP_HANDSHAKE) {
    if (f->type != TDM_HELLO) {
      snprintf(msg, sizeof(msg), "%s before HELLO", tdm_frame_type_name(f->type));
      up_close(up, TDM_GOAWAY_PROTOCOL_ERROR, msg);
      return UV_EPROTO;
    }
    return on_hello(up, &f->u.hello);
  }
  switch (f->type) {
  case TDM_HELLO:
    up_close(up, TDM_GOAWAY_PROTOCOL_ERROR, "second HELLO");
    return UV_EPROTO;
  case TDM_REQUEST:
    up_close(up, TDM_GOAWAY_PROTOCOL_ERROR, "REQUEST from a backend");
    return UV_EPROTO;
  case TDM_GOAWAY:
    if (f->u.goaway.code != TDM_GOAWAY_NO_ERROR) {
      log_warn("backend %s[%llu] reports %s: %.*s", up->app, (unsigned long long) up->pid,
               tdm_goaway_name(f->u.goaway.code), (int) f->u.goaway.message.len,
               f->u.goaway.message.ptr);
      up_close(up, TDM_GOAWAY_NO_ERROR, NULL);
      return UV_ECONNRESET;
    }
    log_info("backend %s[%llu] is draining", up->app, (unsigned long long) up->pid);
    up->state = UP_DRAINING;
    up_maybe_finish_drain(up);
    return up->state == UP_CLOSING ? UV_ECANCELED : 0;
  case TDM_PING:
    if (!f->u.ping.ack) {
      tdm_frame pong = *f;
      pong.u.ping.ack = 1;
      upstream_send(up, &pong);
    }
    return 0;
  case TDM_RESPONSE:
  case TDM_DATA:
  case TDM_WINDOW:
  case TDM_CANCEL:
  case TDM_WS_ACCEPT:
  case TDM_WS_MESSAGE:
  case TDM_WS_CLOSE:
    break;
  default:
    return 0;      /* unknown types are ignored (PROTOCOL.md section 5) */
  }

  s = table_find(up, f->stream_id);
  if (s == NULL) {
    if (f->stream_id > up->last_sid) {
      snprintf(msg, sizeof(msg), "%s on stream %u, which was never opened",
               tdm_frame_type_name(f->type), (unsigned) f->stream_id);
      up_close(up, TDM_GOAWAY_PROTOCOL_ERROR, msg);
      return UV_EPROTO;
    }
    return 0;      /* a closed stream: the frame crossed our CANCEL */
  }
  owner = s->owner;
  switch (f->type) {
  case TDM_RESPONSE:
    if (s->cb->on_response(owner, &f->u.response) != 0)
      goto flow_error;
    break;
  case TDM_DATA:
    if (s->cb->on_data(owner, &f->u.data) != 0)
      goto flow_error;
    break;
  case TDM_WINDOW:
    s->cb->on_window(owner, f->u.window_increment);
    break;
  case TDM_CANCEL: {
    const upstream_stream_cb *cb = s->cb;
    table_remove(up, s);
    cb->on_cancel(owner, f->u.cancel_code);
    up_maybe_finish_drain(up);
    break;
  }
  default:        /* a WebSocket frame (PROTOCOL.md section 8) */
    if (s->cb->on_ws(owner, f) != 0)
      goto flow_error;
    break;
  }
  return up->state == UP_CLOSING ? UV_ECANCELED : 0;

flow_error:
  up_close(up, TDM_GOAWAY_FLOW_CONTROL_ERROR, "body beyond the stream's window");
  return UV_ENOBUFS;
}

static void up_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  upstream_conn *up = h->data;

  (void) suggested;
  buf->base = up->rbuf + up->rlen;
  buf->len = up->rcap - up->rlen;
}

static void up_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  upstream_conn *up = s->data;
  size_t off = 0;
  tdm_frame f;

  (void) buf;
  if (nread == 0)
    return;
  if (nread < 0) {
    if (nread == UV_EOF && up->state == UP_HANDSHAKE)
      log_debug("a peer on the backend socket closed before its HELLO (a frontend checking that the socket is "
                "in use, say)");
    else if (nread == UV_EOF)
      log_info("backend %s[%llu] disconnected", up->app, (unsigned long long) up->pid);
    else
      log_warn("backend %s[%llu]: read: %s", up->app, (unsigned long long) up->pid,
               uv_strerror((int) nread));
    up_close(up, TDM_GOAWAY_NO_ERROR, NULL);
    return;
  }
  record_bytes(up->number, RECORD_FROM_BACKEND, up->rbuf + up->rlen, (size_t) nread);
  up->rlen += (size_t) nread;
  while (off < up->rlen) {
    ssize_t n = tdm_decode(&up->dec, up->rbuf + off, up->rlen - off, &f);
    if (n == TDM_EAGAIN)
      break;
    if (n < 0) {
      char msg[128];
      snprintf(msg, sizeof(msg), "%s", tdm_strerror((int) n));
      up_close(up, n == TDM_E2BIG ? TDM_GOAWAY_FRAME_TOO_LARGE : TDM_GOAWAY_PROTOCOL_ERROR, msg);
      return;
    }
    off += (size_t) n;
    if (on_frame(up, &f) != 0)
      return;
  }
  if (off > 0) {
    memmove(up->rbuf, up->rbuf + off, up->rlen - off);
    up->rlen -= off;
  }
}

/* ---- lifetime ------------------------------------------------------------ */

static void up_on_close(uv_handle_t *h) {
  upstream_conn *up = h->data;

  if (--up->pending_closes > 0)
    return;
  /* up_close() may have queued a GOAWAY in this very iteration. */
  ctx_cancel_flush(ctx, &up->fl);
  tdm_decoder_free(&up->dec);
  outbuf_free(&up->ob);
  free(up->rbuf);
  free(up->slots);
  free(up);
}

/* Closes the connection; with a code other than NO_ERROR (or a message) the
 * backend is told why first, as far as the socket takes it right now. */
static void up_close(upstream_conn *up, uint32_t code, const char *why) {
  uint32_t i;

  if (up->state == UP_CLOSING)
    return;
  metrics.disconnects[code != TDM_GOAWAY_NO_ERROR ? DISCONNECT_ERROR : ctx->stopping ? DISCONNECT_SHUTDOWN :
                      up->state == UP_DRAINING ? DISCONNECT_DRAINED : DISCONNECT_CLOSED]++;
  if (why != NULL) {
    if (code != TDM_GOAWAY_NO_ERROR)
      log_warn("backend %s[%llu]: closing: %s: %s", up->app[0] ? up->app : "(no hello)",
               (unsigned long long) up->pid, tdm_goaway_name(code), why);
    /* What is still queued is for the streams answered below: only the
     * GOAWAY is worth sending. */
    up->ob.out.len = 0;
    send_goaway(up, code, why);
  }
  /* Without a GOAWAY, what is queued goes out if the socket takes it right
   * now; a GOAWAY is written below, after the write in flight if any. */
  if (why == NULL && !up->ob.writing)
    up_write_rest(up);
  up->state = UP_CLOSING;
  if (up->prev != NULL)
    up->prev->next = up->next;
  else
    backends = up->next;
  if (up->next != NULL)
    up->next->prev = up->prev;
  /* Every stream still open gets its answer now.  Answering one may retire
   * others (of the same client connection), so the table is emptied first,
   * into a copy, and each owner acts only if the stream is still its own. */
  if (up->nstreams > 0) {
    struct stream_slot *open = malloc(up->nstreams * sizeof(*open));   /* owner: here */
    uint32_t n = 0;
    for (i = 0; i < up->nslots; i++) {
      if (up->slots[i].sid == 0)
        continue;
      if (open != NULL)
        open[n++] = up->slots[i];
      else
        up->slots[i].cb->on_lost(up->slots[i].owner, up, up->slots[i].sid);   /* out of memory */
      up->slots[i].sid = 0;
    }
    up->nstreams = 0;
    for (i = 0; i < n; i++)
      open[i].cb->on_lost(open[i].owner, up, open[i].sid);
    free(open);
  }
  /* The kernel may hold part of a frame, and the socket may have no room for
   * the GOAWAY right now: closing at once would cut the one and lose the
   * other.  Both go out, the GOAWAY after the write in flight, in writes that
   * wait for room like any other, if they end within UPSTREAM_GOAWAY_MS (a
   * backend that does not read loses them: PROTOCOL.md section 5). */
  if (why != NULL && up_timer(up, up_goaway_timeout, UPSTREAM_GOAWAY_MS) == 0 && up_write_closing(up) == 0) {
    uv_read_stop((uv_stream_t *) &up->pipe);
    up->goaway_after_write = 1;
    return;
  }
  up_release(up);
}

/* Writes what is queued if the socket takes it without waiting; the rest is lost. */
static void up_write_rest(upstream_conn *up) {
  uv_buf_t b = uv_buf_init(up->ob.out.base, up->ob.out.len);
  int n = b.len > 0 ? uv_try_write((uv_stream_t *) &up->pipe, &b, 1) : 0;

  if (n > 0)
    record_bytes(up->number, RECORD_TO_BACKEND, b.base, (size_t) n);
}

static void up_goaway_timeout(uv_timer_t *t) {
  upstream_conn *up = t->data;

  up->goaway_after_write = 0;
  up_release(up);          /* cancels the write in flight */
}

/* The pipe and the timer close; up_on_close frees up after the last. */
static void up_release(upstream_conn *up) {
  record_bytes(up->number, RECORD_CLOSED, NULL, 0);
  up->pending_closes = 1 + up->drain_timer_ready;
  if (up->drain_timer_ready)
    uv_close((uv_handle_t *) &up->drain_timer, up_on_close);
  uv_close((uv_handle_t *) &up->pipe, up_on_close);
}

void upstream_stop_listening(void) {
  if (listening) {
    uv_close((uv_handle_t *) &listener, NULL);
    listening = 0;
    if (socket_path != NULL)
      unlink(socket_path);
  }
  free(socket_path);
  socket_path = NULL;
}

void upstream_close_all(void) {
  while (backends != NULL)
    up_close(backends, TDM_GOAWAY_NO_ERROR, "frontend shutting down");
  upstream_stop_listening();
}

static upstream_conn *up_new(void) {
  upstream_conn *up = calloc(1, sizeof(*up));    /* owner: itself, freed in up_on_close */

  if (up == NULL)
    return NULL;
  uv_pipe_init(ctx->loop, &up->pipe, 0);
  up->pipe.data = up;
  up->fl.flush = up_on_flush;
  up->rcap = TDM_PRE_HELLO_MAX_FRAME + TDM_FRAME_HEADER_SIZE;
  up->rbuf = malloc(up->rcap);
  outbuf_init(&up->ob, UPSTREAM_OUT_CAP);
  if (up->rbuf == NULL || tdm_decoder_init(&up->dec, TDM_PRE_HELLO_MAX_FRAME) != 0) {
    free(up->rbuf);
    free(up);
    return NULL;
  }
  strcpy(up->app, "?");
  return up;
}

static void up_start(upstream_conn *up) {
  static uint32_t accepted;

  up->number = ++accepted;
  record_bytes(up->number, RECORD_ACCEPTED, NULL, 0);
  up->next = backends;
  if (backends != NULL)
    backends->prev = up;
  backends = up;
  if (uv_read_start((uv_stream_t *) &up->pipe, up_alloc_cb, up_read_cb) != 0)
    up_close(up, TDM_GOAWAY_NO_ERROR, NULL);
}

/* Whether the peer on fd may be a backend: the frontend's own user, or a
 * user or group allowed by --backend-allow-uid / --backend-allow-gid.  The
 * kernel reports the peer's credentials as they were at connect(2). */
static int peer_allowed(int fd, struct ucred *cred) {
  socklen_t len = sizeof(*cred);
  const config *cfg = ctx->cfg;
  int i;

  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &len) != 0)
    return 0;
  if (cred->uid == geteuid())
    return 1;
  for (i = 0; i < cfg->nallow_uids; i++)
    if ((long) cred->uid == cfg->allow_uids[i])
      return 1;
  for (i = 0; i < cfg->nallow_gids; i++)
    if ((long) cred->gid == cfg->allow_gids[i])
      return 1;
  return 0;
}

static void listener_on_connection(uv_stream_t *server, int status) {
  upstream_conn *up;
  struct ucred cred;
  uv_os_fd_t fd;

  if (status < 0) {
    log_warn("backend socket: accept: %s", uv_strerror(status));
    return;
  }
  up = up_new();
  if (up == NULL) {
    log_error("out of memory accepting a backend");
    return;
  }
  if (uv_accept(server, (uv_stream_t *) &up->pipe) != 0) {
    uv_close((uv_handle_t *) &up->pipe, up_on_close);
    return;
  }
  /* Refused before a single byte is read from it. */
  memset(&cred, 0, sizeof(cred));
  if (uv_fileno((uv_handle_t *) &up->pipe, &fd) != 0 || !peer_allowed(fd, &cred)) {
    log_warn("refused a backend connection from pid %d uid %u gid %u: not the frontend's user "
             "and not allowed by --backend-allow-uid/--backend-allow-gid",
             (int) cred.pid, (unsigned) cred.uid, (unsigned) cred.gid);
    uv_close((uv_handle_t *) &up->pipe, up_on_close);
    return;
  }
  up_start(up);
}

int upstream_open_fd(int fd) {
  upstream_conn *up = up_new();
  int rc;

  if (up == NULL)
    return UV_ENOMEM;
  rc = uv_pipe_open(&up->pipe, fd);
  if (rc != 0) {
    uv_close((uv_handle_t *) &up->pipe, up_on_close);
    return rc;
  }
  up_start(up);
  return 0;
}

/* A socket file left by a frontend that died is removed; one that answers
 * belongs to a running frontend and is an error. */
static int clear_stale_socket(const char *path) {
  struct sockaddr_un sa;
  struct stat st;
  int fd, rc;

  if (lstat(path, &st) != 0)
    return errno == ENOENT ? 0 : -errno;
  if (!S_ISSOCK(st.st_mode)) {
    log_error("backend socket %s exists and is not a socket", path);
    return UV_EEXIST;
  }
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  strncpy(sa.sun_path, path, sizeof(sa.sun_path) - 1);
  /* Startup, before the loop runs: a blocking connect to a local socket is fine. */
  rc = connect(fd, (struct sockaddr *) &sa, sizeof(sa));
  close(fd);
  if (rc == 0) {
    log_error("backend socket %s is in use by a running frontend", path);
    return UV_EADDRINUSE;
  }
  unlink(path);
  return 0;
}

void upstream_init(tdm_ctx *x, void (*on_capacity)(void *arg), void *arg) {
  ctx = x;
  capacity_cb = on_capacity;
  capacity_arg = arg;
}

int upstream_listen(void) {
  const config *cfg = ctx->cfg;
  const char *path = cfg->backend_socket;
  mode_t mode = cfg->backend_socket_mode;
  mode_t old_umask;
  int rc;
  char *dir, *slash;

  /* Create the socket's directory if it is missing (one level, like /run/tandem). */
  dir = strdup(path);
  slash = strrchr(dir, '/');
  if (slash != NULL && slash != dir) {
    *slash = '\0';
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
      log_error("cannot create directory %s for the backend socket: %s", dir, strerror(errno));
      free(dir);
      return -errno;
    }
  }
  free(dir);

  rc = clear_stale_socket(path);
  if (rc != 0)
    return rc;
  uv_pipe_init(ctx->loop, &listener, 0);
  /* The umask is set before bind so that the socket file never exists with
   * wider permissions than asked for, not even for an instant. */
  old_umask = umask(~mode & 0777);
  rc = uv_pipe_bind(&listener, path);
  umask(old_umask);
  if (rc == 0 && cfg->backend_socket_gid >= 0 && chown(path, (uid_t) -1, (gid_t) cfg->backend_socket_gid) != 0) {
    rc = -errno;
    log_error("cannot give the backend socket %s to group %ld: %s", path, cfg->backend_socket_gid,
              strerror(errno));
  }
  if (rc == 0 && chmod(path, mode) != 0)
    rc = -errno;
  if (rc == 0)
    rc = uv_listen((uv_stream_t *) &listener, 128, listener_on_connection);
  if (rc != 0) {
    log_error("cannot listen on backend socket %s: %s", path, uv_strerror(rc));
    uv_close((uv_handle_t *) &listener, NULL);
    return rc;
  }
  listening = 1;
  socket_path = strdup(path);
  return 0;
}
