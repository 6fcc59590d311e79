/* Tests of the frame codec (protocol/tdm_proto.c): the golden vectors of
 * protocol/vectors/ (see its README.md) decoded whole, at every truncation
 * point and one byte at a time, re-encoded byte for byte; then the edges the
 * vectors do not reach. Run from the repository root, or point
 * TDM_VECTORS_DIR at the vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tdm_proto.h"

#define MAX_VECTORS 256
#define MAX_HEADERS 64
#define MAX_LITERALS (2 * MAX_HEADERS + 16)

struct vector {
  char name[128];
  char *bin;                  /* malloc'ed to exactly len bytes */
  size_t len;
  int error;                  /* 0, or the error an invalid vector must give */
  int has_extra;              /* elements decoders ignore, so re-encoding drops them */
  int lacks_optional;         /* an optional element is missing, so re-encoding adds it */
  tdm_frame want;             /* what the .txt says the frame holds */
  tdm_header headers[MAX_HEADERS];
  char *literals[MAX_LITERALS];
  size_t nliterals;
};

static struct vector *vectors;
static size_t nvectors;

/* The fields of each frame type in frame order, as keys of the .txt format
 * and places in tdm_frame; the test's one description of the layout. */
enum kind { K_U32, K_U64, K_BOOL, K_STR, K_BIN, K_HEADERS, K_ADDR };

struct field {
  const char *key;
  enum kind kind;
  size_t off;
  size_t count_off;           /* K_HEADERS: where nheaders is */
  int optional;               /* may be missing at the end of the frame (PROTOCOL.md section 2):
                                 1, and the encoder always writes it; 2, written only when not 0 */
};

#define FIELD(key, kind, m) {key, kind, offsetof(tdm_frame, u.m), 0, 0}
#define OPTIONAL(key, kind, m) {key, kind, offsetof(tdm_frame, u.m), 0, 1}
#define OPTIONAL_IF_SET(key, kind, m) {key, kind, offsetof(tdm_frame, u.m), 0, 2}
#define HEADERS(m) \
  {"header", K_HEADERS, offsetof(tdm_frame, u.m.headers), offsetof(tdm_frame, u.m.nheaders), 0}
#define FIELDS_END {NULL, K_U32, 0, 0, 0}

static const struct field hello_fields[] = {
  FIELD("version", K_U32, hello.version), FIELD("role", K_STR, hello.role),
  FIELD("app", K_STR, hello.app), FIELD("pid", K_U64, hello.pid),
  FIELD("generation", K_U64, hello.generation),
  FIELD("max_frame_size", K_U32, hello.max_frame_size),
  FIELD("max_streams", K_U32, hello.max_streams),
  FIELD("initial_window", K_U32, hello.initial_window),
  OPTIONAL_IF_SET("features", K_U32, hello.features), FIELDS_END};
static const struct field goaway_fields[] = {
  FIELD("code", K_U32, goaway.code), FIELD("message", K_STR, goaway.message), FIELDS_END};
static const struct field ping_fields[] = {
  FIELD("ack", K_BOOL, ping.ack), FIELD("opaque", K_U64, ping.opaque), FIELDS_END};
static const struct field request_fields[] = {
  FIELD("flags", K_U32, request.flags), FIELD("method", K_STR, request.method),
  FIELD("target", K_BIN, request.target), FIELD("path", K_BIN, request.path),
  FIELD("query", K_BIN, request.query), FIELD("http_version", K_STR, request.http_version),
  HEADERS(request), FIELD("client", K_ADDR, request.client),
  FIELD("server", K_ADDR, request.server), FIELD("scheme", K_STR, request.scheme),
  FIELD("body", K_BIN, request.body), OPTIONAL("request_id", K_STR, request.request_id),
  FIELDS_END};
static const struct field response_fields[] = {
  FIELD("flags", K_U32, response.flags), FIELD("status", K_U32, response.status),
  HEADERS(response), FIELD("body", K_BIN, response.body), FIELDS_END};
static const struct field data_fields[] = {
  FIELD("flags", K_U32, data.flags), FIELD("data", K_BIN, data.data), FIELDS_END};
static const struct field window_fields[] = {
  FIELD("increment", K_U32, window_increment), FIELDS_END};
static const struct field cancel_fields[] = {
  FIELD("code", K_U32, cancel_code), FIELDS_END};
static const struct field ws_accept_fields[] = {
  FIELD("subprotocol", K_STR, ws_accept.subprotocol), HEADERS(ws_accept), FIELDS_END};
static const struct field ws_message_fields[] = {
  FIELD("flags", K_U32, ws_message.flags), FIELD("kind", K_U32, ws_message.kind),
  FIELD("data", K_BIN, ws_message.data), FIELDS_END};
static const struct field ws_close_fields[] = {
  FIELD("code", K_U32, ws_close.code), FIELD("reason", K_BIN, ws_close.reason), FIELDS_END};

/* NULL for a type this version does not define. */
static const struct field *fields_of(uint32_t type) {
  switch (type) {
  case TDM_HELLO: return hello_fields;
  case TDM_GOAWAY: return goaway_fields;
  case TDM_PING: return ping_fields;
  case TDM_REQUEST: return request_fields;
  case TDM_RESPONSE: return response_fields;
  case TDM_DATA: return data_fields;
  case TDM_WINDOW: return window_fields;
  case TDM_CANCEL: return cancel_fields;
  case TDM_WS_ACCEPT: return ws_accept_fields;
  case TDM_WS_MESSAGE: return ws_message_fields;
  case TDM_WS_CLOSE: return ws_close_fields;
  }
  return NULL;
}

static const struct {
  const char *name;
  int value;
} errnos[] = {
#define XX(name, value, _) {#name, value},
  TDM_ERRNO_MAP(XX)
#undef XX
};

/* ---- reading the vectors ---- */

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Parses the double-quoted literal at *s, then an optional " * N" repeat, into
 * bytes owned by v; moves *s past it. Returns 0, or -1 on bad syntax. */
static int parse_quoted(struct vector *v, const char **s, tdm_str *out) {
  const char *p = *s;
  size_t n = 0, count = 1, i;
  char *buf, *rep;

  if (*p++ != '"' || v->nliterals == MAX_LITERALS)
    return -1;
  buf = malloc(strlen(p) + 1);
  assert_non_null(buf);
  v->literals[v->nliterals++] = buf;
  while (*p != '"') {
    int hi, lo;
    if (*p == '\0')
      return -1;
    if (*p != '\\') {
      buf[n++] = *p++;
      continue;
    }
    p++;
    switch (*p++) {
    case '\\': buf[n++] = '\\'; break;
    case '"': buf[n++] = '"'; break;
    case 'n': buf[n++] = '\n'; break;
    case 'r': buf[n++] = '\r'; break;
    case 't': buf[n++] = '\t'; break;
    case 'x':
      if ((hi = hexval(p[0])) < 0 || (lo = hexval(p[1])) < 0)
        return -1;
      buf[n++] = (char)(hi << 4 | lo);
      p += 2;
      break;
    default:
      return -1;
    }
  }
  p++;
  if (strncmp(p, " * ", 3) == 0) {
    char *end;
    count = strtoul(p + 3, &end, 10);
    if (end == p + 3 || count == 0 || v->nliterals == MAX_LITERALS)
      return -1;
    p = end;
    rep = malloc(n * count + 1);
    assert_non_null(rep);
    for (i = 0; i < count; i++)
      memcpy(rep + i * n, buf, n);
    v->literals[v->nliterals++] = rep;
    buf = rep;
  }
  out->ptr = buf;
  out->len = (uint32_t)(n * count);
  *s = p;
  return 0;
}

static int parse_bytes(struct vector *v, const char **s, tdm_str *out) {
  if (**s != 'b')
    return -1;
  (*s)++;
  return parse_quoted(v, s, out);
}

static int parse_uint(const char **s, uint64_t max, uint64_t *out) {
  char *end;

  if (**s < '0' || **s > '9')
    return -1;
  *out = strtoull(*s, &end, 10);
  if (*out > max)
    return -1;
  *s = end;
  return 0;
}

/* Stores the value text s of field fl into v->want; 0, or -1 on bad syntax. */
static int parse_field(struct vector *v, const struct field *fl, const char *s) {
  char *at = (char *)&v->want + fl->off;
  uint64_t x = 0;
  int rc = 0;

  switch (fl->kind) {
  case K_U32: {
    uint32_t u;
    rc = parse_uint(&s, UINT32_MAX, &x);
    u = (uint32_t)x;
    memcpy(at, &u, sizeof(u));
    break;
  }
  case K_U64:
    rc = parse_uint(&s, UINT64_MAX, &x);
    memcpy(at, &x, sizeof(x));
    break;
  case K_BOOL: {
    int b = strcmp(s, "true") == 0;
    if (!b && strcmp(s, "false") != 0)
      return -1;
    memcpy(at, &b, sizeof(b));
    return 0;
  }
  case K_STR:
    rc = parse_quoted(v, &s, (tdm_str *)at);
    break;
  case K_BIN:
    rc = parse_bytes(v, &s, (tdm_str *)at);
    break;
  case K_HEADERS: {
    uint32_t *n = (uint32_t *)((char *)&v->want + fl->count_off);
    tdm_header *h = &v->headers[*n];
    if (*n == MAX_HEADERS || parse_bytes(v, &s, &h->name) || *s++ != ' ' ||
        parse_bytes(v, &s, &h->value))
      return -1;
    memcpy(at, &(const tdm_header *){v->headers}, sizeof(const tdm_header *));
    ++*n;
    break;
  }
  case K_ADDR: {
    tdm_addr *a = (tdm_addr *)at;
    memset(a, 0, sizeof(*a));
    if (strcmp(s, "nil") == 0)
      return 0;
    a->present = 1;
    if (parse_quoted(v, &s, &a->host) || *s++ != ' ' || parse_uint(&s, UINT32_MAX, &x))
      return -1;
    a->port = (uint32_t)x;
    break;
  }
  }
  return rc == 0 && *s == '\0' ? 0 : -1;
}

/* Parses the .txt description (text, NUL-terminated, modified) into v.
 * Checks the keys come in frame order. Returns 0 or -1, having said why. */
static int parse_description(struct vector *v, char *text) {
  const struct field *fl = NULL;
  int seen_type = 0, seen_stream = 0;
  char *line, *next;
  uint64_t x;

  for (line = text; line != NULL && *line != '\0'; line = next) {
    char *value;
    const char *p;

    next = strchr(line, '\n');
    if (next != NULL)
      *next++ = '\0';
    if (*line == '\0' || *line == '#')
      continue;
    value = strstr(line, ": ");
    if (value == NULL)
      goto bad;
    *value = '\0';
    value += 2;
    p = value;

    if (strcmp(line, "error") == 0) {
      size_t i;
      for (i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
        if (strcmp(value, errnos[i].name) == 0)
          v->error = errnos[i].value;
      if (v->error == 0 || seen_type)
        goto bad;
    } else if (!seen_type) {
      if (strcmp(line, "type") != 0 || parse_uint(&p, UINT32_MAX, &x) || *p != '\0')
        goto bad;
      v->want.type = (uint32_t)x;
      seen_type = 1;
    } else if (!seen_stream) {
      if (strcmp(line, "stream_id") != 0 || parse_uint(&p, UINT32_MAX, &x) || *p != '\0')
        goto bad;
      v->want.stream_id = (uint32_t)x;
      seen_stream = 1;
      fl = fields_of(v->want.type);
    } else if (strcmp(line, "extra") == 0) {
      /* Only after every field this version defines. */
      if (fl != NULL && fl->key != NULL && !(fl->kind == K_HEADERS && fl[1].key == NULL))
        goto bad;
      v->has_extra = 1;
    } else {
      /* Zero or more header lines; a different key ends them. */
      if (fl != NULL && fl->key != NULL && fl->kind == K_HEADERS && strcmp(line, "header") != 0)
        fl++;
      if (fl == NULL || fl->key == NULL || strcmp(line, fl->key) != 0 || parse_field(v, fl, value))
        goto bad;
      if (fl->kind != K_HEADERS)
        fl++;
    }
  }
  if (fl != NULL && fl->key != NULL && fl->kind == K_HEADERS)
    fl++;
  if (v->error == 0 && seen_stream && fl != NULL && fl->key != NULL && fl->optional) {
    v->lacks_optional = fl->optional == 1;
    while (fl->key != NULL && fl->optional)
      fl++;
  }
  if (v->error == 0 && (!seen_stream || (fl != NULL && fl->key != NULL))) {
    print_error("%s.txt: ends before the frame's fields do\n", v->name);
    return -1;
  }
  return 0;

bad:
  print_error("%s.txt: cannot read the line with key \"%s\"\n", v->name, line);
  return -1;
}

/* Returns the file's bytes in a block of exactly their size, or of one more
 * for the NUL of a text, so that reading past a frame's end is an over-read
 * valgrind and ASan see; NULL if the file cannot be read. */
static char *read_file(const char *dir, const char *name, const char *ext, int text, size_t *len) {
  char path[4096];
  FILE *f;
  long n;
  char *buf = NULL;

  snprintf(path, sizeof(path), "%s/%s%s", dir, name, ext);
  f = fopen(path, "rb");
  if (f == NULL)
    goto fail_open;
  if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
    goto fail_read;
  buf = malloc((size_t)n + (text ? 1 : 0));
  if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n)
    goto fail_read;
  if (text)
    buf[n] = '\0';
  fclose(f);
  *len = (size_t)n;
  return buf;

fail_read:
  free(buf);
  fclose(f);
fail_open:
  print_error("cannot read %s\n", path);
  return NULL;
}

static int compare_names(const void *a, const void *b) {
  return strcmp(((const struct vector *)a)->name, ((const struct vector *)b)->name);
}

static int load_vectors(void **state) {
  const char *dir = getenv("TDM_VECTORS_DIR");
  struct dirent *de;
  DIR *d;
  size_t i;

  (void)state;
  if (dir == NULL)
    dir = "protocol/vectors";
  d = opendir(dir);
  if (d == NULL) {
    print_error("cannot open %s (run from the repository root or set TDM_VECTORS_DIR)\n", dir);
    return -1;
  }
  vectors = calloc(MAX_VECTORS, sizeof(*vectors));
  assert_non_null(vectors);
  while ((de = readdir(d)) != NULL) {
    size_t n = strlen(de->d_name);
    if (n < 5 || strcmp(de->d_name + n - 4, ".bin") != 0 || n - 4 >= sizeof(vectors->name))
      continue;
    if (nvectors == MAX_VECTORS) {
      closedir(d);
      return -1;
    }
    memcpy(vectors[nvectors].name, de->d_name, n - 4);
    nvectors++;
  }
  closedir(d);
  qsort(vectors, nvectors, sizeof(*vectors), compare_names);

  for (i = 0; i < nvectors; i++) {
    struct vector *v = &vectors[i];
    size_t tlen;
    char *text;
    int rc;

    v->bin = read_file(dir, v->name, ".bin", 0, &v->len);
    text = read_file(dir, v->name, ".txt", 1, &tlen);
    if (v->bin == NULL || text == NULL) {
      free(text);
      return -1;
    }
    rc = parse_description(v, text);
    free(text);
    if (rc != 0)
      return -1;
  }
  return 0;
}

static int free_vectors(void **state) {
  size_t i, j;

  (void)state;
  for (i = 0; i < nvectors; i++) {
    free(vectors[i].bin);
    for (j = 0; j < vectors[i].nliterals; j++)
      free(vectors[i].literals[j]);
  }
  free(vectors);
  vectors = NULL;
  nvectors = 0;
  return 0;
}

static struct vector *find_vector(const char *name) {
  size_t i;

  for (i = 0; i < nvectors; i++)
    if (strcmp(vectors[i].name, name) == 0)
      return &vectors[i];
  fail_msg("vector %s is missing", name);
  return NULL;
}

/* ---- comparing frames ---- */

static void check_str(const char *what, const char *key, tdm_str got, tdm_str want) {
  if (got.len != want.len || (want.len > 0 && memcmp(got.ptr, want.ptr, want.len) != 0))
    fail_msg("%s: %s is \"%.*s\" (%u bytes), want \"%.*s\" (%u bytes)", what, key,
             (int)(got.len > 200 ? 200 : got.len), got.ptr, got.len,
             (int)(want.len > 200 ? 200 : want.len), want.ptr, want.len);
}

/* Fails the test, naming what, unless got carries the same type, stream id
 * and fields as want. */
static void check_frame(const char *what, const tdm_frame *got, const tdm_frame *want) {
  const struct field *fl;

  if (got->type != want->type || got->stream_id != want->stream_id)
    fail_msg("%s: type %u stream %u, want type %u stream %u", what, got->type, got->stream_id,
             want->type, want->stream_id);
  for (fl = fields_of(want->type); fl != NULL && fl->key != NULL; fl++) {
    const char *g = (const char *)got + fl->off, *w = (const char *)want + fl->off;
    switch (fl->kind) {
    case K_U32:
      if (*(const uint32_t *)g != *(const uint32_t *)w)
        fail_msg("%s: %s is %u, want %u", what, fl->key, *(const uint32_t *)g, *(const uint32_t *)w);
      break;
    case K_U64:
      if (*(const uint64_t *)g != *(const uint64_t *)w)
        fail_msg("%s: %s is %llu, want %llu", what, fl->key,
                 (unsigned long long)*(const uint64_t *)g, (unsigned long long)*(const uint64_t *)w);
      break;
    case K_BOOL:
      if (!*(const int *)g != !*(const int *)w)
        fail_msg("%s: %s is %d, want %d", what, fl->key, *(const int *)g, *(const int *)w);
      break;
    case K_STR:
    case K_BIN:
      check_str(what, fl->key, *(const tdm_str *)g, *(const tdm_str *)w);
      break;
    case K_HEADERS: {
      const tdm_header *gh = *(const tdm_header *const *)g, *wh = *(const tdm_header *const *)w;
      uint32_t gn = *(const uint32_t *)((const char *)got + fl->count_off);
      uint32_t wn = *(const uint32_t *)((const char *)want + fl->count_off);
      uint32_t i;
      if (gn != wn)
        fail_msg("%s: %u headers, want %u", what, gn, wn);
      for (i = 0; i < wn; i++) {
        check_str(what, "header name", gh[i].name, wh[i].name);
        check_str(what, "header value", gh[i].value, wh[i].value);
      }
      break;
    }
    case K_ADDR: {
      const tdm_addr *ga = (const tdm_addr *)g, *wa = (const tdm_addr *)w;
      if (!ga->present != !wa->present)
        fail_msg("%s: %s is %s, want %s", what, fl->key, ga->present ? "an address" : "nil",
                 wa->present ? "an address" : "nil");
      if (wa->present) {
        check_str(what, fl->key, ga->host, wa->host);
        if (ga->port != wa->port)
          fail_msg("%s: %s port is %u, want %u", what, fl->key, ga->port, wa->port);
      }
      break;
    }
    }
  }
}

/* Encodes f into a fresh buffer and fails unless that gives want[0..len). */
static void check_encodes_to(const char *what, const tdm_frame *f, const char *want, size_t len) {
  tdm_buf b;
  ssize_t n;
  size_t i;

  tdm_buf_init(&b, 0);
  assert_int_equal(tdm_encoded_size(f), len);
  n = tdm_encode(&b, f);
  if (n < 0)
    fail_msg("%s: tdm_encode: %s", what, tdm_strerror((int)n));
  assert_int_equal(n, len);
  assert_int_equal(b.len, len);
  for (i = 0; i < len && b.base[i] == want[i]; i++)
    ;
  if (i < len)
    fail_msg("%s: encoded byte %zu is 0x%02x, want 0x%02x", what, i, (unsigned char)b.base[i],
             (unsigned char)want[i]);
  tdm_buf_free(&b);
}

/* ---- the vectors ---- */

static void test_vectors_present(void **state) {
  static const char *const required[] = {
    "hello-backend", "hello-frontend", "goaway-drain", "goaway-version-mismatch", "ping",
    "ping-ack", "request-get", "request-post-body", "request-head-no-end",
    "request-unix-client", "request-without-id", "response-hello", "response-streaming", "response-many-headers",
    "data-chunk", "data-end-empty", "data-large", "window", "cancel-client-gone",
    "unknown-type-99", "invalid-zero-length", "invalid-length-too-big"};
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(required) / sizeof(required[0]); i++)
    find_vector(required[i]);
  /* The many-headers vector exists to reach array 16, the large one bin 32. */
  assert_true(find_vector("response-many-headers")->want.u.response.nheaders * 2 > 15);
  assert_true(find_vector("data-large")->want.u.data.data.len > 65535);
}

static void test_valid_vectors_decode_and_reencode(void **state) {
  size_t i, nvalid = 0;

  (void)state;
  for (i = 0; i < nvectors; i++) {
    struct vector *v = &vectors[i];
    tdm_decoder d;
    tdm_frame got;
    ssize_t n;

    if (v->error != 0)
      continue;
    nvalid++;
    assert_int_equal(tdm_decoder_init(&d, TDM_DEFAULT_MAX_FRAME), 0);
    n = tdm_decode(&d, v->bin, v->len, &got);
    if (n != (ssize_t)v->len)
      fail_msg("%s: tdm_decode returned %zd (%s), want %zu", v->name, n,
               n < 0 ? tdm_strerror((int)n) : "bytes", v->len);
    check_frame(v->name, &got, &v->want);

    if (fields_of(v->want.type) == NULL) {
      assert_int_equal(tdm_encoded_size(&got), 0);
    } else if (v->lacks_optional) {
      /* The encoder writes every element: the missing one comes back empty,
       * one element (a fixstr, one byte) longer, and means the same. */
      tdm_buf b;
      tdm_frame again;
      tdm_buf_init(&b, 0);
      n = tdm_encode(&b, &got);
      assert_int_equal(n, (ssize_t)v->len + 1);
      assert_int_equal(tdm_decode(&d, b.base, b.len, &again), n);
      check_frame(v->name, &again, &v->want);
      tdm_buf_free(&b);
    } else if (!v->has_extra) {
      check_encodes_to(v->name, &got, v->bin, v->len);
      check_encodes_to(v->name, &v->want, v->bin, v->len);
    } else {
      /* Extras are dropped: the re-encoded frame is shorter but means the same. */
      tdm_buf b;
      tdm_frame again;
      tdm_buf_init(&b, 0);
      n = tdm_encode(&b, &got);
      assert_true(n > 0 && (size_t)n < v->len);
      assert_int_equal(tdm_decode(&d, b.base, b.len, &again), n);
      check_frame(v->name, &again, &v->want);
      tdm_buf_free(&b);
    }
    tdm_decoder_free(&d);
  }
  assert_true(nvalid >= 20);
}

static void test_invalid_vectors_fail(void **state) {
  size_t i, ninvalid = 0;

  (void)state;
  for (i = 0; i < nvectors; i++) {
    struct vector *v = &vectors[i];
    tdm_decoder d;
    tdm_frame got;
    ssize_t n;

    if (v->error == 0)
      continue;
    ninvalid++;
    assert_int_equal(tdm_decoder_init(&d, TDM_DEFAULT_MAX_FRAME), 0);
    n = tdm_decode(&d, v->bin, v->len, &got);
    if (n != v->error)
      fail_msg("%s: tdm_decode returned %zd, want %d (%s)", v->name, n, v->error,
               tdm_strerror(v->error));
    tdm_decoder_free(&d);
  }
  assert_true(ninvalid >= 9);
}

/* Each prefix sits in a block of exactly its size, so an over-read shows
 * under valgrind or ASan. */
static void test_every_truncation(void **state) {
  tdm_decoder d;
  size_t i, n;

  (void)state;
  assert_int_equal(tdm_decoder_init(&d, TDM_DEFAULT_MAX_FRAME), 0);
  for (i = 0; i < nvectors; i++) {
    struct vector *v = &vectors[i];
    for (n = 0; n < v->len; n++) {
      char *prefix = malloc(n);
      tdm_frame got;
      ssize_t rc, want;

      assert_true(prefix != NULL || n == 0);
      if (n > 0)
        memcpy(prefix, v->bin, n);
      want = n >= TDM_FRAME_HEADER_SIZE && v->error == TDM_E2BIG ? TDM_E2BIG : TDM_EAGAIN;
      rc = tdm_decode(&d, prefix, n, &got);
      if (rc != want)
        fail_msg("%s: %zu of %zu bytes gave %zd, want %zd", v->name, n, v->len, rc, want);
      free(prefix);
    }
  }
  tdm_decoder_free(&d);
}

/* Feeds every valid vector, back to back, one byte at a time through the
 * accumulate-decode-consume loop a connection runs. */
static void test_byte_at_a_time(void **state) {
  tdm_decoder d;
  tdm_buf acc;
  size_t i, j, next = 0;

  (void)state;
  assert_int_equal(tdm_decoder_init(&d, TDM_DEFAULT_MAX_FRAME), 0);
  tdm_buf_init(&acc, 0);
  for (i = 0; i < nvectors; i++) {
    if (vectors[i].error != 0)
      continue;
    for (j = 0; j < vectors[i].len; j++) {
      tdm_frame got;
      ssize_t n;

      assert_int_equal(tdm_buf_append(&acc, &vectors[i].bin[j], 1), 0);
      while ((n = tdm_decode(&d, acc.base, acc.len, &got)) > 0) {
        while (vectors[next].error != 0)
          next++;
        assert_int_equal(n, vectors[next].len);
        check_frame(vectors[next].name, &got, &vectors[next].want);
        tdm_buf_consume(&acc, (size_t)n);
        next++;
      }
      assert_int_equal(n, TDM_EAGAIN);
    }
    assert_int_equal(next, i + 1);
  }
  assert_int_equal(acc.len, 0);
  tdm_buf_free(&acc);
  tdm_decoder_free(&d);
}

static void test_back_to_back(void **state) {
  tdm_decoder d;
  size_t i, total = 0, off;
  char *all;

  (void)state;
  assert_int_equal(tdm_decoder_init(&d, TDM_DEFAULT_MAX_FRAME), 0);
  for (i = 0; i < nvectors; i++)
    if (vectors[i].error == 0)
      total += vectors[i].len;
  all = malloc(total);
  assert_non_null(all);
  for (i = 0, off = 0; i < nvectors; i++) {
    if (vectors[i].error == 0) {
      memcpy(all + off, vectors[i].bin, vectors[i].len);
      off += vectors[i].len;
    }
  }
  for (i = 0, off = 0; i < nvectors; i++) {
    tdm_frame got;
    ssize_t n;

    if (vectors[i].error != 0)
      continue;
    /* All the bytes that remain, not just this frame's. */
    n = tdm_decode(&d, all + off, total - off, &got);
    assert_int_equal(n, vectors[i].len);
    check_frame(vectors[i].name, &got, &vectors[i].want);
    off += (size_t)n;
  }
  assert_int_equal(off, total);
  assert_int_equal(tdm_decode(&d, all + off, 0, &(tdm_frame){0}), TDM_EAGAIN);
  free(all);
  tdm_decoder_free(&d);
}

/* ---- edges ---- */

/* A DATA frame whose payload is exactly payload bytes, in b. */
static void encode_data_of_payload(tdm_buf *b, uint32_t payload) {
  /* fixarray, type, stream id and flags take one byte each. */
  uint32_t body = payload - 4 - (payload - 4 - 2 <= 0xff ? 2 : payload - 4 - 3 <= 0xffff ? 3 : 5);
  tdm_frame f = {.type = TDM_DATA, .stream_id = 1};
  char *data = malloc(body);

  assert_non_null(data);
  memset(data, 'd', body);
  f.u.data.data = (tdm_str){data, body};
  assert_int_equal(tdm_encoded_size(&f), TDM_FRAME_HEADER_SIZE + payload);
  assert_int_equal(tdm_encode(b, &f), TDM_FRAME_HEADER_SIZE + payload);
  free(data);
}

static void test_max_frame_size_boundary(void **state) {
  static const uint32_t limits[] = {100, 300, TDM_PRE_HELLO_MAX_FRAME, TDM_DEFAULT_MAX_FRAME};
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
    tdm_decoder d;
    tdm_frame got;
    tdm_buf at, over;

    tdm_buf_init(&at, 0);
    tdm_buf_init(&over, 0);
    encode_data_of_payload(&at, limits[i]);
    encode_data_of_payload(&over, limits[i] + 1);
    assert_int_equal(tdm_decoder_init(&d, limits[i]), 0);
    assert_int_equal(tdm_decode(&d, at.base, at.len, &got), at.len);
    assert_int_equal(got.type, TDM_DATA);
    assert_int_equal(tdm_decode(&d, at.base, TDM_FRAME_HEADER_SIZE, &got), TDM_EAGAIN);
    assert_int_equal(tdm_decode(&d, over.base, over.len, &got), TDM_E2BIG);
    assert_int_equal(tdm_decode(&d, over.base, TDM_FRAME_HEADER_SIZE, &got), TDM_E2BIG);
    /* The limit is the caller's to raise after HELLO. */
    d.max_frame_size = limits[i] + 1;
    assert_int_equal(tdm_decode(&d, over.base, over.len, &got), over.len);
    tdm_decoder_free(&d);
    tdm_buf_free(&at);
    tdm_buf_free(&over);
  }
}

static void test_unknown_type_is_returned_and_skipped(void **state) {
  struct vector *unknown = find_vector("unknown-type-99"), *ping = find_vector("ping");
  static const char type0[] = {0, 0, 0, 3, (char)0x92, 0, 0};
  size_t len = unknown->len + ping->len;
  char *buf = malloc(len);
  tdm_decoder d;
  tdm_frame got, pattern;
  ssize_t n;

  (void)state;
  assert_non_null(buf);
  memcpy(buf, unknown->bin, unknown->len);
  memcpy(buf + unknown->len, ping->bin, ping->len);
  assert_int_equal(tdm_decoder_init(&d, TDM_DEFAULT_MAX_FRAME), 0);

  memset(&got, 0xa5, sizeof(got));
  memset(&pattern, 0xa5, sizeof(pattern));
  n = tdm_decode(&d, buf, len, &got);
  assert_int_equal(n, unknown->len);
  assert_int_equal(got.type, 99);
  assert_int_equal(got.stream_id, 5);
  assert_memory_equal(&got.u, &pattern.u, sizeof(got.u));
  n = tdm_decode(&d, buf + n, len - (size_t)n, &got);
  assert_int_equal(n, ping->len);
  check_frame("ping after unknown", &got, &ping->want);

  /* Type 0 is a non-negative integer no version defines: unknown, not malformed. */
  assert_int_equal(tdm_decode(&d, type0, sizeof(type0), &got), sizeof(type0));
  assert_int_equal(got.type, 0);
  tdm_decoder_free(&d);
  free(buf);
}

/* Any integer encoding is accepted, not only the shortest. */
static void test_long_integer_encodings(void **state) {
  static const char frame[] = {
    0, 0, 0, 20, (char)0x94,
    (char)0xd0, 6,                                  /* int 8: type DATA */
    (char)0xce, 0, 0, 0, 7,                         /* uint 32: stream 7 */
    (char)0xcf, 0, 0, 0, 2, 0, 0, 0, 1,             /* uint 64: flags, a reserved bit 33 and END */
    (char)0xc4, 1, 'x'};
  static const char negative_stream[] = {0, 0, 0, 5, (char)0x94, 6, (char)0xff, 0, (char)0xc0};
  tdm_decoder d;
  tdm_frame got;

  (void)state;
  assert_int_equal(tdm_decoder_init(&d, TDM_DEFAULT_MAX_FRAME), 0);
  assert_int_equal(tdm_decode(&d, frame, sizeof(frame), &got), sizeof(frame));
  assert_int_equal(got.type, TDM_DATA);
  assert_int_equal(got.stream_id, 7);
  assert_int_equal(got.u.data.flags, TDM_FLAG_END);
  assert_int_equal(got.u.data.data.len, 1);
  assert_int_equal(tdm_decode(&d, negative_stream, sizeof(negative_stream), &got), TDM_EPROTO);
  tdm_decoder_free(&d);
}

/* [99, 1, [[...[]...]]] with depth arrays inside the frame's own. */
static size_t nested_frame(char *buf, unsigned depth) {
  uint32_t payload = 3 + depth;
  unsigned i;

  buf[0] = 0, buf[1] = 0, buf[2] = 0, buf[3] = (char)payload;
  buf[4] = (char)0x93, buf[5] = 99, buf[6] = 1;
  for (i = 0; i + 1 < depth; i++)
    buf[7 + i] = (char)0x91;
  buf[7 + depth - 1] = (char)0x90;
  return TDM_FRAME_HEADER_SIZE + payload;
}

/* The decoder's nesting limit is msgpack-c's, so that a frame msgpack_unpack()
 * cannot hold is malformed rather than out of memory. */
static void test_nesting_limit(void **state) {
  char buf[64];
  tdm_decoder d;
  tdm_frame got;
  msgpack_zone zone;
  msgpack_object obj;
  size_t len;

  (void)state;
  assert_int_equal(tdm_decoder_init(&d, TDM_DEFAULT_MAX_FRAME), 0);
  assert_true(msgpack_zone_init(&zone, 4096));

  len = nested_frame(buf, 31);                      /* 32 arrays in all */
  assert_int_equal(tdm_decode(&d, buf, len, &got), len);
  assert_int_equal(got.type, 99);
  assert_int_equal(msgpack_unpack(buf + 4, len - 4, NULL, &zone, &obj), MSGPACK_UNPACK_SUCCESS);

  len = nested_frame(buf, 32);                      /* 33 */
  assert_int_equal(tdm_decode(&d, buf, len, &got), TDM_EPROTO);
  assert_true(msgpack_unpack(buf + 4, len - 4, NULL, &zone, &obj) < 0);

  msgpack_zone_destroy(&zone);
  tdm_decoder_free(&d);
}

/* Decoding the same frame again reuses the zone's first chunk, so the header
 * array lands at the same address: nothing is allocated per frame. */
static void test_zone_reused(void **state) {
  struct vector *v = find_vector("response-many-headers");
  const tdm_header *first = NULL;
  tdm_decoder d;
  int i;

  (void)state;
  assert_int_equal(tdm_decoder_init(&d, TDM_DEFAULT_MAX_FRAME), 0);
  for (i = 0; i < 1000; i++) {
    tdm_frame got;
    assert_int_equal(tdm_decode(&d, v->bin, v->len, &got), v->len);
    if (first == NULL)
      first = got.u.response.headers;
    assert_ptr_equal(got.u.response.headers, first);
  }
  tdm_decoder_free(&d);
}

/* Flips bytes of every small valid vector: the decoder must answer without
 * reading past the end, and whatever it accepts must survive a re-encode. */
static void test_mutations(void **state) {
  static const unsigned char values[] = {0x00, 0x01, 0x7f, 0x80, 0x90, 0x9f, 0xc0, 0xc1, 0xc4,
                                         0xc6, 0xcf, 0xd9, 0xdb, 0xdc, 0xdd, 0xdf, 0xff};
  tdm_decoder d, d2;
  size_t i, pos, k, accepted = 0;

  (void)state;
  assert_int_equal(tdm_decoder_init(&d, TDM_DEFAULT_MAX_FRAME), 0);
  assert_int_equal(tdm_decoder_init(&d2, TDM_DEFAULT_MAX_FRAME), 0);
  for (i = 0; i < nvectors; i++) {
    struct vector *v = &vectors[i];
    if (v->error != 0 || v->len > 2048)
      continue;
    for (pos = TDM_FRAME_HEADER_SIZE; pos < v->len; pos++) {
      for (k = 0; k < sizeof(values); k++) {
        char *m = malloc(v->len);
        tdm_frame got, again;
        tdm_buf b;
        ssize_t n;

        assert_non_null(m);
        memcpy(m, v->bin, v->len);
        m[pos] = (char)values[k];
        n = tdm_decode(&d, m, v->len, &got);
        assert_true(n == (ssize_t)v->len || n == TDM_EPROTO);
        if (n > 0 && fields_of(got.type) != NULL) {
          accepted++;
          tdm_buf_init(&b, 0);
          n = tdm_encode(&b, &got);
          assert_true(n > 0);
          assert_int_equal(tdm_encoded_size(&got), n);
          assert_int_equal(tdm_decode(&d2, b.base, b.len, &again), n);
          check_frame(v->name, &again, &got);
          tdm_buf_free(&b);
        }
        free(m);
      }
    }
  }
  assert_true(accepted > 0);
  tdm_decoder_free(&d2);
  tdm_decoder_free(&d);
}

/* The first byte of the shortest msgpack header for each kind, worked out
 * here independently of the codec's size arithmetic. */
static unsigned char str_marker(uint32_t n) {
  return n < 32 ? (unsigned char)(0xa0 | n) : n < 256 ? 0xd9 : n < 65536 ? 0xda : 0xdb;
}

static unsigned char bin_marker(uint32_t n) {
  return n < 256 ? 0xc4 : n < 65536 ? 0xc5 : 0xc6;
}

static unsigned char uint_marker(uint64_t v) {
  return v < 128 ? (unsigned char)v : v < 256 ? 0xcc : v < 65536 ? 0xcd : v <= UINT32_MAX ? 0xce : 0xcf;
}

static unsigned char array_marker(uint64_t n) {
  return n < 16 ? (unsigned char)(0x90 | n) : n < 65536 ? 0xdc : 0xdd;
}

/* Encodes f, checks the byte at off (after the length prefix) is marker and
 * the sizes agree, and decodes it back. */
static void check_marker(tdm_decoder *d, const tdm_frame *f, size_t off, unsigned char marker) {
  tdm_buf b;
  tdm_frame got;
  ssize_t n;

  tdm_buf_init(&b, 0);
  n = tdm_encode(&b, f);
  assert_true(n > 0);
  assert_int_equal(tdm_encoded_size(f), n);
  if ((unsigned char)b.base[TDM_FRAME_HEADER_SIZE + off] != marker)
    fail_msg("type %u: byte %zu is 0x%02x, want 0x%02x", f->type, off,
             (unsigned char)b.base[TDM_FRAME_HEADER_SIZE + off], marker);
  assert_int_equal(tdm_decode(d, b.base, b.len, &got), n);
  check_frame("boundary", &got, f);
  tdm_buf_free(&b);
}

/* Every length at which a msgpack header grows, through both the encoder and
 * tdm_encoded_size(); the vectors reach only some of them. */
static void test_encoding_boundaries(void **state) {
  static const uint32_t lens[] = {0, 1, 31, 32, 255, 256, 65535, 65536, 70000};
  static const uint64_t uints[] = {0, 1, 127, 128, 255, 256, 65535, 65536,
                                   UINT32_MAX, (uint64_t)UINT32_MAX + 1, UINT64_MAX};
  static const uint32_t counts[] = {0, 1, 7, 8, 32767, 32768};
  static const tdm_header pair = {{"a", 1}, {"b", 1}};
  tdm_header *headers = malloc(32768 * sizeof(*headers));
  char *bytes = malloc(70000);
  tdm_decoder d;
  size_t i;

  (void)state;
  assert_non_null(headers);
  assert_non_null(bytes);
  memset(bytes, 'z', 70000);
  for (i = 0; i < 32768; i++)
    headers[i] = pair;
  assert_int_equal(tdm_decoder_init(&d, TDM_MAX_MAX_FRAME), 0);

  for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
    /* [array, type, stream id, code or flags, then the string] */
    tdm_frame goaway = {.type = TDM_GOAWAY, .u.goaway = {0, {bytes, lens[i]}}};
    tdm_frame data = {.type = TDM_DATA, .stream_id = 1, .u.data = {0, {bytes, lens[i]}}};
    check_marker(&d, &goaway, 4, str_marker(lens[i]));
    check_marker(&d, &data, 4, bin_marker(lens[i]));
  }
  for (i = 0; i < sizeof(uints) / sizeof(uints[0]); i++) {
    tdm_frame ping = {.type = TDM_PING, .u.ping = {1, uints[i]}};
    tdm_frame window = {.type = TDM_WINDOW, .stream_id = 1, .u.window_increment = (uint32_t)uints[i]};
    tdm_frame stream = {.type = TDM_CANCEL, .stream_id = (uint32_t)uints[i]};
    check_marker(&d, &ping, 4, uint_marker(uints[i]));
    if (uints[i] > 0 && uints[i] <= UINT32_MAX)
      check_marker(&d, &window, 3, uint_marker(uints[i]));
    if (uints[i] > 0 && uints[i] <= TDM_MAX_STREAM_ID)
      check_marker(&d, &stream, 2, uint_marker(uints[i]));
  }
  for (i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
    /* [array, type, stream id, flags, status 100, then the headers] */
    tdm_frame f = {.type = TDM_RESPONSE, .stream_id = 1,
                   .u.response = {.status = 100, .headers = headers, .nheaders = counts[i]}};
    check_marker(&d, &f, 5, array_marker(2 * (uint64_t)counts[i]));
  }
  tdm_decoder_free(&d);
  free(bytes);
  free(headers);
}

/* tdm_decode() judges a payload's msgpack on its own before msgpack_unpack()
 * sees it; the two must agree on every encoding and every truncation of it.
 * Each sample rides as an extra element of an unknown-type frame. */
static void test_scan_agrees_with_msgpack(void **state) {
  msgpack_sbuffer samples[64];
  size_t nsamples = 0, i, k;
  msgpack_packer pk;
  msgpack_zone zone;
  tdm_decoder d;
  char *blob = malloc(70000);

  (void)state;
  assert_non_null(blob);
  memset(blob, 'q', 70000);
  assert_true(msgpack_zone_init(&zone, 4096));
  assert_int_equal(tdm_decoder_init(&d, TDM_MAX_MAX_FRAME), 0);

#define SAMPLE(packing)                                                       \
  do {                                                                        \
    msgpack_sbuffer_init(&samples[nsamples]);                                 \
    msgpack_packer_init(&pk, &samples[nsamples], msgpack_sbuffer_write);      \
    packing;                                                                  \
    nsamples++;                                                               \
  } while (0)
  SAMPLE(msgpack_pack_nil(&pk));
  SAMPLE(msgpack_pack_true(&pk));
  SAMPLE(msgpack_pack_uint64(&pk, 200));
  SAMPLE(msgpack_pack_uint64(&pk, 300));
  SAMPLE(msgpack_pack_uint64(&pk, 70000));
  SAMPLE(msgpack_pack_uint64(&pk, UINT64_MAX));
  SAMPLE(msgpack_pack_int64(&pk, -1));
  SAMPLE(msgpack_pack_int64(&pk, -100));
  SAMPLE(msgpack_pack_int64(&pk, -1000));
  SAMPLE(msgpack_pack_int64(&pk, -100000));
  SAMPLE(msgpack_pack_int64(&pk, INT64_MIN));
  SAMPLE(msgpack_pack_float(&pk, 1.5f));
  SAMPLE(msgpack_pack_double(&pk, 2.5));
  SAMPLE(msgpack_pack_str_with_body(&pk, blob, 0));
  SAMPLE(msgpack_pack_str_with_body(&pk, blob, 40));
  SAMPLE(msgpack_pack_str_with_body(&pk, blob, 300));
  SAMPLE(msgpack_pack_str_with_body(&pk, blob, 70000));
  SAMPLE(msgpack_pack_bin_with_body(&pk, blob, 0));
  SAMPLE(msgpack_pack_bin_with_body(&pk, blob, 300));
  SAMPLE(msgpack_pack_bin_with_body(&pk, blob, 70000));
  SAMPLE(msgpack_pack_ext_with_body(&pk, blob, 1, 1));
  SAMPLE(msgpack_pack_ext_with_body(&pk, blob, 2, 1));
  SAMPLE(msgpack_pack_ext_with_body(&pk, blob, 4, 1));
  SAMPLE(msgpack_pack_ext_with_body(&pk, blob, 8, 1));
  SAMPLE(msgpack_pack_ext_with_body(&pk, blob, 16, -1));
  SAMPLE(msgpack_pack_ext_with_body(&pk, blob, 3, 1));
  SAMPLE(msgpack_pack_ext_with_body(&pk, blob, 300, 1));
  SAMPLE(msgpack_pack_ext_with_body(&pk, blob, 70000, 1));
  SAMPLE(msgpack_pack_map(&pk, 0));
  SAMPLE(msgpack_pack_map(&pk, 1); msgpack_pack_uint64(&pk, 1); msgpack_pack_nil(&pk));
  SAMPLE(msgpack_pack_map(&pk, 20); for (i = 0; i < 40; i++) msgpack_pack_uint64(&pk, i));
  SAMPLE(msgpack_pack_map(&pk, 70000); for (i = 0; i < 140000; i++) msgpack_pack_nil(&pk));
  SAMPLE(msgpack_pack_array(&pk, 20); for (i = 0; i < 20; i++) msgpack_pack_nil(&pk));
  SAMPLE(msgpack_pack_array(&pk, 70000); for (i = 0; i < 70000; i++) msgpack_pack_true(&pk));
  SAMPLE(msgpack_pack_array(&pk, 2); msgpack_pack_array(&pk, 1); msgpack_pack_array(&pk, 0);
         msgpack_pack_map(&pk, 1); msgpack_pack_str_with_body(&pk, "k", 1);
         msgpack_pack_bin_with_body(&pk, "v", 1));
  SAMPLE(msgpack_sbuffer_write(&samples[nsamples], "\xc1", 1));
  SAMPLE(msgpack_sbuffer_write(&samples[nsamples], "\xc0\xc0", 2));   /* two objects */
#undef SAMPLE

  for (i = 0; i < nsamples; i++) {
    const msgpack_sbuffer *s = &samples[i];
    for (k = 0; k <= s->size; k++) {
      size_t plen = 3 + k, flen = TDM_FRAME_HEADER_SIZE + plen, off = 0;
      char *frame;
      msgpack_object obj;
      msgpack_unpack_return mr;
      ssize_t tr;

      /* Big samples: their first and last bytes are where the headers are. */
      if (s->size > 200 && k > 64 && k + 64 < s->size)
        continue;
      frame = malloc(flen);
      assert_non_null(frame);
      frame[0] = (char)(plen >> 24), frame[1] = (char)(plen >> 16);
      frame[2] = (char)(plen >> 8), frame[3] = (char)plen;
      frame[4] = (char)0x93, frame[5] = 99, frame[6] = 1;
      memcpy(frame + 7, s->data, k);
      msgpack_zone_clear(&zone);
      mr = msgpack_unpack(frame + 4, plen, &off, &zone, &obj);
      tr = tdm_decode(&d, frame, flen, &(tdm_frame){0});
      if ((mr == MSGPACK_UNPACK_SUCCESS) != (tr == (ssize_t)flen) ||
          (mr != MSGPACK_UNPACK_SUCCESS && tr != TDM_EPROTO))
        fail_msg("sample %zu, %zu of %zu bytes: msgpack_unpack %d, tdm_decode %zd", i, k,
                 s->size, (int)mr, tr);
      free(frame);
    }
  }

  for (i = 0; i < nsamples; i++)
    msgpack_sbuffer_destroy(&samples[i]);
  tdm_decoder_free(&d);
  msgpack_zone_destroy(&zone);
  free(blob);
}

static void test_encode_rejects_what_decode_would(void **state) {
  tdm_header h = {{"a", 1}, {"b", 1}};
  tdm_frame bad[] = {
    {.type = 99, .stream_id = 1},
    {.type = 0},
    {.type = TDM_HELLO, .stream_id = 1},
    {.type = TDM_PING, .stream_id = 3},
    {.type = TDM_DATA, .stream_id = 0},
    {.type = TDM_DATA, .stream_id = TDM_MAX_STREAM_ID + 1},
    {.type = TDM_WINDOW, .stream_id = 1, .u.window_increment = 0},
    {.type = TDM_REQUEST, .stream_id = 1, .u.request = {.headers = NULL, .nheaders = 1}},
    {.type = TDM_RESPONSE, .stream_id = 1, .u.response = {.headers = &h, .nheaders = 0x80000000u}},
  };
  tdm_buf b;
  size_t i;

  (void)state;
  tdm_buf_init(&b, 0);
  assert_int_equal(tdm_buf_append(&b, "keep", 4), 0);
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(tdm_encoded_size(&bad[i]), 0);
    assert_int_equal(tdm_encode(&b, &bad[i]), TDM_EINVAL);
    assert_int_equal(b.len, 4);
  }
  assert_memory_equal(b.base, "keep", 4);
  tdm_buf_free(&b);
}

/* Zeroed strings are {NULL, 0}: they must encode as empty, not crash. */
static void test_encode_empty_fields(void **state) {
  static const char want[] = {0, 0, 0, 19, (char)0x9e, 4, 1, 0, (char)0xa0, (char)0xc4, 0,
                              (char)0xc4, 0, (char)0xc4, 0, (char)0xa0, (char)0x90,
                              (char)0xc0, (char)0xc0, (char)0xa0, (char)0xc4, 0, (char)0xa0};
  tdm_frame f = {.type = TDM_REQUEST, .stream_id = 1};
  tdm_decoder d;
  tdm_frame got;

  (void)state;
  check_encodes_to("empty request", &f, want, sizeof(want));
  assert_int_equal(tdm_decoder_init(&d, TDM_DEFAULT_MAX_FRAME), 0);
  assert_int_equal(tdm_decode(&d, want, sizeof(want), &got), sizeof(want));
  check_frame("empty request", &got, &f);
  assert_null(got.u.request.headers);
  tdm_decoder_free(&d);
}

static void test_buf_cap_and_growth(void **state) {
  char bytes[200];
  tdm_frame f = {.type = TDM_DATA, .stream_id = 1};
  tdm_buf b;
  size_t i, first;

  (void)state;
  for (i = 0; i < sizeof(bytes); i++)
    bytes[i] = (char)i;

  tdm_buf_init(&b, 100);
  assert_int_equal(b.cap, 100);
  assert_int_equal(tdm_buf_append(&b, bytes, 60), 0);
  assert_int_equal(tdm_buf_append(&b, bytes + 60, 40), 0);
  assert_int_equal(b.len, 100);
  assert_true(b.size <= b.cap);
  assert_int_equal(tdm_buf_append(&b, bytes, 1), TDM_ENOMEM);
  assert_int_equal(tdm_buf_reserve(&b, 1), TDM_ENOMEM);
  assert_int_equal(tdm_buf_reserve(&b, 0), 0);
  assert_int_equal(tdm_buf_reserve(&b, (size_t)-1), TDM_ENOMEM);
  assert_int_equal(b.len, 100);
  assert_memory_equal(b.base, bytes, 100);

  tdm_buf_consume(&b, 30);
  assert_int_equal(b.len, 70);
  assert_memory_equal(b.base, bytes + 30, 70);
  /* A frame that does not fit leaves the buffer as it was. */
  f.u.data.data = (tdm_str){bytes, 50};
  assert_int_equal(tdm_encode(&b, &f), TDM_ENOMEM);
  assert_int_equal(b.len, 70);
  assert_memory_equal(b.base, bytes + 30, 70);
  f.u.data.data.len = 20;
  assert_int_equal(tdm_encode(&b, &f), 30);
  assert_int_equal(b.len, 100);
  tdm_buf_consume(&b, 1000);
  assert_int_equal(b.len, 0);
  tdm_buf_free(&b);
  assert_null(b.base);
  assert_int_equal(b.size, 0);
  assert_int_equal(b.cap, 100);

  /* cap 0 means four maximum frames; growth doubles. */
  tdm_buf_init(&b, 0);
  assert_int_equal(b.cap, (size_t)TDM_MAX_MAX_FRAME * 4);
  assert_int_equal(tdm_buf_append(&b, bytes, 1), 0);
  first = b.size;
  assert_true(first >= 1);
  assert_int_equal(tdm_buf_reserve(&b, first), 0);
  assert_int_equal(b.size, 2 * first);
  assert_int_equal(tdm_buf_reserve(&b, b.cap - b.len), 0);
  assert_int_equal(b.size, b.cap);
  assert_int_equal(tdm_buf_reserve(&b, b.cap - b.len + 1), TDM_ENOMEM);
  tdm_buf_free(&b);
}

static void test_decoder_init(void **state) {
  tdm_decoder d;

  (void)state;
  assert_int_equal(tdm_decoder_init(&d, 0), TDM_EINVAL);
  assert_int_equal(tdm_decoder_init(&d, 1), 0);
  assert_int_equal(tdm_decode(&d, "\0\0\0\1\xc0", 5, &(tdm_frame){0}), TDM_EPROTO);
  assert_int_equal(tdm_decode(&d, "\0\0\0\2\x91\x00", 6, &(tdm_frame){0}), TDM_E2BIG);
  tdm_decoder_free(&d);
}

static void test_names(void **state) {
  (void)state;
  assert_string_equal(tdm_strerror(TDM_EAGAIN), "incomplete frame, need more bytes");
  assert_string_equal(tdm_strerror(TDM_E2BIG), "frame larger than the maximum frame size");
  assert_string_equal(tdm_strerror(-100), "unknown error");
  assert_string_equal(tdm_goaway_name(TDM_GOAWAY_NO_ERROR), "NO_ERROR");
  assert_string_equal(tdm_goaway_name(TDM_GOAWAY_FRAME_TOO_LARGE), "FRAME_TOO_LARGE");
  assert_string_equal(tdm_goaway_name(TDM_GOAWAY_REFUSED), "REFUSED");
  assert_string_equal(tdm_goaway_name(TDM_GOAWAY_SUPERSEDED), "SUPERSEDED");
  assert_string_equal(tdm_goaway_name(8), "UNKNOWN");
  assert_string_equal(tdm_cancel_name(TDM_CANCEL_CLIENT_GONE), "CLIENT_GONE");
  assert_string_equal(tdm_cancel_name(TDM_CANCEL_INTERNAL), "INTERNAL");
  assert_string_equal(tdm_cancel_name(5), "UNKNOWN");
  assert_string_equal(tdm_frame_type_name(TDM_HELLO), "HELLO");
  assert_string_equal(tdm_frame_type_name(TDM_CANCEL), "CANCEL");
  assert_string_equal(tdm_frame_type_name(0), "UNKNOWN");
  assert_string_equal(tdm_frame_type_name(99), "UNKNOWN");
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_vectors_present),
    cmocka_unit_test(test_valid_vectors_decode_and_reencode),
    cmocka_unit_test(test_invalid_vectors_fail),
    cmocka_unit_test(test_every_truncation),
    cmocka_unit_test(test_byte_at_a_time),
    cmocka_unit_test(test_back_to_back),
    cmocka_unit_test(test_max_frame_size_boundary),
    cmocka_unit_test(test_unknown_type_is_returned_and_skipped),
    cmocka_unit_test(test_long_integer_encodings),
    cmocka_unit_test(test_nesting_limit),
    cmocka_unit_test(test_zone_reused),
    cmocka_unit_test(test_mutations),
    cmocka_unit_test(test_encoding_boundaries),
    cmocka_unit_test(test_scan_agrees_with_msgpack),
    cmocka_unit_test(test_encode_rejects_what_decode_would),
    cmocka_unit_test(test_encode_empty_fields),
    cmocka_unit_test(test_buf_cap_and_growth),
    cmocka_unit_test(test_decoder_init),
    cmocka_unit_test(test_names),
  };

  return cmocka_run_group_tests(tests, load_vectors, free_vectors);
}
