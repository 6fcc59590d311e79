/* libFuzzer harness of the path handling a --static mount applies before it
 * touches the disk.
 *
 * The input is one configuration byte (its low six bits: the method, the
 * mounts, --static-fallthrough, the origin or absolute form), then a request
 * target.  Two passes:
 *
 * 1. The pure functions of frontend/src/http_head.c on the raw bytes, each
 *    output in a heap block of exactly the size the contract promises, so
 *    that AddressSanitizer sees any write past it:
 *    - http_percent_decode never yields a NUL, and a path without an encoded
 *      slash or backslash (http_path_has_encoded_slash) decodes to exactly as
 *      many slashes and backslashes as it had: nothing else makes one;
 *    - http_percent_encode's output decodes back to its input, and holds only
 *      visible ASCII (a path: no '%' but its own escapes; a query: nothing
 *      that could end a header line);
 *    - http_normalize_path agrees with a plain reference (a stack of
 *      segments), is idempotent, and its result starts with '/' and has no
 *      empty, "." or ".." segment.
 *
 * 2. The request as the frontend reads it: the real parser (http_parse.c,
 *    llhttp) splits, decodes and normalises the target, then the real
 *    router (route.c, included below to reach its statics) decides, with the
 *    functions it calls stubbed to record the decision:
 *    - a path that static_serve() gets is under the mount, is a GET or HEAD,
 *      starts with '/', holds no NUL, backslash, empty, "." or ".." segment,
 *      no hidden segment but /.well-known, came from a raw path without an
 *      encoded slash; and the file name static.c's worker makes of it
 *      (mount directory, path, index.html for a directory) stays lexically
 *      under the mount's directory;
 *    - a path under a mount reaches the backends only with
 *      --static-fallthrough, and one under no mount always does;
 *    - the redirect of a mount's bare prefix holds no CR, LF or NUL.
 */
#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llhttp.h>

#include "http_head.h"
#include "http_parse.h"

/* The router itself, with its static helpers (h2o's unit tests include the
 * file under test the same way).  Its calls out are the stubs below. */
#include "route.c"

/* Longer targets are refused by the parser (414) before any of this. */
#define MAX_TARGET (2 * HTTP_MAX_URL)

#define CHECK(cond)                                                                      \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      fprintf(stderr, "fuzz_path: %s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                                           \
    }                                                                                    \
  } while (0)

/* ---- the request route.c sees, and what it decided ------------------------ */

enum outcome { NONE, LOCAL, PROXY, STATIC };

struct http_req {
  const http_parse_head *hd;
  int method;
  tdm_ctx ctx;
  enum outcome outcome;
  int status;                    /* LOCAL */
  char extra[2 * ROUTE_MAX_LOCATION + 64];
  const static_mount *mount;     /* STATIC */
  char rel[2 * HTTP_MAX_URL + 2];
  size_t rel_len;
  int held;
};

tdm_ctx *http_req_ctx(const http_req *req) {
  return (tdm_ctx *) &req->ctx;
}

const tdm_request *http_req_head(const http_req *req) {
  return &req->hd->rq;
}

const char *http_req_path(const http_req *req, size_t *len) {
  *len = req->hd->norm_len;
  return req->hd->norm;
}

const char *http_req_raw_path(const http_req *req, size_t *len) {
  *len = req->hd->target.path_len;
  return req->hd->target.path;
}

int http_req_method(const http_req *req) {
  return req->method;
}

/* The route kind route.c notes for the access log: not part of the decision. */
struct access_req *http_req_access(http_req *req) {
  (void) req;
  return NULL;
}

void access_req_route(access_req *ar, int kind) {
  (void) ar;
  (void) kind;
}

void http_req_hold(http_req *req) {
  req->held = 1;
}

void http_req_unhold(http_req *req) {
  req->held = 0;
}

void http_req_local(http_req *req, int status, const char *extra, const char *body, int close) {
  (void) body;
  (void) close;
  CHECK(req->outcome == NONE);
  req->outcome = LOCAL;
  req->status = status;
  snprintf(req->extra, sizeof(req->extra), "%s", extra != NULL ? extra : "");
}

int proxy_request(http_req *req) {
  CHECK(req->outcome == NONE);
  req->outcome = PROXY;
  return 0;
}

void static_serve(http_req *req, const static_mount *m, const char *rel, size_t rel_len) {
  CHECK(req->outcome == NONE);
  CHECK(rel_len < sizeof(req->rel));
  req->outcome = STATIC;
  req->mount = m;
  memcpy(req->rel, rel, rel_len);
  req->rel_len = rel_len;
}

/* As static.c's: "?query", percent-encoded as a query. */
size_t static_query_suffix(const tdm_request *r, char *dst, size_t cap) {
  if (cap > 0)
    dst[0] = '\0';
  if (r->query.len == 0 || cap < 2)
    return 0;
  dst[0] = '?';
  return 1 + http_percent_encode(r->query.ptr, r->query.len, dst + 1, cap - 1, HTTP_PCT_QUERY);
}

/* ---- references ------------------------------------------------------------- */

static size_t count_byte(const char *s, size_t len, char c) {
  size_t n = 0;

  for (size_t i = 0; i < len; i++)
    n += s[i] == c;
  return n;
}

/* The normalisation http_head.h describes, the plain way: a stack of
 * segments; "." dropped, ".." pops (and climbing above the root fails);
 * the result keeps a trailing slash the input had.  Returns the length
 * written to out (room for len + 1), or -1. */
static ssize_t reference_normalize(const char *p, size_t len, char *out) {
  static size_t starts[MAX_TARGET], lens[MAX_TARGET];     /* a segment takes a byte at least */
  size_t n = 0, o = 0, i = 0;

  while (i < len) {
    size_t s;
    while (i < len && p[i] == '/')
      i++;
    s = i;
    while (i < len && p[i] != '/')
      i++;
    if (i == s || (i - s == 1 && p[s] == '.'))
      continue;
    if (i - s == 2 && p[s] == '.' && p[s + 1] == '.') {
      if (n == 0)
        return -1;
      n--;
      continue;
    }
    starts[n] = s;
    lens[n++] = i - s;
  }
  for (size_t k = 0; k < n; k++) {
    out[o++] = '/';
    memcpy(out + o, p + starts[k], lens[k]);
    o += lens[k];
  }
  if (o == 0 || (len > 0 && p[len - 1] == '/'))
    out[o++] = '/';
  return (ssize_t) o;
}

/* Whether p[0..len) is a path of proper segments: it starts with '/', and no
 * segment (but a last empty one, a trailing slash) is empty, "." or "..". */
static int clean_segments(const char *p, size_t len) {
  size_t i = 0;

  if (len == 0 || p[0] != '/')
    return 0;
  while (i < len) {
    size_t s = ++i;
    while (i < len && p[i] != '/')
      i++;
    if (i == s && i < len)
      return 0;
    if ((i - s == 1 && p[s] == '.') || (i - s == 2 && p[s] == '.' && p[s + 1] == '.'))
      return 0;
  }
  return 1;
}

/* ---- pass 1: the pure functions on raw bytes ------------------------------ */

static void check_encode(const char *s, size_t len, int keep) {
  size_t cap = 3 * len + 1;
  char *enc = malloc(cap), *back;           /* owner: here */
  size_t n = http_percent_encode(s, len, enc, cap, keep);
  ssize_t dn;

  CHECK(enc != NULL && n < cap && enc[n] == '\0');
  for (size_t i = 0; i < n; i++)
    CHECK(enc[i] > 0x20 && enc[i] < 0x7f);
  if (keep == HTTP_PCT_QUERY) {
    /* A query is taken as encoded already: its '%' stay as they are. */
    free(enc);
    return;
  }
  for (size_t i = 0; i < n; i++)
    CHECK(enc[i] != '%' || (i + 2 < n && isxdigit((unsigned char) enc[i + 1]) &&
                            isxdigit((unsigned char) enc[i + 2])));
  back = malloc(n + 1);                     /* owner: here */
  CHECK(back != NULL);
  dn = http_percent_decode(enc, n, back);
  /* A NUL is encoded, and decoding refuses it; anything else comes back. */
  if (memchr(s, '\0', len) != NULL)
    CHECK(dn == -1);
  else
    CHECK(dn == (ssize_t) len && memcmp(back, s, len) == 0);
  free(back);
  free(enc);
}

static void check_normalize(const char *d, size_t dlen) {
  char *p = malloc(dlen), *ref = malloc(dlen + 1), *again;  /* owner: here */
  ssize_t n, rn, n2;

  CHECK(p != NULL && ref != NULL);
  memcpy(p, d, dlen);
  n = http_normalize_path(p, dlen);          /* in place: room for dlen bytes only */
  rn = reference_normalize(d, dlen, ref);
  CHECK(n == rn);
  if (n >= 0) {
    CHECK(memcmp(p, ref, (size_t) n) == 0);
    CHECK(clean_segments(p, (size_t) n));
    CHECK(memchr(p, '\0', (size_t) n) == NULL);
    again = malloc((size_t) n);             /* owner: here */
    CHECK(again != NULL);
    memcpy(again, p, (size_t) n);
    n2 = http_normalize_path(again, (size_t) n);
    CHECK(n2 == n && memcmp(again, p, (size_t) n) == 0);
    free(again);
  }
  free(ref);
  free(p);
}

static void check_pure(const char *target, size_t len) {
  http_target t;
  char *dec;
  ssize_t dlen;

  http_split_target(target, len, &t);
  CHECK(t.path >= target && t.path + t.path_len <= target + len);
  CHECK(t.query == NULL || (t.query >= target && t.query + t.query_len <= target + len));
  CHECK(memchr(t.path, '?', t.path_len) == NULL && memchr(t.path, '#', t.path_len) == NULL);

  dec = malloc(t.path_len > 0 ? t.path_len : 1);   /* owner: here; the contract asks path_len */
  CHECK(dec != NULL);
  dlen = http_percent_decode(t.path, t.path_len, dec);
  if (dlen >= 0) {
    CHECK((size_t) dlen <= t.path_len);
    CHECK(memchr(dec, '\0', (size_t) dlen) == NULL);
    if (!http_path_has_encoded_slash(t.path, t.path_len)) {
      CHECK(count_byte(dec, (size_t) dlen, '/') == count_byte(t.path, t.path_len, '/'));
      CHECK(count_byte(dec, (size_t) dlen, '\\') == count_byte(t.path, t.path_len, '\\'));
    }
    check_encode(dec, (size_t) dlen, HTTP_PCT_PATH);
    check_encode(dec, (size_t) dlen, HTTP_PCT_SEGMENT);
    if (dlen > 0 && dec[0] == '/')
      check_normalize(dec, (size_t) dlen);
  }
  if (t.query != NULL)
    check_encode(t.query, t.query_len, HTTP_PCT_QUERY);
  free(dec);
}

/* ---- pass 2: the parser and the router -------------------------------------- */

static const char *const methods[] = {"GET", "HEAD", "POST", "OPTIONS"};

/* Mounts as config.c leaves them: prefixes without a trailing slash ("" for
 * "/"), absolute directories without one.  The root mount comes last, so
 * that the others are reachable. */
static const static_mount mount_static = {"/static", 7, "/srv/www/static", 15, -1};
static const static_mount mount_ab = {"/a/b", 4, "/srv/www/ab", 11, -1};
static const static_mount mount_root = {"", 0, "/srv/www/root", 13, -1};

static void set_mounts(config *cfg, unsigned which) {
  static const static_mount *const sets[4][3] = {
    {&mount_static}, {&mount_static, &mount_ab}, {&mount_static, &mount_root}, {&mount_root},
  };

  cfg->nstatics = 0;
  for (int i = 0; i < 3 && sets[which][i] != NULL; i++)
    cfg->statics[cfg->nstatics++] = *sets[which][i];
}

static int under(const static_mount *m, const char *p, size_t len) {
  return m->prefix_len == 0 ||
         (len >= m->prefix_len && memcmp(p, m->prefix, m->prefix_len) == 0 &&
          (len == m->prefix_len || p[m->prefix_len] == '/'));
}

/* Whether a segment of p starts with a dot, but for /.well-known. */
static int hidden(const char *p, size_t len) {
  for (size_t i = 0; i + 1 < len; i++)
    if (p[i] == '/' && p[i + 1] == '.' &&
        !(len - i - 1 >= 11 && memcmp(p + i + 1, ".well-known", 11) == 0 &&
          (len - i - 1 == 11 || p[i + 12] == '/')))
      return 1;
  return 0;
}

/* What static.c's worker opens for a mount's rel: the directory, rel, and
 * index.html for a directory, if it fits PATH_MAX. */
static void check_file_name(const static_mount *m, const char *rel, size_t rel_len) {
  char path[PATH_MAX];
  int n;

  if (rel_len >= PATH_MAX)
    return;                     /* static_serve answers 414 */
  n = snprintf(path, sizeof(path), "%s%.*s%s", m->dir, (int) rel_len, rel,
               rel_len == 0 || rel[rel_len - 1] == '/' ? "index.html" : "");
  if (n < 0 || (size_t) n >= sizeof(path))
    return;                     /* the worker answers 414 */
  CHECK(strncmp(path, m->dir, m->dir_len) == 0 && path[m->dir_len] == '/');
  CHECK(clean_segments(path + m->dir_len, (size_t) n - m->dir_len));
  CHECK(strlen(path) == (size_t) n);
}

static void check_decision(const http_req *req, const config *cfg) {
  const http_parse_head *hd = req->hd;
  const static_mount *m = NULL;

  if (hd->norm != NULL) {
    CHECK(clean_segments(hd->norm, hd->norm_len));
    for (int i = 0; i < cfg->nstatics && m == NULL; i++)
      if (under(&cfg->statics[i], hd->norm, hd->norm_len))
        m = &cfg->statics[i];
  }
  if (m == NULL) {
    CHECK(req->outcome == PROXY);
    return;
  }
  switch (req->outcome) {
  case PROXY:
    CHECK(cfg->static_fallthrough);
    break;
  case LOCAL:
    CHECK(req->status == 301 || req->status == 404 || req->status == 405);
    if (req->status == 301) {
      const char *v = req->extra + 10;
      size_t vlen;
      CHECK(strncmp(req->extra, "location: ", 10) == 0);
      vlen = strlen(v);
      CHECK(vlen >= 2 && memcmp(v + vlen - 2, "\r\n", 2) == 0);
      CHECK(memchr(v, '\r', vlen - 2) == NULL && memchr(v, '\n', vlen - 2) == NULL);
      CHECK(strncmp(v, m->prefix, m->prefix_len) == 0 && v[m->prefix_len] == '/');
    }
    break;
  case STATIC:
    CHECK(req->mount == m);
    CHECK(req->method == HTTP_GET || req->method == HTTP_HEAD);
    CHECK(hd->norm_len == m->prefix_len + req->rel_len);
    CHECK(memcmp(hd->norm + m->prefix_len, req->rel, req->rel_len) == 0);
    CHECK(clean_segments(req->rel, req->rel_len));
    CHECK(memchr(req->rel, '\0', req->rel_len) == NULL && memchr(req->rel, '\\', req->rel_len) == NULL);
    CHECK(!hidden(req->rel, req->rel_len));
    CHECK(!http_path_has_encoded_slash(hd->target.path, hd->target.path_len));
    CHECK(req->held == cfg->static_fallthrough);
    check_file_name(m, req->rel, req->rel_len);
    break;
  case NONE:
    CHECK(0);
  }
}

struct route_run {
  http_parser parser;
  http_req req;
  int heads;
};

static int on_begin(void *owner) {
  (void) owner;
  return HTTP_PARSE_OK;
}

static int on_head(void *owner, int status, const char *body) {
  struct route_run *r = owner;

  (void) body;
  r->heads++;
  if (status == 0) {
    r->req.hd = http_parse_head_of(&r->parser);
    r->req.method = r->req.hd->method;
    route_request(&r->req);
    check_decision(&r->req, r->req.ctx.cfg);
  }
  return HTTP_PARSE_PAUSED;     /* one request is all this harness asks about */
}

static int on_body(void *owner, const char *at, size_t len) {
  (void) owner;
  (void) at;
  (void) len;
  return HTTP_PARSE_OK;
}

static int on_complete(void *owner) {
  (void) owner;
  return HTTP_PARSE_OK;
}

static const http_parse_cb route_cb = {on_begin, on_head, on_body, on_complete};

static void check_routed(unsigned conf, const char *target, size_t len) {
  static config cfg;
  static struct route_run r;
  char *line;
  size_t n = 0, used;
  const char *method = methods[conf & 3];
  const char *abs = (conf & 0x20) ? "http://example.com" : "";

  memset(&cfg, 0, sizeof(cfg));
  cfg.static_fallthrough = (conf >> 2) & 1;
  set_mounts(&cfg, (conf >> 3) & 3);
  memset(&r, 0, sizeof(r));
  r.req.ctx.cfg = &cfg;
  line = malloc(len + 128);     /* owner: here */
  CHECK(line != NULL);
  n += (size_t) sprintf(line, "%s %s", method, abs);
  memcpy(line + n, target, len);
  n += len;
  n += (size_t) sprintf(line + n, " HTTP/1.1\r\nHost: x\r\n\r\n");
  http_parse_init(&r.parser, &route_cb, &r, 65536, 0);
  http_parse_set_addrs(&r.parser, "", 0, "", 0);
  http_parse_feed(&r.parser, line, n, &used);
  CHECK(r.heads <= 1);
  http_parse_free(&r.parser);
  free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > MAX_TARGET)
    return 0;
  check_pure((const char *) data + 1, size - 1);
  check_routed(data[0], (const char *) data + 1, size - 1);
  return 0;
}
