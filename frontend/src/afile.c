/* afile: an append-only file written without waiting on the disk (see
 * afile.h).  Calls ctx, log, libuv and the C library. */
#include "afile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static void afile_stop(afile *f, const char *why, int err) {
  log_error("%s %s: %s: %s; writing stops", f->what, f->path != NULL ? f->path : "(stderr)", why,
            uv_strerror(err));
  if (f->own_fd)
    close(f->fd);
  f->fd = -1;
}

/* The file reopened while a write was in flight takes over now that none is:
 * the old one is closed (a close(2) of a local file does not wait on the disk). */
static void afile_swap_fd(afile *f) {
  if (f->next_fd < 0 || f->writing)
    return;
  if (f->fd >= 0 && f->own_fd)
    close(f->fd);
  f->fd = f->next_fd;
  f->next_fd = -1;
}

static void afile_write_cb(uv_fs_t *req);

/* Writes out[out_off..out_len), or with max_write the whole lines of it
 * that fit max_write (one line longer than that goes whole). */
static void afile_write_out(afile *f) {
  size_t n = f->out_len - f->out_off;
  uv_buf_t b;
  int rc;

  if (f->max_write > 0 && n > f->max_write) {
    const char *p = f->out + f->out_off;
    size_t cut = f->max_write;
    while (cut > 0 && p[cut - 1] != '\n')
      cut--;
    if (cut == 0) {
      const char *nl = memchr(p, '\n', n);
      cut = nl != NULL ? (size_t) (nl - p) + 1 : n;
    }
    n = cut;
  }
  b = uv_buf_init(f->out + f->out_off, (unsigned) n);
  f->writing = 1;
  rc = uv_fs_write(f->ctx->loop, &f->req, f->fd, &b, 1, -1, afile_write_cb);
  if (rc != 0) {
    f->writing = 0;
    afile_stop(f, "write", rc);
  }
}

static void afile_write_cb(uv_fs_t *req) {
  afile *f = req->data;
  ssize_t n = req->result;

  uv_fs_req_cleanup(req);
  f->writing = 0;
  if (f->fd < 0)
    return;
  if (n < 0) {
    afile_stop(f, "write", (int) n);
    return;
  }
  f->out_off += (size_t) n;
  if (f->out_off < f->out_len) {
    afile_write_out(f);         /* a short write, or the next lines: the rest */
    return;
  }
  f->out_len = f->out_off = 0;
  afile_swap_fd(f);
  if (f->fill_len > 0)
    ctx_schedule_flush(f->ctx, &f->fl);
}

/* The loop's flush: what gathered goes to the file, unless a write is
 * still in flight (its callback schedules this again). */
static void afile_flush(flushable *fl) {
  afile *f = (afile *) ((char *) fl - offsetof(afile, fl));
  char *t;

  if (f->fd < 0 || f->writing || f->fill_len == 0)
    return;
  t = f->out;
  f->out = f->fill;
  f->fill = t;
  f->out_len = f->fill_len;
  f->out_off = 0;
  f->fill_len = 0;
  afile_write_out(f);
}

/* The buffers and the rest, once fd is set.  Returns 0 or -ENOMEM. */
static int afile_start(afile *f, tdm_ctx *x, const char *what, size_t cap) {
  f->ctx = x;
  f->what = what;
  f->cap = cap;
  f->next_fd = -1;
  f->req.data = f;
  f->reopen_req.data = f;
  f->fl.flush = afile_flush;
  f->fill = malloc(cap);
  f->out = malloc(cap);
  if (f->fill == NULL || f->out == NULL) {
    log_error("%s: out of memory", what);
    afile_close(f);
    return -ENOMEM;
  }
  return 0;
}

int afile_open(afile *f, tdm_ctx *x, const char *what, const char *path, int flags, int mode, size_t cap) {
  memset(f, 0, sizeof(*f));
  f->fd = open(path, flags | O_CLOEXEC, mode);
  if (f->fd < 0) {
    int err = errno;
    log_error("%s %s: %s", what, path, strerror(err));
    return -err;
  }
  f->own_fd = 1;
  f->flags = flags & ~O_TRUNC;
  f->path = strdup(path);
  if (f->path == NULL) {
    afile_close(f);
    return -ENOMEM;
  }
  return afile_start(f, x, what, cap);
}

int afile_open_fd(afile *f, tdm_ctx *x, const char *what, int fd, size_t cap, size_t max_write) {
  memset(f, 0, sizeof(*f));
  f->fd = fd;
  f->max_write = max_write;
  return afile_start(f, x, what, cap);
}

char *afile_reserve(afile *f, size_t n) {
  if (f->fd < 0 || n > f->cap - f->fill_len)
    return NULL;
  return f->fill + f->fill_len;
}

void afile_commit(afile *f, size_t used) {
  f->fill_len += used;
  if (used > 0)
    ctx_schedule_flush(f->ctx, &f->fl);
}

static void afile_reopen_cb(uv_fs_t *req) {
  afile *f = req->data;
  ssize_t fd = req->result;

  uv_fs_req_cleanup(req);
  f->reopening = 0;
  if (fd < 0) {
    log_error("%s %s: reopen: %s; still writing to the file that was open", f->what, f->path,
              uv_strerror((int) fd));
    return;
  }
  if (f->fd < 0 && f->fill == NULL) {
    close((int) fd);            /* closed meanwhile (exit) */
    return;
  }
  f->next_fd = (int) fd;
  afile_swap_fd(f);
  log_info("%s: reopened %s", f->what, f->path);
  if (f->fill_len > 0)
    ctx_schedule_flush(f->ctx, &f->fl);
}

void afile_reopen(afile *f) {
  int rc;

  if (f->path == NULL || f->reopening || f->fill == NULL)
    return;
  rc = uv_fs_open(f->ctx->loop, &f->reopen_req, f->path, f->flags | O_CLOEXEC, 0644, afile_reopen_cb);
  if (rc != 0) {
    log_error("%s %s: reopen: %s", f->what, f->path, uv_strerror(rc));
    return;
  }
  f->reopening = 1;
}

int afile_pending(const afile *f) {
  return f->writing || f->reopening;
}

/* Writes all of buf[0..len) with write(2): only at exit, when nothing else waits. */
static void write_all(afile *f, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(f->fd, buf, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      log_error("%s %s: write: %s", f->what, f->path != NULL ? f->path : "(stderr)",
                n < 0 ? strerror(errno) : "no progress");
      return;
    }
    buf += n;
    len -= (size_t) n;
  }
}

void afile_close(afile *f) {
  afile_swap_fd(f);
  if (f->fd >= 0) {
    if (!f->writing) {
      write_all(f, f->out + f->out_off, f->out_len - f->out_off);
      write_all(f, f->fill, f->fill_len);
    }
    if (f->own_fd && close(f->fd) != 0)
      log_error("%s %s: close: %s", f->what, f->path, strerror(errno));
    f->fd = -1;
  }
  if (f->next_fd >= 0)
    close(f->next_fd);
  f->next_fd = -1;
  free(f->fill);
  free(f->out);
  free(f->path);
  f->fill = f->out = f->path = NULL;
  f->fill_len = f->out_len = f->out_off = 0;
}
