/* ws_frame: RFC 6455 framing as a server reads and writes it, sans-I/O.
 *
 * The parser takes a client's bytes and gives back events: message bytes
 * unmasked into the caller's buffer (as much as the caller has room for),
 * the end of a message, a whole control frame, or an error with the close
 * code the connection must be failed with.  It checks what RFC 6455 asks of
 * a server: masking, reserved bits and opcodes, control frames short and
 * unfragmented, continuation frames only inside a fragmented message, text
 * valid UTF-8 (across fragments, and complete at the message's end), close
 * codes and reasons, and a message size limit (checked from each frame's
 * header, before its payload is read).  It neither allocates nor does I/O.
 * Ground level: it names no other module but the codec's buffer. */
#ifndef TDM_WS_FRAME_H
#define TDM_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "tdm_proto.h"

#define WS_CONTROL_MAX 125              /* payload of a control frame */
#define WS_HEADER_MAX 14                /* the longest frame header (client: with a mask) */

enum ws_opcode {
  WS_OP_CONT = 0,
  WS_OP_TEXT = 1,
  WS_OP_BINARY = 2,
  WS_OP_CLOSE = 8,
  WS_OP_PING = 9,
  WS_OP_PONG = 10
};

/* Close codes (RFC 6455 section 7.4.1). */
#define WS_CLOSE_NORMAL 1000
#define WS_CLOSE_GOING_AWAY 1001
#define WS_CLOSE_PROTOCOL 1002
#define WS_CLOSE_NO_STATUS 1005          /* never on the wire: a close frame without a code */
#define WS_CLOSE_ABNORMAL 1006           /* never on the wire: no close frame at all */
#define WS_CLOSE_INVALID_DATA 1007
#define WS_CLOSE_TOO_BIG 1009
#define WS_CLOSE_INTERNAL 1011

/* An incremental UTF-8 check: the bytes of a sequence may come in pieces. */
typedef struct ws_utf8 {
  uint8_t need;                  /* continuation bytes still due */
  uint8_t lo, hi;                /* the range the next one must be in */
} ws_utf8;

/* 0 if p[0..n) goes on valid UTF-8 so far, -1 if not. */
int ws_utf8_feed(ws_utf8 *u, const unsigned char *p, size_t n);
/* Whether the text so far ends on a whole character. */
int ws_utf8_complete(const ws_utf8 *u);

/* Whether code may travel in a close frame (RFC 6455 section 7.4). */
int ws_close_code_valid(unsigned code);

enum ws_event_kind {
  WS_EV_NONE,                    /* the input is used up, or the caller's room is */
  WS_EV_MESSAGE_END,             /* the message's last bytes are in the caller's buffer */
  WS_EV_CONTROL,                 /* a whole control frame */
  WS_EV_ERROR                    /* fail the connection with close_code */
};

typedef struct ws_event {
  enum ws_event_kind kind;
  uint8_t opcode;                /* MESSAGE_END: TEXT or BINARY; CONTROL: CLOSE, PING or PONG */
  const unsigned char *payload;  /* CONTROL: the unmasked payload, in the parser */
  size_t len;
  unsigned close_code;           /* CONTROL CLOSE: its code, or 1005; ERROR: the code to fail with */
  const char *why;               /* ERROR: what the client did, for the log and the close reason */
} ws_event;

typedef struct ws_parser {
  uint64_t max_message;
  unsigned char hdr[WS_HEADER_MAX];
  unsigned hlen;                 /* header bytes read */
  int in_payload;                /* the header is complete, its payload is being read */
  uint8_t opcode, fin;
  uint64_t left;                 /* payload bytes still due in this frame */
  unsigned char mask[4];
  unsigned mpos;                 /* where in the mask the next byte is */
  uint8_t msg_opcode;            /* TEXT or BINARY while a message is under way, else 0 */
  uint64_t msg_len;
  ws_utf8 utf8;
  unsigned char ctl[WS_CONTROL_MAX];
  size_t ctl_len;
  int failed;                    /* an error was returned: nothing more is parsed */
} ws_parser;

void ws_parser_init(ws_parser *p, uint64_t max_message);

/* Parses in[0..len).  Message bytes go, unmasked, at the end of out, at most
 * room of them per call.  Returns the number of bytes of in it used and sets
 * *ev to what stopped it: NONE when it used all of in or ran out of room
 * (used < len then: call again once the caller has made room), or an event,
 * after which the caller acts and calls again with the rest.  After ERROR it
 * uses nothing more. */
size_t ws_parse(ws_parser *p, const unsigned char *in, size_t len, tdm_buf *out, size_t room, ws_event *ev);

/* Writes the header of an unmasked (server) frame at dst; returns its length
 * (at most 10). */
size_t ws_frame_header(unsigned char *dst, int fin, unsigned opcode, uint64_t len);

#endif /* TDM_WS_FRAME_H */
