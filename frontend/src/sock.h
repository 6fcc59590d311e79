/* sock: a client's stream socket as an HTTP connection uses it.  It reads
 * into one buffer shared by every socket (a read is handled before the next
 * one), gathers output during a loop iteration and writes it once, ends a
 * connection gracefully (FIN, then a lingering read that drops what the
 * client still sends, so that unread input does not make the kernel reset
 * the connection before the client has read the last response), and closes
 * its handles.  It tells its owner what happens through the callbacks given
 * to sock_init().  It may call ctx, outbuf, metrics and log. */
#ifndef TDM_SOCK_H
#define TDM_SOCK_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "ctx.h"
#include "outbuf.h"

#define SOCK_LINGER_MS 2000

typedef struct sock_cb {
  /* Bytes arrived; data is valid during the call only. */
  void (*on_read)(void *owner, const char *data, size_t len);
  /* Reading is over: the client closed (err UV_EOF), a read failed (err <
   * 0), or the graceful end is done (err 0).  The owner closes the sock. */
  void (*on_end)(void *owner, int err);
  /* A write completed (status 0) or failed; the owner may produce more. */
  void (*on_written)(void *owner, int status);
  /* Every handle is closed: the owner may free the memory the sock is in. */
  void (*on_closed)(void *owner);
  /* The timeout of sock_timeout() ran out. */
  void (*on_timeout)(void *owner);
  /* A write did not complete at once: output waits for the client to take
   * it (the owner's send timeout starts).  May be NULL. */
  void (*on_write_wait)(void *owner);
} sock_cb;

typedef struct sock {
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } h;
  uv_timer_t timer;              /* the owner's timeouts, then the lingering end's */
  uv_shutdown_t sreq;
  flushable fl;
  outbuf ob;                     /* output; owner: the sock */
  tdm_ctx *ctx;
  const sock_cb *cb;
  void *owner;
  unsigned reading : 1;
  unsigned ending : 1;           /* end gracefully once the output is written */
  unsigned lingering : 1;
  unsigned closing : 1;
  unsigned wrote_now : 1;        /* sock_write_now() wrote: on_written at the next flush */
  unsigned char out_class;       /* the pool list its last output buffer went back to */
  int pending_closes;
  uint64_t deadline;             /* loop time the owner's timeout ends at; 0: none runs */
  char peer_host[INET6_ADDRSTRLEN];
  char local_host[INET6_ADDRSTRLEN];
  uint32_t peer_port, local_port;
} sock;

/* Sets s up (its timer too) to tell owner through cb; its output holds at
 * most out_cap bytes.  Then one of sock_accept() and sock_open_fd(); if that
 * fails, sock_close(). */
void sock_init(sock *s, tdm_ctx *ctx, const sock_cb *cb, void *owner, size_t out_cap);
/* Accepts a TCP client from listener, with its addresses.  Returns 0 or a
 * negative libuv error. */
int sock_accept(sock *s, uv_stream_t *listener);
/* Takes an already connected stream socket (tests use a socketpair). */
int sock_open_fd(sock *s, int fd);
/* Accepts the client waiting on listener and closes it at once: the server
 * is full.  Returns 0 or a negative libuv error. */
int sock_refuse(uv_stream_t *listener);

/* The owner's timeout: on_timeout in ms milliseconds (a new call replaces the
 * last), or none (sock_timeout_stop).  Cheap to call several times a
 * request: it moves a deadline, and restarts the timer only when it would
 * fire too late (one that fires early waits for the rest, as nginx's and
 * other libuv users' lazy timers do).  Not once the graceful end lingers. */
void sock_timeout(sock *s, uint64_t ms);
void sock_timeout_stop(sock *s);

/* Reading on (idempotent; 0 or a negative libuv error) and off. */
int sock_read_start(sock *s);
void sock_read_stop(sock *s);

/* Gives an output buffer without memory one from the pool sock_trim()
 * fills, if it has one. */
void sock_out_prepare(sock *s);

/* Large output (a body of SOCK_WRITE_NOW_MIN bytes or more): written at
 * once, after what sock_out() holds, in one writev, if no write is in
 * flight; only what the kernel does not take is copied into sock_out(), to
 * be written as usual.  So a large body is not copied, nor does the output
 * buffer grow past the sizes the pool keeps.  The owner's on_written comes
 * at the next flush, as for any write.  Returns 0, or
 * tdm_buf_append()'s error for the rest (the output buffer is full).
 *
 * With fd >= 0, data's bytes are also at offset off of fd, a file whose pages
 * are memory (a memfd: reading it never waits for a disk): they go with
 * sendfile(2) instead, and what sock_out() holds before them with MSG_MORE,
 * so that both leave in the same segments.  The kernel then sends the file's
 * pages themselves, where writev copies the bytes into buffers of its own,
 * which cost as much again as the rest of a 64 KiB response when the client
 * reads on the other core. */
#define SOCK_WRITE_NOW_MIN (16 * 1024)
int sock_write_now(sock *s, const char *data, size_t len, int fd, uint64_t off);

/* The buffer output gathers in, and the flush that writes it (inline: every
 * response passes through them). */
static inline tdm_buf *sock_out(sock *s) {
  if (s->ob.out.base == NULL)
    sock_out_prepare(s);
  return &s->ob.out;
}

static inline void sock_flush_soon(sock *s) {
  ctx_schedule_flush(s->ctx, &s->fl);
}

/* Output bytes not yet handed to the kernel; those not yet in a write. */
static inline size_t sock_pending(const sock *s) {
  return outbuf_pending(&s->ob);
}

static inline size_t sock_unwritten(const sock *s) {
  return s->ob.out.len;
}

/* Gives back the output buffers if every byte in them is written (an idle
 * connection's): buffers of the first size go to a small pool that the
 * next output of any socket takes from (no malloc and free per response),
 * larger ones are freed. */
void sock_trim(sock *s);

/* Ends the connection gracefully once every output byte is written; the
 * owner hears on_end(0) when it is over. */
void sock_end(sock *s);
/* Closes the handles now; on_closed follows. */
void sock_close(sock *s);

/* The socket's descriptor, for sendfile. */
int sock_fd(const sock *s);
/* A new descriptor (close-on-exec) of the same socket, which the caller owns
 * and which outlives sock_close(); or a negative errno. */
int sock_dup(const sock *s);

#endif /* TDM_SOCK_H */
