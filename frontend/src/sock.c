/* sock: a client's stream socket (see sock.h).  Calls libuv, ctx, outbuf,
 * metrics (bytes, accepts, timeouts) and log; its owner only through its
 * callbacks. */
#include "sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

#include "metrics.h"

#define SOCK_READ_SIZE (64 * 1024)
/* Output buffers kept by sock_trim() for the next output: one list for each
 * size a tdm_buf grows through from its first (4 KiB, doubling) up to 64 KiB,
 * and SOCK_POOL_BYTES in all.  A connection answering 8 KiB responses so
 * takes an 8 KiB buffer for each, instead of a 4 KiB one that realloc()
 * moves: with keep-alive connections going idle between requests, buffers
 * that went back to malloc() were grown again for the next request, and
 * glibc's heap, trimmed at every batch, faulted their pages in each time. */
#define SOCK_POOL_MIN 4096
#define SOCK_POOL_CLASSES 5
#define SOCK_POOL_BYTES (1024 * 1024)

static char read_buffer[SOCK_READ_SIZE];      /* a read is handled before the next one */
static int read_buffer_busy;
/* Buffers given back, each holding the next one's address; owner: sock.c. */
static void *out_pool[SOCK_POOL_CLASSES];
static size_t out_pool_bytes;

static void sock_on_flush(flushable *f);

void sock_init(sock *s, tdm_ctx *ctx, const sock_cb *cb, void *owner, size_t out_cap) {
  s->ctx = ctx;
  s->cb = cb;
  s->owner = owner;
  s->fl.flush = sock_on_flush;
  s->out_class = 0;
  s->wrote_now = 0;
  outbuf_init(&s->ob, out_cap);
  uv_timer_init(ctx->loop, &s->timer);
  s->timer.data = s;
}

/* ---- the owner's timeout ----------------------------------------------------- */

static void sock_on_deadline(uv_timer_t *t) {
  sock *s = t->data;
  uint64_t now = uv_now(s->ctx->loop);

  if (s->deadline == 0)
    return;                     /* stopped since */
  if (now < s->deadline) {      /* restarted since: wait for the rest */
    uv_timer_start(t, sock_on_deadline, s->deadline - now, 0);
    return;
  }
  s->deadline = 0;
  metrics.client_timeouts++;
  s->cb->on_timeout(s->owner);
}

void sock_timeout(sock *s, uint64_t ms) {
  uv_timer_t *t = &s->timer;

  if (s->lingering || s->closing)
    return;
  s->deadline = uv_now(s->ctx->loop) + ms;
  if (!uv_is_active((uv_handle_t *) t) || uv_timer_get_due_in(t) > ms)
    uv_timer_start(t, sock_on_deadline, ms, 0);
}

void sock_timeout_stop(sock *s) {
  s->deadline = 0;
}

static void addr_to_str(const struct sockaddr_storage *ss, char *host, size_t hostlen,
                        uint32_t *port) {
  host[0] = '\0';
  *port = 0;
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *) ss;
    uv_ip4_name(a, host, hostlen);
    *port = ntohs(a->sin_port);
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *) ss;
    uv_ip6_name(a, host, hostlen);
    *port = ntohs(a->sin6_port);
  }
}

int sock_accept(sock *s, uv_stream_t *listener) {
  struct sockaddr_storage ss;
  int len, rc;

  uv_tcp_init(s->ctx->loop, &s->h.tcp);
  s->h.handle.data = s;
  rc = uv_accept(listener, &s->h.stream);
  if (rc != 0)
    return rc;
  metrics.connections++;
  uv_tcp_nodelay(&s->h.tcp, 1);
  len = sizeof(ss);
  if (uv_tcp_getpeername(&s->h.tcp, (struct sockaddr *) &ss, &len) == 0)
    addr_to_str(&ss, s->peer_host, sizeof(s->peer_host), &s->peer_port);
  len = sizeof(ss);
  if (uv_tcp_getsockname(&s->h.tcp, (struct sockaddr *) &ss, &len) == 0)
    addr_to_str(&ss, s->local_host, sizeof(s->local_host), &s->local_port);
  return 0;
}

static void sock_on_refused_closed(uv_handle_t *h) {
  free(h);
}

int sock_refuse(uv_stream_t *listener) {
  uv_tcp_t *t = malloc(sizeof(*t));    /* owner: sock_on_refused_closed */
  int rc;

  if (t == NULL)
    return UV_ENOMEM;
  uv_tcp_init(listener->loop, t);
  /* Accepting it lets libuv watch the listener again; closing it with
   * nothing read sends the client a FIN. */
  rc = uv_accept(listener, (uv_stream_t *) t);
  uv_close((uv_handle_t *) t, sock_on_refused_closed);
  return rc;
}

int sock_open_fd(sock *s, int fd) {
  uv_pipe_init(s->ctx->loop, &s->h.pipe, 0);
  s->h.handle.data = s;
  strcpy(s->peer_host, "127.0.0.1");
  s->peer_port = 1;
  return uv_pipe_open(&s->h.pipe, fd);
}

/* ---- reading ------------------------------------------------------------- */

static void sock_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void) h;
  (void) suggested;
  if (read_buffer_busy) {
    buf->base = NULL;
    buf->len = 0;
    return;
  }
  read_buffer_busy = 1;
  *buf = uv_buf_init(read_buffer, sizeof(read_buffer));
}

static void sock_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  sock *s = stream->data;

  read_buffer_busy = 0;
  (void) buf;
  if (nread == 0)
    return;
  if (nread < 0) {
    s->cb->on_end(s->owner, (int) nread);
    return;
  }
  metrics.bytes_in += (uint64_t) nread;
  s->cb->on_read(s->owner, read_buffer, (size_t) nread);
}

int sock_read_start(sock *s) {
  int rc;

  if (s->reading || s->closing || s->lingering)
    return 0;
  rc = uv_read_start(&s->h.stream, sock_alloc_cb, sock_read_cb);
  if (rc == 0)
    s->reading = 1;
  return rc;
}

void sock_read_stop(sock *s) {
  if (s->reading) {
    uv_read_stop(&s->h.stream);
    s->reading = 0;
  }
}

/* ---- writing ------------------------------------------------------------- */

int sock_dup(const sock *s) {
  int fd = fcntl(sock_fd(s), F_DUPFD_CLOEXEC, 0);

  return fd >= 0 ? fd : -errno;
}

int sock_fd(const sock *s) {
  uv_os_fd_t fd = -1;

  uv_fileno(&s->h.handle, &fd);
  return fd;
}

/* A write ended, at once or in its callback. */
static void sock_written(sock *s, int status) {
  if (s->closing)
    return;
  s->cb->on_written(s->owner, status);
  if (s->closing)
    return;
  if (s->ob.out.len > 0 || s->ending)
    sock_flush_soon(s);
}

static void sock_write_cb(uv_write_t *wr, int status) {
  sock *s = wr->data;

  outbuf_written(&s->ob);
  sock_written(s, status);
}

/* ---- the graceful end ------------------------------------------------------ */

static void sock_linger_timeout(uv_timer_t *t) {
  sock *s = t->data;

  s->cb->on_end(s->owner, 0);
}

static void sock_linger_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void) h;
  (void) suggested;
  *buf = uv_buf_init(read_buffer, sizeof(read_buffer));
}

static void sock_linger_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  sock *s = stream->data;

  (void) buf;
  if (nread < 0)
    s->cb->on_end(s->owner, 0);
}

/* After the last response: FIN is sent; now read and drop whatever the
 * client still sends for a short while, so that unread input does not make
 * the kernel answer with RST and destroy the response before the client
 * reads it (what nginx calls lingering close). */
static void sock_shutdown_cb(uv_shutdown_t *req, int status) {
  sock *s = req->data;

  if (s->closing)
    return;
  if (status < 0) {
    s->cb->on_end(s->owner, status);
    return;
  }
  uv_read_stop(&s->h.stream);
  s->reading = 0;
  if (uv_read_start(&s->h.stream, sock_linger_alloc, sock_linger_read) != 0) {
    s->cb->on_end(s->owner, UV_EIO);
    return;
  }
  s->deadline = 0;              /* the owner's timeouts are over */
  uv_timer_start(&s->timer, sock_linger_timeout, SOCK_LINGER_MS, 0);
}

static void sock_on_flush(flushable *f) {
  sock *s = (sock *) ((char *) f - offsetof(sock, fl));
  int wrote_now = s->wrote_now;
  int rc;

  if (s->closing || s->ob.writing || s->lingering)
    return;
  s->wrote_now = 0;
  if (s->ob.out.len == 0) {
    if (wrote_now) {
      /* sock_write_now() wrote it all: the owner hears of it here, as
       * of any write (it may grant a producer more, or go idle). */
      sock_written(s, 0);
      return;
    }
    if (s->ending) {
      s->lingering = 1;       /* no more output; one shutdown */
      s->sreq.data = s;
      if (uv_shutdown(&s->sreq, &s->h.stream, sock_shutdown_cb) != 0)
        s->cb->on_end(s->owner, UV_EIO);
    }
    return;
  }
  metrics.bytes_out += s->ob.out.len;     /* handed to the kernel now, or by the write started */
  rc = outbuf_write(&s->ob, &s->h.stream, sock_write_cb, s);
  if (rc == OUTBUF_DONE)
    sock_written(s, 0);
  else if (rc != 0)
    s->cb->on_end(s->owner, UV_EIO);
  else if (s->cb->on_write_wait != NULL)
    s->cb->on_write_wait(s->owner);
}

/* The pool list of buffers of size bytes, or -1 if no list keeps that size. */
static int pool_class(size_t size) {
  int k;

  for (k = 0; k < SOCK_POOL_CLASSES; k++)
    if (size == (size_t) SOCK_POOL_MIN << k)
      return k;
  return -1;
}

void sock_out_prepare(sock *s) {
  tdm_buf *b = &s->ob.out;
  int k;

  /* The size this socket's output last needed, or the largest smaller one
   * the pool has. */
  for (k = s->out_class; k >= 0; k--)
    if (out_pool[k] != NULL && b->cap >= (size_t) SOCK_POOL_MIN << k)
      break;
  if (k < 0)
    return;                     /* tdm_buf allocates as usual */
  b->base = out_pool[k];
  memcpy(&out_pool[k], b->base, sizeof(out_pool[k]));
  b->size = (size_t) SOCK_POOL_MIN << k;
  b->len = 0;
  out_pool_bytes -= b->size;
}

static void out_give_back(sock *s, tdm_buf *b) {
  int k;

  if (b->base == NULL)
    return;
  k = pool_class(b->size);
  if (b->size > (size_t) SOCK_POOL_MIN << (SOCK_POOL_CLASSES - 1))
    s->out_class = SOCK_POOL_CLASSES - 1;
  else if (k > s->out_class)
    s->out_class = (unsigned char) k;
  if (k < 0 || out_pool_bytes + b->size > SOCK_POOL_BYTES) {
    tdm_buf_free(b);
    return;
  }
  memcpy(b->base, &out_pool[k], sizeof(out_pool[k]));
  out_pool[k] = b->base;
  out_pool_bytes += b->size;
  b->base = NULL;
  b->size = b->len = 0;
}

void sock_trim(sock *s) {
  if (s->ob.writing || outbuf_pending(&s->ob) != 0)
    return;
  s->out_class = 0;
  out_give_back(s, &s->ob.out);
  out_give_back(s, &s->ob.wbuf);
}

/* sock_write_now()'s held output then file bytes: as many bytes as went, or
 * 0.  Errors other than EAGAIN are left to the usual write to report. */
static int sock_send_file_now(sock *s, size_t held, int fd, uint64_t off, size_t len) {
  int sfd = sock_fd(s);
  off_t pos = (off_t) off;
  ssize_t n = 0, m;

  if (held > 0) {
    do
      n = send(sfd, s->ob.out.base, held, MSG_MORE | MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
      return 0;
    if ((size_t) n < held)
      return (int) n;
  }
  do
    m = sendfile(sfd, fd, &pos, len);
  while (m < 0 && errno == EINTR);
  return (int) (n + (m > 0 ? m : 0));
}

int sock_write_now(sock *s, const char *data, size_t len, int fd, uint64_t off) {
  tdm_buf *out = &s->ob.out;
  size_t held = out->len;
  uv_buf_t bufs[2];
  int n = 0;

  if (!s->ob.writing && !s->closing && !s->lingering && len <= INT_MAX - held) {
    if (fd >= 0) {
      n = sock_send_file_now(s, held, fd, off, len);
    } else {
      bufs[0] = uv_buf_init(out->base, (unsigned) held);
      bufs[1] = uv_buf_init((char *) data, (unsigned) len);
      /* An error other than EAGAIN is left to the usual write to report. */
      n = uv_try_write(&s->h.stream, held > 0 ? bufs : bufs + 1, held > 0 ? 2 : 1);
      if (n < 0)
        n = 0;
    }
    metrics.bytes_out += (uint64_t) n;
    if (n > 0)
      s->wrote_now = 1;
  }
  if ((size_t) n < held) {
    memmove(out->base, out->base + n, held - (size_t) n);
    out->len = held - (size_t) n;
    n = 0;
  } else {
    out->len = 0;
    n -= (int) held;
  }
  sock_flush_soon(s);           /* the rest, or the owner's on_written */
  if ((size_t) n == len)
    return 0;
  return tdm_buf_append(sock_out(s), data + n, len - (size_t) n);
}

void sock_end(sock *s) {
  s->ending = 1;
  sock_flush_soon(s);
}

/* ---- closing ------------------------------------------------------------- */

static void sock_on_close(uv_handle_t *h) {
  sock *s = h->data;

  if (--s->pending_closes > 0)
    return;
  /* Output may have been queued in the iteration the socket closed in. */
  ctx_cancel_flush(s->ctx, &s->fl);
  outbuf_free(&s->ob);
  s->cb->on_closed(s->owner);
}

void sock_close(sock *s) {
  if (s->closing)
    return;
  s->closing = 1;
  s->pending_closes = 2;
  s->h.handle.data = s;
  s->timer.data = s;
  uv_close(&s->h.handle, sock_on_close);
  uv_close((uv_handle_t *) &s->timer, sock_on_close);
}
