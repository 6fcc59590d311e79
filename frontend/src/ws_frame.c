/* ws_frame: RFC 6455 framing; the contract is in ws_frame.h. */
#include "ws_frame.h"

#include <string.h>

int ws_utf8_feed(ws_utf8 *u, const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = p[i];
    if (u->need > 0) {
      if (c < u->lo || c > u->hi)
        return -1;
      u->need--;
      u->lo = 0x80;
      u->hi = 0xBF;
      continue;
    }
    if (c < 0x80)
      continue;
    /* A lead byte; the first continuation's range excludes overlong forms
     * (E0, F0), surrogates (ED) and code points above U+10FFFF (F4). */
    u->lo = 0x80;
    u->hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      u->need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      u->need = 2;
      if (c == 0xE0)
        u->lo = 0xA0;
      else if (c == 0xED)
        u->hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      u->need = 3;
      if (c == 0xF0)
        u->lo = 0x90;
      else if (c == 0xF4)
        u->hi = 0x8F;
    } else {
      return -1;
    }
  }
  return 0;
}

int ws_utf8_complete(const ws_utf8 *u) {
  return u->need == 0;
}

int ws_close_code_valid(unsigned code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

void ws_parser_init(ws_parser *p, uint64_t max_message) {
  memset(p, 0, sizeof(*p));
  p->max_message = max_message;
}

static size_t fail(ws_parser *p, ws_event *ev, unsigned code, const char *why, size_t used) {
  p->failed = 1;
  ev->kind = WS_EV_ERROR;
  ev->close_code = code;
  ev->why = why;
  return used;
}

/* The header is complete in p->hdr: checks it and sets the frame up.
 * Returns NULL, or why the connection fails (with *code). */
static const char *frame_begin(ws_parser *p, unsigned *code) {
  unsigned char b0 = p->hdr[0], b1 = p->hdr[1];
  unsigned len7 = b1 & 0x7f, i, at = 2;
  uint64_t len = len7;

  *code = WS_CLOSE_PROTOCOL;
  if (len7 == 126) {
    len = (uint64_t) p->hdr[2] << 8 | p->hdr[3];
    at = 4;
  } else if (len7 == 127) {
    len = 0;
    for (i = 0; i < 8; i++)
      len = len << 8 | p->hdr[2 + i];
    at = 10;
    if (len >> 63)
      return "frame length with its most significant bit set";
  }
  memcpy(p->mask, p->hdr + at, 4);
  p->mpos = 0;
  p->fin = b0 >> 7;
  p->opcode = b0 & 0x0f;
  p->left = len;
  if (b0 & 0x70)
    return "reserved bits set (no extension was negotiated)";
  if (!(b1 & 0x80))
    return "unmasked frame from the client";
  switch (p->opcode) {
  case WS_OP_CLOSE: case WS_OP_PING: case WS_OP_PONG:
    if (!p->fin)
      return "fragmented control frame";
    if (len > WS_CONTROL_MAX)
      return "control frame longer than 125 bytes";
    p->ctl_len = 0;
    return NULL;
  case WS_OP_CONT:
    if (p->msg_opcode == 0)
      return "continuation frame outside a fragmented message";
    break;
  case WS_OP_TEXT: case WS_OP_BINARY:
    if (p->msg_opcode != 0)
      return "new message inside a fragmented one";
    p->msg_opcode = p->opcode;
    p->msg_len = 0;
    memset(&p->utf8, 0, sizeof(p->utf8));
    break;
  default:
    return "unknown opcode";
  }
  if (len > p->max_message - p->msg_len) {
    *code = WS_CLOSE_TOO_BIG;
    return "message larger than --ws-max-message";
  }
  p->msg_len += len;
  return NULL;
}

/* Header bytes needed once the first two are known. */
static unsigned header_size(const unsigned char *hdr) {
  unsigned len7 = hdr[1] & 0x7f;
  return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((hdr[1] & 0x80) ? 4 : 0);
}

/* A control frame's payload is all in p->ctl: checks a close frame's body. */
static size_t control_end(ws_parser *p, ws_event *ev, size_t used) {
  ws_utf8 u = {0, 0, 0};

  ev->opcode = p->opcode;
  ev->payload = p->ctl;
  ev->len = p->ctl_len;
  ev->close_code = WS_CLOSE_NO_STATUS;
  if (p->opcode == WS_OP_CLOSE && p->ctl_len > 0) {
    if (p->ctl_len == 1)
      return fail(p, ev, WS_CLOSE_PROTOCOL, "close frame with a 1-byte body", used);
    ev->close_code = (unsigned) p->ctl[0] << 8 | p->ctl[1];
    if (!ws_close_code_valid(ev->close_code))
      return fail(p, ev, WS_CLOSE_PROTOCOL, "invalid close code", used);
    if (ws_utf8_feed(&u, p->ctl + 2, p->ctl_len - 2) != 0 || !ws_utf8_complete(&u))
      return fail(p, ev, WS_CLOSE_INVALID_DATA, "close reason is not valid UTF-8", used);
  }
  ev->kind = WS_EV_CONTROL;
  return used;
}

/* The frame's payload is complete: the end of a control frame, or of a
 * data frame, which may end its message. */
static size_t frame_end(ws_parser *p, ws_event *ev, size_t used) {
  p->in_payload = 0;
  p->hlen = 0;
  if (p->opcode >= WS_OP_CLOSE)
    return control_end(p, ev, used);
  if (!p->fin)
    return used;
  if (p->msg_opcode == WS_OP_TEXT && !ws_utf8_complete(&p->utf8))
    return fail(p, ev, WS_CLOSE_INVALID_DATA, "text message ends inside a UTF-8 sequence", used);
  ev->kind = WS_EV_MESSAGE_END;
  ev->opcode = p->msg_opcode;
  p->msg_opcode = 0;
  return used;
}

/* Unmasks n payload bytes of in into dst. */
static void unmask(ws_parser *p, unsigned char *dst, const unsigned char *in, size_t n) {
  for (size_t i = 0; i < n; i++)
    dst[i] = in[i] ^ p->mask[(p->mpos + i) & 3];
  p->mpos = (unsigned) ((p->mpos + n) & 3);
}

size_t ws_parse(ws_parser *p, const unsigned char *in, size_t len, tdm_buf *out, size_t room, ws_event *ev) {
  size_t off = 0;

  ev->kind = WS_EV_NONE;
  if (p->failed)
    return 0;
  while (off < len || (p->in_payload && p->left == 0)) {
    size_t n;
    if (!p->in_payload) {
      unsigned code;
      const char *why;
      unsigned need = p->hlen < 2 ? 2 : header_size(p->hdr);
      n = need - p->hlen < len - off ? need - p->hlen : len - off;
      memcpy(p->hdr + p->hlen, in + off, n);
      p->hlen += (unsigned) n;
      off += n;
      if (p->hlen < 2 || p->hlen < header_size(p->hdr))
        continue;
      if ((why = frame_begin(p, &code)) != NULL)
        return fail(p, ev, code, why, off);
      p->in_payload = 1;
      continue;
    }
    if (p->left == 0) {
      size_t used = frame_end(p, ev, off);
      if (ev->kind != WS_EV_NONE)
        return used;
      continue;               /* a fragment ended; its message goes on */
    }
    n = p->left < len - off ? (size_t) p->left : len - off;
    if (p->opcode >= WS_OP_CLOSE) {
      unmask(p, p->ctl + p->ctl_len, in + off, n);
      p->ctl_len += n;
    } else {
      unsigned char *dst;
      if (n > room)
        n = room;
      if (n == 0 || tdm_buf_reserve(out, n) != 0)
        return off;
      dst = (unsigned char *) out->base + out->len;
      unmask(p, dst, in + off, n);
      if (p->msg_opcode == WS_OP_TEXT && ws_utf8_feed(&p->utf8, dst, n) != 0)
        return fail(p, ev, WS_CLOSE_INVALID_DATA, "text message is not valid UTF-8", off + n);
      out->len += n;
      room -= n;
    }
    p->left -= n;
    off += n;
  }
  return off;
}

size_t ws_frame_header(unsigned char *dst, int fin, unsigned opcode, uint64_t len) {
  size_t n = 2;

  dst[0] = (unsigned char) ((fin ? 0x80 : 0) | (opcode & 0x0f));
  if (len < 126) {
    dst[1] = (unsigned char) len;
  } else if (len <= 0xffff) {
    dst[1] = 126;
    dst[2] = (unsigned char) (len >> 8);
    dst[3] = (unsigned char) len;
    n = 4;
  } else {
    dst[1] = 127;
    for (int i = 0; i < 8; i++)
      dst[2 + i] = (unsigned char) (len >> (56 - 8 * i));
    n = 10;
  }
  return n;
}
