/* tdm_proto: the tandem channel codec (protocol/PROTOCOL.md), sans-I/O.
 *
 * Bytes in, frames out; frames in, bytes out. Nothing here touches a socket.
 * Decoding never copies body or string bytes: a decoded frame points into the
 * caller's buffer and into the decoder's zone, and stays valid until the next
 * tdm_decode() on the same decoder or until the caller changes the buffer.
 * The zone is cleared, not freed, between frames, so decoding a typical frame
 * does not allocate.
 */
#ifndef TDM_PROTO_H
#define TDM_PROTO_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <msgpack.h>

#define TDM_PROTO_VERSION 1
#define TDM_FRAME_HEADER_SIZE 4            /* the big-endian uint32 length */
#define TDM_DEFAULT_MAX_FRAME 1048576
#define TDM_PRE_HELLO_MAX_FRAME 65536      /* limit until HELLO is exchanged */
#define TDM_MIN_MAX_FRAME 65536
#define TDM_MAX_MAX_FRAME 16777216
#define TDM_DEFAULT_WINDOW 1048576
#define TDM_MIN_WINDOW 65536
#define TDM_MAX_STREAM_ID 0x7fffffffu

#define TDM_FLAG_END 0x1u
#define TDM_FLAG_FILE 0x2u                 /* RESPONSE: body is a file path (PROTOCOL.md) */
#define TDM_FLAG_WEBSOCKET 0x4u            /* REQUEST: a WebSocket upgrade (PROTOCOL.md section 8) */

/* HELLO's features bits. */
#define TDM_FEATURE_WEBSOCKET 0x1u         /* speaks PROTOCOL.md section 8 */

/* WS_MESSAGE kinds: the RFC 6455 opcodes of data frames. */
#define TDM_WS_TEXT 1u
#define TDM_WS_BINARY 2u

enum tdm_frame_type {
  TDM_HELLO = 1,
  TDM_GOAWAY = 2,
  TDM_PING = 3,
  TDM_REQUEST = 4,
  TDM_RESPONSE = 5,
  TDM_DATA = 6,
  TDM_WINDOW = 7,
  TDM_CANCEL = 8,
  TDM_WS_ACCEPT = 9,
  TDM_WS_MESSAGE = 10,
  TDM_WS_CLOSE = 11
};

/* GOAWAY codes. */
#define TDM_GOAWAY_MAP(XX)                                                    \
  XX(NO_ERROR, 0, "no error")                                                 \
  XX(PROTOCOL_ERROR, 1, "protocol error")                                     \
  XX(VERSION_MISMATCH, 2, "version mismatch")                                 \
  XX(FRAME_TOO_LARGE, 3, "frame too large")                                   \
  XX(FLOW_CONTROL_ERROR, 4, "flow control error")                             \
  XX(INTERNAL_ERROR, 5, "internal error")                                     \
  XX(REFUSED, 6, "refused")                                                   \
  XX(SUPERSEDED, 7, "superseded by a newer generation")

enum tdm_goaway_code {
#define XX(name, value, _) TDM_GOAWAY_##name = value,
  TDM_GOAWAY_MAP(XX)
#undef XX
};

/* CANCEL codes. */
#define TDM_CANCEL_MAP(XX)                                                    \
  XX(NO_ERROR, 0, "no longer needed")                                         \
  XX(CLIENT_GONE, 1, "client gone")                                           \
  XX(TIMEOUT, 2, "timeout")                                                   \
  XX(REFUSED, 3, "refused")                                                   \
  XX(INTERNAL, 4, "internal error")

enum tdm_cancel_code {
#define XX(name, value, _) TDM_CANCEL_##name = value,
  TDM_CANCEL_MAP(XX)
#undef XX
};

/* Codec results: a byte count >= 0, or one of these.  They are negative
 * errno values, the same numbers libuv's UV_E* are on Unix, so that a
 * program using both has one kind of error number. */
#define TDM_ERRNO_MAP(XX)                                                     \
  XX(EAGAIN, -EAGAIN, "incomplete frame, need more bytes")                    \
  XX(EPROTO, -EPROTO, "malformed frame")                                      \
  XX(E2BIG, -E2BIG, "frame larger than the maximum frame size")               \
  XX(ENOMEM, -ENOMEM, "out of memory")                                        \
  XX(EINVAL, -EINVAL, "invalid argument")

enum tdm_errno {
#define XX(name, value, _) TDM_##name = value,
  TDM_ERRNO_MAP(XX)
#undef XX
};

const char *tdm_strerror(int err);
const char *tdm_goaway_name(uint32_t code);
const char *tdm_cancel_name(uint32_t code);
const char *tdm_frame_type_name(uint32_t type);

/* A counted byte string; in a decoded frame it points into the input. */
typedef struct tdm_str {
  const char *ptr;
  uint32_t len;
} tdm_str;

typedef struct tdm_header {
  tdm_str name;
  tdm_str value;
} tdm_header;

typedef struct tdm_addr {
  int present;                             /* 0: encoded as nil */
  tdm_str host;
  uint32_t port;
} tdm_addr;

typedef struct tdm_hello {
  uint32_t version;
  tdm_str role;
  tdm_str app;
  uint64_t pid;
  uint64_t generation;
  uint32_t max_frame_size;
  uint32_t max_streams;
  uint32_t initial_window;
  uint32_t features;                       /* optional 11th element; 0 if absent, not encoded if 0 */
} tdm_hello;

typedef struct tdm_goaway {
  uint32_t code;
  tdm_str message;
} tdm_goaway;

typedef struct tdm_ping {
  int ack;
  uint64_t opaque;
} tdm_ping;

typedef struct tdm_request {
  uint32_t flags;
  tdm_str method;
  tdm_str target;
  tdm_str path;
  tdm_str query;
  tdm_str http_version;
  const tdm_header *headers;
  uint32_t nheaders;                       /* pairs, not array elements */
  tdm_addr client;
  tdm_addr server;
  tdm_str scheme;
  tdm_str body;
  /* Optional (PROTOCOL.md section 2, "Optional elements"): len 0 when the
   * frame has none or it is empty; never NULL in a decoded frame. */
  tdm_str request_id;
} tdm_request;

typedef struct tdm_response {
  uint32_t flags;
  uint32_t status;
  const tdm_header *headers;
  uint32_t nheaders;
  tdm_str body;
} tdm_response;

typedef struct tdm_data {
  uint32_t flags;
  tdm_str data;
} tdm_data;

typedef struct tdm_ws_accept {
  tdm_str subprotocol;                     /* empty: none */
  const tdm_header *headers;
  uint32_t nheaders;
} tdm_ws_accept;

typedef struct tdm_ws_message {
  uint32_t flags;                          /* TDM_FLAG_END: the message's last part */
  uint32_t kind;                           /* TDM_WS_TEXT or TDM_WS_BINARY (checked by the receiver) */
  tdm_str data;
} tdm_ws_message;

typedef struct tdm_ws_close {
  uint32_t code;
  tdm_str reason;
} tdm_ws_close;

typedef struct tdm_frame {
  uint32_t type;                           /* enum tdm_frame_type, or unknown */
  uint32_t stream_id;
  union {
    tdm_hello hello;
    tdm_goaway goaway;
    tdm_ping ping;
    tdm_request request;
    tdm_response response;
    tdm_data data;
    uint32_t window_increment;             /* TDM_WINDOW */
    uint32_t cancel_code;                  /* TDM_CANCEL */
    tdm_ws_accept ws_accept;
    tdm_ws_message ws_message;
    tdm_ws_close ws_close;
  } u;
} tdm_frame;

/* Decoder: owns a msgpack zone reused for every frame. */
typedef struct tdm_decoder {
  msgpack_zone zone;
  uint32_t max_frame_size;                 /* payload limit; may be raised after HELLO */
} tdm_decoder;

int tdm_decoder_init(tdm_decoder *d, uint32_t max_frame_size);
void tdm_decoder_free(tdm_decoder *d);

/* Reads at most one frame from buf[0..len).
 *
 * Returns the number of bytes the frame took (length prefix included) and
 * fills *out; TDM_EAGAIN if buf holds only part of a frame; TDM_E2BIG as soon
 * as the four length bytes announce more than max_frame_size; TDM_EPROTO for a
 * malformed frame (length 0, not one array, missing or mistyped element, id
 * rules of section 2 that need no state). A frame of an unknown type is not an
 * error: it is returned with out->type set and the union untouched.
 * Pointers in *out stay valid until the next call or until buf changes.
 */
ssize_t tdm_decode(tdm_decoder *d, const char *buf, size_t len, tdm_frame *out);

/* The same for a payload of n bytes whose length prefix the caller has read
 * and checked against its own limit (the Python backend's accelerator).
 * Returns 0 and fills *out, or TDM_EPROTO / TDM_ENOMEM. */
int tdm_decode_payload(tdm_decoder *d, const char *payload, uint32_t n, tdm_frame *out);

/* Output buffer the encoders append to.  Grows by doubling; never above cap
 * (0 = TDM_MAX_MAX_FRAME * 4).  Owner: whoever embeds it; free with
 * tdm_buf_free(). */
typedef struct tdm_buf {
  char *base;
  size_t len;
  size_t size;
  size_t cap;
} tdm_buf;

void tdm_buf_init(tdm_buf *b, size_t cap);
int tdm_buf_reserve(tdm_buf *b, size_t extra);
int tdm_buf_append(tdm_buf *b, const void *data, size_t len);
void tdm_buf_consume(tdm_buf *b, size_t n);          /* drop n bytes from the front */
void tdm_buf_free(tdm_buf *b);

/* Appends one whole frame (length prefix and payload) to b.
 * Returns the number of bytes appended, or TDM_ENOMEM / TDM_EINVAL (unknown
 * type); on error b is left as it was. */
ssize_t tdm_encode(tdm_buf *b, const tdm_frame *f);

/* Exact number of bytes tdm_encode() would append for f (for sizing). */
size_t tdm_encoded_size(const tdm_frame *f);

#endif /* TDM_PROTO_H */
