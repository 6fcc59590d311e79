/* http_framing: response framing without I/O (see http_framing.h).  No
 * formatting through printf: this runs for every response.  Calls only
 * http_head and the C library. */
#include "http_framing.h"

#include <string.h>

#include "http_head.h"

/* Writes v in decimal at dst; returns the length. */
static size_t fmt_u64(char *dst, uint64_t v) {
  char tmp[20];
  size_t n = 0, i;

  do {
    tmp[n++] = (char) ('0' + v % 10);
    v /= 10;
  } while (v != 0);
  for (i = 0; i < n; i++)
    dst[i] = tmp[n - 1 - i];
  return n;
}

/* Writes v in hexadecimal at dst; returns the length. */
static size_t fmt_hex(char *dst, uint64_t v) {
  static const char digits[] = "0123456789abcdef";
  char tmp[16];
  size_t n = 0, i;

  do {
    tmp[n++] = digits[v & 15];
    v >>= 4;
  } while (v != 0);
  for (i = 0; i < n; i++)
    dst[i] = tmp[n - 1 - i];
  return n;
}

void http_framing_start(http_framing *f, int head, int http10, int status, int64_t content_length) {
  f->no_body = head || status == 204 || status == 304 || (status >= 100 && status < 200);
  f->chunked = 0;
  f->until_close = 0;
  f->remaining = -1;
  if (status == 204 || status == 304)
    return;
  if (content_length >= 0)
    f->remaining = content_length;
  else if (!http10)
    f->chunked = !f->no_body;
  else if (!f->no_body)
    f->until_close = 1;
}

size_t http_framing_status_line(char *dst, int status) {
  const char *reason = http_status_reason(status);
  size_t rlen = strlen(reason), len;

  memcpy(dst, "HTTP/1.1 ", 9);
  len = 9 + fmt_u64(dst + 9, (uint64_t) status);
  dst[len++] = ' ';
  memcpy(dst + len, reason, rlen);
  len += rlen;
  dst[len++] = '\r';
  dst[len++] = '\n';
  return len;
}

size_t http_framing_head_end(char *dst, http_framing *f, int have_server, const char *date,
                             size_t date_len, int close, int http10) {
  size_t len = 0;

#define PUT(str, n) (memcpy(dst + len, str, n), len += (n))
#define PUTS(lit) PUT(lit, sizeof(lit) - 1)
  if (!have_server)
    PUTS("server: tandem\r\n");
  if (date != NULL && date_len <= 64)
    PUT(date, date_len);
  if (f->chunked) {
    PUTS("transfer-encoding: chunked\r\n");
  } else if (f->remaining >= 0) {
    PUTS("content-length: ");
    len += fmt_u64(dst + len, (uint64_t) f->remaining);
    PUTS("\r\n");
  }
  if (close)
    PUTS("connection: close\r\n");
  else if (http10)
    PUTS("connection: keep-alive\r\n");
  PUTS("\r\n");
#undef PUTS
#undef PUT
  if (f->no_body)
    f->remaining = 0;
  return len;
}

size_t http_framing_body(http_framing *f, size_t len, int *over, char *chunk_head, size_t *chunk_len) {
  *over = 0;
  *chunk_len = 0;
  if (f->no_body)
    return 0;
  if (f->remaining >= 0) {
    if ((int64_t) len > f->remaining) {
      len = (size_t) f->remaining;
      *over = 1;
    }
    f->remaining -= (int64_t) len;
  }
  if (f->chunked && len > 0) {
    *chunk_len = fmt_hex(chunk_head, len);
    chunk_head[(*chunk_len)++] = '\r';
    chunk_head[(*chunk_len)++] = '\n';
  }
  return len;
}

void http_framing_sent(http_framing *f, uint64_t n) {
  if (f->remaining >= 0)
    f->remaining -= (int64_t) n < f->remaining ? (int64_t) n : f->remaining;
}

int http_framing_complete(const http_framing *f) {
  return f->no_body || f->remaining <= 0;
}

size_t http_framing_header_line(char *dst, size_t cap, const char *name, size_t nlen, const char *value,
                                size_t vlen) {
  if (nlen + vlen + 4 > cap)
    return 0;
  memcpy(dst, name, nlen);
  dst[nlen] = ':';
  dst[nlen + 1] = ' ';
  memcpy(dst + nlen + 2, value, vlen);
  dst[nlen + 2 + vlen] = '\r';
  dst[nlen + 3 + vlen] = '\n';
  return nlen + vlen + 4;
}
