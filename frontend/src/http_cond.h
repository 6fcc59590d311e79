/* http_cond: conditional and range requests on one representation (RFC 9110
 * sections 13 and 14), pure: validators in, a decision out.  No I/O and no
 * allocation; the work is bounded by the bytes of the headers.  Ground
 * level: it names no other module of the frontend. */
#ifndef TDM_HTTP_COND_H
#define TDM_HTTP_COND_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "tdm_proto.h"

#define HTTP_ETAG_MAX 64
#define HTTP_DATE_LEN 29               /* "Sun, 06 Nov 1994 08:49:37 GMT" */

/* A representation's validators: a strong entity-tag (quotes included) and
 * the time it was last modified. */
typedef struct http_validator {
  char etag[HTTP_ETAG_MAX];
  size_t etag_len;
  time_t mtime;
} http_validator;

/* The strong entity-tag of a file: its inode, size and modification time
 * (nanoseconds too, so that two edits within a second differ); and its
 * Last-Modified time, which is never later than now. */
void http_validator_make(http_validator *v, uint64_t ino, uint64_t size, time_t mtime, long mtime_nsec);

/* t as an IMF-fixdate; out has room for HTTP_DATE_LEN + 1 bytes.  Returns HTTP_DATE_LEN. */
size_t http_date_format(time_t t, char *out);

/* An HTTP-date in any of the three forms RFC 9110 section 5.6.7 has a
 * recipient accept (IMF-fixdate, RFC 850, asctime), leading and trailing
 * whitespace allowed.  Returns 0 and sets *out, or -EINVAL. */
int http_date_parse(const char *s, size_t len, time_t *out);

/* The preconditions of r (If-Match, If-Unmodified-Since, If-None-Match,
 * If-Modified-Since, in the order and with the precedence of RFC 9110 section
 * 13.2.2) for a representation with validators v, for a GET or HEAD (get_or_head)
 * or another method.  Returns 0 (answer as usual), 304 or 412. */
int http_cond_check(const tdm_request *r, int get_or_head, const http_validator *v);

enum {
  HTTP_RANGE_NONE,             /* no Range, or one to ignore: the whole representation, 200 */
  HTTP_RANGE_ONE,              /* 206 with bytes *first..*last */
  HTTP_RANGE_UNSATISFIABLE     /* 416 */
};

/* The Range of a GET request r (with its If-Range) over a representation of
 * size bytes with validators v.  One range is served; a Range of several is
 * answered with the whole representation (RFC 9110 section 14.2 lets a server
 * ignore Range), unless none of them can be satisfied; a Range whose syntax
 * is invalid, or of another unit, is ignored. */
int http_range_check(const tdm_request *r, const http_validator *v, uint64_t size, uint64_t *first,
                     uint64_t *last);

/* The content codings a request accepts (RFC 9110 section 12.5.3), of those a
 * static file may have a precompressed variant in. */
#define HTTP_ACCEPT_GZIP 1
#define HTTP_ACCEPT_BR 2

/* The HTTP_ACCEPT_* bits of r's Accept-Encoding: a coding listed (or "*"
 * listed and the coding not) with a q-value above 0. */
unsigned http_accept_encoding(const tdm_request *r);

#endif /* TDM_HTTP_COND_H */
