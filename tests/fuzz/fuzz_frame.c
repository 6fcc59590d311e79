/* libFuzzer harness of the frame codec (protocol/tdm_proto.c).
 *
 * The input is a byte stream as a peer would send it.  Frames are decoded
 * from it one after the other, as the frontend and the backend's accelerator
 * do, until the decoder needs more bytes or refuses one.  For every frame
 * that decodes:
 *
 * - every string and byte string points inside that frame's payload (a
 *   decoder that let one run into the next frame, or past the input, would
 *   hand the application bytes the peer never put in that field);
 * - each prefix of the frame is "need more bytes", never a frame;
 * - a frame of a type this version defines re-encodes, in exactly the bytes
 *   tdm_encoded_size() announced and no more than the input took (the
 *   encoder writes the shortest forms, and drops what decoders ignore); the
 *   re-encoding decodes to the same frame, field by field, and encoding that
 *   gives the same bytes again: the round trip is stable after one step;
 * - a frame of an unknown type is refused by the encoder.
 *
 * A length above the decoder's limit must be refused from the four length
 * bytes alone, and a payload is either a frame or malformed: never "out of
 * memory", which would mean the codec's own well-formedness walk (mp_check)
 * passed something msgpack-c then refused.  AddressSanitizer and UBSan watch every read; the input is
 * libFuzzer's own allocation of exactly its size.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tdm_proto.h"

/* A failed invariant: says which, and aborts so that libFuzzer keeps the input. */
#define CHECK(cond)                                                                      \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      fprintf(stderr, "fuzz_frame: %s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                                           \
    }                                                                                    \
  } while (0)

/* The payload a decoded frame's strings must stay inside. */
struct span {
  const char *start, *end;
};

static void check_str_inside(tdm_str s, struct span in) {
  if (s.len == 0)
    return;
  CHECK(s.ptr >= in.start && s.ptr <= in.end && (size_t) (in.end - s.ptr) >= s.len);
}

static void check_headers_inside(const tdm_header *h, uint32_t n, struct span in) {
  CHECK(n == 0 || h != NULL);
  for (uint32_t i = 0; i < n; i++) {
    check_str_inside(h[i].name, in);
    check_str_inside(h[i].value, in);
  }
}

static void check_addr_inside(const tdm_addr *a, struct span in) {
  CHECK(a->present == 0 || a->present == 1);
  if (a->present)
    check_str_inside(a->host, in);
}

static void check_inside(const tdm_frame *f, struct span in) {
  switch (f->type) {
  case TDM_HELLO:
    check_str_inside(f->u.hello.role, in);
    check_str_inside(f->u.hello.app, in);
    break;
  case TDM_GOAWAY:
    check_str_inside(f->u.goaway.message, in);
    break;
  case TDM_PING:
    CHECK(f->u.ping.ack == 0 || f->u.ping.ack == 1);
    break;
  case TDM_REQUEST: {
    const tdm_request *r = &f->u.request;
    check_str_inside(r->method, in);
    check_str_inside(r->target, in);
    check_str_inside(r->path, in);
    check_str_inside(r->query, in);
    check_str_inside(r->http_version, in);
    check_headers_inside(r->headers, r->nheaders, in);
    check_addr_inside(&r->client, in);
    check_addr_inside(&r->server, in);
    check_str_inside(r->scheme, in);
    check_str_inside(r->body, in);
    check_str_inside(r->request_id, in);
    CHECK(r->request_id.ptr != NULL);
    break;
  }
  case TDM_RESPONSE:
    check_headers_inside(f->u.response.headers, f->u.response.nheaders, in);
    check_str_inside(f->u.response.body, in);
    break;
  case TDM_DATA:
    check_str_inside(f->u.data.data, in);
    break;
  case TDM_WINDOW:
    CHECK(f->u.window_increment > 0);
    break;
  case TDM_WS_ACCEPT:
    check_str_inside(f->u.ws_accept.subprotocol, in);
    check_headers_inside(f->u.ws_accept.headers, f->u.ws_accept.nheaders, in);
    break;
  case TDM_WS_MESSAGE:
    check_str_inside(f->u.ws_message.data, in);
    break;
  case TDM_WS_CLOSE:
    check_str_inside(f->u.ws_close.reason, in);
    break;
  }
}

static int str_eq(tdm_str a, tdm_str b) {
  return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static int headers_eq(const tdm_header *a, uint32_t na, const tdm_header *b, uint32_t nb) {
  if (na != nb)
    return 0;
  for (uint32_t i = 0; i < na; i++)
    if (!str_eq(a[i].name, b[i].name) || !str_eq(a[i].value, b[i].value))
      return 0;
  return 1;
}

static int addr_eq(const tdm_addr *a, const tdm_addr *b) {
  if (a->present != b->present)
    return 0;
  return !a->present || (str_eq(a->host, b->host) && a->port == b->port);
}

/* Whether two decoded frames of a known type say the same thing. */
static int frame_eq(const tdm_frame *a, const tdm_frame *b) {
  if (a->type != b->type || a->stream_id != b->stream_id)
    return 0;
  switch (a->type) {
  case TDM_HELLO: {
    const tdm_hello *x = &a->u.hello, *y = &b->u.hello;
    return x->version == y->version && str_eq(x->role, y->role) && str_eq(x->app, y->app) &&
           x->pid == y->pid && x->generation == y->generation && x->max_frame_size == y->max_frame_size &&
           x->max_streams == y->max_streams && x->initial_window == y->initial_window &&
           x->features == y->features;
  }
  case TDM_GOAWAY:
    return a->u.goaway.code == b->u.goaway.code && str_eq(a->u.goaway.message, b->u.goaway.message);
  case TDM_PING:
    return a->u.ping.ack == b->u.ping.ack && a->u.ping.opaque == b->u.ping.opaque;
  case TDM_REQUEST: {
    const tdm_request *x = &a->u.request, *y = &b->u.request;
    return x->flags == y->flags && str_eq(x->method, y->method) && str_eq(x->target, y->target) &&
           str_eq(x->path, y->path) && str_eq(x->query, y->query) &&
           str_eq(x->http_version, y->http_version) &&
           headers_eq(x->headers, x->nheaders, y->headers, y->nheaders) && addr_eq(&x->client, &y->client) &&
           addr_eq(&x->server, &y->server) && str_eq(x->scheme, y->scheme) && str_eq(x->body, y->body) &&
           str_eq(x->request_id, y->request_id);
  }
  case TDM_RESPONSE: {
    const tdm_response *x = &a->u.response, *y = &b->u.response;
    return x->flags == y->flags && x->status == y->status &&
           headers_eq(x->headers, x->nheaders, y->headers, y->nheaders) && str_eq(x->body, y->body);
  }
  case TDM_DATA:
    return a->u.data.flags == b->u.data.flags && str_eq(a->u.data.data, b->u.data.data);
  case TDM_WINDOW:
    return a->u.window_increment == b->u.window_increment;
  case TDM_CANCEL:
    return a->u.cancel_code == b->u.cancel_code;
  case TDM_WS_ACCEPT:
    return str_eq(a->u.ws_accept.subprotocol, b->u.ws_accept.subprotocol) &&
           headers_eq(a->u.ws_accept.headers, a->u.ws_accept.nheaders, b->u.ws_accept.headers,
                      b->u.ws_accept.nheaders);
  case TDM_WS_MESSAGE:
    return a->u.ws_message.flags == b->u.ws_message.flags && a->u.ws_message.kind == b->u.ws_message.kind &&
           str_eq(a->u.ws_message.data, b->u.ws_message.data);
  case TDM_WS_CLOSE:
    return a->u.ws_close.code == b->u.ws_close.code && str_eq(a->u.ws_close.reason, b->u.ws_close.reason);
  }
  return 0;
}

static int known_type(uint32_t type) {
  return type >= TDM_HELLO && type <= TDM_WS_CLOSE;
}

/* f was decoded from n bytes: encode it, decode that, encode again. */
static void check_round_trip(const tdm_frame *f, size_t n) {
  static tdm_decoder dec2;
  static int ready;
  tdm_buf once, twice;
  tdm_frame g;
  size_t want = tdm_encoded_size(f);
  ssize_t len;

  if (!ready) {
    CHECK(tdm_decoder_init(&dec2, TDM_MAX_MAX_FRAME) == 0);
    ready = 1;
  }
  tdm_buf_init(&once, 0);       /* owner: here */
  tdm_buf_init(&twice, 0);      /* owner: here */
  if (!known_type(f->type)) {
    CHECK(want == 0);
    CHECK(tdm_encode(&once, f) == TDM_EINVAL && once.len == 0);
    return;
  }
  len = tdm_encode(&once, f);
  CHECK(len > 0 && (size_t) len == want && once.len == want);
  /* Elements past the defined ones are dropped; a REQUEST without its
   * optional request_id (PROTOCOL.md section 2) comes back with an empty
   * one, a byte longer. */
  CHECK(want <= n + (f->type == TDM_REQUEST));

  /* once's bytes decode to f; g points into once, f into the input. */
  CHECK(tdm_decode(&dec2, once.base, once.len, &g) == (ssize_t) once.len);
  CHECK(frame_eq(f, &g));
  check_inside(&g, (struct span){once.base + TDM_FRAME_HEADER_SIZE, once.base + once.len});
  CHECK(tdm_encode(&twice, &g) == len);
  CHECK(memcmp(once.base, twice.base, once.len) == 0);
  tdm_buf_free(&once);
  tdm_buf_free(&twice);
}

static void check_prefixes(tdm_decoder *d, const char *buf, size_t n) {
  tdm_frame g;

  /* Shorter than the frame: never a frame, never an error the length bytes
   * did not already give (they said the payload is within the limit). */
  CHECK(tdm_decode(d, buf, 0, &g) == TDM_EAGAIN);
  CHECK(tdm_decode(d, buf, TDM_FRAME_HEADER_SIZE - 1, &g) == TDM_EAGAIN);
  CHECK(tdm_decode(d, buf, TDM_FRAME_HEADER_SIZE, &g) == TDM_EAGAIN);
  CHECK(tdm_decode(d, buf, n - 1, &g) == TDM_EAGAIN);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static tdm_decoder dec;
  static int ready;
  const char *p = (const char *) data;
  size_t off = 0;

  /* The limit after HELLO by default; the test of E2BIG below holds for any. */
  if (!ready) {
    CHECK(tdm_decoder_init(&dec, TDM_DEFAULT_MAX_FRAME) == 0);
    ready = 1;
  }
  for (;;) {
    tdm_frame f;
    size_t left = size - off;
    ssize_t n;

    memset(&f, 0xa5, sizeof(f));     /* what decode does not set is visibly garbage */
    n = tdm_decode(&dec, p + off, left, &f);
    if (left >= TDM_FRAME_HEADER_SIZE) {
      uint32_t len = (uint32_t) (uint8_t) p[off] << 24 | (uint32_t) (uint8_t) p[off + 1] << 16 |
                     (uint32_t) (uint8_t) p[off + 2] << 8 | (uint8_t) p[off + 3];
      if (len > dec.max_frame_size)
        CHECK(n == TDM_E2BIG);
      else if (len == 0)
        CHECK(n == TDM_EPROTO);
      else if (left - TDM_FRAME_HEADER_SIZE < len)
        CHECK(n == TDM_EAGAIN);
      else    /* never ENOMEM: the payload's own check must leave msgpack nothing to refuse */
        CHECK(n == TDM_EPROTO || n == (ssize_t) len + TDM_FRAME_HEADER_SIZE);
    } else {
      CHECK(n == TDM_EAGAIN);
    }
    if (n <= 0)
      break;
    CHECK(f.stream_id <= TDM_MAX_STREAM_ID);
    if (known_type(f.type))
      check_inside(&f, (struct span){p + off + TDM_FRAME_HEADER_SIZE, p + off + (size_t) n});
    check_prefixes(&dec, p + off, (size_t) n);
    /* The prefixes decoded nothing, so f (in dec's zone) is still valid. */
    check_round_trip(&f, (size_t) n);
    off += (size_t) n;
  }
  return 0;
}
