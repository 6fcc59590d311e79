/* tdm_proto: the tandem channel codec; the contract is in tdm_proto.h and the
 * wire format in PROTOCOL.md. */
#include "tdm_proto.h"

#include <assert.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* A request with a few dozen headers needs about 2 KiB of msgpack objects and
 * header pairs, so one chunk holds any typical frame and, since
 * msgpack_zone_clear() keeps the first chunk, decoding does not allocate in
 * the steady state. */
#define DECODER_ZONE_CHUNK 16384

/* msgpack_unpack() keeps the containers it is inside of on a fixed stack of
 * this many entries (MSGPACK_EMBED_STACK_SIZE in msgpack-c 4.0) and fails on a
 * container header met when the stack is full. */
#define MP_MAX_DEPTH 32

#define BUF_MIN_SIZE 4096
#define BUF_DEFAULT_CAP ((size_t)TDM_MAX_MAX_FRAME * 4)

/* Per frame type: the number of elements this version defines (type and
 * stream id included), the last optional_elements() of which a frame may leave
 * out, and whether the frame belongs to a stream (id > 0) or to the
 * connection (id 0). */
#define FRAME_TYPE_MAP(XX)                                                    \
  XX(HELLO, 11, 0)                                                            \
  XX(GOAWAY, 4, 0)                                                            \
  XX(PING, 4, 0)                                                              \
  XX(REQUEST, 14, 1)                                                          \
  XX(RESPONSE, 6, 1)                                                          \
  XX(DATA, 4, 1)                                                              \
  XX(WINDOW, 3, 1)                                                            \
  XX(CANCEL, 3, 1)                                                            \
  XX(WS_ACCEPT, 4, 1)                                                         \
  XX(WS_MESSAGE, 5, 1)                                                        \
  XX(WS_CLOSE, 4, 1)

struct frame_layout {
  const char *name;
  uint8_t nelements;
  uint8_t on_stream;
};

static const struct frame_layout frame_layouts[] = {
#define XX(name, n, on_stream) [TDM_##name] = {#name, n, on_stream},
  FRAME_TYPE_MAP(XX)
#undef XX
};

/* Elements at the end of a frame that a receiver accepts missing, because
 * they were appended to version 1 after its first release (PROTOCOL.md
 * section 2, "Optional elements"): HELLO's features and REQUEST's
 * request_id. */
static uint8_t optional_elements(uint32_t type) {
  return type == TDM_REQUEST || type == TDM_HELLO ? 1 : 0;
}

/* Returns the layout of a type this version defines, NULL for any other. */
static const struct frame_layout *layout_of(uint32_t type) {
  if (type >= sizeof(frame_layouts) / sizeof(frame_layouts[0]) ||
      frame_layouts[type].name == NULL)
    return NULL;
  return &frame_layouts[type];
}

const char *tdm_strerror(int err) {
  switch (err) {
#define XX(name, _, msg) case TDM_##name: return msg;
    TDM_ERRNO_MAP(XX)
#undef XX
  }
  return "unknown error";
}

const char *tdm_goaway_name(uint32_t code) {
  switch (code) {
#define XX(name, value, _) case value: return #name;
    TDM_GOAWAY_MAP(XX)
#undef XX
  }
  return "UNKNOWN";
}

const char *tdm_cancel_name(uint32_t code) {
  switch (code) {
#define XX(name, value, _) case value: return #name;
    TDM_CANCEL_MAP(XX)
#undef XX
  }
  return "UNKNOWN";
}

const char *tdm_frame_type_name(uint32_t type) {
  const struct frame_layout *layout = layout_of(type);
  return layout != NULL ? layout->name : "UNKNOWN";
}

static uint32_t load_be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void store_be32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}

/* Reads an n-byte big-endian length at p[*off], if len leaves room for it. */
static int mp_load_len(const unsigned char *p, size_t len, size_t *off, int n, uint64_t *v) {
  int i;

  if (len - *off < (size_t)n)
    return TDM_EPROTO;
  *v = 0;
  for (i = 0; i < n; i++)
    *v = *v << 8 | p[(*off)++];
  return 0;
}

/* Returns 0 if p[0..len) is exactly one complete msgpack object that
 * msgpack_unpack() can hold, TDM_EPROTO otherwise. Allocates nothing.
 *
 * msgpack_unpack() allocates each array's element vector from the count in
 * its header before it has seen a single element, so five bytes announcing an
 * array 32 of 2^32-1 elements would ask the zone for about 100 GB. Once this
 * walk has found every announced element inside the payload, the zone never
 * holds more objects than the payload has bytes. */
static int mp_check(const unsigned char *p, size_t len) {
  uint64_t left[MP_MAX_DEPTH]; /* elements still to come in each open container */
  unsigned depth = 0;
  size_t off = 0;

  for (;;) {
    uint64_t skip = 0;   /* bytes of data after the header */
    uint64_t count = 0;  /* elements of a container; a map has two per entry */
    int container = 0;
    int err = 0;
    unsigned char c;

    if (off == len)
      return TDM_EPROTO;
    c = p[off++];
    if (c <= 0x7f || c >= 0xe0) {
      /* A fixint: the header is the whole object. */
    } else if (c <= 0x8f) {
      container = 1;
      count = 2u * (c & 0x0f);
    } else if (c <= 0x9f) {
      container = 1;
      count = c & 0x0f;
    } else if (c <= 0xbf) {
      skip = c & 0x1f;
    } else {
      switch (c) {
      case 0xc0: case 0xc2: case 0xc3: break;                      /* nil, false, true */
      case 0xc4: case 0xd9: err = mp_load_len(p, len, &off, 1, &skip); break;
      case 0xc5: case 0xda: err = mp_load_len(p, len, &off, 2, &skip); break;
      case 0xc6: case 0xdb: err = mp_load_len(p, len, &off, 4, &skip); break;
      case 0xc7: err = mp_load_len(p, len, &off, 1, &skip); skip++; break;  /* ext: + type byte */
      case 0xc8: err = mp_load_len(p, len, &off, 2, &skip); skip++; break;
      case 0xc9: err = mp_load_len(p, len, &off, 4, &skip); skip++; break;
      case 0xcc: case 0xd0: skip = 1; break;
      case 0xcd: case 0xd1: skip = 2; break;
      case 0xca: case 0xce: case 0xd2: skip = 4; break;
      case 0xcb: case 0xcf: case 0xd3: skip = 8; break;
      case 0xd4: skip = 2; break;                                  /* fixext: type + data */
      case 0xd5: skip = 3; break;
      case 0xd6: skip = 5; break;
      case 0xd7: skip = 9; break;
      case 0xd8: skip = 17; break;
      case 0xdc: container = 1; err = mp_load_len(p, len, &off, 2, &count); break;
      case 0xdd: container = 1; err = mp_load_len(p, len, &off, 4, &count); break;
      case 0xde: container = 1; err = mp_load_len(p, len, &off, 2, &count); count *= 2; break;
      case 0xdf: container = 1; err = mp_load_len(p, len, &off, 4, &count); count *= 2; break;
      default: return TDM_EPROTO;                                  /* 0xc1, never used */
      }
    }
    if (err != 0 || skip > len - off)
      return TDM_EPROTO;
    off += (size_t)skip;

    if (container) {
      if (depth == MP_MAX_DEPTH)
        return TDM_EPROTO;
      /* Every element takes at least one byte, so a count above the bytes
       * left cannot be met; saying so now spares walking the rest. */
      if (count > len - off)
        return TDM_EPROTO;
      if (count > 0) {
        left[depth++] = count;
        continue;
      }
    }
    /* One object is complete; it may complete the containers around it. */
    while (depth > 0 && --left[depth - 1] == 0)
      depth--;
    if (depth == 0)
      break;
  }
  return off == len ? 0 : TDM_EPROTO;
}

/* Field readers: each returns 0 and stores the value, or TDM_EPROTO for an
 * object of the wrong msgpack type or out of the C field's range. */

static int get_uint(const msgpack_object *o, uint64_t max, uint64_t *v) {
  if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max)
    return TDM_EPROTO;
  *v = o->via.u64;
  return 0;
}

static int get_u32(const msgpack_object *o, uint32_t *v) {
  uint64_t x;

  if (get_uint(o, UINT32_MAX, &x) != 0)
    return TDM_EPROTO;
  *v = (uint32_t)x;
  return 0;
}

static int get_u64(const msgpack_object *o, uint64_t *v) {
  return get_uint(o, UINT64_MAX, v);
}

/* Flags keep only the bits a uint32_t holds: the rest are reserved, and
 * section 2 tells receivers to ignore reserved bits, not to refuse them. */
static int get_flags(const msgpack_object *o, uint32_t *v) {
  uint64_t x;

  if (get_u64(o, &x) != 0)
    return TDM_EPROTO;
  *v = (uint32_t)x;
  return 0;
}

static int get_bool(const msgpack_object *o, int *v) {
  if (o->type != MSGPACK_OBJECT_BOOLEAN)
    return TDM_EPROTO;
  *v = o->via.boolean;
  return 0;
}

static int get_str(const msgpack_object *o, tdm_str *s) {
  if (o->type != MSGPACK_OBJECT_STR)
    return TDM_EPROTO;
  s->ptr = o->via.str.ptr;
  s->len = o->via.str.size;
  return 0;
}

static int get_bin(const msgpack_object *o, tdm_str *s) {
  if (o->type != MSGPACK_OBJECT_BIN)
    return TDM_EPROTO;
  s->ptr = o->via.bin.ptr;
  s->len = o->via.bin.size;
  return 0;
}

/* nil, or exactly [host: str, port: uint]. */
static int get_addr(const msgpack_object *o, tdm_addr *a) {
  const msgpack_object *e;

  memset(a, 0, sizeof(*a));
  if (o->type == MSGPACK_OBJECT_NIL)
    return 0;
  if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 2)
    return TDM_EPROTO;
  e = o->via.array.ptr;
  if (get_str(&e[0], &a->host) != 0 || get_u32(&e[1], &a->port) != 0)
    return TDM_EPROTO;
  a->present = 1;
  return 0;
}

/* A flat array of bin, name then value, turned into pairs allocated from
 * zone. Returns 0, TDM_EPROTO or TDM_ENOMEM. */
static int get_headers(msgpack_zone *zone, const msgpack_object *o,
                       const tdm_header **headers, uint32_t *nheaders) {
  const msgpack_object *e;
  tdm_header *h;
  uint32_t i, n;

  if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size % 2 != 0)
    return TDM_EPROTO;
  e = o->via.array.ptr;
  for (i = 0; i < o->via.array.size; i++)
    if (e[i].type != MSGPACK_OBJECT_BIN)
      return TDM_EPROTO;

  n = o->via.array.size / 2;
  *headers = NULL;
  *nheaders = 0;
  if (n == 0)
    return 0;
  h = msgpack_zone_malloc(zone, (size_t)n * sizeof(*h));
  if (h == NULL)
    return TDM_ENOMEM;
  for (i = 0; i < n; i++) {
    h[i].name.ptr = e[2 * i].via.bin.ptr;
    h[i].name.len = e[2 * i].via.bin.size;
    h[i].value.ptr = e[2 * i + 1].via.bin.ptr;
    h[i].value.len = e[2 * i + 1].via.bin.size;
  }
  *headers = h;
  *nheaders = n;
  return 0;
}

/* Fills the union of f from the elements e of a frame whose type, stream id
 * and element count (nelements, at least the required ones) are already
 * checked. */
static int decode_fields(tdm_decoder *d, const msgpack_object *e, uint32_t nelements,
                         tdm_frame *f) {
  switch (f->type) {
  case TDM_HELLO: {
    tdm_hello *h = &f->u.hello;
    if (get_u32(&e[2], &h->version) || get_str(&e[3], &h->role) || get_str(&e[4], &h->app) ||
        get_u64(&e[5], &h->pid) || get_u64(&e[6], &h->generation) ||
        get_u32(&e[7], &h->max_frame_size) || get_u32(&e[8], &h->max_streams) ||
        get_u32(&e[9], &h->initial_window))
      return TDM_EPROTO;
    h->features = 0;
    return nelements > 10 ? get_flags(&e[10], &h->features) : 0;
  }
  case TDM_GOAWAY:
    if (get_u32(&e[2], &f->u.goaway.code) || get_str(&e[3], &f->u.goaway.message))
      return TDM_EPROTO;
    return 0;
  case TDM_PING:
    if (get_bool(&e[2], &f->u.ping.ack) || get_u64(&e[3], &f->u.ping.opaque))
      return TDM_EPROTO;
    return 0;
  case TDM_REQUEST: {
    tdm_request *r = &f->u.request;
    r->request_id.ptr = "";
    r->request_id.len = 0;
    if (nelements > 13 && get_str(&e[13], &r->request_id))
      return TDM_EPROTO;
    if (get_flags(&e[2], &r->flags) || get_str(&e[3], &r->method) || get_bin(&e[4], &r->target) ||
        get_bin(&e[5], &r->path) || get_bin(&e[6], &r->query) ||
        get_str(&e[7], &r->http_version) || get_addr(&e[9], &r->client) ||
        get_addr(&e[10], &r->server) || get_str(&e[11], &r->scheme) || get_bin(&e[12], &r->body))
      return TDM_EPROTO;
    /* Last, so that a malformed frame allocates nothing. */
    return get_headers(&d->zone, &e[8], &r->headers, &r->nheaders);
  }
  case TDM_RESPONSE: {
    tdm_response *r = &f->u.response;
    if (get_flags(&e[2], &r->flags) || get_u32(&e[3], &r->status) || get_bin(&e[5], &r->body))
      return TDM_EPROTO;
    return get_headers(&d->zone, &e[4], &r->headers, &r->nheaders);
  }
  case TDM_DATA:
    if (get_flags(&e[2], &f->u.data.flags) || get_bin(&e[3], &f->u.data.data))
      return TDM_EPROTO;
    return 0;
  case TDM_WINDOW:
    if (get_u32(&e[2], &f->u.window_increment) || f->u.window_increment == 0)
      return TDM_EPROTO;
    return 0;
  case TDM_CANCEL:
    if (get_u32(&e[2], &f->u.cancel_code))
      return TDM_EPROTO;
    return 0;
  case TDM_WS_ACCEPT:
    if (get_str(&e[2], &f->u.ws_accept.subprotocol))
      return TDM_EPROTO;
    return get_headers(&d->zone, &e[3], &f->u.ws_accept.headers, &f->u.ws_accept.nheaders);
  case TDM_WS_MESSAGE:
    if (get_flags(&e[2], &f->u.ws_message.flags) || get_u32(&e[3], &f->u.ws_message.kind) ||
        get_bin(&e[4], &f->u.ws_message.data))
      return TDM_EPROTO;
    return 0;
  case TDM_WS_CLOSE:
    if (get_u32(&e[2], &f->u.ws_close.code) || get_bin(&e[3], &f->u.ws_close.reason))
      return TDM_EPROTO;
    return 0;
  }
  return TDM_EPROTO;
}

/* max_frame_size must be > 0. Release the zone with tdm_decoder_free(). */
int tdm_decoder_init(tdm_decoder *d, uint32_t max_frame_size) {
  if (max_frame_size == 0)
    return TDM_EINVAL;
  if (!msgpack_zone_init(&d->zone, DECODER_ZONE_CHUNK))
    return TDM_ENOMEM;
  d->max_frame_size = max_frame_size;
  return 0;
}

void tdm_decoder_free(tdm_decoder *d) {
  msgpack_zone_destroy(&d->zone);
}

/* *out is written only on success. */
int tdm_decode_payload(tdm_decoder *d, const char *payload, uint32_t n, tdm_frame *out) {
  const unsigned char *p = (const unsigned char *)payload;
  const struct frame_layout *layout;
  const msgpack_object *e;
  msgpack_object obj;
  tdm_frame f;
  size_t off = 0;
  int err;

  if (n == 0)
    return TDM_EPROTO;
  if ((err = mp_check(p, n)) != 0)
    return err;
  msgpack_zone_clear(&d->zone);
  /* mp_check() has proved the payload well formed, so a failure here can only
   * be the zone running out of memory. */
  if (msgpack_unpack(payload, n, &off, &d->zone, &obj) != MSGPACK_UNPACK_SUCCESS)
    return TDM_ENOMEM;

  if (obj.type != MSGPACK_OBJECT_ARRAY || obj.via.array.size < 2)
    return TDM_EPROTO;
  e = obj.via.array.ptr;
  if (get_u32(&e[0], &f.type) != 0 || get_u32(&e[1], &f.stream_id) != 0 ||
      f.stream_id > TDM_MAX_STREAM_ID)
    return TDM_EPROTO;

  layout = layout_of(f.type);
  if (layout == NULL) {
    /* Section 5: an unknown type is skipped, so that later versions can add
     * frames; the caller sees it only to count or log it. */
    out->type = f.type;
    out->stream_id = f.stream_id;
    return 0;
  }
  if (obj.via.array.size < (uint32_t) (layout->nelements - optional_elements(f.type)) ||
      (f.stream_id != 0) != layout->on_stream)
    return TDM_EPROTO;
  if ((err = decode_fields(d, e, obj.via.array.size, &f)) != 0)
    return err;
  *out = f;
  return 0;
}

ssize_t tdm_decode(tdm_decoder *d, const char *buf, size_t len, tdm_frame *out) {
  uint32_t n;
  int err;

  if (len < TDM_FRAME_HEADER_SIZE)
    return TDM_EAGAIN;
  n = load_be32((const unsigned char *)buf);
  if (n == 0)
    return TDM_EPROTO;
  /* Judged before the payload is there, so that a peer cannot make us buffer
   * more than max_frame_size only to refuse it afterwards. */
  if (n > d->max_frame_size)
    return TDM_E2BIG;
  if (len - TDM_FRAME_HEADER_SIZE < n)
    return TDM_EAGAIN;
  if ((err = tdm_decode_payload(d, buf + TDM_FRAME_HEADER_SIZE, n, out)) != 0)
    return err;
  return (ssize_t)n + TDM_FRAME_HEADER_SIZE;
}

void tdm_buf_init(tdm_buf *b, size_t cap) {
  b->base = NULL;
  b->len = 0;
  b->size = 0;
  b->cap = cap != 0 ? cap : BUF_DEFAULT_CAP;
}

/* Makes room for extra more bytes; returns 0 or TDM_ENOMEM (above cap or out
 * of memory), leaving b as it was on failure. */
int tdm_buf_reserve(tdm_buf *b, size_t extra) {
  size_t need, size;
  char *base;

  if (extra <= b->size - b->len)
    return 0;
  if (b->len > b->cap || extra > b->cap - b->len)
    return TDM_ENOMEM;
  need = b->len + extra;
  size = b->size != 0 ? b->size : BUF_MIN_SIZE;
  while (size < need)
    size = size > b->cap / 2 ? b->cap : size * 2;
  if (size > b->cap)
    size = b->cap;
  base = realloc(b->base, size);
  if (base == NULL)
    return TDM_ENOMEM;
  b->base = base;
  b->size = size;
  return 0;
}

int tdm_buf_append(tdm_buf *b, const void *data, size_t len) {
  int err;

  /* memcpy() from NULL is undefined even for zero bytes, and empty strings
   * of decoded or caller-built frames may well be NULL. */
  if (len == 0)
    return 0;
  if ((err = tdm_buf_reserve(b, len)) != 0)
    return err;
  memcpy(b->base + b->len, data, len);
  b->len += len;
  return 0;
}

void tdm_buf_consume(tdm_buf *b, size_t n) {
  if (n >= b->len) {
    b->len = 0;
    return;
  }
  memmove(b->base, b->base + n, b->len - n);
  b->len -= n;
}

/* Frees the memory; b stays usable, empty and with the same cap. */
void tdm_buf_free(tdm_buf *b) {
  free(b->base);
  b->base = NULL;
  b->len = 0;
  b->size = 0;
}

/* Sizes of shortest msgpack encodings, matching what msgpack_pack_*() emit. */

static uint64_t mp_uint_size(uint64_t v) {
  return v <= 0x7f ? 1 : v <= 0xff ? 2 : v <= 0xffff ? 3 : v <= 0xffffffff ? 5 : 9;
}

static uint64_t mp_str_size(tdm_str s) {
  return (s.len <= 31 ? 1 : s.len <= 0xff ? 2 : s.len <= 0xffff ? 3 : 5) + (uint64_t)s.len;
}

static uint64_t mp_bin_size(tdm_str s) {
  return (s.len <= 0xff ? 2 : s.len <= 0xffff ? 3 : 5) + (uint64_t)s.len;
}

static uint64_t mp_array_size(uint64_t n) {
  return n <= 15 ? 1 : n <= 0xffff ? 3 : 5;
}

static uint64_t mp_addr_size(const tdm_addr *a) {
  return a->present ? 1 + mp_str_size(a->host) + mp_uint_size(a->port) : 1;
}

static uint64_t mp_headers_size(const tdm_header *h, uint32_t n) {
  uint64_t size = mp_array_size(2 * (uint64_t)n);
  uint32_t i;

  for (i = 0; i < n; i++)
    size += mp_bin_size(h[i].name) + mp_bin_size(h[i].value);
  return size;
}

/* The number of elements f is encoded with: its layout's, and a HELLO's
 * features only when there are any (PROTOCOL.md, HELLO). */
static uint32_t frame_nelements(const tdm_frame *f) {
  uint32_t n = layout_of(f->type)->nelements;
  return f->type == TDM_HELLO && f->u.hello.features == 0 ? n - 1 : n;
}

/* Returns the payload size of f, or 0 if f must not be encoded: its type is
 * unknown, it breaks a rule tdm_decode() checks, or its payload would not fit
 * the 32-bit length. No payload is empty, so 0 is free to mean that. */
static uint64_t payload_size(const tdm_frame *f) {
  const struct frame_layout *layout = layout_of(f->type);
  uint64_t size;

  if (layout == NULL)
    return 0;
  if (layout->on_stream ? f->stream_id == 0 || f->stream_id > TDM_MAX_STREAM_ID
                        : f->stream_id != 0)
    return 0;
  size = mp_array_size(frame_nelements(f)) + mp_uint_size(f->type) + mp_uint_size(f->stream_id);

  switch (f->type) {
  case TDM_HELLO: {
    const tdm_hello *h = &f->u.hello;
    size += mp_uint_size(h->version) + mp_str_size(h->role) + mp_str_size(h->app) +
            mp_uint_size(h->pid) + mp_uint_size(h->generation) +
            mp_uint_size(h->max_frame_size) + mp_uint_size(h->max_streams) +
            mp_uint_size(h->initial_window) + (h->features != 0 ? mp_uint_size(h->features) : 0);
    break;
  }
  case TDM_GOAWAY:
    size += mp_uint_size(f->u.goaway.code) + mp_str_size(f->u.goaway.message);
    break;
  case TDM_PING:
    size += 1 + mp_uint_size(f->u.ping.opaque);
    break;
  case TDM_REQUEST: {
    const tdm_request *r = &f->u.request;
    if (r->nheaders > UINT32_MAX / 2 || (r->nheaders > 0 && r->headers == NULL))
      return 0;
    size += mp_uint_size(r->flags) + mp_str_size(r->method) + mp_bin_size(r->target) +
            mp_bin_size(r->path) + mp_bin_size(r->query) + mp_str_size(r->http_version) +
            mp_headers_size(r->headers, r->nheaders) + mp_addr_size(&r->client) +
            mp_addr_size(&r->server) + mp_str_size(r->scheme) + mp_bin_size(r->body) +
            mp_str_size(r->request_id);
    break;
  }
  case TDM_RESPONSE: {
    const tdm_response *r = &f->u.response;
    if (r->nheaders > UINT32_MAX / 2 || (r->nheaders > 0 && r->headers == NULL))
      return 0;
    size += mp_uint_size(r->flags) + mp_uint_size(r->status) +
            mp_headers_size(r->headers, r->nheaders) + mp_bin_size(r->body);
    break;
  }
  case TDM_DATA:
    size += mp_uint_size(f->u.data.flags) + mp_bin_size(f->u.data.data);
    break;
  case TDM_WINDOW:
    if (f->u.window_increment == 0)
      return 0;
    size += mp_uint_size(f->u.window_increment);
    break;
  case TDM_CANCEL:
    size += mp_uint_size(f->u.cancel_code);
    break;
  case TDM_WS_ACCEPT: {
    const tdm_ws_accept *a = &f->u.ws_accept;
    if (a->nheaders > UINT32_MAX / 2 || (a->nheaders > 0 && a->headers == NULL))
      return 0;
    size += mp_str_size(a->subprotocol) + mp_headers_size(a->headers, a->nheaders);
    break;
  }
  case TDM_WS_MESSAGE:
    size += mp_uint_size(f->u.ws_message.flags) + mp_uint_size(f->u.ws_message.kind) +
            mp_bin_size(f->u.ws_message.data);
    break;
  case TDM_WS_CLOSE:
    size += mp_uint_size(f->u.ws_close.code) + mp_bin_size(f->u.ws_close.reason);
    break;
  }
  return size <= UINT32_MAX ? size : 0;
}

size_t tdm_encoded_size(const tdm_frame *f) {
  uint64_t size = payload_size(f);

  if (size == 0 || size > SIZE_MAX - TDM_FRAME_HEADER_SIZE)
    return 0;
  return (size_t)size + TDM_FRAME_HEADER_SIZE;
}

/* The writers below emit the shortest msgpack encodings (the ones the
 * mp_*_size() functions count, and msgpack-c's msgpack_pack_*() emit) at w,
 * into room reserved beforehand, and return where they stopped: encoding a
 * frame is a walk over it, without a call per piece through a write
 * callback. */

static unsigned char *w_be(unsigned char *w, uint64_t v, int n) {
  for (int i = n - 1; i >= 0; i--) {
    w[i] = (unsigned char)v;
    v >>= 8;
  }
  return w + n;
}

/* v in the shortest of the 8-, 16-, 32- and 64-bit forms whose tags follow
 * tag8 (uint8 0xcc, str8 0xd9, bin8 0xc4; str and bin lengths stop at 32). */
static unsigned char *w_tagged(unsigned char *w, uint64_t v, unsigned char tag8) {
  int step = v <= 0xff ? 0 : v <= 0xffff ? 1 : v <= 0xffffffff ? 2 : 3;

  *w++ = (unsigned char)(tag8 + step);
  return w_be(w, v, 1 << step);
}

static unsigned char *w_uint(unsigned char *w, uint64_t v) {
  if (v <= 0x7f) {
    *w++ = (unsigned char)v;    /* positive fixint */
    return w;
  }
  return w_tagged(w, v, 0xcc);
}

static unsigned char *w_bytes(unsigned char *w, tdm_str s) {
  if (s.len > 0)
    memcpy(w, s.ptr, s.len);
  return w + s.len;
}

static unsigned char *w_str(unsigned char *w, tdm_str s) {
  if (s.len <= 31)
    *w++ = (unsigned char)(0xa0 | s.len);    /* fixstr */
  else
    w = w_tagged(w, s.len, 0xd9);
  return w_bytes(w, s);
}

static unsigned char *w_bin(unsigned char *w, tdm_str s) {
  return w_bytes(w_tagged(w, s.len, 0xc4), s);
}

static unsigned char *w_array(unsigned char *w, uint64_t n) {
  if (n <= 15) {
    *w++ = (unsigned char)(0x90 | n);
    return w;
  }
  if (n <= 0xffff) {
    *w++ = 0xdc;
    return w_be(w, n, 2);
  }
  *w++ = 0xdd;
  return w_be(w, n, 4);
}

static unsigned char *w_addr(unsigned char *w, const tdm_addr *a) {
  if (!a->present) {
    *w++ = 0xc0;    /* nil */
    return w;
  }
  w = w_array(w, 2);
  w = w_str(w, a->host);
  return w_uint(w, a->port);
}

static unsigned char *w_headers(unsigned char *w, const tdm_header *h, uint32_t n) {
  w = w_array(w, 2 * (uint64_t)n);
  for (uint32_t i = 0; i < n; i++) {
    w = w_bin(w, h[i].name);
    w = w_bin(w, h[i].value);
  }
  return w;
}

/* Writes the payload of f, whose type payload_size() has accepted, at w. */
static unsigned char *w_frame(unsigned char *w, const tdm_frame *f) {
  w = w_array(w, frame_nelements(f));
  w = w_uint(w, f->type);
  w = w_uint(w, f->stream_id);
  switch (f->type) {
  case TDM_HELLO: {
    const tdm_hello *h = &f->u.hello;
    w = w_uint(w, h->version);
    w = w_str(w, h->role);
    w = w_str(w, h->app);
    w = w_uint(w, h->pid);
    w = w_uint(w, h->generation);
    w = w_uint(w, h->max_frame_size);
    w = w_uint(w, h->max_streams);
    w = w_uint(w, h->initial_window);
    return h->features != 0 ? w_uint(w, h->features) : w;
  }
  case TDM_GOAWAY:
    w = w_uint(w, f->u.goaway.code);
    return w_str(w, f->u.goaway.message);
  case TDM_PING:
    *w++ = f->u.ping.ack ? 0xc3 : 0xc2;
    return w_uint(w, f->u.ping.opaque);
  case TDM_REQUEST: {
    const tdm_request *r = &f->u.request;
    w = w_uint(w, r->flags);
    w = w_str(w, r->method);
    w = w_bin(w, r->target);
    w = w_bin(w, r->path);
    w = w_bin(w, r->query);
    w = w_str(w, r->http_version);
    w = w_headers(w, r->headers, r->nheaders);
    w = w_addr(w, &r->client);
    w = w_addr(w, &r->server);
    w = w_str(w, r->scheme);
    w = w_bin(w, r->body);
    return w_str(w, r->request_id);
  }
  case TDM_RESPONSE: {
    const tdm_response *r = &f->u.response;
    w = w_uint(w, r->flags);
    w = w_uint(w, r->status);
    w = w_headers(w, r->headers, r->nheaders);
    return w_bin(w, r->body);
  }
  case TDM_DATA:
    w = w_uint(w, f->u.data.flags);
    return w_bin(w, f->u.data.data);
  case TDM_WINDOW:
    return w_uint(w, f->u.window_increment);
  case TDM_CANCEL:
    return w_uint(w, f->u.cancel_code);
  case TDM_WS_ACCEPT:
    w = w_str(w, f->u.ws_accept.subprotocol);
    return w_headers(w, f->u.ws_accept.headers, f->u.ws_accept.nheaders);
  case TDM_WS_MESSAGE:
    w = w_uint(w, f->u.ws_message.flags);
    w = w_uint(w, f->u.ws_message.kind);
    return w_bin(w, f->u.ws_message.data);
  case TDM_WS_CLOSE:
    w = w_uint(w, f->u.ws_close.code);
    return w_bin(w, f->u.ws_close.reason);
  }
  return w;
}

/* The strings of f must not point into b: b may move when it grows. */
ssize_t tdm_encode(tdm_buf *b, const tdm_frame *f) {
  size_t start = b->len;
  uint64_t size = payload_size(f);
  unsigned char *end;
  int err;

  if (size == 0 || size > (uint64_t)SSIZE_MAX - TDM_FRAME_HEADER_SIZE)
    return TDM_EINVAL;
  /* One reservation for the whole frame: the writes below cannot fail, and
   * the buffer grows at most once per frame. */
  if ((err = tdm_buf_reserve(b, TDM_FRAME_HEADER_SIZE + (size_t)size)) != 0)
    return err;
  end = w_frame((unsigned char *)b->base + start + TDM_FRAME_HEADER_SIZE, f);
  /* payload_size() and w_frame() describe the same encoding twice; if they
   * disagree the length prefix would lie to the peer. */
  assert((size_t)(end - (unsigned char *)b->base) == start + TDM_FRAME_HEADER_SIZE + size);
  store_be32((unsigned char *)b->base + start, (uint32_t)size);
  b->len = start + TDM_FRAME_HEADER_SIZE + (size_t)size;
  return (ssize_t)(b->len - start);
}
