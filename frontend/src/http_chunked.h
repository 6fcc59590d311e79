/* http_chunked: a decoder of chunked request bodies (RFC 9112 section 7.1),
 * without I/O and without allocation.  Bytes go in, and what comes out is
 * the body's data, as spans of the input, and the end of the body.
 *
 * It reads exactly the grammar of the RFC, strictly (every line ends in
 * CRLF), with what llhttp 8 refuses or misreads: whitespace around a chunk
 * extension's ';' and '=', several extensions, quoted values.  Extensions
 * are ignored, as the RFC tells a recipient to, but a chunk's size line
 * (size and extensions) may not exceed HTTP_CHUNK_LINE_MAX bytes.  Trailer
 * fields are checked (a token name, a value without control characters, no
 * obs-fold) and dropped: none ever becomes a header of the request.  Their
 * size is bounded by the caller's max_trailers.
 *
 * Ground level: it names no other module of the frontend. */
#ifndef TDM_HTTP_CHUNKED_H
#define TDM_HTTP_CHUNKED_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HTTP_CHUNK_LINE_MAX 4096

enum {
  HTTP_CHUNKED_BAD = -1,         /* malformed: answer 400 */
  HTTP_CHUNKED_TOO_LARGE = -2,   /* the trailer fields are over max_trailers: answer 431 */
};

typedef struct http_chunked {
  uint8_t state;
  unsigned done : 1;             /* the body and its trailer section are complete */
  uint64_t size;                 /* the chunk's size while its line is read, then its data left */
  size_t line;                   /* bytes of the size line read so far */
  size_t trailers;               /* bytes of trailer fields read so far */
  size_t max_trailers;
  const char *why;               /* what was malformed, for the log */
} http_chunked;

/* Sets d up for a new body whose trailer fields may hold max_trailers bytes. */
void http_chunked_init(http_chunked *d, size_t max_trailers);

/* Reads data[0..len) up to the next piece of body data or the body's end.
 * Returns the bytes taken (all of len, unless the body ended or a piece of
 * data was found), with *body and *body_len set to the data among them
 * (*body_len 0 if none); or HTTP_CHUNKED_BAD or HTTP_CHUNKED_TOO_LARGE (d->why
 * says why).  d->done is set once the body is complete: the bytes after the
 * ones taken belong to what follows the request. */
ssize_t http_chunked_feed(http_chunked *d, const char *data, size_t len, const char **body, size_t *body_len);

#endif /* TDM_HTTP_CHUNKED_H */
