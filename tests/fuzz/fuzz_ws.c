/* libFuzzer harness of the WebSocket frame parser (frontend/src/ws_frame.c).
 *
 * The input's first two bytes choose a step (how many bytes each call is
 * given) and a room (how many message bytes the caller takes per call); the
 * rest is what a client sends.  It is parsed twice: whole with room to
 * spare, and in those steps with that room.  Both runs must tell the same
 * story, event by event: the same messages (kind and bytes), the same
 * control frames, the same error and close code at the same place.  And
 * always:
 *
 * - a call never uses more bytes than it was given, nor appends more message
 *   bytes than its room; after an error it uses nothing;
 * - a control frame's payload is at most 125 bytes, a close code is valid on
 *   the wire or 1005;
 * - a message is at most the limit, and a text message is valid UTF-8 by an
 *   oracle of this file's own (a table of the ranges of RFC 3629).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws_frame.h"

#define CHECK(cond)                                                                      \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      fprintf(stderr, "fuzz_ws: %s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                                           \
    }                                                                                    \
  } while (0)

#define MAX_MESSAGE 4096
#define MAX_EVENTS 512

struct event {
  int kind;
  unsigned opcode, code;
  size_t off, len;              /* MESSAGE_END: where in the log of message bytes */
};

struct story {
  struct event ev[MAX_EVENTS];
  int n;
  tdm_buf log;                  /* every message's bytes, one after the other */
};

/* RFC 3629's well-formed sequences, by their first byte. */
static int utf8_valid(const unsigned char *s, size_t n) {
  size_t i = 0;

  while (i < n) {
    unsigned char c = s[i];
    size_t k;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF)
      k = 1;
    else if (c >= 0xE0 && c <= 0xEF)
      k = 2, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4)
      k = 3, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else
      return 0;
    if (i + k >= n)
      return 0;                /* the sequence is cut short */
    if (s[i + 1] < lo || s[i + 1] > hi)
      return 0;
    for (size_t j = 2; j <= k; j++)
      if (s[i + j] < 0x80 || s[i + j] > 0xBF)
        return 0;
    i += k + 1;
  }
  return 1;
}

static void run(const unsigned char *in, size_t len, size_t step, size_t room, struct story *st) {
  ws_parser p;
  tdm_buf msg;
  size_t off = 0;

  ws_parser_init(&p, MAX_MESSAGE);
  tdm_buf_init(&msg, 0);
  st->n = 0;
  while (off < len && st->n < MAX_EVENTS) {
    size_t give = len - off < step ? len - off : step, before = msg.len, used;
    ws_event ev;
    used = ws_parse(&p, in + off, give, &msg, room, &ev);
    CHECK(used <= give);
    CHECK(msg.len - before <= room);
    off += used;
    if (ev.kind == WS_EV_NONE) {
      /* The input is used up, or the room (the next call has room again):
       * either way the call made progress. */
      CHECK(used > 0 || msg.len > before);
      continue;
    }
    struct event *e = &st->ev[st->n++];
    e->kind = ev.kind;
    e->opcode = ev.opcode;
    e->code = ev.close_code;
    e->off = st->log.len;
    e->len = 0;
    if (ev.kind == WS_EV_MESSAGE_END) {
      CHECK(msg.len <= MAX_MESSAGE);
      CHECK(ev.opcode == WS_OP_TEXT || ev.opcode == WS_OP_BINARY);
      if (ev.opcode == WS_OP_TEXT)
        CHECK(utf8_valid((const unsigned char *) msg.base, msg.len));
      CHECK(msg.len == 0 || tdm_buf_append(&st->log, msg.base, msg.len) == 0);
      e->len = msg.len;
      msg.len = 0;
    } else if (ev.kind == WS_EV_CONTROL) {
      CHECK(ev.len <= WS_CONTROL_MAX);
      if (ev.opcode == WS_OP_CLOSE)
        CHECK(ev.close_code == WS_CLOSE_NO_STATUS || ws_close_code_valid(ev.close_code));
    } else {
      CHECK(ev.kind == WS_EV_ERROR);
      CHECK(ws_parse(&p, in + off, len - off, &msg, room, &ev) == 0);
      break;
    }
  }
  tdm_buf_free(&msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static struct story whole, steps;
  size_t step, room;

  if (size < 2)
    return 0;
  step = 1 + data[0] % 64;
  room = data[1] % 5 == 0 ? (size_t) 1 << 20 : 1 + data[1] * 17u;
  tdm_buf_init(&whole.log, 0);
  tdm_buf_init(&steps.log, 0);
  run(data + 2, size - 2, size, (size_t) 1 << 20, &whole);
  run(data + 2, size - 2, step, room, &steps);
  CHECK(whole.n == steps.n);
  for (int i = 0; i < whole.n; i++) {
    const struct event *a = &whole.ev[i], *b = &steps.ev[i];
    CHECK(a->kind == b->kind && a->opcode == b->opcode);
    if (a->kind == WS_EV_ERROR || (a->kind == WS_EV_CONTROL && a->opcode == WS_OP_CLOSE))
      CHECK(a->code == b->code);
    if (a->kind == WS_EV_MESSAGE_END)
      CHECK(a->len == b->len &&
            (a->len == 0 || memcmp(whole.log.base + a->off, steps.log.base + b->off, a->len) == 0));
  }
  tdm_buf_free(&whole.log);
  tdm_buf_free(&steps.log);
  return 0;
}
