/* http_framing: how a response's body is delimited, and the bytes that say
 * so, without I/O.  A body goes with a content-length, chunked, until the
 * connection closes (HTTP/1.0 without a length), or not at all (HEAD, 1xx,
 * 204, 304).  These functions decide which, write the status line and the
 * headers that frame it, and meter the body.  Ground level: they name no
 * other module of the frontend. */
#ifndef TDM_HTTP_FRAMING_H
#define TDM_HTTP_FRAMING_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_STATUS_LINE_MAX 64          /* room for any status line */
#define HTTP_FRAMING_HEAD_MAX 256        /* room for http_framing_head_end()'s lines */
#define HTTP_CHUNK_HEAD_MAX 24           /* room for a chunk's size line */

typedef struct http_framing {
  int64_t remaining;             /* content-length bytes still due, -1 if none */
  unsigned chunked : 1;
  unsigned no_body : 1;          /* HEAD, 1xx, 204, 304: framing headers only */
  unsigned until_close : 1;      /* the body ends when the connection closes */
} http_framing;

/* Decides the framing of a response with status and content_length (-1 for
 * none known) to a request that is a HEAD (head) over HTTP/1.0 (http10). */
void http_framing_start(http_framing *f, int head, int http10, int status, int64_t content_length);

/* Writes "HTTP/1.1 <status> <reason>\r\n" at dst; returns its length. */
size_t http_framing_status_line(char *dst, int status);

/* Writes the headers every response gets and the blank line that ends the
 * head at dst: server (unless have_server), the date line (unless NULL),
 * the framing header and the connection header (close, or keep-alive for
 * HTTP/1.0).  Returns the length.  A response with no body has nothing due
 * after it. */
size_t http_framing_head_end(char *dst, http_framing *f, int have_server, const char *date,
                             size_t date_len, int close, int http10);

/* Writes "name: value\r\n" at dst if it fits in cap bytes; returns its
 * length, or 0 if it does not fit. */
size_t http_framing_header_line(char *dst, size_t cap, const char *name, size_t nlen, const char *value,
                                size_t vlen);

/* How much of len body bytes may go out (the rest is past the
 * content-length: *over is set), and, for a chunked body, the chunk's size
 * line at chunk_head (*chunk_len, 0 if none). */
size_t http_framing_body(http_framing *f, size_t len, int *over, char *chunk_head, size_t *chunk_len);

/* n bytes of body went out by other means (sendfile). */
void http_framing_sent(http_framing *f, uint64_t n);

/* Whether the body is complete: an unfinished one means the connection must
 * close after what was sent. */
int http_framing_complete(const http_framing *f);

#endif /* TDM_HTTP_FRAMING_H */
