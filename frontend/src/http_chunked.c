/* http_chunked: the chunked body decoder (see http_chunked.h).
 *
 * The grammar it reads (RFC 9112 section 7.1, RFC 9110 section 5.6), one
 * state per place in it:
 *
 *   chunked-body   = *chunk last-chunk trailer-section CRLF
 *   chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   last-chunk     = 1*"0" [ chunk-ext ] CRLF
 *   chunk-size     = 1*HEXDIG                              SIZE_FIRST, SIZE
 *   chunk-ext      = *( BWS ";" BWS name [ BWS "=" BWS value ] )
 *                                                          EXT, EXT_NAME_BWS, EXT_NAME,
 *                                                          EXT_AFTER_NAME, EXT_VALUE_BWS
 *   value          = token / quoted-string                 EXT_TOKEN, EXT_QUOTED, EXT_QPAIR
 *   trailer-section = *( name ":" OWS value CRLF )         TRAILER_START, TRAILER_NAME,
 *                                                          TRAILER_OWS, TRAILER_VALUE
 *
 * with CRLF always both bytes (LINE_LF, DATA_CR, DATA_LF, TRAILER_LF,
 * END_LF).  Whitespace after the size or after an extension, before the
 * CRLF, is taken as BWS is before a ';' (h11 and nginx take it too).
 * Anything else is malformed.  Calls only the C library. */
#include "http_chunked.h"

#include <string.h>

enum {
  SIZE_FIRST, SIZE, EXT, EXT_NAME_BWS, EXT_NAME, EXT_AFTER_NAME, EXT_VALUE_BWS, EXT_TOKEN, EXT_QUOTED,
  EXT_QPAIR, LINE_LF, DATA, DATA_CR, DATA_LF, TRAILER_START, TRAILER_NAME, TRAILER_OWS, TRAILER_VALUE,
  TRAILER_LF, END_LF, DONE
};

static int is_ws(unsigned char ch) {
  return ch == ' ' || ch == '\t';
}

static int is_tchar(unsigned char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
         (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* A byte of a field value or a quoted-string: visible, obs-text or
 * whitespace; no control byte. */
static int is_text(unsigned char ch) {
  return is_ws(ch) || (ch > 0x20 && ch != 0x7f);
}

static int hex_value(unsigned char ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  ch |= 0x20;
  return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

void http_chunked_init(http_chunked *d, size_t max_trailers) {
  memset(d, 0, sizeof(*d));
  d->state = SIZE_FIRST;
  d->max_trailers = max_trailers;
}

/* One byte of a chunk's extensions, up to the CR that ends its size line.
 * Returns 0, or HTTP_CHUNKED_BAD with d->why set. */
static int ext_byte(http_chunked *d, unsigned char ch) {
again:
  switch (d->state) {
  case EXT:                      /* after the size, a name or a value: BWS, ';' or the CR */
    if (is_ws(ch))
      return 0;
    if (ch == ';') {
      d->state = EXT_NAME_BWS;
      return 0;
    }
    break;
  case EXT_NAME_BWS:
    if (is_ws(ch))
      return 0;
    if (!is_tchar(ch))
      break;
    d->state = EXT_NAME;
    return 0;
  case EXT_NAME:
    if (is_tchar(ch))
      return 0;
    d->state = EXT_AFTER_NAME;
    /* fall through */
  case EXT_AFTER_NAME:
    if (is_ws(ch))
      return 0;
    if (ch == '=' || ch == ';') {
      d->state = ch == '=' ? EXT_VALUE_BWS : EXT_NAME_BWS;
      return 0;
    }
    break;
  case EXT_VALUE_BWS:
    if (is_ws(ch))
      return 0;
    if (ch != '"' && !is_tchar(ch))
      break;
    d->state = ch == '"' ? EXT_QUOTED : EXT_TOKEN;
    return 0;
  case EXT_TOKEN:
    if (is_tchar(ch))
      return 0;
    d->state = EXT;
    goto again;
  case EXT_QUOTED:
    if (ch == '"' || ch == '\\')
      d->state = ch == '"' ? EXT : EXT_QPAIR;
    else if (!is_text(ch))
      break;
    return 0;
  case EXT_QPAIR:
    if (!is_text(ch))
      break;
    d->state = EXT_QUOTED;
    return 0;
  }
  /* Where the line may end, its CR; anything else is malformed. */
  if (ch == '\r' && (d->state == EXT || d->state == EXT_AFTER_NAME)) {
    d->state = LINE_LF;
    return 0;
  }
  d->why = "invalid chunk extension";
  return HTTP_CHUNKED_BAD;
}

/* One byte of a chunk's size line (size and extensions, up to its CRLF).
 * Returns 0, or HTTP_CHUNKED_BAD with d->why set. */
static int line_byte(http_chunked *d, unsigned char ch) {
  int v = hex_value(ch);

  switch (d->state) {
  case SIZE_FIRST:
  case SIZE:
    if (v < 0 && d->state == SIZE_FIRST) {
      d->why = "invalid chunk size";
      return HTTP_CHUNKED_BAD;
    }
    if (v < 0) {
      d->state = EXT;
      return ext_byte(d, ch);
    }
    /* Below 2^59 before the shift: the size stays within 63 bits. */
    if (d->size >> 59) {
      d->why = "chunk size too large";
      return HTTP_CHUNKED_BAD;
    }
    d->size = d->size << 4 | (uint64_t) v;
    d->state = SIZE;
    return 0;
  case LINE_LF:
    if (ch != '\n') {
      d->why = "chunk size line not ended by CRLF";
      return HTTP_CHUNKED_BAD;
    }
    d->line = 0;
    d->state = d->size == 0 ? TRAILER_START : DATA;
    return 0;
  }
  return ext_byte(d, ch);
}

/* One byte of the trailer section, or of the CRLF after a chunk's data.
 * Returns 0, or an HTTP_CHUNKED_* error with d->why set. */
static int tail_byte(http_chunked *d, unsigned char ch) {
  switch (d->state) {
  case DATA_CR:
  case DATA_LF:
    if (ch != (d->state == DATA_CR ? '\r' : '\n')) {
      d->why = "chunk data not followed by CRLF";
      return HTTP_CHUNKED_BAD;
    }
    d->state = d->state == DATA_CR ? DATA_LF : SIZE_FIRST;
    d->size = 0;
    return 0;
  case TRAILER_START:
    if (ch == '\r') {
      d->state = END_LF;
      return 0;
    }
    /* A line that starts with whitespace would be obs-fold. */
    if (!is_tchar(ch))
      goto bad_trailer;
    d->state = TRAILER_NAME;
    break;
  case TRAILER_NAME:
    if (ch == ':') {
      d->state = TRAILER_OWS;
      return 0;
    }
    if (!is_tchar(ch))
      goto bad_trailer;
    break;
  case TRAILER_OWS:
    if (is_ws(ch))
      return 0;
    d->state = TRAILER_VALUE;
    /* fall through */
  case TRAILER_VALUE:
    if (ch == '\r') {
      d->state = TRAILER_LF;
      return 0;
    }
    if (!is_text(ch))
      goto bad_trailer;
    break;
  case TRAILER_LF:
  case END_LF:
    if (ch != '\n') {
      d->why = "a line of the trailer section not ended by CRLF";
      return HTTP_CHUNKED_BAD;
    }
    d->done = d->state == END_LF;
    d->state = d->done ? DONE : TRAILER_START;
    return 0;
  }
  /* A byte of a trailer field's name or value: counted, as the head's are. */
  if (++d->trailers > d->max_trailers) {
    d->why = "trailer fields too large";
    return HTTP_CHUNKED_TOO_LARGE;
  }
  return 0;
bad_trailer:
  d->why = "invalid trailer field";
  return HTTP_CHUNKED_BAD;
}

ssize_t http_chunked_feed(http_chunked *d, const char *data, size_t len, const char **body, size_t *body_len) {
  size_t i = 0;
  int rc;

  *body = NULL;
  *body_len = 0;
  while (i < len && !d->done) {
    if (d->state == DATA) {
      size_t n = len - i < d->size ? len - i : (size_t) d->size;
      *body = data + i;
      *body_len = n;
      d->size -= n;
      if (d->size == 0)
        d->state = DATA_CR;
      return (ssize_t) (i + n);
    }
    if (d->state < LINE_LF && data[i] != '\r' && ++d->line > HTTP_CHUNK_LINE_MAX) {
      d->why = "chunk size line too long";
      return HTTP_CHUNKED_BAD;
    }
    if (d->state < DATA)
      rc = line_byte(d, (unsigned char) data[i]);
    else
      rc = tail_byte(d, (unsigned char) data[i]);
    if (rc != 0)
      return rc;
    i++;
  }
  return (ssize_t) i;
}
