/* fake_peer: a test's end of a socketpair (see fake_peer.h). */
#include "fake_peer.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PEER_READ_SIZE 65536

void fake_config(config *c) {
  c->max_header_size = 65536;
  c->max_request_line = 8192;
  c->max_headers = 100;
  c->keepalive_timeout_ms = 75000;
  c->header_timeout_ms = 60000;
  c->body_timeout_ms = 60000;
  c->send_timeout_ms = 60000;
  c->max_connections = 100;
}

int peer_init(peer *p, int fd, int is_backend) {
  int rc;

  memset(p, 0, sizeof(*p));
  p->fd = fd;
  p->is_backend = is_backend;
  tdm_buf_init(&p->in, 0);
  tdm_buf_init(&p->out, 0);
  rc = tdm_decoder_init(&p->dec, TDM_DEFAULT_MAX_FRAME);
  if (rc != 0)
    return rc;
  if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
    tdm_decoder_free(&p->dec);
    return -errno;
  }
  return 0;
}

void peer_free(peer *p) {
  peer_close(p);
  tdm_buf_free(&p->in);
  tdm_buf_free(&p->out);
  tdm_decoder_free(&p->dec);
}

void peer_close(peer *p) {
  if (p->fd >= 0)
    close(p->fd);
  p->fd = -1;
}

int peer_send(peer *p, const void *data, size_t len) {
  return tdm_buf_append(&p->out, data, len);
}

ssize_t peer_pump(peer *p) {
  ssize_t moved = 0;

  if (p->fd < 0)
    return 0;
  while (p->wpos < p->out.len) {
    /* MSG_NOSIGNAL: a frontend that has closed its end must not kill the test. */
    ssize_t n = send(p->fd, p->out.base + p->wpos, p->out.len - p->wpos, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        p->wpos = p->out.len;          /* the other side is gone; drop it */
      break;
    }
    p->wpos += (size_t) n;
    moved += n;
  }
  if (p->wpos == p->out.len)
    p->out.len = p->wpos = 0;
  if (p->read_paused || p->eof)
    return moved;
  if (p->rpos > 0) {
    tdm_buf_consume(&p->in, p->rpos);
    p->rpos = 0;
  }
  for (;;) {
    ssize_t n;
    if (tdm_buf_reserve(&p->in, PEER_READ_SIZE) != 0)
      return TDM_ENOMEM;
    n = recv(p->fd, p->in.base + p->in.len, PEER_READ_SIZE, 0);
    if (n > 0) {
      p->in.len += (size_t) n;
      moved += n;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      break;
    p->eof = 1;
    p->read_err = n < 0 ? errno : 0;
    moved++;                            /* the end is news too */
    break;
  }
  return moved;
}

int peer_try_frame(peer *p, tdm_frame *f) {
  ssize_t n = tdm_decode(&p->dec, p->in.base + p->rpos, p->in.len - p->rpos, f);

  if (n == TDM_EAGAIN)
    return 0;
  if (n < 0)
    return (int) n;
  p->rpos += (size_t) n;
  return 1;
}
