/* http_head: pure functions over a request's head.  They split the target,
 * percent-decode and normalise its path, read the headers that frame or
 * route the request, and make the checks that llhttp 8 does not.  No I/O and
 * no allocation: each works on the bytes it is given, and each check returns
 * 0 or the HTTP status to answer with.  Ground level: it names no other
 * module of the frontend. */
#ifndef TDM_HTTP_HEAD_H
#define TDM_HTTP_HEAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tdm_proto.h"

/* The parts of a request target (origin or absolute form), pointing into it. */
typedef struct http_target {
  const char *authority;         /* absolute form: host and port; NULL for another form */
  size_t authority_len;
  const char *path;              /* up to '?' or '#', still percent-encoded */
  size_t path_len;
  const char *query;             /* after '?', up to '#'; NULL if there is no '?' */
  size_t query_len;
} http_target;

/* What the Transfer-Encoding headers say: none, exactly "chunked" (once),
 * codings we do not implement, or something that is no list of codings. */
enum { HTTP_TE_NONE, HTTP_TE_CHUNKED, HTTP_TE_UNKNOWN, HTTP_TE_BAD };

/* What the headers say about framing and routing. */
typedef struct http_head_info {
  unsigned hosts;                /* Host headers seen */
  uint32_t host;                 /* the index of the last one */
  uint8_t te;                    /* an HTTP_TE_* */
  unsigned host_bad : 1;         /* a Host value that is no host[:port] */
  unsigned expect_continue : 1;  /* Expect: 100-continue */
  unsigned expect_other : 1;     /* an expectation other than 100-continue */
} http_head_info;

/* The forms of a request target (RFC 9112 section 3.2) this server takes. */
enum { HTTP_FORM_BAD, HTTP_FORM_ORIGIN, HTTP_FORM_ABSOLUTE, HTTP_FORM_ASTERISK };

/* The reason phrase of status ("" for one without). */
const char *http_status_reason(int status);

/* Whether s[0..len) is a token (RFC 9110 section 5.6.2), not empty. */
int http_is_token(const char *s, size_t len);

/* Whether a header value v[0..len) holds no control byte but HTAB (RFC 9110
 * section 5.5: no CR, LF, NUL, nor any other that a client could take for
 * a line's end). */
int http_value_ok(const char *v, size_t len);

/* Whether v[0..len) is a host with an optional port as RFC 3986 section 3.2.2
 * spells them (a name, an address, an IP literal in brackets; percent
 * escapes and sub-delims, no userinfo, no whitespace, no '/'); empty is
 * allowed. */
int http_authority_ok(const char *v, size_t len);

/* The form of the target url[0..len): origin ("/p?q"), absolute
 * ("http://host/p?q", http or https, with an authority that
 * http_authority_ok() takes and is not empty), asterisk ("*"), or
 * HTTP_FORM_BAD for anything else, a fragment ('#') included: RFC 9112
 * gives no request target one. */
int http_target_form(const char *url, size_t len);

/* Splits url[0..len); an absolute-form target ("http://host/p") has its
 * scheme and authority skipped (the authority ends at the first '/', '?' or
 * '#').  A fragment is neither path nor query. */
void http_split_target(const char *url, size_t len, http_target *t);

/* Percent-decodes src[0..len) into dst (room for len bytes).  Returns the
 * decoded length, or -1 for a malformed escape or a NUL. */
ssize_t http_percent_decode(const char *src, size_t len, char *dst);

/* What http_percent_encode() leaves as it is (RFC 3986): the unreserved
 * characters only (one path segment); those and '/', ':', '@' and the
 * sub-delims (a path); or any visible ASCII (a query, already encoded). */
enum { HTTP_PCT_SEGMENT, HTTP_PCT_PATH, HTTP_PCT_QUERY };

/* Percent-encodes src[0..len) into dst of cap bytes, every byte that keep
 * does not leave as it is, and NUL-terminates it.  Stops early rather than
 * cut an escape or overflow (3 * len + 1 bytes always suffice).  Returns the
 * encoded length. */
size_t http_percent_encode(const char *src, size_t len, char *dst, size_t cap, int keep);

/* Resolves "." and ".." segments of an absolute path in place and merges
 * repeated slashes.  Returns the new length, or -1 if ".." climbs above the
 * root. */
ssize_t http_normalize_path(char *p, size_t len);

/* Whether a raw (still encoded) path holds an encoded slash or backslash,
 * which a static mount refuses. */
int http_path_has_encoded_slash(const char *path, size_t len);

/* Whether the normalised path p[0..len) names a hidden file or directory,
 * which a static mount never serves: a segment that starts with a dot, but
 * for RFC 8615's /.well-known/. */
int http_path_is_hidden(const char *p, size_t len);

/* Lowercases every header name in place, drops the whitespace at the end of
 * every value (RFC 9110 section 5.5: it is not part of the value; llhttp
 * drops only the leading), and reads the framing and routing headers into
 * info.  Returns 0, or 400 for an empty name or one that is not a token. */
int http_scan_headers(tdm_header *h, uint32_t n, http_head_info *info);

/* The head's framing rules (RFC 9112 sections 3.2 and 6.1): 0, or the
 * status for a request with two Host headers or more, with none in HTTP/1.1, or with one
 * that is no host[:port] (400), a Transfer-Encoding in HTTP/1.0 (400), one
 * that is not a list of codings (400), or one that is not exactly "chunked"
 * (501, as nginx answers).  *why gets a short reason for the body. */
int http_check_framing(const http_head_info *info, int http10, const char **why);

/* Parses a content-length value: digits only, at most 18 of them.  Returns
 * the value, or -1. */
int64_t http_parse_length(const char *v, size_t len);

#endif /* TDM_HTTP_HEAD_H */
