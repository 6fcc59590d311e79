/* http_parse: one connection's request reader (see http_parse.h).
 *
 * llhttp reports a request in pieces (the url, each header name and value,
 * possibly split across reads); the pieces are copied into head_buf as they
 * come, and the spans of each header are kept, so that when the head is
 * complete the REQUEST's fields can point into one buffer that does not
 * move until the next request begins.
 *
 * A chunked body is not llhttp's to read: at the head's end the parser tells
 * llhttp the request has no body (F_SKIPBODY), pauses it when it reports the
 * request complete, and feeds what follows to http_chunked until the body
 * and its trailer section end; then the request is complete, and llhttp
 * goes on with what comes after it.  Trailer fields never reach the head.
 *
 * Calls: http_head, http_chunked, llhttp and the codec's buffers; its owner
 * only through the callbacks it was given.
 */
#include "http_parse.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The head buffer's first size: most heads fit in it (nginx's
 * client_header_buffer_size is 1 KiB too); a longer one grows it. */
#define HEAD_FIRST_SIZE 1024
/* Header fields made room for at once. */
#define HDRS_FIRST 16
/* Parsers given back and kept for the next request (http_parse_get), with
 * buffers of at most these sizes kept in them. */
#define POOL_MAX 128
#define POOL_KEEP_HEAD (4 * 1024)
#define POOL_KEEP_HDRS 32

static llhttp_settings_t settings;
static int settings_ready;
static http_parser *pool;        /* parsers given back; owner: this module */
static unsigned pool_len;

/* Our callbacks refuse a head with HPE_USER and say which status to answer. */
static int refuse(http_parser *p, int status, const char *reason) {
  p->error_status = status;
  llhttp_set_error_reason(&p->ll, reason);
  return HPE_USER;
}

static int head_append(http_parser *p, const char *at, size_t len) {
  if (p->head_buf.len + len > p->max_head)
    return refuse(p, 431, "request head too large");
  if (p->head_buf.size == 0 && len <= HEAD_FIRST_SIZE) {
    /* Smaller than tdm_buf's first size: a client in the middle of a short
     * head holds 1 KiB here, not 4. */
    p->head_buf.base = malloc(HEAD_FIRST_SIZE);
    if (p->head_buf.base != NULL)
      p->head_buf.size = HEAD_FIRST_SIZE;
  }
  if (tdm_buf_append(&p->head_buf, at, len) != 0)
    return refuse(p, 431, "request head too large");
  return 0;
}

/* Room for n entries in the spans (out == 0) or in hdr_out: grown by
 * doubling.  Returns 0, or -1 out of memory. */
static int hdrs_room(http_parser *p, unsigned n, int out) {
  unsigned *cap = out ? &p->out_cap : &p->hdrs_cap;
  size_t esize = out ? sizeof(tdm_header) : sizeof(struct hdr_span);
  unsigned want = *cap > 0 ? *cap : HDRS_FIRST;
  void *grown;

  if (n <= *cap)
    return 0;
  while (want < n)
    want *= 2;
  grown = realloc(out ? (void *) p->hdr_out : (void *) p->hdrs, want * esize);
  if (grown == NULL)
    return -1;
  if (out)
    p->hdr_out = grown;
  else
    p->hdrs = grown;
  *cap = want;
  return 0;
}

static int on_message_begin(llhttp_t *ll) {
  http_parser *p = ll->data;

  p->head_buf.len = 0;
  p->url_off = p->url_len = 0;
  p->method_len = 0;
  p->nhdrs = 0;
  p->header_value = 0;
  p->bad_header = 0;
  p->line_breaks = 0;
  p->name_end = NULL;
  p->in_head = 0;
  p->bare_lf = 0;
  p->last_cr = 0;
  p->version_seen = 0;
  p->not_http = 0;
  p->in_body = 0;
  p->chunked = 0;
  return p->cb->on_begin(p->owner) == HTTP_PARSE_OK ? 0 : HPE_PAUSED;
}

/* The request line begins with its method: the head's line ends are
 * checked from there (head_scan). */
static int on_method(llhttp_t *ll, const char *at, size_t len) {
  http_parser *p = ll->data;

  if (!p->in_head) {
    p->in_head = 1;
    p->head_from = at;
  }
  p->method_len += (uint32_t) len;
  return 0;
}

/* Checks the line ends of the head's bytes in [from, to): llhttp 8 takes a
 * bare LF after the request line and for the empty line that ends the head,
 * where a reader that wants CRLF (RFC 9112 section 2.2) would read on. */
static void head_scan(http_parser *p, const char *from, const char *to) {
  const char *lf = from;

  while ((lf = memchr(lf, '\n', (size_t) (to - lf))) != NULL) {
    if (lf > from ? lf[-1] != '\r' : !p->last_cr)
      p->bare_lf = 1;
    lf++;
  }
  if (to > from)
    p->last_cr = to[-1] == '\r';
}

/* The version's first span: the five bytes before it must be "HTTP/" (RFC
 * 9112 section 2.3: HTTP-name is "HTTP", case-sensitive).  llhttp 8 also
 * takes "RTSP/" and "ICE/" here, which would have the request read as
 * HTTP/1.x (without a Host header, for 1.0), where nginx answers 400.  The
 * bytes may have come in earlier inputs: p->tail keeps their last five. */
static int on_version(llhttp_t *ll, const char *at, size_t len) {
  http_parser *p = ll->data;
  size_t here = (size_t) (at - p->exec_start), before;
  char name[5];

  (void) len;
  if (p->version_seen)
    return 0;
  p->version_seen = 1;
  if (here > sizeof(name))
    here = sizeof(name);
  before = sizeof(name) - here;
  if (p->tail_len < before) {
    p->not_http = 1;
    return 0;
  }
  memcpy(name, p->tail + p->tail_len - before, before);
  memcpy(name + before, at - here, here);
  if (memcmp(name, "HTTP/", sizeof(name)) != 0)
    p->not_http = 1;
  return 0;
}

/* Keeps the last bytes of data[0..n), given to llhttp, for on_version. */
static void tail_keep(http_parser *p, const char *data, size_t n) {
  size_t keep;

  if (n >= sizeof(p->tail)) {
    memcpy(p->tail, data + n - sizeof(p->tail), sizeof(p->tail));
    p->tail_len = sizeof(p->tail);
    return;
  }
  keep = p->tail_len < sizeof(p->tail) - n ? p->tail_len : sizeof(p->tail) - n;
  memmove(p->tail, p->tail + p->tail_len - keep, keep);
  memcpy(p->tail + keep, data, n);
  p->tail_len = (uint8_t) (keep + n);
}

static int on_url(llhttp_t *ll, const char *at, size_t len) {
  http_parser *p = ll->data;

  /* The line is the method, the target and "HTTP/1.1" (llhttp takes no
   * other shape of version) with two spaces and CRLF: refused as soon as
   * the target makes it too long, as nginx answers a line longer than its
   * large_client_header_buffers. */
  if ((size_t) p->method_len + p->url_len + len + 12 > p->max_line)
    return refuse(p, 414, "request line too long");
  p->url_len += len;
  return head_append(p, at, len);
}

static int on_header_field(llhttp_t *ll, const char *at, size_t len) {
  http_parser *p = ll->data;
  struct hdr_span *h;

  if (p->nhdrs == 0 || p->header_value) {
    if (p->nhdrs == p->max_headers)
      return refuse(p, 431, "too many header fields");
    if (hdrs_room(p, p->nhdrs + 1, 0) != 0)
      return refuse(p, 431, "request head too large");
    h = &p->hdrs[p->nhdrs++];
    h->name_off = (uint32_t) p->head_buf.len;
    h->name_len = 0;
    h->value_off = 0;
    h->value_len = 0;
    p->header_value = 0;
  }
  p->hdrs[p->nhdrs - 1].name_len += len;
  p->name_end = at + len;
  p->line_breaks = 0;
  return head_append(p, at, len);
}

/* The line breaks since the last header name, up to at (counted up to 2). */
static unsigned line_breaks(http_parser *p, const char *from, const char *at) {
  unsigned n = p->line_breaks;

  while (n < 2 && (from = memchr(from, '\n', (size_t) (at - from))) != NULL) {
    n++;
    from++;
  }
  return n;
}

static int on_header_value(llhttp_t *ll, const char *at, size_t len) {
  http_parser *p = ll->data;
  struct hdr_span *h;

  h = &p->hdrs[p->nhdrs - 1];
  /* llhttp 8 accepts obs-fold (a value continued on the next line) and
   * reports the continuation as another span of the same value.  A second
   * span is legitimate only when the first ended with the input and this one
   * starts the next input; RFC 9112 section 5.2 lets a server reject obs-fold,
   * and we do, as h11 and nginx do.  After an empty first line the
   * continuation is the value's first span: then a line break lies between
   * the name and it.  (An empty value is reported at the start of the next
   * line, after one line break; an empty value continued, after two.) */
  if (!p->header_value) {
    const char *from = p->name_end != NULL ? p->name_end : p->exec_start;
    h->value_off = (uint32_t) p->head_buf.len;
    if (line_breaks(p, from, at) > (len == 0))
      p->bad_header = 1;
  }
  if (p->header_value && !(p->value_at_end && at == p->exec_start))
    p->bad_header = 1;
  p->value_at_end = at + len == p->exec_end;
  p->header_value = 1;
  h->value_len += len;
  /* llhttp 8 passes an obs-fold line break inside the value. */
  if (memchr(at, '\r', len) != NULL || memchr(at, '\n', len) != NULL || memchr(at, '\0', len) != NULL)
    p->bad_header = 1;
  return head_append(p, at, len);
}

/* Fills the REQUEST's fields from the spans. */
static void head_build(http_parser *p, const char *decoded, size_t dlen) {
  http_parse_head *hd = &p->head;
  tdm_request *rq = &hd->rq;

  rq->flags = 0;
  rq->method.ptr = llhttp_method_name((llhttp_method_t) hd->method);
  rq->method.len = (uint32_t) strlen(rq->method.ptr);
  rq->target.ptr = p->head_buf.base + p->url_off;
  rq->target.len = p->url_len;
  rq->path.ptr = decoded;
  rq->path.len = (uint32_t) dlen;
  rq->query.ptr = hd->target.query != NULL ? hd->target.query : "";
  rq->query.len = (uint32_t) hd->target.query_len;
  rq->http_version.ptr = hd->http10 ? "1.0" : "1.1";
  rq->http_version.len = 3;
  rq->headers = p->hdr_out;
  rq->nheaders = p->nhdrs;
  rq->client = p->client;
  rq->server = p->server;
  rq->scheme.ptr = "http";
  rq->scheme.len = 4;
  rq->body.ptr = NULL;
  rq->body.len = 0;
}

/* Refuses the head with status; the body of the answer says why. */
static int refuse_head(http_parser *p, int status, const char *why) {
  snprintf(p->why, sizeof(p->why), "%s%s%s\n", http_status_reason(status), why != NULL ? ": " : "",
           why != NULL ? why : "");
  return status;
}

/* Checks the request line: the version, the method and the target's form.
 * Returns 0, or the status to refuse the request with (p->why says why). */
static int line_check(http_parser *p) {
  const llhttp_t *ll = &p->ll;
  int form;

  /* llhttp takes any one-digit version here (LENIENT_VERSION), so that the
   * ones we do not speak get 505, as nginx answers HTTP/2.0 and later, and
   * not a reading as HTTP/1.1: HTTP/0.9 as well, and 1.2 to 1.9. */
  if (p->not_http)
    return refuse_head(p, 400, "the request line's protocol is not HTTP");
  if (ll->http_major != 1 || ll->http_minor > 1)
    return refuse_head(p, 505, "only HTTP/1.0 and HTTP/1.1 are served");
  /* CONNECT would make a tunnel of the connection, and TRACE would echo the
   * request's headers (its cookies too) back to a script; nginx refuses both
   * with 405 as well. */
  if (p->head.method == HTTP_CONNECT || p->head.method == HTTP_TRACE)
    return refuse_head(p, 405, "CONNECT and TRACE are not served");
  form = http_target_form(p->head_buf.base + p->url_off, p->url_len);
  if (form == HTTP_FORM_BAD)
    return refuse_head(p, 400, "invalid request target");
  if (form == HTTP_FORM_ASTERISK && p->head.method != HTTP_OPTIONS)
    return refuse_head(p, 400, "the target * is for OPTIONS only");
  return 0;
}

/* Checks the request line, the headers and the framing.  Returns 0, or the
 * status to refuse the request with (p->why says why). */
static int head_check(http_parser *p) {
  http_head_info info;
  const char *why = NULL;
  int status = line_check(p);

  if (status != 0)
    return status;
  if (hdrs_room(p, p->nhdrs + 1, 1) != 0)
    return refuse_head(p, 431, "request head too large");
  for (unsigned i = 0; i < p->nhdrs; i++) {
    p->hdr_out[i].name.ptr = p->head_buf.base + p->hdrs[i].name_off;
    p->hdr_out[i].name.len = p->hdrs[i].name_len;
    p->hdr_out[i].value.ptr = p->head_buf.base + p->hdrs[i].value_off;
    p->hdr_out[i].value.len = p->hdrs[i].value_len;
  }
  if (http_scan_headers(p->hdr_out, p->nhdrs, &info) != 0 || p->bad_header)
    return refuse_head(p, 400, "invalid header value");
  status = http_check_framing(&info, p->head.http10, &why);
  if (status != 0)
    return refuse_head(p, status, why);
  if (info.expect_other)
    return refuse_head(p, 417, "only 100-continue is understood");
  if (p->max_body > 0 && (p->ll.flags & F_CONTENT_LENGTH) && p->ll.content_length > p->max_body)
    return refuse_head(p, 413, NULL);
  p->host = info.hosts > 0 ? (int) info.host : -1;
  p->head.expect_continue = info.expect_continue && !p->head.http10 && p->head.has_body;
  return 0;
}

/* An absolute-form target names the host itself, and RFC 9112 section 3.2.2
 * has the Host header ignored then: its value becomes the target's
 * authority, or a Host header is added with it (HTTP/1.0 sends none), so
 * the backend sees one host, the one routing saw. */
static void head_authority(http_parser *p) {
  const http_target *t = &p->head.target;

  if (t->authority == NULL)
    return;
  if (p->host < 0) {           /* head_check made room for one more */
    p->host = (int) p->nhdrs++;
    p->hdr_out[p->host].name.ptr = "host";
    p->hdr_out[p->host].name.len = 4;
  }
  if (p->host >= 0) {
    p->hdr_out[p->host].value.ptr = t->authority;
    p->hdr_out[p->host].value.len = (uint32_t) t->authority_len;
  }
}

/* Splits the target, decodes and normalises its path into head_buf (room
 * reserved by the caller).  Returns 0, or the status to refuse it with. */
static int head_path(http_parser *p) {
  http_parse_head *hd = &p->head;
  char *decoded, *norm;
  ssize_t dlen, nlen;

  http_split_target(p->head_buf.base + p->url_off, p->url_len, &hd->target);
  head_authority(p);
  decoded = p->head_buf.base + p->head_buf.len;
  dlen = http_percent_decode(hd->target.path, hd->target.path_len, decoded);
  if (dlen < 0) {
    snprintf(p->why, sizeof(p->why), "Bad Request: invalid percent-encoding in the path\n");
    return 400;
  }
  if (dlen == 0)
    decoded[dlen++] = '/';
  p->head_buf.len += (size_t) dlen;
  head_build(p, decoded, (size_t) dlen);

  /* A path that climbs above the root is refused whatever serves it (as
   * nginx does); static mounts match on the normalized path.  This holds for
   * the origin form ("/a/b") and the absolute form ("http://h/a/b") alike. */
  hd->norm = NULL;
  hd->norm_len = 0;
  if (decoded[0] != '/')
    return 0;
  norm = p->head_buf.base + p->head_buf.len;
  memcpy(norm, decoded, (size_t) dlen);
  nlen = http_normalize_path(norm, (size_t) dlen);
  if (nlen < 0) {
    snprintf(p->why, sizeof(p->why), "Bad Request: the path climbs above the root\n");
    return 400;
  }
  hd->norm = norm;
  hd->norm_len = (size_t) nlen;
  return 0;
}

static int on_headers_complete(llhttp_t *ll) {
  http_parser *p = ll->data;
  http_parse_head *hd = &p->head;
  int status;

  p->in_body = 1;
  memset(hd, 0, sizeof(*hd));
  hd->method = (uint8_t) llhttp_get_method(ll);
  hd->http10 = ll->http_major == 1 && ll->http_minor == 0;
  hd->keep_alive = llhttp_should_keep_alive(ll);
  hd->has_body = (ll->flags & F_CHUNKED) || ((ll->flags & F_CONTENT_LENGTH) && ll->content_length > 0);
  /* No protocol switch is offered (CONNECT is refused, an Upgrade header is
   * ignored): the connection goes on as HTTP/1.1 with what follows. */
  ll->upgrade = 0;
  if (ll->flags & F_CHUNKED) {
    /* llhttp reads no body; http_chunked does (see the top). */
    ll->flags |= F_SKIPBODY;
    p->chunked = 1;
    http_chunked_init(&p->chunks, p->max_head);
  }
  /* The decoded path and its normalized copy go after the head bytes;
   * reserve first so the pointers taken below stay valid. */
  if (tdm_buf_reserve(&p->head_buf, 2 * (size_t) p->url_len + 2) != 0)
    return refuse(p, 431, "request head too large");
  status = head_check(p);
  /* A head refused for what it asks (a body too large, an expectation), not
   * for its form, is read whole, for the access log (http_parse_refused_whole). */
  if (status == 0 || http_parse_refused_whole(status)) {
    int path_status = head_path(p);
    if (path_status != 0)
      status = path_status;
  }
  /* The owner hears of the head once its line ends are checked, which needs
   * where it ends: llhttp pauses here to say (ll_feed, head_end). */
  p->head_status = status;
  p->head_pending = 1;
  return HPE_PAUSED;
}

static int on_body(llhttp_t *ll, const char *at, size_t len) {
  http_parser *p = ll->data;

  /* Resumed with no input, llhttp reports an empty span: nothing to pass on. */
  if (len == 0)
    return 0;
  return p->cb->on_body(p->owner, at, len) == HTTP_PARSE_OK ? 0 : HPE_PAUSED;
}

static int on_message_complete(llhttp_t *ll) {
  http_parser *p = ll->data;

  if (p->chunked && !p->in_chunks) {
    /* Only the head is complete: llhttp pauses here, and the input after
     * it goes to http_chunked (http_parse_feed). */
    p->in_chunks = 1;
    p->handover = 1;
    return HPE_PAUSED;
  }
  return p->cb->on_complete(p->owner) == HTTP_PARSE_OK ? 0 : HPE_PAUSED;
}

/* Sets p up for cb and owner with lim, keeping the buffers it has. */
static void parse_setup(http_parser *p, const http_parse_cb *cb, void *owner, const http_parse_limits *lim) {
  if (!settings_ready) {
    llhttp_settings_init(&settings);
    settings.on_message_begin = on_message_begin;
    settings.on_method = on_method;
    settings.on_url = on_url;
    settings.on_version = on_version;
    settings.on_header_field = on_header_field;
    settings.on_header_value = on_header_value;
    settings.on_headers_complete = on_headers_complete;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;
    settings_ready = 1;
  }
  memset(p, 0, offsetof(http_parser, head));
  llhttp_init(&p->ll, HTTP_REQUEST, &settings);
  p->ll.lenient_flags |= LENIENT_VERSION;        /* line_check() answers the version */
  p->ll.data = p;
  p->cb = cb;
  p->owner = owner;
  p->max_head = lim->max_head;
  p->max_body = lim->max_body;
  p->max_line = lim->max_line;
  p->max_headers = lim->max_headers;
  p->head_buf.len = 0;
  /* The decoded and normalised copies of the url follow the head. */
  p->head_buf.cap = lim->max_head + 2 * lim->max_line + 2;
}

void http_parse_init(http_parser *p, const http_parse_cb *cb, void *owner, size_t max_head,
                     uint64_t max_body) {
  const http_parse_limits lim = { max_head, HTTP_MAX_LINE, HTTP_MAX_HEADERS, max_body };

  memset(p, 0, sizeof(*p));
  tdm_buf_init(&p->head_buf, 1);
  parse_setup(p, cb, owner, &lim);
}

http_parser *http_parse_get(const http_parse_cb *cb, void *owner, const http_parse_limits *lim) {
  http_parser *p = pool;

  if (p != NULL) {
    pool = p->next_free;
    pool_len--;
  } else {
    p = calloc(1, sizeof(*p));   /* owner: the caller, until http_parse_put() */
    if (p == NULL)
      return NULL;
    tdm_buf_init(&p->head_buf, 1);
  }
  parse_setup(p, cb, owner, lim);
  return p;
}

void http_parse_put(http_parser *p) {
  if (p == NULL)
    return;
  if (pool_len == POOL_MAX) {
    http_parse_free(p);
    free(p);
    return;
  }
  /* What a long head grew is not kept: the pool stays small. */
  if (p->head_buf.size > POOL_KEEP_HEAD)
    tdm_buf_free(&p->head_buf);
  if (p->hdrs_cap > POOL_KEEP_HDRS || p->out_cap > POOL_KEEP_HDRS + 1) {
    free(p->hdrs);
    free(p->hdr_out);
    p->hdrs = NULL;
    p->hdr_out = NULL;
    p->hdrs_cap = p->out_cap = 0;
  }
  p->next_free = pool;
  pool = p;
  pool_len++;
}

void http_parse_set_addrs(http_parser *p, const char *client, uint32_t client_port,
                          const char *server, uint32_t server_port) {
  p->client.present = client[0] != '\0';
  p->client.host.ptr = client;
  p->client.host.len = (uint32_t) strlen(client);
  p->client.port = client_port;
  p->server.present = server[0] != '\0';
  p->server.host.ptr = server;
  p->server.host.len = (uint32_t) strlen(server);
  p->server.port = server_port;
}

void http_parse_free(http_parser *p) {
  tdm_buf_free(&p->head_buf);
  free(p->hdrs);
  free(p->hdr_out);
  p->hdrs = NULL;
  p->hdr_out = NULL;
  p->hdrs_cap = p->out_cap = 0;
}

/* The head ends at pos: its last line ends are checked, and the owner is
 * told of it.  Returns what the owner's on_head said. */
static int head_end(http_parser *p, const char *pos) {
  int status = p->head_status;

  head_scan(p, p->head_from != NULL ? p->head_from : p->exec_start, pos);
  p->head_pending = 0;
  p->in_head = 0;
  p->head_from = NULL;
  if (status == 0 && p->bare_lf)
    status = refuse_head(p, 400, "a line of the head not ended by CRLF");
  return p->cb->on_head(p->owner, status, status != 0 ? p->why : NULL);
}

/* A byte of a method as nginx reads one: RFC 9110's token, narrowed to
 * upper-case letters, '_' and '-'. */
static int method_char(unsigned char ch) {
  return (ch >= 'A' && ch <= 'Z') || ch == '_' || ch == '-';
}

/* llhttp 8 knows a fixed list of methods and fails at the first byte of any
 * other.  Such a method cannot be passed on, but a request with it is not
 * malformed: it gets 501 (RFC 9110 section 9.1), once its request line has
 * come whole and in shape, as nginx would read it: the method, spaces, a
 * target (no space or control byte, beginning with '/', '*' or a scheme's
 * letter), spaces, "HTTP/" with a digit, '.' and a digit, and CRLF.  Out of
 * shape, it gets 400.  llhttp took the bytes before data as the start of a
 * method it knows, so only the rest is scanned, across inputs.  Returns
 * 501, 400 or 414, or HTTP_PARSE_OK when all of data was taken and more is
 * needed. */
enum { SCAN_METHOD, SCAN_TARGET, SCAN_VERSION };
static const char version_shape[] = "HTTP/0.0\r\n";   /* '0': any digit */

static int scan_refuse(http_parser *p, int status, const char *why) {
  snprintf(p->error, sizeof(p->error), "%s", why);
  return status;
}

static int method_scan(http_parser *p, const char *data, size_t len, size_t *used) {
  *used = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char) data[i], want;

    if (++p->scan_len > p->max_line)
      return scan_refuse(p, 414, "request line too long");
    switch (p->scan_part) {
    case SCAN_METHOD:
      if (ch == ' ' && p->scan_len > 1)
        p->scan_part = SCAN_TARGET;
      else if (!method_char(ch))
        return scan_refuse(p, 400, "invalid method");
      break;
    case SCAN_TARGET:
      if (ch == ' ') {
        if (p->scan_pos > 0) {
          p->scan_part = SCAN_VERSION;
          p->scan_pos = 0;
        }
      } else if (ch <= ' ' || ch >= 0x7f ||
                 (p->scan_pos == 0 && ch != '/' && ch != '*' && !((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z'))) {
        return scan_refuse(p, 400, "invalid request target");
      } else {
        p->scan_pos = 1;
      }
      break;
    default:
      if (ch == ' ' && p->scan_pos == 0)
        break;
      want = (unsigned char) version_shape[p->scan_pos];
      if (want == '0' ? !(ch >= '0' && ch <= '9') : ch != want)
        return scan_refuse(p, 400, "invalid request line");
      if (++p->scan_pos == sizeof(version_shape) - 1)
        return scan_refuse(p, 501, "a method the frontend does not know");
    }
  }
  *used = len;
  return HTTP_PARSE_OK;
}

/* llhttp failed at at, in a method: starts method_scan() there.  The method
 * began with the bytes llhttp took before at, in earlier inputs (on_method
 * counted them) and in this one, from its span's start (llhttp 8 keeps the
 * open span's start in _span_pos0: where the method began, or this input's
 * start). */
static int method_scan_from(http_parser *p, const char *at, const char *end) {
  const char *span = p->ll._span_pos0;
  size_t taken;

  p->method_scan = 1;
  p->scan_len = p->method_len + (span != NULL && span < at ? (uint32_t) (at - span) : 0);
  return method_scan(p, at, (size_t) (end - at), &taken);
}

/* Feeds data[0..len) to llhttp; as http_parse_feed(). */
static int ll_feed(http_parser *p, const char *data, size_t len, size_t *used) {
  size_t off = 0;
  llhttp_errno_t err;
  int rc;

  for (;;) {
    p->exec_start = data + off;
    p->exec_end = data + len;
    p->error_status = 0;
    err = llhttp_execute(&p->ll, data + off, len - off);
    if (err != HPE_PAUSED)
      break;
    off = (size_t) (llhttp_get_error_pos(&p->ll) - data);
    if (p->in_head && !p->version_seen)
      tail_keep(p, p->exec_start, (size_t) (data + off - p->exec_start));
    llhttp_resume(&p->ll);
    p->name_end = NULL;
    /* A head's end goes on at once, unless its owner stops there. */
    if (!p->head_pending || head_end(p, data + off) != HTTP_PARSE_OK) {
      *used = off;
      return HTTP_PARSE_PAUSED;
    }
  }
  if (err == HPE_INVALID_METHOD) {
    rc = method_scan_from(p, llhttp_get_error_pos(&p->ll), data + len);
    *used = rc == HTTP_PARSE_OK ? len : 0;
    return rc;
  }
  if (err != HPE_OK) {
    const char *reason = llhttp_get_error_reason(&p->ll);
    *used = 0;
    snprintf(p->error, sizeof(p->error), "%s (%s)", llhttp_errno_name(err), reason != NULL ? reason : "");
    return err == HPE_USER && p->error_status != 0 ? p->error_status : 400;
  }
  if (p->in_head && !p->version_seen)
    tail_keep(p, p->exec_start, (size_t) (data + len - p->exec_start));
  if (p->in_head)
    head_scan(p, p->head_from != NULL ? p->head_from : p->exec_start, data + len);
  p->head_from = NULL;
  /* The input ended between a header's name and its value: its line breaks
   * are remembered, since the value's first span comes in another input
   * (on_header_value). */
  if (!p->in_body && p->nhdrs > 0 && !p->header_value)
    p->line_breaks = line_breaks(p, p->name_end != NULL ? p->name_end : p->exec_start, data + len);
  p->name_end = NULL;
  *used = len;
  return HTTP_PARSE_OK;
}

/* Feeds data[0..len) to the chunked body's decoder; its data and its end go
 * to the owner.  As http_parse_feed(). */
static int chunks_feed(http_parser *p, const char *data, size_t len, size_t *used) {
  size_t off = 0;

  *used = 0;
  while (off < len) {
    const char *body;
    size_t blen;
    ssize_t n = http_chunked_feed(&p->chunks, data + off, len - off, &body, &blen);
    if (n < 0) {
      snprintf(p->error, sizeof(p->error), "chunked body: %s", p->chunks.why);
      return n == HTTP_CHUNKED_TOO_LARGE ? 431 : 400;
    }
    off += (size_t) n;
    *used = off;
    if (blen > 0 && p->cb->on_body(p->owner, body, blen) != HTTP_PARSE_OK)
      return HTTP_PARSE_PAUSED;
    if (p->chunks.done) {
      p->in_chunks = 0;
      return p->cb->on_complete(p->owner) == HTTP_PARSE_OK ? HTTP_PARSE_OK : HTTP_PARSE_PAUSED;
    }
  }
  return HTTP_PARSE_OK;
}

int http_parse_feed(http_parser *p, const char *data, size_t len, size_t *used) {
  size_t off = 0, n = 0;
  int rc;

  if (p->method_scan)
    return method_scan(p, data, len, used);
  for (;;) {
    if (p->in_chunks) {
      rc = chunks_feed(p, data + off, len - off, &n);
      off += n;
      if (rc != HTTP_PARSE_OK || p->in_chunks || off == len)
        break;
    }
    rc = ll_feed(p, data + off, len - off, &n);
    off += n;
    if (rc != HTTP_PARSE_PAUSED || !p->handover)
      break;
    p->handover = 0;            /* a chunked body begins: go on with it */
  }
  *used = rc > 0 ? 0 : off;
  return rc;
}

const http_parse_head *http_parse_head_of(const http_parser *p) {
  return &p->head;
}

int http_parse_in_body(const http_parser *p) {
  return p->in_body;
}
