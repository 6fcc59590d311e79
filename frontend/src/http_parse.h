/* http_parse: the request reader of one client connection, without I/O.
 * Bytes go in through http_parse_feed(); what they hold comes out through
 * the callbacks given at init: a request begins, its head is complete
 * (checked, its path decoded and normalised, ready to send as a REQUEST), a
 * piece of its body, its end.  Like llhttp under it, it stops where a
 * callback asks it to and goes on from there on the next feed.
 *
 * It owns the head's bytes until the next request begins, and adds the
 * checks llhttp 8 does not make (obs-fold, header names, Host, framing, the
 * version, the method, the target's form, Expect).  A chunked body is
 * decoded by http_chunked, not by llhttp, whose chunk extensions are too
 * strict and whose trailers would reach the head's callbacks.
 * It may call http_head, http_chunked, llhttp and the codec. */
#ifndef TDM_HTTP_PARSE_H
#define TDM_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

#include "http_chunked.h"
#include "http_head.h"
#include "tdm_proto.h"

/* The limits http_parse_init() sets; a connection's come from its settings
 * (--max-request-line, --max-headers), through http_parse_get(). */
#define HTTP_MAX_HEADERS 100
#define HTTP_MAX_LINE 8192
/* The longest target a request line of HTTP_MAX_LINE bytes can hold. */
#define HTTP_MAX_URL HTTP_MAX_LINE

/* What a callback returns: go on, or stop here (the feed returns
 * HTTP_PARSE_PAUSED with what it did not take). */
enum { HTTP_PARSE_OK = 0, HTTP_PARSE_PAUSED = -1 };

typedef struct http_parse_cb {
  /* A request begins. */
  int (*on_begin)(void *owner);
  /* Its head is complete.  status 0: it is valid and http_parse_head_of() has
   * it; otherwise it is refused with status and a text/plain body saying
   * why. */
  int (*on_head)(void *owner, int status, const char *body);
  int (*on_body)(void *owner, const char *at, size_t len);
  int (*on_complete)(void *owner);
} http_parse_cb;

/* The head of the request being read; the pointers point into the parser. */
typedef struct http_parse_head {
  tdm_request rq;                /* as the codec sends it */
  http_target target;            /* the raw path and query */
  const char *norm;              /* the normalised path, NULL if the target is not a path */
  size_t norm_len;
  uint8_t method;                /* an llhttp_method_t */
  unsigned http10 : 1;
  unsigned keep_alive : 1;
  unsigned has_body : 1;         /* the head announces a body */
  unsigned expect_continue : 1;  /* and the client waits for 100 Continue before sending it */
} http_parse_head;

struct hdr_span {
  uint32_t name_off, name_len, value_off, value_len;
};

typedef struct http_parse_limits {
  size_t max_head;               /* --max-header-size: the head's bytes kept, 431 */
  size_t max_line;               /* --max-request-line: the request line's bytes, 414 */
  unsigned max_headers;          /* --max-headers: header fields, 431 */
  uint64_t max_body;             /* --max-body-size, 0 for none: 413 */
} http_parse_limits;

typedef struct http_parser {
  llhttp_t ll;
  const http_parse_cb *cb;
  void *owner;
  size_t max_head;               /* --max-header-size */
  uint64_t max_body;             /* --max-body-size, 0 for none */
  size_t max_line;               /* --max-request-line */
  unsigned max_headers;          /* --max-headers */
  uint32_t method_len;           /* bytes of the request line's method so far */
  int error_status;              /* the status for a head our callbacks refused */
  unsigned header_value : 1;     /* the last header callback was a value */
  unsigned value_at_end : 1;     /* the last value span ended at the end of the input */
  unsigned bad_header : 1;       /* a header value held CR, LF or NUL, or was folded */
  unsigned line_breaks : 2;      /* line breaks after the last name, in earlier inputs (up to 2) */
  unsigned in_head : 1;          /* its request line has begun, its head is not done */
  unsigned head_pending : 1;     /* llhttp paused at the head's end; the owner is not told yet */
  unsigned last_cr : 1;          /* the last head byte checked was a CR */
  unsigned bare_lf : 1;          /* a line of the head ended in LF alone */
  unsigned in_body : 1;          /* the request being read is past its head */
  unsigned chunked : 1;          /* its body is chunked: http_chunked decodes it */
  unsigned in_chunks : 1;        /* and llhttp has handed the input over to it */
  unsigned handover : 1;         /* llhttp paused to hand the input over */
  unsigned version_seen : 1;     /* the request line's version has begun */
  unsigned not_http : 1;         /* its protocol is not HTTP (llhttp 8 takes RTSP/ and ICE/ too) */
  unsigned method_scan : 1;      /* llhttp stopped at a method it does not know: its line is scanned */
  unsigned scan_part : 2;        /* the part of that line being scanned (http_parse.c, SCAN_*) */
  uint8_t scan_pos;              /* where in that part */
  uint32_t scan_len;             /* bytes of that line so far */
  uint8_t tail_len;
  char tail[5];                  /* the last bytes given to llhttp while a request line is read */
  const char *exec_start;        /* the input llhttp is working on */
  const char *exec_end;
  const char *name_end;          /* where the last header name ended, if in this input */
  const char *head_from;         /* where the head's bytes begin, if in this input */
  int head_status;               /* the status of the head llhttp paused at */
  int host;                      /* the index of the Host header in hdr_out, -1 if none */
  http_chunked chunks;
  uint32_t url_off, url_len;
  unsigned nhdrs;
  tdm_addr client, server;
  /* From here on, a parser taken from the pool is not cleared: what is
   * always written before it is read, and the buffers it keeps. */
  http_parse_head head;
  char why[96];                  /* the body of a refusal */
  char error[128];               /* what llhttp said of the last malformed input, for the log */
  tdm_buf head_buf;              /* url and headers of the request; owner: the parser */
  /* Both arrays grow as headers come, up to max_headers (and one more
   * entry of hdr_out for an absolute-form target's Host). */
  struct hdr_span *hdrs;         /* owner: the parser */
  unsigned hdrs_cap;
  tdm_header *hdr_out;           /* owner: the parser */
  unsigned out_cap;
  struct http_parser *next_free; /* in the pool of http_parse_get() */
} http_parser;

/* Sets p up to call cb with owner.  The head buffer holds at most max_head
 * bytes; a head that announces more than max_body bytes of body (0: no
 * limit) is refused with 413. */
void http_parse_init(http_parser *p, const http_parse_cb *cb, void *owner, size_t max_head,
                     uint64_t max_body);
/* The connection's addresses, as the REQUEST carries them (host "" for
 * none); the strings must outlive p. */
void http_parse_set_addrs(http_parser *p, const char *client, uint32_t client_port,
                          const char *server, uint32_t server_port);
void http_parse_free(http_parser *p);

/* A parser set up as http_parse_init() would, with lim, from a small pool of
 * parsers given back (their buffers kept, up to a bound) or newly made; NULL
 * if out of memory.  A client connection takes one when bytes of a request
 * arrive and gives it back when it goes idle, so an idle connection holds
 * no parser memory (as nginx frees a keep-alive connection's header
 * buffers).  Owner: the caller, until http_parse_put(). */
http_parser *http_parse_get(const http_parse_cb *cb, void *owner, const http_parse_limits *lim);
/* Gives p back (NULL: nothing).  Only between requests: nothing of p's may be
 * in use, and no input may wait in it. */
void http_parse_put(http_parser *p);

/* Feeds data[0..len).  Returns HTTP_PARSE_OK (all taken), HTTP_PARSE_PAUSED
 * (a callback stopped it: *used bytes were taken), or the status (> 0) to
 * answer a malformed request with. */
int http_parse_feed(http_parser *p, const char *data, size_t len, size_t *used);

/* The head of the request being read (valid from its on_head until the next
 * request begins). */
const http_parse_head *http_parse_head_of(const http_parser *p);

/* Whether a head refused with status (on_head's) was read whole, its rq
 * built as an accepted head's: 413 and 417, refused for what they ask. */
static inline int http_parse_refused_whole(int status) {
  return status == 413 || status == 417;
}

/* Whether the request being read is past its head. */
int http_parse_in_body(const http_parser *p);

#endif /* TDM_HTTP_PARSE_H */
