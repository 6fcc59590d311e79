/* fake_peer: a test's own end of a socketpair whose other end the frontend
 * serves, as a fake client (raw HTTP bytes) or a fake backend (frames
 * through the codec), and the settings such a frontend runs with.  Shared by
 * frontend/tests/test_http_conn.c, test_ws.c and the HTTP fuzz harness
 * (tests/fuzz/fuzz_http.c); it asserts nothing itself, so
 * that each caller fails in its own way.  No I/O blocks: the descriptor is
 * made non-blocking, and peer_pump() moves what it can. */
#ifndef TDM_FAKE_PEER_H
#define TDM_FAKE_PEER_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"
#include "tdm_proto.h"

typedef struct peer {
  int fd;                        /* -1 once closed by the test */
  tdm_buf in;                    /* received; in.base[0..rpos) is consumed */
  size_t rpos;
  tdm_buf out;                   /* queued; out.base[0..wpos) is sent */
  size_t wpos;
  int eof;                       /* read saw end of stream or an error */
  int read_err;                  /* errno of that error, 0 for a clean EOF */
  int read_paused;               /* the test does not read (a slow client) */
  int is_backend;
  tdm_decoder dec;               /* for a fake backend's frames */
} peer;

/* The limits and timeouts of the frontend under test, in a zeroed config:
 * the command line's defaults where a zero would refuse every request (a
 * limit) or end it at once (a timeout), and 100 connections.  Each caller
 * then sets what it tests. */
void fake_config(config *c);

/* Takes fd (made non-blocking).  Returns 0 or a negative error; the buffers
 * are p's own until peer_free(). */
int peer_init(peer *p, int fd, int is_backend);

/* Closes fd if it is still open and frees the buffers. */
void peer_free(peer *p);

/* The test hangs up its end (a client or backend going away). */
void peer_close(peer *p);

/* Queues bytes to send at the next peer_pump().  Returns 0 or TDM_ENOMEM. */
int peer_send(peer *p, const void *data, size_t len);

/* Sends what is queued and the socket takes, then (unless reading is paused)
 * drops the consumed input and reads what has arrived.  Returns the number
 * of bytes moved either way, or TDM_ENOMEM. */
ssize_t peer_pump(peer *p);

/* The next whole frame in p's input, if there is one: returns 1 and fills
 * *f (pointing into p->in, valid until the next peer_pump()), 0 if no whole
 * frame has arrived, or the codec's negative error for a frame it refuses. */
int peer_try_frame(peer *p, tdm_frame *f);

#endif /* TDM_FAKE_PEER_H */
