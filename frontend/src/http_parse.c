/* http_parse: one connection's request reader (see http_parse.h).
 *
 * llhttp reports a request in pieces (the url, each header name and value,
 * possibly split across reads); the pieces are copied into head_buf as they
 * come, and the spans of each header are kept, so that when the head is
 * complete the REQUEST's fields can point into one buffer that does not
 * move until the next request begins.  Trailer fields of a chunked body come
 * through the same callbacks; they are only counted against the head's
 * limit, never added to the head.
 *
 * Calls: http_head, llhttp and the codec's buffers; its owner only through
 * the callbacks it was given.
 */
#include "http_parse.h"

#include <stdio.h>
#include <string.h>

static llhttp_settings_t settings;
static int settings_ready;

/* Our callbacks refuse a head with HPE_USER and say which status to answer. */
static int refuse(http_parser *p, int status, const char *reason) {
  p->error_status = status;
  llhttp_set_error_reason(&p->ll, reason);
  return HPE_USER;
}

static int head_append(http_parser *p, const char *at, size_t len) {
  if (p->head_buf.len + len > p->max_head || tdm_buf_append(&p->head_buf, at, len) != 0)
    return refuse(p, 431, "request head too large");
  return 0;
}

static int on_message_begin(llhttp_t *ll) {
  http_parser *p = ll->data;

  p->head_buf.len = 0;
  p->url_off = p->url_len = 0;
  p->nhdrs = 0;
  p->header_value = 0;
  p->bad_header = 0;
  p->in_body = 0;
  p->trailer_bytes = 0;
  return p->cb->on_begin(p->owner) == HTTP_PARSE_OK ? 0 : HPE_PAUSED;
}

static int on_url(llhttp_t *ll, const char *at, size_t len) {
  http_parser *p = ll->data;

  if (p->url_len + len > HTTP_MAX_URL)
    return refuse(p, 414, "URI too long");
  p->url_len += len;
  return head_append(p, at, len);
}

static int on_trailer(http_parser *p, size_t len) {
  p->trailer_bytes += len;
  if (p->trailer_bytes > p->max_head)
    return refuse(p, 431, "request head too large");
  return 0;
}

static int on_header_field(llhttp_t *ll, const char *at, size_t len) {
  http_parser *p = ll->data;
  struct hdr_span *h;

  if (p->in_body)
    return on_trailer(p, len);
  if (p->nhdrs == 0 || p->header_value) {
    if (p->nhdrs == HTTP_MAX_HEADERS)
      return refuse(p, 431, "too many headers");
    h = &p->hdrs[p->nhdrs++];
    h->name_off = (uint32_t) p->head_buf.len;
    h->name_len = 0;
    h->value_off = 0;
    h->value_len = 0;
    p->header_value = 0;
  }
  p->hdrs[p->nhdrs - 1].name_len += len;
  return head_append(p, at, len);
}

static int on_header_value(llhttp_t *ll, const char *at, size_t len) {
  http_parser *p = ll->data;
  struct hdr_span *h;

  if (p->in_body)
    return on_trailer(p, len);
  h = &p->hdrs[p->nhdrs - 1];
  if (!p->header_value)
    h->value_off = (uint32_t) p->head_buf.len;
  /* llhttp 8 accepts obs-fold (a value continued on the next line) and
   * reports the continuation as another span of the same value.  A second
   * span is legitimate only when the first ended with the input and this one
   * starts the next input; RFC 9112 section 5.2 lets a server reject obs-fold,
   * and we do, as h11 and nginx do. */
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

/* Checks the headers and the framing.  Returns 0, or the status to refuse
 * the request with (p->why says why). */
static int head_check(http_parser *p) {
  http_head_info info;
  const char *why = NULL;
  int status;

  for (unsigned i = 0; i < p->nhdrs; i++) {
    p->hdr_out[i].name.ptr = p->head_buf.base + p->hdrs[i].name_off;
    p->hdr_out[i].name.len = p->hdrs[i].name_len;
    p->hdr_out[i].value.ptr = p->head_buf.base + p->hdrs[i].value_off;
    p->hdr_out[i].value.len = p->hdrs[i].value_len;
  }
  if (http_scan_headers(p->hdr_out, p->nhdrs, &info) != 0 || p->bad_header) {
    snprintf(p->why, sizeof(p->why), "Bad Request: invalid header value\n");
    return 400;
  }
  status = http_check_framing(&info, p->head.http10, &why);
  if (status != 0) {
    snprintf(p->why, sizeof(p->why), "%s: %s\n", http_status_reason(status), why);
    return status;
  }
  /* A CONNECT has no content (RFC 9110 section 9.3.6) and llhttp reads none
   * after it: the body such a head announces would be read as the next
   * request, which anything in front that took it for a body never saw. */
  if (p->head.method == HTTP_CONNECT &&
      (info.has_te || ((p->ll.flags & F_CONTENT_LENGTH) && p->ll.content_length > 0))) {
    snprintf(p->why, sizeof(p->why), "Bad Request: a CONNECT request has no body\n");
    return 400;
  }
  if (p->max_body > 0 && (p->ll.flags & F_CONTENT_LENGTH) && p->ll.content_length > p->max_body) {
    snprintf(p->why, sizeof(p->why), "Content Too Large\n");
    return 413;
  }
  p->head.expect_continue = info.expect_continue && !p->head.http10 && p->head.has_body;
  return 0;
}

/* Splits the target, decodes and normalises its path into head_buf (room
 * reserved by the caller).  Returns 0, or the status to refuse it with. */
static int head_path(http_parser *p) {
  http_parse_head *hd = &p->head;
  char *decoded, *norm;
  ssize_t dlen, nlen;

  http_split_target(p->head_buf.base + p->url_off, p->url_len, &hd->target);
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
  /* The decoded path and its normalized copy go after the head bytes;
   * reserve first so the pointers taken below stay valid. */
  if (tdm_buf_reserve(&p->head_buf, 2 * (size_t) p->url_len + 2) != 0)
    return refuse(p, 431, "request head too large");
  status = head_check(p);
  if (status == 0)
    status = head_path(p);
  return p->cb->on_head(p->owner, status, status != 0 ? p->why : NULL) == HTTP_PARSE_OK ? 0 : HPE_PAUSED;
}

static int on_body(llhttp_t *ll, const char *at, size_t len) {
  http_parser *p = ll->data;

  return p->cb->on_body(p->owner, at, len) == HTTP_PARSE_OK ? 0 : HPE_PAUSED;
}

static int on_message_complete(llhttp_t *ll) {
  http_parser *p = ll->data;

  return p->cb->on_complete(p->owner) == HTTP_PARSE_OK ? 0 : HPE_PAUSED;
}

void http_parse_init(http_parser *p, const http_parse_cb *cb, void *owner, size_t max_head,
                     uint64_t max_body) {
  if (!settings_ready) {
    llhttp_settings_init(&settings);
    settings.on_message_begin = on_message_begin;
    settings.on_url = on_url;
    settings.on_header_field = on_header_field;
    settings.on_header_value = on_header_value;
    settings.on_headers_complete = on_headers_complete;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;
    settings_ready = 1;
  }
  llhttp_init(&p->ll, HTTP_REQUEST, &settings);
  p->ll.data = p;
  p->cb = cb;
  p->owner = owner;
  p->max_head = max_head;
  p->max_body = max_body;
  /* The decoded and normalised copies of the url follow the head. */
  tdm_buf_init(&p->head_buf, max_head + 2 * HTTP_MAX_URL + 2);
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
}

int http_parse_feed(http_parser *p, const char *data, size_t len, size_t *used) {
  llhttp_errno_t err;

  p->exec_start = data;
  p->exec_end = data + len;
  p->error_status = 0;
  err = llhttp_execute(&p->ll, data, len);
  if (err == HPE_PAUSED_UPGRADE) {
    /* A request asking to upgrade (Upgrade: websocket, h2c) went on as an
     * ordinary request; no protocol switch is offered, so the connection
     * goes on as HTTP/1.1 with what follows it. */
    size_t n = (size_t) (llhttp_get_error_pos(&p->ll) - data), more = 0;
    int rc;
    llhttp_resume_after_upgrade(&p->ll);
    if (n == len) {
      *used = len;
      return HTTP_PARSE_OK;
    }
    rc = http_parse_feed(p, data + n, len - n, &more);
    *used = n + more;
    return rc;
  }
  if (err == HPE_PAUSED) {
    *used = (size_t) (llhttp_get_error_pos(&p->ll) - data);
    llhttp_resume(&p->ll);
    return HTTP_PARSE_PAUSED;
  }
  if (err != HPE_OK) {
    const char *reason = llhttp_get_error_reason(&p->ll);
    *used = 0;
    snprintf(p->error, sizeof(p->error), "%s (%s)", llhttp_errno_name(err), reason != NULL ? reason : "");
    return err == HPE_USER && p->error_status != 0 ? p->error_status : 400;
  }
  *used = len;
  return HTTP_PARSE_OK;
}

const http_parse_head *http_parse_head_of(const http_parser *p) {
  return &p->head;
}

int http_parse_in_body(const http_parser *p) {
  return p->in_body;
}
