/* record: --record FILE (see record.h; the format is protocol/RECORDING.md). */
#include "record.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "log.h"

#define RECORD_MAGIC "TDMREC1\n"
#define RECORD_HEAD 17                   /* time 8, connection 4, kind 1, length 4 */
#define RECORD_PIECE (1024 * 1024)       /* bytes become records of at most this much */

static struct {
  tdm_ctx *ctx;
  int fd;                        /* -1: not recording */
  char *path;                    /* for the log; owner: here */
  flushable fl;
  uv_fs_t req;
  int writing;                   /* req is in flight, writing `out` */
  char *fill, *out;              /* RECORD_BUFFER bytes each; owner: here */
  size_t fill_len, out_len, out_off;
  uint64_t lost;                 /* bytes of records dropped since the last GAP */
} rec = { .fd = -1 };

static void put_be(char *p, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; i--, v >>= 8)
    p[i] = (char) (v & 0xff);
}

static void put_record(uint32_t conn, int kind, const void *p, size_t n) {
  struct timespec ts;
  char *h = rec.fill + rec.fill_len;

  clock_gettime(CLOCK_REALTIME, &ts);
  put_be(h, (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec, 8);
  put_be(h + 8, conn, 4);
  h[12] = (char) kind;
  put_be(h + 13, n, 4);
  if (n > 0)
    memcpy(h + RECORD_HEAD, p, n);
  rec.fill_len += RECORD_HEAD + n;
}

static void record_stop(const char *why, int err) {
  log_error("--record %s: %s: %s; recording stops", rec.path, why, uv_strerror(err));
  close(rec.fd);
  rec.fd = -1;
}

static void record_write_cb(uv_fs_t *req);

static void record_write_out(void) {
  uv_buf_t b = uv_buf_init(rec.out + rec.out_off, (unsigned) (rec.out_len - rec.out_off));
  int rc;

  rec.writing = 1;
  rc = uv_fs_write(rec.ctx->loop, &rec.req, rec.fd, &b, 1, -1, record_write_cb);
  if (rc != 0) {
    rec.writing = 0;
    record_stop("write", rc);
  }
}

static void record_write_cb(uv_fs_t *req) {
  ssize_t n = req->result;

  uv_fs_req_cleanup(req);
  rec.writing = 0;
  if (rec.fd < 0)
    return;
  if (n < 0) {
    record_stop("write", (int) n);
    return;
  }
  rec.out_off += (size_t) n;
  if (rec.out_off < rec.out_len) {
    record_write_out();         /* a short write: the rest */
    return;
  }
  rec.out_len = rec.out_off = 0;
  if (rec.fill_len > 0)
    ctx_schedule_flush(rec.ctx, &rec.fl);
}

/* The loop's flush: what gathered goes to the file, unless a write is
 * still in flight (its callback schedules this again). */
static void record_flush(flushable *f) {
  char *t;

  (void) f;
  if (rec.fd < 0 || rec.writing || rec.fill_len == 0)
    return;
  t = rec.out;
  rec.out = rec.fill;
  rec.fill = t;
  rec.out_len = rec.fill_len;
  rec.out_off = 0;
  rec.fill_len = 0;
  record_write_out();
}

int record_open(tdm_ctx *x, const char *path) {
  rec.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (rec.fd < 0) {
    int err = errno;
    log_error("--record %s: %s", path, strerror(err));
    return -err;
  }
  rec.ctx = x;
  rec.path = strdup(path);
  rec.fill = malloc(RECORD_BUFFER);
  rec.out = malloc(RECORD_BUFFER);
  if (rec.path == NULL || rec.fill == NULL || rec.out == NULL) {
    log_error("--record %s: out of memory", path);
    record_close();
    return -ENOMEM;
  }
  rec.fl.flush = record_flush;
  memcpy(rec.fill, RECORD_MAGIC, sizeof(RECORD_MAGIC) - 1);
  rec.fill_len = sizeof(RECORD_MAGIC) - 1;
  ctx_schedule_flush(x, &rec.fl);
  log_info("recording what backends and the frontend exchange to %s", path);
  return 0;
}

int record_on(void) {
  return rec.fd >= 0;
}

int record_pending(void) {
  return rec.writing;
}

void record_bytes(uint32_t conn, int kind, const void *p, size_t n) {
  size_t piece;

  if (rec.fd < 0)
    return;
  do {
    piece = n < RECORD_PIECE ? n : RECORD_PIECE;
    if (rec.lost > 0 && rec.fill_len + RECORD_HEAD + 8 + RECORD_HEAD + piece <= RECORD_BUFFER) {
      char count[8];
      log_warn("--record %s: %llu bytes of records lost (the disk did not keep up)", rec.path,
               (unsigned long long) rec.lost);
      put_be(count, rec.lost, 8);
      put_record(0, RECORD_GAP, count, 8);
      rec.lost = 0;
    }
    if (rec.lost > 0 || rec.fill_len + RECORD_HEAD + piece > RECORD_BUFFER) {
      if (rec.lost == 0)
        log_warn("--record %s: the disk does not keep up; records are being lost", rec.path);
      rec.lost += RECORD_HEAD + piece;
    } else {
      put_record(conn, kind, p, piece);
    }
    p = (const char *) p + piece;
    n -= piece;
  } while (n > 0);
  ctx_schedule_flush(rec.ctx, &rec.fl);
}

/* Writes all of buf[0..len) with write(2): only at exit, when nothing else waits. */
static void write_all(const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(rec.fd, buf, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      log_error("--record %s: write: %s", rec.path, n < 0 ? strerror(errno) : "no progress");
      return;
    }
    buf += n;
    len -= (size_t) n;
  }
}

void record_close(void) {
  if (rec.fd >= 0) {
    if (!rec.writing) {
      write_all(rec.out + rec.out_off, rec.out_len - rec.out_off);
      write_all(rec.fill, rec.fill_len);
    }
    if (close(rec.fd) != 0)
      log_error("--record %s: close: %s", rec.path, strerror(errno));
    rec.fd = -1;
  }
  free(rec.fill);
  free(rec.out);
  free(rec.path);
  rec.fill = rec.out = rec.path = NULL;
}
