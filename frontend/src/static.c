/* static: files under the --static mounts.
 *
 * The path check, open and fstat run together on libuv's thread pool
 * (uv_queue_work), so the loop never waits on the disk.  A file that fits in
 * one STATIC_CHUNK is read in that same job (one thread-pool round trip per
 * request, the common case); a larger one is then read in STATIC_CHUNK pieces
 * with uv_fs_read, the next piece only once the connection has taken the
 * previous one (http_req_writable).  A path is
 * served only if its real path, symlinks resolved, lies inside the mount's
 * directory.
 */
#include "static.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "http_conn.h"
#include "log.h"
#include "server.h"

#define STATIC_CHUNK (64 * 1024)
#define STATIC_POOL_MAX 32               /* idle static_file structs kept for reuse */

struct static_file {
  struct static_file *next_free;
  uv_work_t work;
  uv_fs_t fs;
  struct http_req *req;          /* NULL once aborted */
  const static_mount *mount;
  unsigned head : 1;
  unsigned busy : 1;             /* a thread-pool job or fs request is in flight */
  unsigned waiting : 1;          /* waiting for the connection to drain */
  unsigned redirect : 1;         /* a directory asked for without its slash */
  unsigned whole : 1;            /* the worker read the whole file into buf */
  int status;                    /* error status found by the worker, 0 if none */
  const char *content_type;      /* from the served file's name (index.html for a directory) */
  int fd;
  uint64_t size;
  uint64_t offset;
  time_t mtime;
  size_t rel_len;
  char rel[PATH_MAX];            /* mount-relative path, decoded */
  char buf[STATIC_CHUNK];
};

static const struct {
  const char *ext;
  const char *type;
} mime_types[] = {
  { "html", "text/html; charset=utf-8" },
  { "htm", "text/html; charset=utf-8" },
  { "css", "text/css; charset=utf-8" },
  { "js", "text/javascript; charset=utf-8" },
  { "mjs", "text/javascript; charset=utf-8" },
  { "json", "application/json" },
  { "map", "application/json" },
  { "txt", "text/plain; charset=utf-8" },
  { "md", "text/markdown; charset=utf-8" },
  { "csv", "text/csv; charset=utf-8" },
  { "xml", "application/xml" },
  { "svg", "image/svg+xml" },
  { "png", "image/png" },
  { "jpg", "image/jpeg" },
  { "jpeg", "image/jpeg" },
  { "gif", "image/gif" },
  { "webp", "image/webp" },
  { "avif", "image/avif" },
  { "ico", "image/x-icon" },
  { "wasm", "application/wasm" },
  { "pdf", "application/pdf" },
  { "woff", "font/woff" },
  { "woff2", "font/woff2" },
  { "ttf", "font/ttf" },
  { "otf", "font/otf" },
  { "mp4", "video/mp4" },
  { "webm", "video/webm" },
  { "mp3", "audio/mpeg" },
  { "ogg", "audio/ogg" },
  { "wav", "audio/wav" },
  { "zip", "application/zip" },
  { "gz", "application/gzip" },
  { "tar", "application/x-tar" },
};

static const char *mime_type(const char *path, size_t len) {
  const char *dot = NULL;

  for (size_t i = len; i > 0; i--) {
    if (path[i - 1] == '/')
      break;
    if (path[i - 1] == '.') {
      dot = path + i;
      break;
    }
  }
  if (dot != NULL)
    for (size_t i = 0; i < sizeof(mime_types) / sizeof(mime_types[0]); i++)
      if (strlen(mime_types[i].ext) == (size_t) (path + len - dot) &&
          strncasecmp(dot, mime_types[i].ext, path + len - dot) == 0)
        return mime_types[i].type;
  return "application/octet-stream";
}

/* Runs on a thread-pool thread: may block.  Touches only sf's own fields and
 * the mount, which is read-only after startup. */
static void static_work(uv_work_t *w) {
  static_file *sf = w->data;
  const static_mount *m = sf->mount;
  char path[PATH_MAX], real[PATH_MAX];
  struct stat st;
  int n;

  sf->fd = -1;
  n = snprintf(path, sizeof(path), "%s%.*s%s", m->dir, (int) sf->rel_len, sf->rel,
               sf->rel_len == 0 || sf->rel[sf->rel_len - 1] == '/' ? "index.html" : "");
  if (n < 0 || (size_t) n >= sizeof(path)) {
    sf->status = 414;
    return;
  }
  if (realpath(path, real) == NULL) {
    sf->status = errno == EACCES ? 403 : 404;
    return;
  }
  /* Inside the mount's directory, after every symlink is resolved. */
  if (strncmp(real, m->dir, m->dir_len) != 0 ||
      (real[m->dir_len] != '/' && real[m->dir_len] != '\0' && strcmp(m->dir, "/") != 0)) {
    sf->status = 404;
    return;
  }
  sf->fd = open(real, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (sf->fd < 0) {
    sf->status = errno == EACCES ? 403 : 404;
    return;
  }
  if (fstat(sf->fd, &st) != 0) {
    sf->status = 404;
    goto close_fd;
  }
  if (S_ISDIR(st.st_mode)) {
    sf->redirect = 1;
    goto close_fd;
  }
  if (!S_ISREG(st.st_mode)) {
    sf->status = 404;
    goto close_fd;
  }
  sf->size = (uint64_t) st.st_size;
  sf->mtime = st.st_mtime;
  sf->status = 0;
  sf->content_type = mime_type(path, strlen(path));   /* the name asked for, as nginx does */
  if (sf->size <= STATIC_CHUNK && !sf->head) {
    /* Small file: read it here and spare the loop two more round trips. */
    size_t got = 0;
    while (got < sf->size) {
      ssize_t n = pread(sf->fd, sf->buf + got, sf->size - got, (off_t) got);
      if (n <= 0)
        break;
      got += (size_t) n;
    }
    if (got != sf->size) {
      sf->status = 500;
      goto close_fd;
    }
    sf->whole = 1;
    goto close_fd;
  }
  if (sf->head)
    goto close_fd;
  return;

close_fd:
  close(sf->fd);
  sf->fd = -1;
}

/* Each static_file holds a STATIC_CHUNK buffer; a few idle ones are kept so
 * that a request does not pay for malloc, free and page faults of 64 KiB. */
static static_file *pool;
static int pool_len;

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
  if (pool_len == STATIC_POOL_MAX) {
    free(sf);
    return;
  }
  sf->next_free = pool;
  pool = sf;
  pool_len++;
}

void static_pool_free(void) {
  while (pool != NULL) {
    static_file *sf = pool;
    pool = sf->next_free;
    free(sf);
  }
  pool_len = 0;
}

static void static_free_cb(uv_fs_t *fs) {
  static_file *sf = fs->data;

  uv_fs_req_cleanup(fs);
  sf_put(sf);
}

/* The request is gone or done with the file: close it and free sf. */
static void static_release(static_file *sf) {
  if (sf->fd >= 0) {
    sf->fs.data = sf;
    if (uv_fs_close(srv->loop, &sf->fs, sf->fd, static_free_cb) == 0)
      return;
  }
  sf_put(sf);
}

static void static_read_next(static_file *sf);

/* After each piece: finish, read the next one, or wait for the connection
 * to take what it has. */
static void static_continue(static_file *sf) {
  if (sf->offset >= sf->size)
    http_req_end(sf->req);
  else if (http_req_writable(sf->req))
    static_read_next(sf);
  else
    sf->waiting = 1;
}

static void static_read_cb(uv_fs_t *fs) {
  static_file *sf = fs->data;
  ssize_t n = fs->result;

  uv_fs_req_cleanup(fs);
  sf->busy = 0;
  if (sf->req == NULL) {
    static_release(sf);
    return;
  }
  if (n <= 0) {
    /* An I/O error or a file that shrank: the response cannot be completed. */
    log_warn("static file %s: read failed at offset %llu: %s", sf->rel,
             (unsigned long long) sf->offset, n < 0 ? uv_strerror((int) n) : "unexpected end");
    http_req_end(sf->req);    /* short body: http_conn closes the connection */
    return;
  }
  sf->offset += (uint64_t) n;
  http_req_write(sf->req, sf->buf, (size_t) n);
  if (sf->req != NULL)
    static_continue(sf);
}

static void static_read_next(static_file *sf) {
  uint64_t left = sf->size - sf->offset;
  uv_buf_t b = uv_buf_init(sf->buf, left < STATIC_CHUNK ? (unsigned) left : STATIC_CHUNK);

  sf->busy = 1;
  sf->fs.data = sf;
  if (uv_fs_read(srv->loop, &sf->fs, sf->fd, &b, 1, (int64_t) sf->offset, static_read_cb) != 0) {
    sf->busy = 0;
    http_req_end(sf->req);
  }
}

static void percent_encode_path(const char *src, size_t len, char *dst, size_t cap) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;

  for (size_t i = 0; i < len && o + 4 < cap; i++) {
    unsigned char ch = (unsigned char) src[i];
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
        strchr("/-._~!$&'()*+,;=:@", ch) != NULL) {
      dst[o++] = (char) ch;
    } else {
      dst[o++] = '%';
      dst[o++] = hex[ch >> 4];
      dst[o++] = hex[ch & 15];
    }
  }
  dst[o] = '\0';
}

static void static_after_work(uv_work_t *w, int status) {
  static_file *sf = w->data;
  char headers[PATH_MAX * 3 + 256];
  char enc[PATH_MAX * 3];
  struct tm tm;
  size_t len;

  sf->busy = 0;
  if (sf->req == NULL || status == UV_ECANCELED) {
    static_release(sf);
    return;
  }
  if (sf->redirect) {
    percent_encode_path(sf->rel, sf->rel_len, enc, sizeof(enc));
    snprintf(headers, sizeof(headers), "location: %.*s%s/\r\n", (int) sf->mount->prefix_len,
             sf->mount->prefix, enc);
    http_req_simple(sf->req, 301, headers, "Moved Permanently\n");
    return;
  }
  if (sf->status != 0) {
    http_req_simple(sf->req, sf->status, NULL,
                    sf->status == 403 ? "Forbidden\n" :
                    sf->status == 414 ? "URI Too Long\n" :
                    sf->status == 500 ? "Internal Server Error\n" : "Not Found\n");
    return;
  }
  gmtime_r(&sf->mtime, &tm);
  len = (size_t) snprintf(headers, sizeof(headers), "content-type: %s\r\n", sf->content_type);
  len += strftime(headers + len, sizeof(headers) - len,
                  "last-modified: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
  http_req_start(sf->req, 200, headers, len, (int64_t) sf->size);
  if (sf->whole) {
    http_req_write(sf->req, sf->buf, sf->size);
    sf->offset = sf->size;
  }
  if (sf->head)
    http_req_end(sf->req);
  else
    static_continue(sf);
}

void static_serve(struct http_req *req, const static_mount *m, const char *rel, size_t rel_len,
                  int head, static_file **handle) {
  static_file *sf;

  *handle = NULL;
  if (rel_len >= PATH_MAX) {
    http_req_simple(req, 414, NULL, "URI Too Long\n");
    return;
  }
  sf = sf_get();    /* owner: static.c; back to the pool after static_abort() */
  if (sf == NULL) {
    http_req_simple(req, 503, NULL, "Service Unavailable\n");
    return;
  }
  /* Every field but the buffers, which are written before they are read. */
  memset(sf, 0, offsetof(static_file, rel));
  sf->req = req;
  sf->mount = m;
  sf->head = head;
  sf->fd = -1;
  memcpy(sf->rel, rel, rel_len);
  sf->rel[rel_len] = '\0';
  sf->rel_len = rel_len;
  sf->work.data = sf;
  if (uv_queue_work(srv->loop, &sf->work, static_work, static_after_work) != 0) {
    sf_put(sf);
    http_req_simple(req, 503, NULL, "Service Unavailable\n");
    return;
  }
  sf->busy = 1;
  *handle = sf;
}

void static_on_writable(static_file *sf) {
  if (sf->waiting && !sf->busy && sf->req != NULL) {
    sf->waiting = 0;
    static_read_next(sf);
  }
}

void static_abort(static_file *sf) {
  sf->req = NULL;
  if (!sf->busy)
    static_release(sf);
}
