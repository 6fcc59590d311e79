/* access_log: --access-log and the per-request bookkeeping (see
 * access_log.h).
 *
 * combined, nginx's format with four fields appended:
 *
 *   ADDR - - [TIME] "REQUEST" STATUS BYTES "REFERER" "USER_AGENT" REQUEST_TIME UPSTREAM_TIME BACKEND "REQUEST_ID"
 *
 * where the times are seconds with millisecond precision, UPSTREAM_TIME is
 * "-" for a request no backend took, BACKEND is PID/GENERATION, "static" or
 * "-", and an empty field is "-".  Every byte of a field that is not
 * printable ASCII, and '"' and '\', is written as \xHH (nginx's escaping).
 * json: one object a line with the same fields (null for none), in JSON
 * strings: '"', '\' and control bytes escaped, valid UTF-8 as it is, any
 * other byte as \u00HH.
 */
#include "access_log.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "afile.h"
#include "log.h"
#include "metrics.h"

#define LINE_FIXED 512                   /* a line's bytes besides its escaped fields */
#define ID_MAX 256                       /* bytes of a request id written */

enum { F_ADDR, F_LINE, F_REFERER, F_AGENT };

static afile file = { .fd = -1 };
static int json;
static tdm_ctx *ctx;
static uint64_t dropped_since;           /* lines dropped since the last warning */
static uint64_t last_warning;            /* uv_now() of that warning */
static struct {
  time_t sec;
  char clf[32];                          /* "07/Dec/2026:16:25:33 +0000" */
  char iso[40];                          /* "2026-12-07T16:25:33" and the offset after ms */
  char zone[8];                          /* "+00:00" */
} now_text;

/* ---- escaping -------------------------------------------------------------- */

static const char hex[] = "0123456789abcdef";

/* The length of the valid UTF-8 sequence at s[0..n), or 0 if it is not one
 * (overlong forms, surrogates and code points past U+10FFFF are not). */
static size_t utf8_len(const unsigned char *s, size_t n) {
  size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;
  uint32_t cp;

  if (s[0] < 0xc2 || s[0] > 0xf4 || n < len)
    return 0;
  cp = s[0] & (0x7f >> len);
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
    return 0;
  return len;
}

/* Escapes src[0..n) into dst (cap bytes) for the log's format; a field that
 * does not fit is cut at a whole escape.  Returns the bytes written. */
static size_t escape(char *dst, size_t cap, const char *src, size_t n) {
  const unsigned char *s = (const unsigned char *) src;
  size_t o = 0;

  for (size_t i = 0; i < n;) {
    unsigned char ch = s[i];
    size_t u;
    if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') {
      if (o + 1 > cap)
        break;
      dst[o++] = (char) ch;
      i++;
    } else if (json && ch >= 0x80 && (u = utf8_len(s + i, n - i)) > 0) {
      if (o + u > cap)
        break;
      memcpy(dst + o, s + i, u);
      o += u;
      i += u;
    } else if (json && (ch == '"' || ch == '\\')) {
      if (o + 2 > cap)
        break;
      dst[o++] = '\\';
      dst[o++] = (char) ch;
      i++;
    } else {
      if (o + (json ? 6 : 4) > cap)
        break;
      memcpy(dst + o, json ? "\\u00" : "\\x", json ? 4 : 2);
      o += json ? 4 : 2;
      dst[o++] = hex[ch >> 4];
      dst[o++] = hex[ch & 15];
      i++;
    }
  }
  return o;
}

/* ---- the head's fields ----------------------------------------------------- */

static const tdm_str *find_header(const tdm_request *rq, const char *name) {
  size_t n = strlen(name);

  for (uint32_t i = 0; i < rq->nheaders; i++) {
    const tdm_header *h = &rq->headers[i];
    if (h->name.len == n && strncasecmp(h->name.ptr, name, n) == 0)
      return &h->value;
  }
  return NULL;
}

/* Room for n raw bytes escaped: 6 bytes each at worst (\u00HH), bounded. */
static size_t field_cap(size_t n) {
  return 6 * n + 16 < ACCESS_LOG_FIELD_MAX ? 6 * n + 16 : ACCESS_LOG_FIELD_MAX;
}

void access_req_head(access_req *ar, const tdm_request *rq) {
  const tdm_str *referer, *agent;
  size_t caps[4], o;
  char *p;

  ar->headed = 1;
  if (!afile_on(&file) || rq == NULL)
    return;
  referer = find_header(rq, "referer");
  agent = find_header(rq, "user-agent");
  caps[F_ADDR] = field_cap(rq->client.host.len);
  caps[F_LINE] = field_cap(rq->method.len + rq->target.len) + 16;
  caps[F_REFERER] = field_cap(referer != NULL ? referer->len : 0);
  caps[F_AGENT] = field_cap(agent != NULL ? agent->len : 0);
  ar->fields = p = malloc(caps[0] + caps[1] + caps[2] + caps[3]);     /* owner: ar, freed by end or forget */
  if (p == NULL)
    return;
  ar->lens[F_ADDR] = (uint32_t) escape(p, caps[F_ADDR], rq->client.host.ptr,
                                       rq->client.present ? rq->client.host.len : 0);
  o = ar->lens[F_ADDR];
  /* The request line, as nginx's $request: METHOD TARGET HTTP/x.y; the
   * target is cut first if it is long. */
  ar->lens[F_LINE] = (uint32_t) escape(p + o, caps[F_LINE] - 16, rq->method.ptr, rq->method.len);
  p[o + ar->lens[F_LINE]++] = ' ';
  ar->lens[F_LINE] += (uint32_t) escape(p + o + ar->lens[F_LINE], caps[F_LINE] - 16 - ar->lens[F_LINE],
                                        rq->target.ptr, rq->target.len);
  memcpy(p + o + ar->lens[F_LINE], " HTTP/", 6);
  memcpy(p + o + ar->lens[F_LINE] + 6, rq->http_version.len == 3 ? rq->http_version.ptr : "1.1", 3);
  ar->lens[F_LINE] += 9;
  o += ar->lens[F_LINE];
  ar->lens[F_REFERER] = referer != NULL ? (uint32_t) escape(p + o, caps[F_REFERER], referer->ptr, referer->len) : 0;
  o += ar->lens[F_REFERER];
  ar->lens[F_AGENT] = agent != NULL ? (uint32_t) escape(p + o, caps[F_AGENT], agent->ptr, agent->len) : 0;
}

/* ---- the line ------------------------------------------------------------- */

/* The current time as both formats want it, made once a second. */
static void time_text(struct timespec *ts) {
  struct tm tm;
  int off, sign;

  clock_gettime(CLOCK_REALTIME, ts);
  if (ts->tv_sec == now_text.sec && now_text.clf[0] != '\0')
    return;
  now_text.sec = ts->tv_sec;
  localtime_r(&ts->tv_sec, &tm);
  off = (int) (tm.tm_gmtoff / 60);
  sign = off < 0 ? '-' : '+';
  off = (off < 0 ? -off : off) % (24 * 60);
  strftime(now_text.clf, sizeof(now_text.clf) - 6, "%d/%b/%Y:%H:%M:%S ", &tm);
  snprintf(now_text.clf + strlen(now_text.clf), 6, "%c%02d%02d", sign, off / 60, off % 60);
  strftime(now_text.iso, sizeof(now_text.iso), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(now_text.zone, sizeof(now_text.zone), "%c%02d:%02d", sign, off / 60, off % 60);
}

/* A field for a combined line: its text, or "-" if it is empty. */
#define FIELD(ar, i, off) (int) ((ar)->lens[i] ? (ar)->lens[i] : 1), ((ar)->lens[i] ? (ar)->fields + (off) : "-")

static size_t format_combined(char *p, size_t cap, const access_req *ar, const char *addr, size_t alen,
                              int status, uint64_t bytes, uint64_t us, const char *backend, const char *upstream,
                              const char *id, size_t idlen) {
  size_t o1 = ar->lens[F_ADDR], o2 = o1 + ar->lens[F_LINE], o3 = o2 + ar->lens[F_REFERER];
  int n = snprintf(p, cap, "%.*s - - [%s] \"%.*s\" %d %" PRIu64 " \"%.*s\" \"%.*s\" %" PRIu64 ".%03" PRIu64
                   " %s %s \"%.*s\"\n", (int) (alen ? alen : 1), alen ? addr : "-", now_text.clf, FIELD(ar, F_LINE, o1),
                   status, bytes, FIELD(ar, F_REFERER, o2), FIELD(ar, F_AGENT, o3), us / 1000000, us / 1000 % 1000,
                   upstream, backend, (int) (idlen ? idlen : 1), idlen ? id : "-");
  return n < 0 || (size_t) n >= cap ? 0 : (size_t) n;
}

/* snprintf at *o in p (cap bytes), moving *o on; never past cap. */
static void put(char *p, size_t cap, size_t *o, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void put(char *p, size_t cap, size_t *o, const char *fmt, ...) {
  va_list ap;
  int n;

  if (*o >= cap)
    return;
  va_start(ap, fmt);
  n = vsnprintf(p + *o, cap - *o, fmt, ap);
  va_end(ap);
  *o = n < 0 ? cap : *o + (size_t) n;
}

/* A JSON string of s[0..n) (escaped already), or null if it is empty. */
static void put_str(char *p, size_t cap, size_t *o, const char *key, const char *s, size_t n) {
  if (n == 0)
    put(p, cap, o, ",\"%s\":null", key);
  else
    put(p, cap, o, ",\"%s\":\"%.*s\"", key, (int) n, s);
}

static size_t format_json(char *p, size_t cap, const access_req *ar, const char *addr, size_t alen,
                          long ms, int status, uint64_t bytes, uint64_t us, const char *backend,
                          const char *upstream, const char *id, size_t idlen) {
  size_t o1 = ar->lens[F_ADDR], o2 = o1 + ar->lens[F_LINE], o3 = o2 + ar->lens[F_REFERER], o = 0;

  put(p, cap, &o, "{\"time\":\"%s.%03ld%s\"", now_text.iso, ms, now_text.zone);
  put_str(p, cap, &o, "remote_addr", addr, alen);
  put_str(p, cap, &o, "request", ar->fields + o1, ar->lens[F_LINE]);
  put(p, cap, &o, ",\"status\":%d,\"body_bytes_sent\":%" PRIu64, status, bytes);
  put_str(p, cap, &o, "referer", ar->fields + o2, ar->lens[F_REFERER]);
  put_str(p, cap, &o, "user_agent", ar->fields + o3, ar->lens[F_AGENT]);
  put(p, cap, &o, ",\"request_time\":%" PRIu64 ".%03" PRIu64 ",\"upstream_time\":%s", us / 1000000,
      us / 1000 % 1000, upstream[0] == '-' ? "null" : upstream);
  put_str(p, cap, &o, "backend", backend, backend[0] == '-' ? 0 : strlen(backend));
  put_str(p, cap, &o, "request_id", id, idlen);
  put(p, cap, &o, "}\n");
  return o >= cap ? 0 : o;
}

/* A line was dropped: counted, and said at most once a second. */
static void line_dropped(void) {
  uint64_t now = uv_now(ctx->loop);

  metrics.access_log_dropped++;
  dropped_since++;
  if (last_warning == 0 || now - last_warning >= 1000) {
    log_warn("--access-log: the log does not keep up; %" PRIu64 " line(s) dropped", dropped_since);
    dropped_since = 0;
    last_warning = now;
  }
}

/* Writes ar's line. */
static void write_line(const access_req *ar, const char *peer, int status, uint64_t bytes, uint64_t us,
                       const char *rid, size_t rid_len) {
  static char nothing[1];
  access_req headless;
  char backend[48], upstream[32], idbuf[ID_MAX * 6], *p;
  size_t idlen = rid != NULL ? escape(idbuf, sizeof(idbuf), rid, rid_len < ID_MAX ? rid_len : ID_MAX) : 0;
  size_t cap, n, alen;
  const char *addr;
  struct timespec ts;

  if (ar->fields == NULL) {
    /* No head (or no memory for its fields): its fields are "-". */
    headless = *ar;
    headless.fields = nothing;
    memset(headless.lens, 0, sizeof(headless.lens));
    ar = &headless;
  }
  addr = ar->lens[F_ADDR] > 0 ? ar->fields : peer;
  alen = ar->lens[F_ADDR] > 0 ? ar->lens[F_ADDR] : strlen(peer);
  cap = LINE_FIXED + alen + idlen + ar->lens[F_LINE] + ar->lens[F_REFERER] + ar->lens[F_AGENT];
  p = afile_reserve(&file, cap);
  if (p == NULL) {
    line_dropped();
    return;
  }
  if (ar->backend_pid > 0)
    snprintf(backend, sizeof(backend), "%d/%" PRIu64, ar->backend_pid, ar->backend_gen);
  else
    snprintf(backend, sizeof(backend), "%s", ar->kind == ROUTE_STATIC ? "static" : "-");
  if (ar->upstream_start > 0) {
    uint64_t up_us = (ar->upstream_end - ar->upstream_start) / 1000;
    snprintf(upstream, sizeof(upstream), "%" PRIu64 ".%03" PRIu64, up_us / 1000000, up_us / 1000 % 1000);
  } else {
    snprintf(upstream, sizeof(upstream), "-");
  }
  time_text(&ts);
  n = json ? format_json(p, cap, ar, addr, alen, ts.tv_nsec / 1000000, status, bytes, us, backend, upstream,
                         idbuf, idlen)
           : format_combined(p, cap, ar, addr, alen, status, bytes, us, backend, upstream, idbuf, idlen);
  afile_commit(&file, n);
}

/* ---- the request's life ---------------------------------------------------- */

void access_req_begin(access_req *ar) {
  ar->started = uv_hrtime();
  ar->active = 1;
  metrics.in_flight++;
}

void access_req_route(access_req *ar, int kind) {
  ar->kind = (uint8_t) kind;
}

void access_req_backend(access_req *ar, int pid, uint64_t gen) {
  ar->backend_pid = pid;
  ar->backend_gen = gen;
  /* The upstream time is the log's only: two clock reads a request fewer
   * when it is off. */
  if (!afile_on(&file))
    return;
  if (ar->upstream_start == 0)
    ar->upstream_start = uv_hrtime();
  ar->upstream_end = 0;
}

void access_req_backend_done(access_req *ar) {
  if (ar->upstream_start > 0 && ar->upstream_end == 0)
    ar->upstream_end = uv_hrtime();
}

/* The record is done with: counted, logged if it should be, emptied. */
static void req_finish(access_req *ar, const char *peer, int status, uint64_t bytes, const char *id) {
  uint64_t now = uv_hrtime(), us = ar->started > 0 ? (now - ar->started) / 1000 : 0;

  if (ar->active) {
    ar->active = 0;
    metrics.in_flight--;
  }
  if (ar->upstream_start > 0 && ar->upstream_end == 0)
    ar->upstream_end = now;
  metrics_request_done(ar->kind, status == 499 ? 0 : status, us);
  if (afile_on(&file))
    write_line(ar, peer, status, bytes, us, id, ar->id_len);
  free(ar->fields);
  ar->fields = NULL;
  ar->headed = 0;
}

void access_req_end(access_req *ar, const char *peer, int status, uint64_t body_bytes, const char *id) {
  req_finish(ar, peer, status, body_bytes, id);
}

void access_req_drop(access_req *ar) {
  if (!ar->active)
    return;
  ar->active = 0;
  metrics.in_flight--;
  free(ar->fields);
  ar->fields = NULL;
  ar->headed = 0;
}

void access_req_forget(access_req *ar) {
  if (!ar->active)
    return;
  if (!ar->headed) {
    /* A head never completed (the client left, or was cut off by a
     * response to an earlier request): not a request to count. */
    access_req_drop(ar);
    return;
  }
  metrics.cancelled_client++;
  req_finish(ar, "", 499, 0, NULL);
}

/* ---- the file --------------------------------------------------------------- */

int access_log_open(tdm_ctx *x, const config *cfg) {
  int rc;

  ctx = x;
  json = cfg->access_log_json;
  if (cfg->access_log == NULL)
    return 0;
  if (strcmp(cfg->access_log, "-") == 0)
    rc = afile_open_fd(&file, x, "--access-log", STDERR_FILENO, ACCESS_LOG_BUFFER, 4096);
  else
    rc = afile_open(&file, x, "--access-log", cfg->access_log, O_WRONLY | O_CREAT | O_APPEND, 0644,
                    ACCESS_LOG_BUFFER);
  return rc;
}

void access_log_reopen(void) {
  afile_reopen(&file);
}

int access_log_pending(void) {
  return afile_pending(&file);
}

void access_log_close(void) {
  afile_close(&file);
}
