/* ws_handshake: a WebSocket's opening handshake; the contract is in
 * ws_handshake.h. */
#include "ws_handshake.h"

#include <string.h>
#include <strings.h>

#include <llhttp.h>

#include "http_head.h"
#include "sha1.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static int name_is(const tdm_str *s, const char *name) {
  size_t n = strlen(name);
  return s->len == n && strncasecmp(s->ptr, name, n) == 0;
}

/* Whether the comma-separated list v[0..len) holds token (in any case). */
static int list_has(const char *v, size_t len, const char *token) {
  size_t n = strlen(token), i = 0;

  while (i < len) {
    size_t start, end;
    while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
      i++;
    start = i;
    while (i < len && v[i] != ',')
      i++;
    end = i;
    while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
      end--;
    if (end - start == n && strncasecmp(v + start, token, n) == 0)
      return 1;
  }
  return 0;
}

/* Whether any header named name lists token. */
static int headers_list(const tdm_request *rq, const char *name, const char *token) {
  for (uint32_t i = 0; i < rq->nheaders; i++)
    if (name_is(&rq->headers[i].name, name) &&
        list_has(rq->headers[i].value.ptr, rq->headers[i].value.len, token))
      return 1;
  return 0;
}

/* The only header named name: 1 and *v; 0 if none; -1 if several. */
static int header_one(const tdm_request *rq, const char *name, tdm_str *v) {
  int found = 0;

  for (uint32_t i = 0; i < rq->nheaders; i++) {
    if (!name_is(&rq->headers[i].name, name))
      continue;
    if (found)
      return -1;
    *v = rq->headers[i].value;
    found = 1;
  }
  return found;
}

int ws_handshake_check(const tdm_request *rq, int method, const char **why) {
  tdm_str v;

  /* Upgrade is a hop-by-hop request only when Connection names it (RFC 9110
   * section 7.8); otherwise the request is plain HTTP, as before. */
  if (!headers_list(rq, "upgrade", "websocket") || !headers_list(rq, "connection", "upgrade"))
    return 0;
  /* "A server MUST ignore an Upgrade header field that is received in an
   * HTTP/1.0 request" (RFC 9110 section 7.8): plain HTTP, as nginx serves it. */
  if (rq->http_version.len != 3 || memcmp(rq->http_version.ptr, "1.1", 3) != 0)
    return 0;
  if (method != HTTP_GET) {
    *why = "a WebSocket handshake must be a GET";
    return 400;
  }
  if (header_one(rq, "sec-websocket-version", &v) != 1 || v.len != 2 || memcmp(v.ptr, "13", 2) != 0) {
    *why = "only WebSocket version 13 is supported";
    return 426;
  }
  if (header_one(rq, "sec-websocket-key", &v) != 1 || base64_decoded_len(v.ptr, v.len) != 16) {
    *why = "sec-websocket-key must be one base64-encoded 16-byte value";
    return 400;
  }
  return 1;
}

void ws_accept_key(const char *key, size_t len, char out[29]) {
  unsigned char digest[SHA1_DIGEST_SIZE];
  sha1_ctx c;

  sha1_init(&c);
  sha1_update(&c, key, len);
  sha1_update(&c, WS_GUID, sizeof(WS_GUID) - 1);
  sha1_final(&c, digest);
  base64_encode(digest, sizeof(digest), out);
}

/* Headers of the backend's WS_ACCEPT the frontend writes itself, or that
 * have no place in a 101. */
static int header_own(const tdm_str *name) {
  static const char *const own[] = {"upgrade", "connection", "sec-websocket-accept", "sec-websocket-protocol",
                                    "sec-websocket-extensions", "content-length", "transfer-encoding",
                                    "keep-alive", "date"};
  for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
    if (name_is(name, own[i]))
      return 1;
  return 0;
}

static int put(tdm_buf *out, const char *s, size_t n) {
  return tdm_buf_append(out, s, n);
}

#define PUTS(out, s) put(out, s, sizeof(s) - 1)

void ws_handshake_key(const tdm_request *rq, char key[WS_KEY_LEN + 1]) {
  tdm_str v;

  key[0] = '\0';
  if (header_one(rq, "sec-websocket-key", &v) == 1 && v.len == WS_KEY_LEN) {
    memcpy(key, v.ptr, WS_KEY_LEN);
    key[WS_KEY_LEN] = '\0';
  }
}

int ws_handshake_accept(tdm_buf *out, const char *key, const tdm_ws_accept *a, const char *date_line,
                        size_t date_len, const char **why) {
  char accept[29];
  int rc = 0;

  if (a->subprotocol.len > 0 && !http_is_token(a->subprotocol.ptr, a->subprotocol.len)) {
    *why = "the application chose a subprotocol that is not a token";
    return -1;
  }
  for (uint32_t i = 0; i < a->nheaders; i++)
    if (!http_is_token(a->headers[i].name.ptr, a->headers[i].name.len) ||
        !http_value_ok(a->headers[i].value.ptr, a->headers[i].value.len)) {
      *why = "invalid header in the application's accept";
      return -1;
    }
  ws_accept_key(key, strlen(key), accept);
  rc |= PUTS(out, "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
                  "sec-websocket-accept: ");
  rc |= put(out, accept, 28);
  rc |= PUTS(out, "\r\n");
  if (a->subprotocol.len > 0) {
    rc |= PUTS(out, "sec-websocket-protocol: ");
    rc |= put(out, a->subprotocol.ptr, a->subprotocol.len);
    rc |= PUTS(out, "\r\n");
  }
  for (uint32_t i = 0; i < a->nheaders; i++) {
    const tdm_header *h = &a->headers[i];
    if (header_own(&h->name))
      continue;
    rc |= put(out, h->name.ptr, h->name.len);
    rc |= PUTS(out, ": ");
    rc |= put(out, h->value.ptr, h->value.len);
    rc |= PUTS(out, "\r\n");
  }
  rc |= put(out, date_line, date_len);
  rc |= PUTS(out, "\r\n");
  if (rc != 0) {
    *why = "the application's accept headers are too large";
    return -1;
  }
  return 0;
}
