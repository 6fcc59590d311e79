/* static: response bodies that are files, sent by the frontend itself.
 *
 * Two kinds of request come here: a GET or HEAD under a --static mount
 * (static_serve), and a backend's RESPONSE with the FILE flag, which names
 * a file for the frontend to send (static_send_file; PROTOCOL.md).
 *
 * Opening runs on libuv's thread pool (uv_queue_work): for a mount, the path
 * check (realpath must stay inside the mount's directory), open and fstat
 * together, so the loop never waits on the disk.  A file that fits in one
 * STATIC_CHUNK is read in that same job and goes out with the head in one
 * write (one thread-pool round trip per request, the common case).  A larger
 * file is sent with sendfile(2), also on the thread pool (uv_fs_sendfile),
 * straight from the page cache to the client socket: once the response head
 * has been written and nothing else is queued for the connection, pieces of
 * up to STATIC_SENDFILE bytes go out; when the socket is full (EAGAIN), a
 * uv_poll on a duplicate of the socket's descriptor waits until it is
 * writable again, so a slow client holds no thread.
 *
 * Calls: http_conn (the request and its response), ctx, config, metrics
 * (bytes sent) and log; it
 * is told that its request can take more, or has gone, through its
 * http_handler.
 */
#include "static.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <llhttp.h>
#include <uv.h>

#include "http_cond.h"
#include "http_head.h"
#include "http_mime.h"
#include "log.h"
#include "metrics.h"
#include "static_cache.h"
#include "static_head.h"
#include "static_list.h"

#define STATIC_CHUNK (64 * 1024)
#define STATIC_SENDFILE (1024 * 1024)    /* bytes per sendfile call */
#define STATIC_POOL_MAX 32               /* idle static_file structs kept for reuse */
#define STATIC_COND_HEADERS 8            /* conditional headers kept without a malloc */
#define STATIC_COND_BYTES 1024

typedef struct static_file static_file;

struct static_file {
  struct static_file *next_free;
  uv_work_t work;
  uv_fs_t fs;
  uv_poll_t poll;
  http_req *req;                 /* NULL once aborted */
  uv_loop_t *loop;
  const static_mount *mount;     /* NULL for a backend's file response */
  unsigned head : 1;             /* HEAD: headers only */
  unsigned busy : 1;             /* a thread-pool job or fs request is in flight */
  unsigned waiting : 1;          /* waiting for the connection to drain */
  unsigned polling : 1;          /* poll is initialized */
  unsigned in_poll : 1;          /* waiting in poll (busy, but nothing in the thread pool) */
  unsigned redirect : 1;         /* a directory asked for without its slash */
  unsigned whole : 1;            /* the worker read the whole file into buf */
  unsigned has_variant : 1;      /* a .br or .gz file lies next to it (Vary) */
  unsigned corked : 1;           /* TCP_CORK is on until the last sendfile (static_cork) */
  unsigned answering : 1;        /* in static_answer() or serve_kept_fd(): release waits */
  unsigned accept;               /* the HTTP_ACCEPT_* codings the client takes */
  const char *encoding;          /* the variant sent: "br", "gzip", or NULL */
  char *listing;                 /* a directory's HTML listing (--static-listing); owner: sf */
  size_t listing_len;
  int status;                    /* error status found by the worker, 0 if none */
  int err;                       /* errno of a failed open, for the log */
  const char *content_type;      /* from the name asked for (index.html for a directory) */
  int fd;
  int sock;                      /* dup of the client socket for sendfile; -1 if none */
  uint64_t size;
  uint64_t offset;               /* the next byte to send */
  uint64_t end;                  /* the byte after the last to send (a range's end) */
  ssize_t sent;                  /* the last sendfile's result, or -errno */
  time_t mtime;
  long mtime_nsec;
  uint64_t ino;
  /* A mount's request: its conditional and Range headers and its query (for
   * a directory's redirect), copied at the start: the request's head does
   * not outlive the thread-pool job (the next request's takes its place). */
  tdm_request cond;
  char *cond_heap;               /* when they do not fit cond_buf; owner: sf */
  /* A backend's file response: its status and header lines (owner: sf). */
  int resp_status;
  int64_t resp_length;           /* the backend's content-length, or -1 */
  int have_date, have_server;
  char *resp_headers;
  size_t resp_headers_len;
  size_t rel_len;
  char rel[PATH_MAX];            /* mount-relative path, or the backend's absolute path */
  tdm_header cond_h[STATIC_COND_HEADERS];
  char cond_buf[STATIC_COND_BYTES];
  char buf[STATIC_CHUNK];
};

/* Set at startup, read by the thread pool: follow symlinks out of a mount;
 * list a directory without an index.html.  And the hook a mount's request
 * goes to when it names no file (--static-fallthrough), or NULL. */
static int follow_symlinks;
static int list_dirs;
static void (*fallthrough)(http_req *req);

/* Whether path resolves (every symlink followed) to real, inside m's
 * directory (path itself is: it is the directory and a normalised path),
 * or out of it with --static-follow-symlinks, and to no hidden file or
 * directory inside it. */
static int inside_mount(const static_mount *m, const char *path, char *real) {
  int inside;

  if (realpath(path, real) == NULL)
    return 0;
  inside = strncmp(real, m->dir, m->dir_len) == 0 &&
           (real[m->dir_len] == '/' || real[m->dir_len] == '\0' || strcmp(m->dir, "/") == 0);
  if (inside) {
    /* A symlink with a visible name does not make a hidden file visible. */
    const char *rel = strcmp(m->dir, "/") == 0 ? real : real + m->dir_len;
    if (!http_path_is_hidden(rel, strlen(rel)))
      return 1;
  } else if (follow_symlinks) {
    return 1;
  }
  errno = ENOENT;
  return 0;
}

/* Thread pool: looks for path.br and path.gz, regular files inside the mount
 * (nginx's gzip_static, and brotli's): notes that one exists (the answer
 * varies by Accept-Encoding then), and opens the one the client takes best
 * instead of sf->fd, filling *st.  Returns 0, or -1 if nothing changed. */
static int open_variant(static_file *sf, const char *path, struct stat *st) {
  static const struct { const char *suffix, *coding; unsigned bit; } variants[] = {
    { ".br", "br", HTTP_ACCEPT_BR }, { ".gz", "gzip", HTTP_ACCEPT_GZIP },
  };
  char vpath[PATH_MAX], real[PATH_MAX];
  struct stat vst;
  int chosen = -1;

  for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
    if ((size_t) snprintf(vpath, sizeof(vpath), "%s%s", path, variants[i].suffix) >= sizeof(vpath) ||
        !inside_mount(sf->mount, vpath, real) || stat(real, &vst) != 0 || !S_ISREG(vst.st_mode))
      continue;
    sf->has_variant = 1;
    if (chosen < 0 && (sf->accept & variants[i].bit)) {
      int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
      if (fd < 0 || fstat(fd, &vst) != 0 || !S_ISREG(vst.st_mode)) {
        if (fd >= 0)
          close(fd);
        continue;
      }
      close(sf->fd);
      sf->fd = fd;
      *st = vst;
      sf->encoding = variants[i].coding;
      chosen = (int) i;
    }
  }
  return chosen >= 0 ? 0 : -1;
}

/* Whether a mount's request names a directory (its path ends with a slash):
 * its index.html is served. */
static int names_dir(const static_file *sf) {
  return sf->rel_len == 0 || sf->rel[sf->rel_len - 1] == '/';
}

/* Thread pool: a directory asked for with its slash has no index.html; with
 * --static-listing its listing is the answer (sf->status 0 then). */
static void static_work_list(static_file *sf) {
  const static_mount *m = sf->mount;
  char dir[PATH_MAX], real[PATH_MAX], url[PATH_MAX * 3];
  size_t n;
  ssize_t len;

  if ((size_t) snprintf(dir, sizeof(dir), "%s%.*s", m->dir, (int) sf->rel_len, sf->rel) >= sizeof(dir) ||
      !inside_mount(m, dir, real))
    return;
  n = (size_t) snprintf(url, sizeof(url), "%.*s", (int) m->prefix_len, m->prefix);
  http_percent_encode(sf->rel_len ? sf->rel : "/", sf->rel_len ? sf->rel_len : 1, url + n, sizeof(url) - n,
                      HTTP_PCT_PATH);
  len = static_list_dir(real, url, &sf->listing);
  if (len < 0) {
    sf->err = (int) -len;
    return;
  }
  sf->listing_len = (size_t) len;
  sf->status = 0;
}

/* Runs on a thread-pool thread: may block.  Touches only sf's own fields and
 * the mount, which is read-only after startup. */
static void static_work(uv_work_t *w) {
  static_file *sf = w->data;
  const static_mount *m = sf->mount;
  char path[PATH_MAX], real[PATH_MAX];
  const char *open_path;
  struct stat st;
  int n;

  sf->fd = -1;
  if (m != NULL) {
    n = snprintf(path, sizeof(path), "%s%.*s%s", m->dir, (int) sf->rel_len, sf->rel,
                 names_dir(sf) ? "index.html" : "");
    if (n < 0 || (size_t) n >= sizeof(path)) {
      sf->status = 414;
      return;
    }
    /* Inside the mount's directory, after every symlink is resolved. */
    if (!inside_mount(m, path, real)) {
      sf->err = errno;
      sf->status = errno == EACCES ? 403 : 404;
      if (sf->err == ENOENT && list_dirs && names_dir(sf))
        static_work_list(sf);
      return;
    }
    open_path = real;
    sf->content_type = http_mime_type(path, strlen(path));   /* the name asked for, as nginx does */
  } else {
    /* The backend named the file; it is trusted to (PROTOCOL.md). */
    open_path = sf->rel;
  }
  sf->fd = open(open_path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (sf->fd < 0) {
    sf->err = errno;
    sf->status = errno == EACCES ? 403 : 404;
    return;
  }
  if (fstat(sf->fd, &st) != 0) {
    sf->err = errno;
    sf->status = 404;
    goto close_fd;
  }
  if (S_ISDIR(st.st_mode) && m != NULL && names_dir(sf)) {
    /* Its index.html is a directory: as if it had none (a redirect would
     * add a slash to a path that has one, and loop). */
    close(sf->fd);
    sf->fd = -1;
    sf->err = ENOENT;
    sf->status = 404;
    if (list_dirs)
      static_work_list(sf);
    return;
  }
  if (S_ISDIR(st.st_mode) && m != NULL) {
    sf->redirect = 1;
    goto close_fd;
  }
  if (!S_ISREG(st.st_mode)) {
    sf->err = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
    sf->status = 404;
    goto close_fd;
  }
  if (m != NULL)
    open_variant(sf, path, &st);
  sf->size = (uint64_t) st.st_size;
  sf->end = sf->size;
  sf->mtime = st.st_mtim.tv_sec;
  sf->mtime_nsec = st.st_mtim.tv_nsec;
  sf->ino = (uint64_t) st.st_ino;
  sf->status = 0;
  if (sf->head)
    goto close_fd;
  if (sf->size <= STATIC_CHUNK) {
    /* Small file: read it here and spare the loop more round trips. */
    size_t got = 0;
    while (got < sf->size) {
      ssize_t r = pread(sf->fd, sf->buf + got, sf->size - got, (off_t) got);
      if (r <= 0)
        break;
      got += (size_t) r;
    }
    if (got != sf->size) {
      sf->err = errno;
      sf->status = 500;
      goto close_fd;
    }
    sf->whole = 1;
    goto close_fd;
  }
  return;

close_fd:
  close(sf->fd);
  sf->fd = -1;
}

/* Each static_file holds a STATIC_CHUNK buffer; a few idle ones are kept so
 * that a request does not pay for malloc, free and page faults of 64 KiB. */
static static_file *pool;
static int pool_len;
static uv_loop_t *cache_loop;            /* for closing the descriptors of kept files that go */

static static_file *sf_get(void) {
  static_file *sf = pool;

  if (sf != NULL) {
    pool = sf->next_free;
    pool_len--;
    return sf;
  }
  return malloc(sizeof(*sf));
}

static void sf_put(static_file *sf) {
  free(sf->resp_headers);
  sf->resp_headers = NULL;
  free(sf->cond_heap);
  sf->cond_heap = NULL;
  free(sf->listing);
  sf->listing = NULL;
  if (pool_len == STATIC_POOL_MAX) {
    free(sf);
    return;
  }
  sf->next_free = pool;
  pool = sf;
  pool_len++;
}

void static_pool_free(void) {
  cache_loop = NULL;            /* the loop has stopped: descriptors close at once */
  static_cache_free();
  while (pool != NULL) {
    static_file *sf = pool;
    pool = sf->next_free;
    free(sf);
  }
  pool_len = 0;
}

static void static_release(static_file *sf);

static void static_free_cb(uv_fs_t *fs) {
  static_file *sf = fs->data;

  uv_fs_req_cleanup(fs);
  sf_put(sf);
}

static void static_poll_closed(uv_handle_t *h) {
  static_file *sf = h->data;

  sf->polling = 0;
  static_release(sf);
}

/* The request is gone or done with the file: stop polling, close the
 * descriptors and put sf back, in that order (each step may be async). */
static void static_release(static_file *sf) {
  if (sf->polling) {
    sf->poll.data = sf;
    uv_close((uv_handle_t *) &sf->poll, static_poll_closed);
    return;
  }
  if (sf->sock >= 0) {
    close(sf->sock);          /* a socket: close(2) does not wait on a disk */
    sf->sock = -1;
  }
  if (sf->fd >= 0) {
    sf->fs.data = sf;
    if (uv_fs_close(sf->loop, &sf->fs, sf->fd, static_free_cb) == 0) {
      sf->fd = -1;
      return;
    }
  }
  sf_put(sf);
}

static void static_pump(static_file *sf);
static void static_poll_cb(uv_poll_t *p, int status, int events);

/* nginx's tcp_nopush: the socket is corked while the body goes out with
 * sendfile, so the head (queued, written at the loop's flush) leaves with the
 * file's first bytes, not alone: a head alone woke the client, whose reads
 * then paced the file out of the kernel's queue, making it do part of the
 * sending.  The last sendfile uncorks.  Only if alone: the request was the
 * head of its pipeline with no output pending before its head. */
static void static_cork(static_file *sf, int alone) {
  int on = 1;

  if (alone && !sf->head && sf->end > sf->offset &&
      setsockopt(http_req_socket(sf->req), IPPROTO_TCP, TCP_CORK, &on, sizeof(on)) == 0)
    sf->corked = 1;
}

/* On a thread-pool thread: one sendfile(2) of up to STATIC_SENDFILE bytes.
 * Called directly, not through uv_fs_sendfile: libuv 1.44 falls back to a
 * read/write loop that blocks in poll() on a full socket when
 * copy_file_range refuses a socket (EINVAL), which would hold a thread-pool
 * thread for as long as a client does not read.  The socket is non-blocking,
 * so this returns EAGAIN instead. */
static void static_sendfile_work(uv_work_t *w) {
  static_file *sf = w->data;
  uint64_t left = sf->end - sf->offset;
  off_t off = (off_t) sf->offset;
  ssize_t n;

  do
    n = sendfile(sf->sock, sf->fd, &off, left < STATIC_SENDFILE ? (size_t) left : STATIC_SENDFILE);
  while (n < 0 && errno == EINTR);
  sf->sent = n < 0 ? -errno : n;
  if (sf->corked && (n < 0 ? errno != EAGAIN : (uint64_t) n == left)) {
    int off_ = 0;

    /* The last piece (or a failure, after which the connection closes):
     * out with what the cork holds. */
    setsockopt(sf->sock, IPPROTO_TCP, TCP_CORK, &off_, sizeof(off_));
    sf->corked = 0;
  }
}

static void static_sendfile_cb(uv_work_t *w, int status) {
  static_file *sf = w->data;
  ssize_t n = status < 0 ? status : sf->sent;

  sf->busy = 0;
  if (sf->req == NULL) {
    static_release(sf);
    return;
  }
  if (n == UV_EAGAIN) {
    /* The client's socket is full: wait until it takes more (the poll
     * handle is made the first time only: most files go out in one call). */
    if (!sf->polling && uv_poll_init_socket(sf->loop, &sf->poll, sf->sock) == 0) {
      sf->poll.data = sf;
      sf->polling = 1;
    }
    if (sf->polling && uv_poll_start(&sf->poll, UV_WRITABLE, static_poll_cb) == 0) {
      sf->busy = 1;           /* the poll callback clears it */
      sf->in_poll = 1;
      http_req_wait_client(sf->req);
      return;
    }
    n = UV_EIO;
  }
  if (n <= 0) {
    /* An error, the client gone, or a file that shrank: the response
     * cannot be completed and the connection closes. */
    if (n != UV_EPIPE && n != UV_ECONNRESET)
      log_warn("file %s: sendfile failed at offset %llu: %s", sf->rel,
               (unsigned long long) sf->offset, n < 0 ? uv_strerror((int) n) : "unexpected end");
    http_req_abort(sf->req);
    return;
  }
  sf->offset += (uint64_t) n;
  metrics.bytes_out += (uint64_t) n;
  http_req_sent(sf->req, (size_t) n);
  static_pump(sf);
}

static void static_poll_cb(uv_poll_t *p, int status, int events) {
  static_file *sf = p->data;

  (void) events;
  uv_poll_stop(p);
  sf->busy = 0;
  sf->in_poll = 0;
  if (sf->req == NULL) {
    static_release(sf);
    return;
  }
  if (status < 0) {
    http_req_abort(sf->req);
    return;
  }
  static_pump(sf);
}

/* Sends what is left of the file, or waits: sendfile writes to the socket
 * directly, so it may only run while this request is the one answering and
 * everything queued before it has been written. */
static void static_pump(static_file *sf) {
  uint64_t left = sf->end - sf->offset;
  int rc;

  if (left == 0) {
    http_req_end(sf->req);
    return;
  }
  if (!http_req_idle_head(sf->req)) {
    sf->waiting = 1;
    return;
  }
  if (sf->sock < 0) {
    /* A descriptor of its own: the connection may close its own while a
     * sendfile runs on the thread pool. */
    sf->sock = dup(http_req_socket(sf->req));
    if (sf->sock < 0) {
      log_error("file %s: cannot send on the client socket: %s", sf->rel, strerror(errno));
      http_req_abort(sf->req);
      return;
    }
  }
  sf->busy = 1;
  sf->work.data = sf;
  rc = uv_queue_work(sf->loop, &sf->work, static_sendfile_work, static_sendfile_cb);
  if (rc != 0) {
    sf->busy = 0;
    http_req_abort(sf->req);
  }
}

/* ---- the request's handler ------------------------------------------------ */

/* req can take more bytes (it became the head of its connection's pipeline
 * or its connection's output drained). */
static void static_on_writable(http_req *req) {
  static_file *sf = http_req_handler_data(req);

  if (sf->waiting && !sf->busy && sf->req != NULL) {
    sf->waiting = 0;
    static_pump(sf);
  }
}

/* static_answer() or serve_kept_fd() is over: sf goes if its request went. */
static void answered(static_file *sf) {
  sf->answering = 0;
  if (sf->req == NULL && !sf->busy)
    static_release(sf);
}

/* req is going away: stop and release everything (the file is closed
 * asynchronously). */
static void static_on_release(http_req *req, uint32_t code) {
  static_file *sf = http_req_handler_data(req);

  (void) code;
  sf->req = NULL;
  /* Waiting on a client that does not read: nothing else will end the wait. */
  if (sf->in_poll) {
    uv_poll_stop(&sf->poll);
    sf->in_poll = 0;
    sf->busy = 0;
  }
  if (!sf->busy && !sf->answering)
    static_release(sf);
}

static const http_handler static_handler = {
  .on_writable = static_on_writable,
  .release = static_on_release,
  .finishes_alone = 1,
};

/* ---- starting ------------------------------------------------------------ */

/* The head of a backend's file response, now that the file's size is known. */
static int static_backend_head(static_file *sf) {
  if (sf->resp_length >= 0 && (uint64_t) sf->resp_length != sf->size) {
    log_warn("file response %s: the backend's content-length %lld differs from the file's "
             "size %llu", sf->rel, (long long) sf->resp_length, (unsigned long long) sf->size);
    http_req_simple(sf->req, 500, NULL, "Internal Server Error\n");
    return UV_EINVAL;
  }
  http_resp_begin(sf->req, sf->resp_status, (int64_t) sf->size);
  http_resp_header_lines(sf->req, sf->resp_headers, sf->resp_headers_len);
  http_resp_end_head(sf->req, sf->have_date, sf->have_server);
  return 0;
}

size_t static_query_suffix(const tdm_request *r, char *dst, size_t cap) {
  if (cap > 0)
    dst[0] = '\0';
  if (r == NULL || r->query.len == 0 || cap < 2)
    return 0;
  dst[0] = '?';
  return 1 + http_percent_encode(r->query.ptr, r->query.len, dst + 1, cap - 1, HTTP_PCT_QUERY);
}

static int static_mount_head(static_file *sf) {
  char lines[1024];
  http_validator v;
  size_t len, vstart = 0;

  http_validator_make(&v, sf->ino, sf->size, sf->mtime, sf->mtime_nsec);
  len = static_file_lines(sf->mount, &v, sf->content_type, sf->encoding, sf->has_variant, lines, sizeof(lines),
                          &vstart);
  return static_file_head(sf->req, &sf->cond, &v, sf->size, sf->head, lines, len, vstart, &sf->offset, &sf->end);
}

/* ---- the memory cache ------------------------------------------------------- */

static static_file *static_start(http_req *req, const char *rel, size_t rel_len, int head);


static void kept_fd_closed(uv_fs_t *fs) {
  uv_fs_req_cleanup(fs);
  free(fs);
}

/* The cache's hook: an entry with a descriptor went. */
static void close_kept_fd(int fd) {
  uv_fs_t *fs = malloc(sizeof(*fs));     /* owner: kept_fd_closed */

  /* At shutdown (no loop any more) or without memory, close(2) at once: a
   * regular file's close does not wait on the disk. */
  if (cache_loop == NULL || fs == NULL || uv_fs_close(cache_loop, fs, fd, kept_fd_closed) != 0) {
    free(fs);
    close(fd);
  }
}

/* A large file whose descriptor is kept: the head now, then sendfile from a
 * duplicate of the descriptor, without opening the file again. */
static int serve_kept_fd(http_req *req, static_entry *e, int head) {
  int fd = head ? -1 : dup(e->fd);
  static_file *sf;
  int alone;

  if (!head && fd < 0)
    return 0;                   /* out of descriptors: the thread pool's way */
  sf = static_start(req, e->key, e->key_len, head);
  if (sf == NULL) {
    if (fd >= 0)
      close_kept_fd(fd);
    return 1;                   /* answered 503 */
  }
  sf->mount = e->mount;
  sf->fd = fd;
  sf->size = e->size;
  http_req_set_handler(req, &static_handler, sf);
  alone = http_req_idle_head(req);
  sf->answering = 1;
  if (static_file_head(req, http_req_head(req), &e->v, e->size, head, e->lines, e->lines_len, e->lines_v,
                       &sf->offset, &sf->end) == 0 && sf->req != NULL) {
    if (head) {
      http_req_end(req);
    } else {
      static_cork(sf, alone);
      static_pump(sf);
    }
  }
  answered(sf);
  return 1;
}

/* Answers req from the kept copy of rel, if there is one that is fresh (or
 * being checked by another request).  Returns 1 if it did.  A stale copy is
 * left for this request to check: it goes to the thread pool, and
 * cache_after_work() keeps what it finds.  A check that has not come back
 * within STATIC_CACHE_CHECK_MS (its request failed before it started, say)
 * is taken over by the next request. */
static int serve_cached(http_req *req, const static_mount *m, const char *rel, size_t len, int head,
                        unsigned accept) {
  static_entry *e = static_cache_find(m, rel, len, accept);
  uint64_t now = uv_now(http_req_ctx(req)->loop);
  uint64_t offset, end;

  if (e == NULL)
    return 0;
  if (now - e->checked >= STATIC_CACHE_VALID_MS && now >= e->checking_until) {
    if (!head)                  /* a HEAD does not read the file: another request will */
      e->checking_until = now + STATIC_CACHE_CHECK_MS;
    return 0;
  }
  if (e->fd >= 0)
    return serve_kept_fd(req, e, head);
  if (static_file_head(req, http_req_head(req), &e->v, e->size, head, e->lines, e->lines_len, e->lines_v, &offset,
                       &end) == 0) {
    if (!head)
      http_req_write_file(req, e->body + offset, end - offset, e->body_fd, offset);
    http_req_end(req);
  }
  return 1;
}

/* What the thread pool found about a mount's file, for the cache: a small
 * file read whole is kept (or its copy marked fresh if unchanged); anything
 * else forgets the copy. */
static void cache_after_work(static_file *sf, int status) {
  uint64_t now = uv_now(sf->loop);
  static_entry *e;

  if (sf->head)
    return;
  e = static_cache_find(sf->mount, sf->rel, sf->rel_len, sf->accept);
  if (status != 0 || sf->status != 0 || sf->redirect || (!sf->whole && sf->fd < 0)) {
    if (e != NULL)
      static_cache_drop(e);
    return;
  }
  if (e != NULL && e->ino == sf->ino && e->size == sf->size && e->v.mtime == sf->mtime &&
      e->mtime_nsec == sf->mtime_nsec && e->content_type == sf->content_type && e->encoding == sf->encoding &&
      e->vary == sf->has_variant) {
    e->checked = now;
    e->checking_until = 0;
    return;
  }
  if (sf->whole) {
    e = static_cache_put(sf->mount, sf->rel, sf->rel_len, sf->accept, sf->buf, -1, sf->size, sf->content_type,
                         sf->ino, sf->mtime, sf->mtime_nsec, now);
  } else {
    /* A large file: its descriptor, as nginx's open_file_cache keeps it. */
    int fd = dup(sf->fd);
    if (fd < 0)
      return;
    e = static_cache_put(sf->mount, sf->rel, sf->rel_len, sf->accept, NULL, fd, sf->size, sf->content_type,
                         sf->ino, sf->mtime, sf->mtime_nsec, now);
  }
  if (e == NULL)
    return;
  e->encoding = sf->encoding;
  e->vary = sf->has_variant;
  e->lines_len = static_file_lines(sf->mount, &e->v, e->content_type, e->encoding, e->vary, e->lines, sizeof(e->lines),
                            &e->lines_v);
}

/* The answer to sf's request, now that the thread pool has looked at the file. */
static void static_answer(static_file *sf) {
  char headers[PATH_MAX * 3 + 256];
  char enc[PATH_MAX * 3], query[PATH_MAX];
  int alone;

  if (sf->redirect) {
    /* As nginx: the directory with its slash, the query kept. */
    http_percent_encode(sf->rel, sf->rel_len, enc, sizeof(enc), HTTP_PCT_PATH);
    static_query_suffix(&sf->cond, query, sizeof(query));
    if ((size_t) snprintf(headers, sizeof(headers), "location: %.*s%s/%s\r\n", (int) sf->mount->prefix_len,
                          sf->mount->prefix, enc, query) >= sizeof(headers))
      http_req_simple(sf->req, 414, NULL, "URI Too Long\n");    /* no room for the whole location */
    else
      http_req_simple(sf->req, 301, headers, "Moved Permanently\n");
    return;
  }
  if (sf->status != 0 && sf->mount == NULL) {
    log_warn("file response: cannot send %s: %s", sf->rel,
             sf->err ? strerror(sf->err) : "not a regular file");
    http_req_simple(sf->req, 500, NULL, "Internal Server Error\n");
    return;
  }
  if (sf->status != 0) {
    http_req_simple(sf->req, sf->status, NULL,
                    sf->status == 403 ? "Forbidden\n" :
                    sf->status == 414 ? "URI Too Long\n" :
                    sf->status == 500 ? "Internal Server Error\n" : "Not Found\n");
    return;
  }
  /* A write may close the connection (its output over HTTP_OUT_CAP), which
   * releases the request: sf->req is NULL after it then. */
  if (sf->listing != NULL) {
    static const char type[] = "content-type: text/html; charset=utf-8\r\n";
    http_req_start(sf->req, 200, type, sizeof(type) - 1, (int64_t) sf->listing_len);
    http_req_write(sf->req, sf->listing, sf->listing_len);
    if (sf->req != NULL)
      http_req_end(sf->req);
    return;
  }
  alone = http_req_idle_head(sf->req);
  if ((sf->mount == NULL ? static_backend_head(sf) != 0 : static_mount_head(sf) != 0) || sf->req == NULL)
    return;
  if (sf->whole) {
    http_req_write(sf->req, sf->buf + sf->offset, sf->end - sf->offset);
    sf->offset = sf->end;
  }
  if (sf->req == NULL)
    return;
  if (sf->head || sf->whole) {
    http_req_end(sf->req);
    return;
  }
  static_cork(sf, alone);
  static_pump(sf);
}

static void static_after_work(uv_work_t *w, int status) {
  static_file *sf = w->data;
  http_req *req = sf->req;
  int through = sf->mount != NULL && fallthrough != NULL;

  sf->busy = 0;
  if (sf->mount != NULL)
    cache_after_work(sf, status);
  if (req == NULL || status == UV_ECANCELED) {
    static_release(sf);
    return;
  }
  if (through && sf->status == 404 && sf->listing == NULL) {
    http_req_release_handler(req, TDM_CANCEL_NO_ERROR);    /* sf goes back to the pool */
    fallthrough(req);
    return;
  }
  sf->answering = 1;
  static_answer(sf);
  answered(sf);
  if (through)
    http_req_unhold(req);       /* held by route for the fallthrough */
}

static static_file *static_start(http_req *req, const char *rel, size_t rel_len, int head) {
  static_file *sf = sf_get();    /* owner: static.c; back to the pool after its release */

  if (sf == NULL) {
    http_req_simple(req, 503, NULL, "Service Unavailable\n");
    return NULL;
  }
  /* Every field but the buffers, which are written before they are read. */
  memset(sf, 0, offsetof(static_file, rel));
  sf->req = req;
  sf->loop = http_req_ctx(req)->loop;
  sf->head = head;
  sf->fd = -1;
  sf->sock = -1;
  sf->resp_length = -1;
  memcpy(sf->rel, rel, rel_len);
  sf->rel[rel_len] = '\0';
  sf->rel_len = rel_len;
  sf->work.data = sf;
  return sf;
}

static int static_queue(static_file *sf) {
  if (uv_queue_work(sf->loop, &sf->work, static_work, static_after_work) != 0) {
    http_req *req = sf->req;
    sf_put(sf);
    http_req_simple(req, 503, NULL, "Service Unavailable\n");
    return UV_EAGAIN;
  }
  sf->busy = 1;
  http_req_set_handler(sf->req, &static_handler, sf);
  return 0;
}

/* Whether header name n is one of the request's preconditions or Range. */
static int is_cond_header(tdm_str n) {
  static const char *const names[] = { "if-match", "if-none-match", "if-modified-since",
                                       "if-unmodified-since", "range", "if-range" };

  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if (n.len == strlen(names[i]) && strncasecmp(n.ptr, names[i], n.len) == 0)
      return 1;
  return 0;
}

/* Copies the conditional headers and the query of r into sf->cond: into
 * sf's own arrays when they fit, else into one allocation (bounded by the
 * head's size). */
static int keep_cond_headers(static_file *sf, const tdm_request *r) {
  uint32_t n = 0;
  size_t bytes = r->query.len;
  tdm_header *h = sf->cond_h;
  char *p = sf->cond_buf;

  sf->cond.headers = NULL;
  sf->cond.nheaders = 0;
  sf->cond.query.len = 0;
  for (uint32_t i = 0; i < r->nheaders; i++)
    if (is_cond_header(r->headers[i].name)) {
      n++;
      bytes += r->headers[i].name.len + r->headers[i].value.len;
    }
  if (bytes == 0)
    return 0;
  if (n > STATIC_COND_HEADERS || bytes > STATIC_COND_BYTES) {
    sf->cond_heap = malloc(n * sizeof(*h) + bytes);      /* owner: sf, freed in sf_put */
    if (sf->cond_heap == NULL)
      return UV_ENOMEM;
    h = (tdm_header *) sf->cond_heap;
    p = sf->cond_heap + n * sizeof(*h);
  }
  n = 0;
  for (uint32_t i = 0; i < r->nheaders; i++) {
    const tdm_header *src = &r->headers[i];
    if (!is_cond_header(src->name))
      continue;
    memcpy(p, src->name.ptr, src->name.len);
    h[n].name.ptr = p;
    h[n].name.len = src->name.len;
    p += src->name.len;
    memcpy(p, src->value.ptr, src->value.len);
    h[n].value.ptr = p;
    h[n].value.len = src->value.len;
    p += src->value.len;
    n++;
  }
  sf->cond.headers = h;
  sf->cond.nheaders = n;
  if (r->query.len > 0)
    memcpy(p, r->query.ptr, r->query.len);
  sf->cond.query.ptr = p;
  sf->cond.query.len = r->query.len;
  return 0;
}

void static_init(uv_loop_t *loop, size_t cache_bytes, int follow, int listing, void (*through)(http_req *req)) {
  cache_loop = loop;
  static_cache_init(cache_bytes, close_kept_fd);
  follow_symlinks = follow;
  list_dirs = listing;
  fallthrough = through;
}

/* The answer to a mount's request began now or failed to start: a request
 * route held for the fallthrough may go on. */
static void served_now(http_req *req) {
  if (fallthrough != NULL)
    http_req_unhold(req);
}

void static_serve(http_req *req, const static_mount *m, const char *rel, size_t rel_len) {
  static_file *sf;
  unsigned accept;

  if (rel_len >= PATH_MAX) {
    http_req_simple(req, 414, NULL, "URI Too Long\n");
    served_now(req);
    return;
  }
  accept = http_accept_encoding(http_req_head(req));
  if (serve_cached(req, m, rel, rel_len, http_req_method(req) == HTTP_HEAD, accept)) {
    served_now(req);
    return;
  }
  sf = static_start(req, rel, rel_len, http_req_method(req) == HTTP_HEAD);
  if (sf == NULL) {
    served_now(req);
    return;
  }
  sf->mount = m;
  sf->accept = accept;
  if (keep_cond_headers(sf, http_req_head(req)) != 0) {
    sf_put(sf);
    http_req_simple(req, 503, NULL, "Service Unavailable\n");
    served_now(req);
    return;
  }
  if (static_queue(sf) != 0)
    served_now(req);
}

void static_send_file(http_req *req, const char *path, size_t path_len, const char *headers,
                      size_t headers_len, int status, int64_t content_length, int have_date,
                      int have_server) {
  int head = http_req_method(req) == HTTP_HEAD || status == 204 || status == 304;
  static_file *sf;

  if (path_len == 0 || path_len >= PATH_MAX || path[0] != '/' || memchr(path, '\0', path_len)) {
    log_warn("file response: the backend sent an unusable path (%zu bytes)", path_len);
    http_req_simple(req, 500, NULL, "Internal Server Error\n");
    return;
  }
  sf = static_start(req, path, path_len, head);
  if (sf == NULL)
    return;
  sf->resp_status = status;
  sf->resp_length = content_length;
  sf->have_date = have_date;
  sf->have_server = have_server;
  sf->resp_headers = malloc(headers_len + 1);     /* owner: sf, freed in sf_put */
  if (sf->resp_headers == NULL) {
    sf_put(sf);
    http_req_simple(req, 503, NULL, "Service Unavailable\n");
    return;
  }
  memcpy(sf->resp_headers, headers, headers_len);
  sf->resp_headers_len = headers_len;
  static_queue(sf);
}
