/* Tests of the request reader (frontend/src/http_parse.c, over llhttp in
 * strict mode as the Makefile builds it).
 *
 * A test OWNER implements the four callbacks and writes what they report
 * into a text log, one line per event:
 *
 *   begin
 *   head 0 GET /a?x HTTP/1.1 path=/a query=x norm=/a ka=1 body=0 expect=0 h=[host: h]
 *   head 400 Bad Request: ...           (a refused head: the status and body)
 *   body hello                          (consecutive pieces joined)
 *   complete
 *   stop at 123                         (the owner stopped after a refused head,
 *                                        at that offset of the whole input)
 *   error 431                           (http_parse_feed() refused the input)
 *
 * so that a test states what a request must produce as one string.  Every
 * input is fed whole, in two pieces at every split point, one byte at a
 * time, and with every callback pausing (whole and byte by byte; the driver
 * then goes on from *used), and all must give the same log.  Each piece is
 * in a buffer of exactly its size that is freed after its feed, so a read
 * past it or a pointer kept into it is caught under AddressSanitizer.  The
 * owner also checks, at each event, what http_parse_in_body() says, and at
 * a request's end that its head has not changed since on_head.
 *
 * Set TDM_TEST_FILTER to a test name (cmocka pattern) to run only that test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"

#define LOG_MAX (1 << 16)
#define HEAD_DESC_MAX (1 << 15)
#define MAX_HEAD 8192            /* --max-header-size of most tests */
#define MAX_BODY 0               /* and no body limit */

#define L(lit) lit, sizeof(lit) - 1

enum { EV_BEGIN = 1, EV_HEAD = 2, EV_BODY = 4, EV_COMPLETE = 8, EV_ALL = 15 };

/* ---- the test owner ------------------------------------------------------- */

typedef struct owner {
  http_parser p;
  char log[LOG_MAX];
  size_t len;
  int last_body;                 /* the last line is a body line: join the next piece */
  unsigned pause_on;             /* EV_* whose callbacks answer HTTP_PARSE_PAUSED */
  int go_on_after_refusal;       /* a refused head does not stop the owner */
  int stopped;                   /* stopped after a refused head */
  int show_addrs;                /* the head line ends with the addresses */
  unsigned empty_bodies;         /* on_body calls with no bytes (not logged) */
  char head_desc[HEAD_DESC_MAX]; /* the head as on_head saw it */
  char *piece;                   /* the driver's input buffer, and its cuts: */
  size_t *cuts;                  /* freed by teardown if a test fails in the middle */
} owner;

static owner *O;

static void log_add(owner *o, const char *fmt, ...) {
  va_list ap;
  int n;

  va_start(ap, fmt);
  n = vsnprintf(o->log + o->len, sizeof(o->log) - o->len, fmt, ap);
  va_end(ap);
  assert_true(n >= 0 && (size_t) n < sizeof(o->log) - o->len);
  o->len += (size_t) n;
  o->last_body = 0;
}

static void str_add(char *out, size_t cap, size_t *len, const char *fmt, ...) {
  va_list ap;
  int n;

  va_start(ap, fmt);
  n = vsnprintf(out + *len, cap - *len, fmt, ap);
  va_end(ap);
  assert_true(n >= 0 && (size_t) n < cap - *len);
  *len += (size_t) n;
}

/* Writes the head of a valid request as one line (without its newline),
 * checking on the way what the line does not show. */
static void describe_head(const http_parser *p, int show_addrs, char *out, size_t cap) {
  const http_parse_head *hd = http_parse_head_of(p);
  const tdm_request *rq = &hd->rq;
  size_t len = 0;

  /* The REQUEST's fields agree with the parts of the head. */
  assert_string_equal(rq->method.ptr, llhttp_method_name((llhttp_method_t) hd->method));
  assert_int_equal(rq->method.len, strlen(rq->method.ptr));
  assert_int_equal(rq->http_version.len, 3);
  assert_memory_equal(rq->http_version.ptr, hd->http10 ? "1.0" : "1.1", 3);
  assert_int_equal(rq->scheme.len, 4);
  assert_memory_equal(rq->scheme.ptr, "http", 4);
  assert_int_equal(rq->flags, 0);
  assert_int_equal(rq->body.len, 0);
  assert_non_null(rq->query.ptr);
  assert_int_equal(rq->query.len, hd->target.query_len);
  if (hd->target.query != NULL)
    assert_ptr_equal(rq->query.ptr, hd->target.query);
  assert_non_null(hd->target.path);
  assert_true(rq->nheaders <= HTTP_MAX_HEADERS);

  str_add(out, cap, &len, "%.*s %.*s HTTP/%.*s path=%.*s", (int) rq->method.len, rq->method.ptr,
          (int) rq->target.len, rq->target.ptr, (int) rq->http_version.len, rq->http_version.ptr,
          (int) rq->path.len, rq->path.ptr);
  if (hd->target.query == NULL)
    str_add(out, cap, &len, " query=-");
  else
    str_add(out, cap, &len, " query=%.*s", (int) rq->query.len, rq->query.ptr);
  if (hd->norm == NULL)
    str_add(out, cap, &len, " norm=-");
  else
    str_add(out, cap, &len, " norm=%.*s", (int) hd->norm_len, hd->norm);
  str_add(out, cap, &len, " ka=%u body=%u expect=%u h=", hd->keep_alive, hd->has_body, hd->expect_continue);
  for (uint32_t i = 0; i < rq->nheaders; i++)
    str_add(out, cap, &len, "[%.*s: %.*s]", (int) rq->headers[i].name.len, rq->headers[i].name.ptr,
            (int) rq->headers[i].value.len, rq->headers[i].value.ptr);
  if (show_addrs) {
    const tdm_addr *a[2] = {&rq->client, &rq->server};
    for (int i = 0; i < 2; i++) {
      if (a[i]->present)
        str_add(out, cap, &len, " %s=%.*s:%u", i == 0 ? "client" : "server", (int) a[i]->host.len,
                a[i]->host.ptr, a[i]->port);
      else
        str_add(out, cap, &len, " %s=- (len %u port %u)", i == 0 ? "client" : "server", a[i]->host.len,
                a[i]->port);
    }
  }
}

static int owner_on_begin(void *arg) {
  owner *o = arg;

  assert_int_equal(http_parse_in_body(&o->p), 0);
  log_add(o, "begin\n");
  o->head_desc[0] = '\0';
  return o->pause_on & EV_BEGIN ? HTTP_PARSE_PAUSED : HTTP_PARSE_OK;
}

static int owner_on_head(void *arg, int status, const char *body) {
  owner *o = arg;

  assert_int_equal(http_parse_in_body(&o->p), 1);
  if (status != 0) {
    assert_non_null(body);
    log_add(o, "head %d %s", status, body);
    if (!o->go_on_after_refusal) {
      o->stopped = 1;
      return HTTP_PARSE_PAUSED;
    }
  } else {
    assert_null(body);
    describe_head(&o->p, o->show_addrs, o->head_desc, sizeof(o->head_desc));
    log_add(o, "head 0 %s\n", o->head_desc);
  }
  return o->pause_on & EV_HEAD ? HTTP_PARSE_PAUSED : HTTP_PARSE_OK;
}

static int owner_on_body(void *arg, const char *at, size_t len) {
  owner *o = arg;

  assert_int_equal(http_parse_in_body(&o->p), 1);
  if (len == 0) {
    /* A feed of nothing in the middle of a body reports an empty piece
     * (see test_empty_feed_reports_no_empty_body); it is not logged, and
     * pausing on it would never end. */
    o->empty_bodies++;
    return HTTP_PARSE_OK;
  }
  if (o->last_body) {
    /* Join it to the line before, in front of its newline. */
    assert_true(o->len + len < sizeof(o->log));
    memcpy(o->log + o->len - 1, at, len);
    o->len += len;
    o->log[o->len - 1] = '\n';
    o->log[o->len] = '\0';
  } else {
    log_add(o, "body %.*s\n", (int) len, at);
    o->last_body = 1;
  }
  return o->pause_on & EV_BODY ? HTTP_PARSE_PAUSED : HTTP_PARSE_OK;
}

static int owner_on_complete(void *arg) {
  owner *o = arg;

  assert_int_equal(http_parse_in_body(&o->p), 1);
  /* The head stays where it was until the next request begins, though the
   * input it came in is gone. */
  if (o->head_desc[0] != '\0') {
    char now[HEAD_DESC_MAX];
    describe_head(&o->p, o->show_addrs, now, sizeof(now));
    assert_string_equal(now, o->head_desc);
  }
  log_add(o, "complete\n");
  return o->pause_on & EV_COMPLETE ? HTTP_PARSE_PAUSED : HTTP_PARSE_OK;
}

static const http_parse_cb owner_cb = {
  .on_begin = owner_on_begin,
  .on_head = owner_on_head,
  .on_body = owner_on_body,
  .on_complete = owner_on_complete,
};

static int setup(void **state) {
  (void) state;
  O = calloc(1, sizeof(*O));
  return O != NULL ? 0 : -1;
}

static int teardown(void **state) {
  (void) state;
  http_parse_free(&O->p);
  free(O->piece);
  free(O->cuts);
  free(O);
  O = NULL;
  return 0;
}

static void owner_start(owner *o, size_t max_head, uint64_t max_body) {
  o->len = 0;
  o->log[0] = '\0';
  o->last_body = 0;
  o->stopped = 0;
  o->empty_bodies = 0;
  http_parse_init(&o->p, &owner_cb, o, max_head, max_body);
}

/* ---- the driver ------------------------------------------------------------ */

/* Feeds one piece, in a buffer of exactly its size, going on from *used
 * after each pause.  Returns 0, or -1 once the input is refused or the
 * owner stopped (said in the log). */
static int feed_piece(owner *o, const char *data, size_t n, size_t start) {
  size_t off = 0;
  int guard = 0, rc;

  o->piece = malloc(n != 0 ? n : 1);
  assert_non_null(o->piece);
  memcpy(o->piece, data, n);
  for (;;) {
    size_t used = 99999999;
    rc = http_parse_feed(&o->p, o->piece + off, n - off, &used);
    if (rc == HTTP_PARSE_OK) {
      assert_int_equal(used, n - off);
      break;
    }
    if (rc != HTTP_PARSE_PAUSED) {
      assert_true(rc > 0);
      log_add(o, "error %d\n", rc);
      break;
    }
    assert_true(used <= n - off);
    off += used;
    if (o->stopped) {
      log_add(o, "stop at %zu\n", start + off);
      break;
    }
    /* Go on from there, even with nothing left: llhttp may still have steps
     * to take (the end of a request paused at its head).  A pause that takes
     * nothing still moves the parser past the callback that paused, so this
     * ends; bound it anyway. */
    assert_true(++guard < 100000);
  }
  free(o->piece);
  o->piece = NULL;
  return rc == HTTP_PARSE_OK ? 0 : -1;
}

/* Feeds data[0..len) in pieces that end at cuts[0..ncuts) (increasing, inside
 * it) and at len, each in a buffer of its own.  Stops at an error or when
 * the owner stopped. */
static void drive(owner *o, const char *data, size_t len, const size_t *cuts, size_t ncuts) {
  size_t start = 0;

  for (size_t k = 0; k <= ncuts; k++) {
    size_t end = k < ncuts ? cuts[k] : len;
    if (feed_piece(o, data + start, end - start, start) != 0)
      return;
    start = end;
  }
}

/* Runs data through a fresh parser cut at cuts, with pause_on; returns the
 * log (in O). */
static const char *run(const char *data, size_t len, const size_t *cuts, size_t ncuts, unsigned pause_on,
                       size_t max_head, uint64_t max_body) {
  O->pause_on = pause_on;
  owner_start(O, max_head, max_body);
  drive(O, data, len, cuts, ncuts);
  http_parse_free(&O->p);
  return O->log;
}

static void expect_log(const char *got, const char *want, const char *how, size_t at) {
  if (strcmp(got, want) != 0) {
    print_error("fed %s %zu: the log differs\n", how, at);
    assert_string_equal(got, want);
  }
}

/* Feeds data every way (see the top) and expects the log want each time. */
static void check_every_way(const char *data, size_t len, size_t max_head, uint64_t max_body,
                            const char *want) {
  size_t *cuts = O->cuts = malloc((len != 0 ? len : 1) * sizeof(*cuts));

  assert_non_null(cuts);
  expect_log(run(data, len, NULL, 0, 0, max_head, max_body), want, "whole", 0);
  expect_log(run(data, len, NULL, 0, EV_ALL, max_head, max_body), want, "whole pausing", 0);
  for (size_t i = 1; i < len; i++) {
    cuts[0] = i;
    expect_log(run(data, len, cuts, 1, 0, max_head, max_body), want, "split at", i);
  }
  for (size_t i = 1; i < len; i++)
    cuts[i - 1] = i;
  if (len > 1) {
    expect_log(run(data, len, cuts, len - 1, 0, max_head, max_body), want, "byte by byte", 0);
    expect_log(run(data, len, cuts, len - 1, EV_ALL, max_head, max_body), want, "byte by byte pausing", 0);
  }
  free(cuts);
  O->cuts = NULL;
}

#define CHECK(data, want) check_every_way(data, sizeof(data) - 1, MAX_HEAD, MAX_BODY, want)

/* ---- valid requests ---------------------------------------------------------- */

static void test_simple_get(void **state) {
  (void) state;
  CHECK("GET /index.html HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t/1\r\n\r\n",
        "begin\n"
        "head 0 GET /index.html HTTP/1.1 path=/index.html query=- norm=/index.html ka=1 body=0 expect=0 "
        "h=[host: example.com][user-agent: t/1]\n"
        "complete\n");
}

static void test_names_lowercased_values_kept(void **state) {
  (void) state;
  CHECK("GET / HTTP/1.1\r\nHOST: Example.COM\r\nX-MiXeD-CaSe: VaLuE\r\nAccept:*/*\r\nX-Empty:\r\n"
        "X-Spaces:   a  b\r\n\r\n",
        "begin\n"
        "head 0 GET / HTTP/1.1 path=/ query=- norm=/ ka=1 body=0 expect=0 "
        "h=[host: Example.COM][x-mixed-case: VaLuE][accept: */*][x-empty: ][x-spaces: a  b]\n"
        "complete\n");
}

static void test_target_decoded_and_normalised(void **state) {
  (void) state;
  /* The query stays encoded; the path is decoded, then normalised. */
  CHECK("GET /a%20b/./c/../d//e/?x=1&y=%41%20 HTTP/1.1\r\nHost: h\r\n\r\n",
        "begin\n"
        "head 0 GET /a%20b/./c/../d//e/?x=1&y=%41%20 HTTP/1.1 path=/a b/./c/../d//e/ query=x=1&y=%41%20 "
        "norm=/a b/d/e/ ka=1 body=0 expect=0 h=[host: h]\n"
        "complete\n");
  /* Encoded dots and slashes are decoded before normalising. */
  CHECK("GET /a/%2e%2E/b%2Fc? HTTP/1.1\r\nHost: h\r\n\r\n",
        "begin\n"
        "head 0 GET /a/%2e%2E/b%2Fc? HTTP/1.1 path=/a/../b/c query= norm=/b/c ka=1 body=0 expect=0 "
        "h=[host: h]\n"
        "complete\n");
  /* RFC 9112 gives a request target no fragment: a '#' is refused. */
  CHECK("GET /a/b?q#frag HTTP/1.1\r\nHost: h\r\n\r\n",
        "begin\nhead 400 Bad Request: invalid request target\nstop at 37\n");
  CHECK("GET /a#f?x HTTP/1.1\r\nHost: h\r\n\r\n",
        "begin\nhead 400 Bad Request: invalid request target\nstop at 32\n");
}

/* An absolute-form target names the host: the Host header's value is
 * replaced by its authority (RFC 9112 section 3.2.2), or one is added. */
static void test_absolute_form_and_others(void **state) {
  (void) state;
  CHECK("GET http://example.com:8080/x/../y?q=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
        "begin\n"
        "head 0 GET http://example.com:8080/x/../y?q=1 HTTP/1.1 path=/x/../y query=q=1 norm=/y ka=1 "
        "body=0 expect=0 h=[host: example.com:8080]\n"
        "complete\n");
  CHECK("GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n",
        "begin\n"
        "head 0 GET http://example.com HTTP/1.1 path=/ query=- norm=/ ka=1 body=0 expect=0 "
        "h=[host: example.com]\n"
        "complete\n");
  CHECK("GET HTTPS://a.example:1/p HTTP/1.1\r\nX: 1\r\nHost: b.example\r\n\r\n",
        "begin\n"
        "head 0 GET HTTPS://a.example:1/p HTTP/1.1 path=/p query=- norm=/p ka=1 body=0 expect=0 "
        "h=[x: 1][host: a.example:1]\n"
        "complete\n");
  /* The authority ends at a '?' too. */
  CHECK("GET http://a.example?x=/y HTTP/1.1\r\nHost: b\r\n\r\n",
        "begin\n"
        "head 0 GET http://a.example?x=/y HTTP/1.1 path=/ query=x=/y norm=/ ka=1 body=0 expect=0 "
        "h=[host: a.example]\n"
        "complete\n");
  /* HTTP/1.0 may send no Host: the authority becomes one. */
  CHECK("GET http://a.example/ HTTP/1.0\r\nX: 1\r\n\r\n",
        "begin\n"
        "head 0 GET http://a.example/ HTTP/1.0 path=/ query=- norm=/ ka=0 body=0 expect=0 "
        "h=[x: 1][host: a.example]\n"
        "complete\n");
  /* Targets that are not paths have no normalised path. */
  CHECK("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
        "begin\n"
        "head 0 OPTIONS * HTTP/1.1 path=* query=- norm=- ka=1 body=0 expect=0 h=[host: h]\n"
        "complete\n");
}

/* RFC 9112 section 3.2: origin form, absolute form (http and https, with a
 * host), and "*" for OPTIONS only. */
static void test_refused_target_form(void **state) {
  static const char *const bad[] = {
    "GET * HTTP/1.1\r\nHost: h\r\n\r\n",
    "POST * HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
    "OPTIONS *x HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET ftp://h/x HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET http://u@h/x HTTP/1.1\r\nHost: h\r\n\r\n",
  };
  char want[128];
  (void) state;

  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    const char *end = strstr(bad[i], "\r\n\r\n") + 4;
    snprintf(want, sizeof(want), "begin\nhead 400 Bad Request: %s\nstop at %zu\n",
             i < 2 ? "the target * is for OPTIONS only" : "invalid request target", (size_t) (end - bad[i]));
    check_every_way(bad[i], strlen(bad[i]), MAX_HEAD, MAX_BODY, want);
  }
  /* Others llhttp refuses itself: the authority form, a quote in a host. */
  CHECK("GET h:443 HTTP/1.1\r\nHost: h\r\n\r\n", "begin\nerror 400\n");
  CHECK("GET http://h\"/x HTTP/1.1\r\nHost: h\r\n\r\n", "begin\nerror 400\n");
}

/* CONNECT would make a tunnel, TRACE an echo: 405, as nginx answers. */
static void test_refused_method(void **state) {
  (void) state;
  CHECK("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\nGET /next HTTP/1.1\r\n\r\n",
        "begin\nhead 405 Method Not Allowed: CONNECT and TRACE are not served\nstop at 59\n");
  CHECK("TRACE / HTTP/1.1\r\nHost: h\r\n\r\n",
        "begin\nhead 405 Method Not Allowed: CONNECT and TRACE are not served\nstop at 29\n");
}

/* A method llhttp does not know is one the frontend cannot pass on: 501
 * (RFC 9110 section 9.1) once its request line has come whole, if it is a
 * method as nginx reads one (capitals, '_' and '-'), however much of it
 * llhttp took for one it knows, and the line is in shape; anything else is
 * malformed: 400. */
static void test_unknown_method(void **state) {
  (void) state;
  CHECK("FOO / HTTP/1.1\r\nHost: h\r\n\r\n", "begin\nerror 501\n");
  CHECK("GE / HTTP/1.1\r\nHost: h\r\n\r\n", "begin\nerror 501\n");
  CHECK("GETS / HTTP/1.1\r\nHost: h\r\n\r\n", "begin\nerror 501\n");
  CHECK("PROPFIND_X / HTTP/1.1\r\nHost: h\r\n\r\n", "begin\nerror 501\n");
  CHECK("\r\nX-Y  http://h/a?b  HTTP/1.0\r\n", "begin\nerror 501\n");
  CHECK("FOO * HTTP/2.0\r\n", "begin\nerror 501\n");
  CHECK("GET / HTTP/1.1\r\nHost: h\r\n\r\nBREW / HTTP/1.1\r\n\r\n",
        "begin\n"
        "head 0 GET / HTTP/1.1 path=/ query=- norm=/ ka=1 body=0 expect=0 h=[host: h]\n"
        "complete\n"
        "begin\n"
        "error 501\n");
  CHECK("Get / HTTP/1.1\r\nHost: h\r\n\r\n", "begin\nerror 400\n");
  CHECK("FO\x01 / HTTP/1.1\r\n\r\n", "begin\nerror 400\n");
  CHECK("GE\r\n", "begin\nerror 400\n");
  CHECK(" / HTTP/1.1\r\n\r\n", "begin\nerror 400\n");
  CHECK("THIS IS NOT HTTP\r\n", "begin\nerror 400\n");
  CHECK("FOO /a b HTTP/1.1\r\n", "begin\nerror 400\n");
  CHECK("FOO \x01 HTTP/1.1\r\n", "begin\nerror 400\n");
  CHECK("FOO / HTTP/1.1\n", "begin\nerror 400\n");
  CHECK("FOO / HTTP/x.1\r\n", "begin\nerror 400\n");
  /* Not yet whole: more is needed. */
  CHECK("FOO / HTTP/1.1\r", "begin\n");
}

static void test_http10_and_keep_alive(void **state) {
  (void) state;
  /* HTTP/1.0 needs no Host and closes unless it asks for keep-alive. */
  CHECK("GET / HTTP/1.0\r\n\r\n",
        "begin\n"
        "head 0 GET / HTTP/1.0 path=/ query=- norm=/ ka=0 body=0 expect=0 h=\n"
        "complete\n");
  CHECK("GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /l HTTP/1.0\r\nHost: a\r\n\r\n",
        "begin\n"
        "head 0 GET /k HTTP/1.0 path=/k query=- norm=/k ka=1 body=0 expect=0 h=[connection: keep-alive]\n"
        "complete\n"
        "begin\n"
        "head 0 GET /l HTTP/1.0 path=/l query=- norm=/l ka=0 body=0 expect=0 h=[host: a]\n"
        "complete\n");
  /* But never two Hosts, in any version. */
  CHECK("GET /l HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", "begin\nhead 400 Bad Request: exactly one Host header is required\nstop at 37\n");
  CHECK("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        "begin\n"
        "head 0 GET / HTTP/1.1 path=/ query=- norm=/ ka=0 body=0 expect=0 h=[host: h][connection: close]\n"
        "complete\n");
  /* Expect: 100-continue counts only in 1.1 with a body. */
  CHECK("POST /10 HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
        "begin\n"
        "head 0 POST /10 HTTP/1.0 path=/10 query=- norm=/10 ka=0 body=1 expect=0 "
        "h=[expect: 100-continue][content-length: 1]\n"
        "body x\n"
        "complete\n");
  CHECK("GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n",
        "begin\n"
        "head 0 GET / HTTP/1.1 path=/ query=- norm=/ ka=1 body=0 expect=0 h=[host: h][expect: 100-continue]\n"
        "complete\n");
}

static void test_body_content_length(void **state) {
  (void) state;
  CHECK("POST /up HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 11\r\n\r\nhello world",
        "begin\n"
        "head 0 POST /up HTTP/1.1 path=/up query=- norm=/up ka=1 body=1 expect=1 "
        "h=[host: h][expect: 100-Continue][content-length: 11]\n"
        "body hello world\n"
        "complete\n");
  CHECK("POST /empty HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
        "begin\n"
        "head 0 POST /empty HTTP/1.1 path=/empty query=- norm=/empty ka=1 body=0 expect=0 "
        "h=[host: h][content-length: 0]\n"
        "complete\n");
}

static void test_body_chunked_with_trailers(void **state) {
  (void) state;
  /* Extensions are skipped; trailers are not added to the head. */
  CHECK("POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5;name=val\r\nhello\r\nB\r\n, world 123\r\n0\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n",
        "begin\n"
        "head 0 POST /c HTTP/1.1 path=/c query=- norm=/c ka=1 body=1 expect=0 "
        "h=[host: h][transfer-encoding: chunked]\n"
        "body hello, world 123\n"
        "complete\n");
  /* Extensions as RFC 9112 section 7.1.1 has them: whitespace around ';'
   * and '=', several, quoted values (llhttp 8 refuses all three). */
  CHECK("POST /e HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5; some; parameters=stuff\r\nhello\r\n"
        "2 ;a=b;c = \"x;\\\"y\" ; d\t\r\nzz\r\n"
        "0;last\r\n\r\n",
        "begin\n"
        "head 0 POST /e HTTP/1.1 path=/e query=- norm=/e ka=1 body=1 expect=0 "
        "h=[host: h][transfer-encoding: chunked]\n"
        "body hellozz\n"
        "complete\n");
}

/* A trailer field never reaches the head, whatever it names: one that
 * would frame or route the request is dropped like any other. */
static void test_trailers_dropped(void **state) {
  (void) state;
  CHECK("POST /t HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        "1\r\nx\r\n0\r\nContent-Length: 40\r\nHost: evil\r\nTransfer-Encoding: chunked\r\n\r\n"
        "GET /next HTTP/1.1\r\nHost: h\r\n\r\n",
        "begin\n"
        "head 0 POST /t HTTP/1.1 path=/t query=- norm=/t ka=1 body=1 expect=0 "
        "h=[host: h][transfer-encoding: chunked]\n"
        "body x\n"
        "complete\n"
        "begin\n"
        "head 0 GET /next HTTP/1.1 path=/next query=- norm=/next ka=1 body=0 expect=0 h=[host: h]\n"
        "complete\n");
}

static void test_pipelined(void **state) {
  (void) state;
  CHECK("GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
        "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
        "PUT /3 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nT: 1\r\n\r\n"
        "DELETE /4?y HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        "begin\n"
        "head 0 GET /1 HTTP/1.1 path=/1 query=- norm=/1 ka=1 body=0 expect=0 h=[host: h]\n"
        "complete\n"
        "begin\n"
        "head 0 POST /2 HTTP/1.1 path=/2 query=- norm=/2 ka=1 body=1 expect=0 "
        "h=[host: h][content-length: 3]\n"
        "body abc\n"
        "complete\n"
        "begin\n"
        "head 0 PUT /3 HTTP/1.1 path=/3 query=- norm=/3 ka=1 body=1 expect=0 "
        "h=[host: h][transfer-encoding: chunked]\n"
        "body x\n"
        "complete\n"
        "begin\n"
        "head 0 DELETE /4?y HTTP/1.1 path=/4 query=y norm=/4 ka=0 body=0 expect=0 "
        "h=[host: h][connection: close]\n"
        "complete\n");
}

/* An Upgrade is not offered: the connection goes on as HTTP/1.1. */
static void test_upgrade_goes_on_as_http(void **state) {
  (void) state;
  CHECK("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"
        "GET /2 HTTP/1.1\r\nHost: h\r\n\r\n"
        "POST /3 HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 2\r\n\r\nok"
        "GET /4 HTTP/1.1\r\nHost: h\r\n\r\n",
        "begin\n"
        "head 0 GET /ws HTTP/1.1 path=/ws query=- norm=/ws ka=1 body=0 expect=0 "
        "h=[host: h][connection: upgrade][upgrade: websocket]\n"
        "complete\n"
        "begin\n"
        "head 0 GET /2 HTTP/1.1 path=/2 query=- norm=/2 ka=1 body=0 expect=0 h=[host: h]\n"
        "complete\n"
        "begin\n"
        "head 0 POST /3 HTTP/1.1 path=/3 query=- norm=/3 ka=1 body=1 expect=0 "
        "h=[host: h][connection: Upgrade][upgrade: h2c][content-length: 2]\n"
        "body ok\n"
        "complete\n"
        "begin\n"
        "head 0 GET /4 HTTP/1.1 path=/4 query=- norm=/4 ka=1 body=0 expect=0 h=[host: h]\n"
        "complete\n");
}

static void test_addresses(void **state) {
  static const char req[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
  size_t used;
  (void) state;

  O->show_addrs = 1;
  O->pause_on = 0;
  owner_start(O, MAX_HEAD, MAX_BODY);
  http_parse_set_addrs(&O->p, "127.0.0.1", 41000, "::1", 8080);
  assert_int_equal(http_parse_feed(&O->p, L(req), &used), HTTP_PARSE_OK);
  http_parse_set_addrs(&O->p, "", 0, "10.0.0.1", 80);
  assert_int_equal(http_parse_feed(&O->p, L(req), &used), HTTP_PARSE_OK);
  http_parse_free(&O->p);
  assert_string_equal(O->log,
                      "begin\n"
                      "head 0 GET / HTTP/1.1 path=/ query=- norm=/ ka=1 body=0 expect=0 h=[host: h] "
                      "client=127.0.0.1:41000 server=::1:8080\n"
                      "complete\n"
                      "begin\n"
                      "head 0 GET / HTTP/1.1 path=/ query=- norm=/ ka=1 body=0 expect=0 h=[host: h] "
                      "client=- (len 0 port 0) server=10.0.0.1:80\n"
                      "complete\n");
  O->show_addrs = 0;
}

/* ---- pausing ---------------------------------------------------------------- */

/* Feeds data once with pause_on; checks rc, *used and the log so far. */
static void feed_once(const char *data, size_t len, int want_rc, size_t want_used, const char *want_log) {
  size_t used = 99999999;
  char *piece = malloc(len != 0 ? len : 1);
  int rc;

  assert_non_null(piece);
  memcpy(piece, data, len);
  rc = http_parse_feed(&O->p, piece, len, &used);
  free(piece);
  assert_int_equal(rc, want_rc);
  assert_int_equal(used, want_used);
  assert_string_equal(O->log, want_log);
}

#define PAUSE_REQ "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc" \
                  "GET /b HTTP/1.1\r\nHost: h\r\n\r\n"
#define HEAD_A "head 0 POST /a HTTP/1.1 path=/a query=- norm=/a ka=1 body=1 expect=0 " \
               "h=[host: h][content-length: 3]\n"
#define HEAD_B "head 0 GET /b HTTP/1.1 path=/b query=- norm=/b ka=1 body=0 expect=0 h=[host: h]\n"

/* The first request's head is 48 bytes, its body 3, the second request 28. */
static void test_pause_on_begin(void **state) {
  static const char req[] = PAUSE_REQ;
  (void) state;

  O->pause_on = EV_BEGIN;
  owner_start(O, MAX_HEAD, MAX_BODY);
  /* Nothing is taken: the request's first byte is still to be read. */
  feed_once(L(req), HTTP_PARSE_PAUSED, 0, "begin\n");
  assert_int_equal(http_parse_in_body(&O->p), 0);
  /* Going on from there does not begin it again. */
  feed_once(L(req), HTTP_PARSE_PAUSED, 51, "begin\n" HEAD_A "body abc\ncomplete\nbegin\n");
  feed_once(req + 51, sizeof(req) - 1 - 51, HTTP_PARSE_OK, 28,
            "begin\n" HEAD_A "body abc\ncomplete\nbegin\n" HEAD_B "complete\n");
  http_parse_free(&O->p);
}

static void test_pause_on_head(void **state) {
  static const char req[] = PAUSE_REQ;
  (void) state;

  O->pause_on = EV_HEAD;
  owner_start(O, MAX_HEAD, MAX_BODY);
  /* All of the head is taken, none of the body. */
  feed_once(L(req), HTTP_PARSE_PAUSED, 48, "begin\n" HEAD_A);
  assert_int_equal(http_parse_in_body(&O->p), 1);
  feed_once(req + 48, sizeof(req) - 1 - 48, HTTP_PARSE_PAUSED, 31,
            "begin\n" HEAD_A "body abc\ncomplete\nbegin\n" HEAD_B);
  /* The rest is nothing: feeding nothing ends the second request. */
  feed_once(req + 79, 0, HTTP_PARSE_OK, 0,
            "begin\n" HEAD_A "body abc\ncomplete\nbegin\n" HEAD_B "complete\n");
  http_parse_free(&O->p);
}

static void test_pause_on_body_and_complete(void **state) {
  static const char req[] = PAUSE_REQ;
  (void) state;

  /* The piece of body handed over is taken. */
  O->pause_on = EV_BODY;
  owner_start(O, MAX_HEAD, MAX_BODY);
  feed_once(req, 50, HTTP_PARSE_PAUSED, 50, "begin\n" HEAD_A "body ab\n");
  feed_once(req + 50, sizeof(req) - 1 - 50, HTTP_PARSE_PAUSED, 1, "begin\n" HEAD_A "body abc\n");
  feed_once(req + 51, sizeof(req) - 1 - 51, HTTP_PARSE_OK, 28,
            "begin\n" HEAD_A "body abc\ncomplete\nbegin\n" HEAD_B "complete\n");
  http_parse_free(&O->p);

  /* The end of the request is taken, the next request is not. */
  O->pause_on = EV_COMPLETE;
  owner_start(O, MAX_HEAD, MAX_BODY);
  feed_once(L(req), HTTP_PARSE_PAUSED, 51, "begin\n" HEAD_A "body abc\ncomplete\n");
  feed_once(req + 51, sizeof(req) - 1 - 51, HTTP_PARSE_PAUSED, 28,
            "begin\n" HEAD_A "body abc\ncomplete\nbegin\n" HEAD_B "complete\n");
  http_parse_free(&O->p);
}

static void test_feed_nothing(void **state) {
  static const char req[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
  (void) state;

  O->pause_on = 0;
  owner_start(O, MAX_HEAD, MAX_BODY);
  feed_once(req, 0, HTTP_PARSE_OK, 0, "");
  feed_once(req, 5, HTTP_PARSE_OK, 5, "begin\n");
  feed_once(req + 5, 0, HTTP_PARSE_OK, 0, "begin\n");
  feed_once(req + 5, sizeof(req) - 1 - 5, HTTP_PARSE_OK, sizeof(req) - 1 - 5,
            "begin\n"
            "head 0 GET / HTTP/1.1 path=/ query=- norm=/ ka=1 body=0 expect=0 h=[host: h]\n"
            "complete\n");
  http_parse_free(&O->p);
}

/* ---- refusals in on_head ------------------------------------------------------ */

#define BAD_VALUE "Bad Request: invalid header value\n"
#define ONE_HOST "Bad Request: exactly one Host header is required\n"

static void test_refused_obs_fold(void **state) {
  (void) state;
  /* RFC 9112 5.2: obs-fold may be refused; at every split it is. */
  CHECK("GET / HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n b\r\n\r\n",
        "begin\nhead 400 " BAD_VALUE "stop at 44\n");
  CHECK("GET / HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n\tb\r\nX-After: c\r\n\r\n",
        "begin\nhead 400 " BAD_VALUE "stop at 56\n");
  CHECK("GET / HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n b\r\n c\r\n\r\n",
        "begin\nhead 400 " BAD_VALUE "stop at 48\n");
}

/* obs-fold whose first line has an empty value: llhttp reports no span for
 * the empty value, so the continuation is the value's only span, and holds
 * no line break; the line break lies between the name and it.  Let through,
 * "Transfer-Encoding:\r\n chunked" would frame the body as chunked, while an
 * intermediary that reads the first line alone sees no framing: the request
 * smuggling that RFC 9112 section 5.2 lets a server prevent by refusing
 * obs-fold. */
static void test_refused_obs_fold_after_empty_value(void **state) {
  (void) state;
  CHECK("GET / HTTP/1.1\r\nX-Folded:\r\n b\r\nHost: h\r\n\r\n",
        "begin\nhead 400 " BAD_VALUE "stop at 42\n");
  CHECK("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        "begin\nhead 400 " BAD_VALUE "stop at 58\n");
  CHECK("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n 3\r\n\r\nabc",
        "begin\nhead 400 " BAD_VALUE "stop at 49\n");
  CHECK("GET / HTTP/1.1\r\nHost:  \r\n evil\r\n\r\n",
        "begin\nhead 400 " BAD_VALUE "stop at 34\n");
  /* A continuation line of whitespace only. */
  CHECK("GET / HTTP/1.1\r\nHost: h\r\nX-A:\r\n \r\n\r\n",
        "begin\nhead 400 " BAD_VALUE "stop at 36\n");
  /* An empty value is no fold. */
  CHECK("GET / HTTP/1.1\r\nX-A:\r\nHost: h\r\nX-B: \t\r\n\r\n",
        "begin\nhead 0 GET / HTTP/1.1 path=/ query=- norm=/ ka=1 body=0 expect=0 h=[x-a: ][host: h][x-b: ]\n"
        "complete\n");
}

/* llhttp 8 takes a bare LF after the request line and for the line that
 * ends the head; a reader that wants CRLF would read on, into what follows
 * (the next request, a body). */
static void test_refused_bare_lf(void **state) {
  (void) state;
#define NOT_CRLF "head 400 Bad Request: a line of the head not ended by CRLF\n"
  CHECK("GET / HTTP/1.1\nHost: h\r\n\r\n", "begin\n" NOT_CRLF "stop at 26\n");
  CHECK("GET / HTTP/1.1\r\nHost: h\r\n\n", "begin\n" NOT_CRLF "stop at 26\n");
  CHECK("GET / HTTP/1.0\r\n\n", "begin\n" NOT_CRLF "stop at 17\n");
  CHECK("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\nx", "begin\n" NOT_CRLF "stop at 46\n");
  /* Elsewhere llhttp refuses it itself. */
  CHECK("GET / HTTP/1.1\r\nHost: h\nX: 1\r\n\r\n", "begin\nerror 400\n");
#undef NOT_CRLF
}

static void test_refused_bad_header_name(void **state) {
  (void) state;
  /* llhttp takes an empty name; the scan refuses it. */
  CHECK("GET / HTTP/1.1\r\nHost: h\r\n: x\r\n\r\n", "begin\nhead 400 " BAD_VALUE "stop at 32\n");
  /* Others llhttp refuses itself. */
  CHECK("GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n", "begin\nerror 400\n");
  CHECK("GET / HTTP/1.1\r\nHost : h\r\n\r\n", "begin\nerror 400\n");
  CHECK("GET / HTTP/1.1\r\nHost: h\r\nX@Y: 1\r\n\r\n", "begin\nerror 400\n");
  CHECK("GET / HTTP/1.1\r\nHost: h\r\nX-Ctl: a\x01z\r\n\r\n", "begin\nerror 400\n");
}

static void test_refused_host(void **state) {
  (void) state;
  CHECK("GET / HTTP/1.1\r\n\r\n", "begin\nhead 400 " ONE_HOST "stop at 18\n");
  CHECK("GET / HTTP/1.1\r\nX: 1\r\n\r\n", "begin\nhead 400 " ONE_HOST "stop at 24\n");
  CHECK("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", "begin\nhead 400 " ONE_HOST "stop at 36\n");
}

static void test_refused_transfer_encoding(void **state) {
  (void) state;
  /* In HTTP/1.0. */
  CHECK("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "begin\nhead 400 Bad Request: transfer-encoding in an HTTP/1.0 request\nstop at 47\n");
  /* Anything but exactly "chunked": not implemented, as nginx answers; a
   * coding under the chunked one would reach the backend still applied. */
  CHECK("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
        "begin\nhead 501 Not Implemented: unsupported transfer-encoding\nstop at 53\n");
  CHECK("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: deflate, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "begin\nhead 501 Not Implemented: unsupported transfer-encoding\nstop at 65\n");
  CHECK("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n",
        "begin\nhead 501 Not Implemented: unsupported transfer-encoding\nstop at 57\n");
  /* No list of codings at all. */
  CHECK("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "begin\nhead 400 Bad Request: invalid transfer-encoding\nstop at 48\n");
  CHECK("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked;q=1\r\n\r\n",
        "begin\nhead 400 Bad Request: invalid transfer-encoding\nstop at 60\n");
  /* chunked not last, twice, or with a Content-Length: llhttp refuses them. */
  CHECK("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", "begin\nerror 400\n");
  CHECK("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "begin\nerror 400\n");
  CHECK("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc",
        "begin\nerror 400\n");
}

/* Expect: 100-continue is the only expectation (RFC 9110 section 10.1.1):
 * any other is 417. */
static void test_refused_expectation(void **state) {
  (void) state;
  CHECK("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue, x\r\nContent-Length: 1\r\n\r\nx",
        "begin\nhead 417 Expectation Failed: only 100-continue is understood\nstop at 72\n");
  CHECK("GET / HTTP/1.1\r\nHost: h\r\nExpect: foo\r\n\r\n",
        "begin\nhead 417 Expectation Failed: only 100-continue is understood\nstop at 40\n");
  CHECK("GET / HTTP/1.0\r\nExpect: 200-ok\r\n\r\n",
        "begin\nhead 417 Expectation Failed: only 100-continue is understood\nstop at 34\n");
  /* Empty elements are no expectation. */
  CHECK("POST / HTTP/1.1\r\nHost: h\r\nExpect: , 100-Continue ,\r\nContent-Length: 1\r\n\r\nx",
        "begin\n"
        "head 0 POST / HTTP/1.1 path=/ query=- norm=/ ka=1 body=1 expect=1 "
        "h=[host: h][expect: , 100-Continue ,][content-length: 1]\n"
        "body x\n"
        "complete\n");
}

/* A Host value is a host and an optional port (RFC 9110 section 7.2). */
static void test_refused_host_value(void **state) {
  static const char *const bad[] = {"a b", "a/b", "u@h", "h\\x", "h?", "a\"b", "<h>"};
  char req[128], want[128];
  (void) state;

  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int n = snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", bad[i]);
    snprintf(want, sizeof(want), "begin\nhead 400 Bad Request: invalid Host header\nstop at %d\n", n);
    check_every_way(req, (size_t) n, MAX_HEAD, MAX_BODY, want);
  }
  CHECK("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
        "begin\nhead 0 GET / HTTP/1.1 path=/ query=- norm=/ ka=1 body=0 expect=0 h=[host: [::1]:80]\n"
        "complete\n");
  CHECK("GET / HTTP/1.1\r\nHost:\r\n\r\n",
        "begin\nhead 0 GET / HTTP/1.1 path=/ query=- norm=/ ka=1 body=0 expect=0 h=[host: ]\ncomplete\n");
}

/* A CONNECT that announces a body is refused before the body could be read
 * as the next request, a request smuggled past whatever in front read it as
 * a body (fuzz_http; tests/fuzz/corpus/http/regression-connect-with-body). */
static void test_refused_connect_with_body(void **state) {
  (void) state;
  CHECK("CONNECT a:443 HTTP/1.1\r\nHost: a\r\nContent-Length: 34\r\n\r\n"
        "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
        "begin\nhead 405 Method Not Allowed: CONNECT and TRACE are not served\nstop at 55\n");
  CHECK("CONNECT a:443 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "begin\nhead 405 Method Not Allowed: CONNECT and TRACE are not served\nstop at 63\n");
}

/* An owner that does not stop after a refused head gets what llhttp makes
 * of the rest: for a Transfer-Encoding without chunked, its own 400. */
static void test_refused_head_owner_goes_on(void **state) {
  static const char req[] = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n";
  (void) state;

  O->go_on_after_refusal = 1;
  expect_log(run(L(req), NULL, 0, 0, MAX_HEAD, MAX_BODY),
             "begin\nhead 501 Not Implemented: unsupported transfer-encoding\nerror 400\n", "whole", 0);
  O->go_on_after_refusal = 0;
}

static void test_refused_content_length_over_max_body(void **state) {
  static const char at_max[] = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789";
  static const char over[] = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n0123456789a";
  static const char chunked[] = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "b\r\n0123456789a\r\n0\r\n\r\n";
  (void) state;

  check_every_way(L(at_max), MAX_HEAD, 10,
                  "begin\n"
                  "head 0 POST / HTTP/1.1 path=/ query=- norm=/ ka=1 body=1 expect=0 "
                  "h=[host: h][content-length: 10]\n"
                  "body 0123456789\n"
                  "complete\n");
  check_every_way(L(over), MAX_HEAD, 10, "begin\nhead 413 Content Too Large\nstop at 48\n");
  /* 0 is no limit. */
  check_every_way(L(over), MAX_HEAD, 0,
                  "begin\n"
                  "head 0 POST / HTTP/1.1 path=/ query=- norm=/ ka=1 body=1 expect=0 "
                  "h=[host: h][content-length: 11]\n"
                  "body 0123456789a\n"
                  "complete\n");
  /* A chunked body announces no size: its bound is the owner's. */
  check_every_way(L(chunked), MAX_HEAD, 10,
                  "begin\n"
                  "head 0 POST / HTTP/1.1 path=/ query=- norm=/ ka=1 body=1 expect=0 "
                  "h=[host: h][transfer-encoding: chunked]\n"
                  "body 0123456789a\n"
                  "complete\n");
}

static void test_refused_path(void **state) {
  (void) state;
  CHECK("GET /a%zz HTTP/1.1\r\nHost: h\r\n\r\n",
        "begin\nhead 400 Bad Request: invalid percent-encoding in the path\nstop at 31\n");
  CHECK("GET /a%2 HTTP/1.1\r\nHost: h\r\n\r\n",
        "begin\nhead 400 Bad Request: invalid percent-encoding in the path\nstop at 30\n");
  CHECK("GET /a%00b HTTP/1.1\r\nHost: h\r\n\r\n",
        "begin\nhead 400 Bad Request: invalid percent-encoding in the path\nstop at 32\n");
  CHECK("GET /../etc/passwd HTTP/1.1\r\nHost: h\r\n\r\n",
        "begin\nhead 400 Bad Request: the path climbs above the root\nstop at 40\n");
  CHECK("GET /a/%2e%2e/%2E%2E/b HTTP/1.1\r\nHost: h\r\n\r\n",
        "begin\nhead 400 Bad Request: the path climbs above the root\nstop at 44\n");
  CHECK("GET http://h/a/../.. HTTP/1.1\r\nHost: h\r\n\r\n",
        "begin\nhead 400 Bad Request: the path climbs above the root\nstop at 42\n");
  /* Malformed escapes in the query are the application's business. */
  CHECK("GET /a?%zz HTTP/1.1\r\nHost: h\r\n\r\n",
        "begin\n"
        "head 0 GET /a?%zz HTTP/1.1 path=/a query=%zz norm=/a ka=1 body=0 expect=0 h=[host: h]\n"
        "complete\n");
}

/* ---- refusals by feed ------------------------------------------------------------ */

/* "GET /aaa... HTTP/1.1\r\n" with a url of url_len bytes, then headers;
 * returns it (malloc'ed, not terminated) and its length. */
static char *make_request(size_t url_len, const char *headers, size_t *len) {
  size_t hlen = strlen(headers);
  char *r = malloc(url_len + hlen + 32);

  assert_non_null(r);
  memcpy(r, "GET /", 5);
  memset(r + 5, 'a', url_len - 1);
  *len = 4 + url_len;
  memcpy(r + *len, " HTTP/1.1\r\n", 11);
  *len += 11;
  memcpy(r + *len, headers, hlen);
  *len += hlen;
  return r;
}

/* The request line's limit counts the method, the target, "HTTP/1.1", two
 * spaces and CRLF: a GET's target may be HTTP_MAX_LINE - 15 bytes long. */
#define URL_AT_LIMIT (HTTP_MAX_LINE - 15)

static void test_url_too_long(void **state) {
  size_t wcap = 3 * HTTP_MAX_LINE + 256;
  char *want = malloc(wcap);
  size_t len;
  char *r;
  (void) state;

  assert_non_null(want);
  /* At the limit it is taken (the head's limit is set above it here). */
  r = make_request(URL_AT_LIMIT, "Host: h\r\n\r\n", &len);
  snprintf(want, wcap, "begin\nhead 0 GET %.*s HTTP/1.1 path=%.*s query=- norm=%.*s ka=1 body=0 "
           "expect=0 h=[host: h]\ncomplete\n", URL_AT_LIMIT, r + 4, URL_AT_LIMIT, r + 4, URL_AT_LIMIT, r + 4);
  check_every_way(r, len, 2 * HTTP_MAX_LINE, MAX_BODY, want);
  free(r);
  /* One byte more is 414, before the url ends. */
  r = make_request(URL_AT_LIMIT + 1, "Host: h\r\n\r\n", &len);
  check_every_way(r, len, 2 * HTTP_MAX_LINE, MAX_BODY, "begin\nerror 414\n");
  check_every_way(r, 4 + URL_AT_LIMIT + 1, 2 * HTTP_MAX_LINE, MAX_BODY, "begin\nerror 414\n");
  /* So for a method llhttp does not know (501 at the limit), of the same length. */
  r[2] = 'X';
  check_every_way(r, len, 2 * HTTP_MAX_LINE, MAX_BODY, "begin\nerror 414\n");
  free(r);
  r = make_request(URL_AT_LIMIT, "Host: h\r\n\r\n", &len);
  r[2] = 'X';
  check_every_way(r, len, 2 * HTTP_MAX_LINE, MAX_BODY, "begin\nerror 501\n");
  free(r);
  free(want);
}

/* The head's limit counts the bytes it keeps: the url and each header's name
 * and value (here 4 + 4 + 2 + 3 + 5 = 18). */
static void test_head_too_large(void **state) {
  static const char req[] = "GET /abc HTTP/1.1\r\nHost: hh\r\nX-A: 12345\r\n\r\n";
  (void) state;

  check_every_way(L(req), 18, MAX_BODY,
                  "begin\n"
                  "head 0 GET /abc HTTP/1.1 path=/abc query=- norm=/abc ka=1 body=0 expect=0 "
                  "h=[host: hh][x-a: 12345]\n"
                  "complete\n");
  check_every_way(L(req), 17, MAX_BODY, "begin\nerror 431\n");
  /* Refused as soon as the limit is passed, before the head is complete. */
  check_every_way(req, sizeof(req) - 1 - 4, 17, MAX_BODY, "begin\nerror 431\n");
  check_every_way(req, sizeof(req) - 1 - 5, 17, MAX_BODY, "begin\n");
  /* A url longer than the head's limit is 431, not 414. */
  check_every_way(L(req), 3, MAX_BODY, "begin\nerror 431\n");
}

static void test_too_many_headers(void **state) {
  char headers[HTTP_MAX_HEADERS * 16 + 64];
  char list[HTTP_MAX_HEADERS * 16 + 64];
  size_t hlen = 0, llen = 0, len, wcap = sizeof(list) + 256;
  char *want = malloc(wcap);
  char *r;
  (void) state;

  assert_non_null(want);
  /* Host and HTTP_MAX_HEADERS - 1 more: at the limit. */
  hlen += (size_t) sprintf(headers + hlen, "Host: h\r\n");
  llen += (size_t) sprintf(list + llen, "[host: h]");
  for (int i = 1; i < HTTP_MAX_HEADERS; i++) {
    hlen += (size_t) sprintf(headers + hlen, "X%d: v\r\n", i);
    llen += (size_t) sprintf(list + llen, "[x%d: v]", i);
  }
  sprintf(headers + hlen, "\r\n");
  snprintf(want, wcap, "begin\nhead 0 GET /a HTTP/1.1 path=/a query=- norm=/a ka=1 body=0 expect=0 h=%s\n"
           "complete\n", list);
  r = make_request(2, headers, &len);
  check_every_way(r, len, MAX_HEAD, MAX_BODY, want);
  free(r);
  /* One more is 431, as soon as its name starts. */
  sprintf(headers + hlen, "Y: 1\r\n\r\n");
  r = make_request(2, headers, &len);
  check_every_way(r, len, MAX_HEAD, MAX_BODY, "begin\nerror 431\n");
  check_every_way(r, len - 6, MAX_HEAD, MAX_BODY, "begin\nerror 431\n");
  free(r);
  free(want);
}

/* Trailers count against the head's limit on their own; what the head
 * already used does not count. */
static void test_trailers_too_large(void **state) {
  /* The head keeps 1 + 4 + 1 + 17 + 7 = 30 bytes; the trailer's name and
   * value 1 + 29 = 30, then 31. */
#define CHUNKED_HEAD "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n"
  static const char at_max[] = CHUNKED_HEAD "T: abcdefghijklmnopqrstuvwxyz012\r\n\r\n";
  static const char over[] = CHUNKED_HEAD "T: abcdefghijklmnopqrstuvwxyz0123\r\n\r\n";
  static const char two[] = CHUNKED_HEAD "T: abcdefghijklmn\r\nU: opqrstuvwxyz012\r\n\r\n";
#undef CHUNKED_HEAD
#define HEAD_LOG "begin\nhead 0 POST / HTTP/1.1 path=/ query=- norm=/ ka=1 body=1 expect=0 " \
                 "h=[host: h][transfer-encoding: chunked]\nbody x\n"
  (void) state;

  check_every_way(L(at_max), 30, MAX_BODY, HEAD_LOG "complete\n");
  check_every_way(L(over), 30, MAX_BODY, HEAD_LOG "error 431\n");
  /* Two trailers of 15 and 16 bytes: 31 in all. */
  check_every_way(L(two), 30, MAX_BODY, HEAD_LOG "error 431\n");
  check_every_way(L(two), 31, MAX_BODY, HEAD_LOG "complete\n");
#undef HEAD_LOG
}

/* A chunk's size line, extensions included, is at most HTTP_CHUNK_LINE_MAX
 * bytes: past it, 400 before the line ends. */
#define LINE_LOG "begin\nhead 0 POST / HTTP/1.1 path=/ query=- norm=/ ka=1 body=1 expect=0 " \
                 "h=[host: h][transfer-encoding: chunked]\n"
static void test_chunk_line_too_long(void **state) {
  static const char head[] = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  size_t hlen = sizeof(head) - 1, len;
  char *r = malloc(hlen + HTTP_CHUNK_LINE_MAX + 32);
  (void) state;

  assert_non_null(r);
  memcpy(r, head, hlen);
  /* "1;" and a name that fills the line to its limit. */
  memcpy(r + hlen, "1;", 2);
  memset(r + hlen + 2, 'e', HTTP_CHUNK_LINE_MAX - 2);
  len = hlen + HTTP_CHUNK_LINE_MAX;
  memcpy(r + len, "\r\nx\r\n0\r\n\r\n", 10);
  check_every_way(r, len + 10, MAX_HEAD, MAX_BODY, LINE_LOG "body x\ncomplete\n");
  r[len] = 'e';
  check_every_way(r, len + 1, MAX_HEAD, MAX_BODY, LINE_LOG "error 400\n");
  free(r);
}
#undef LINE_LOG

static void test_garbage(void **state) {
  (void) state;
  CHECK("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "begin\nerror 400\n");
  CHECK("get / HTTP/1.1\r\nHost: h\r\n\r\n", "begin\nerror 400\n");
  CHECK("GET / HTTP/1.1\nHost: h\n\n", "begin\nerror 400\n");
  CHECK("GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", "begin\nerror 400\n");
  CHECK("GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n", "begin\nerror 400\n");
  CHECK("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1x\r\n\r\n", "begin\nerror 400\n");
  CHECK("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
        "begin\nerror 400\n");
  /* After a valid request. */
  CHECK("GET / HTTP/1.1\r\nHost: h\r\n\r\nxyz",
        "begin\n"
        "head 0 GET / HTTP/1.1 path=/ query=- norm=/ ka=1 body=0 expect=0 h=[host: h]\n"
        "complete\n"
        "begin\n"
        "error 400\n");
}

/* In strict mode llhttp refuses anything after a request that closes the
 * connection. */
static void test_bytes_after_connection_close(void **state) {
  (void) state;
  CHECK("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n",
        "begin\n"
        "head 0 GET / HTTP/1.1 path=/ query=- norm=/ ka=0 body=0 expect=0 h=[host: h][connection: close]\n"
        "complete\n"
        "error 400\n");
}

static void test_invalid_chunks(void **state) {
  (void) state;
#define CHUNKED_HEAD "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
#define CHUNKED_LOG "begin\nhead 0 POST / HTTP/1.1 path=/ query=- norm=/ ka=1 body=1 expect=0 " \
                    "h=[host: h][transfer-encoding: chunked]\n"
  CHECK(CHUNKED_HEAD "zz\r\n", CHUNKED_LOG "error 400\n");
  CHECK(CHUNKED_HEAD "-1\r\n", CHUNKED_LOG "error 400\n");
  CHECK(CHUNKED_HEAD "fffffffffffffffff\r\n", CHUNKED_LOG "error 400\n");
  CHECK(CHUNKED_HEAD "\r\n", CHUNKED_LOG "error 400\n");
  CHECK(CHUNKED_HEAD "0x5\r\nhello\r\n0\r\n\r\n", CHUNKED_LOG "error 400\n");
  /* The data must be followed by CRLF, and every line end is CRLF. */
  CHECK(CHUNKED_HEAD "3\r\nabcXY0\r\n\r\n", CHUNKED_LOG "body abc\nerror 400\n");
  CHECK(CHUNKED_HEAD "3\r\nabc\n0\r\n\r\n", CHUNKED_LOG "body abc\nerror 400\n");
  CHECK(CHUNKED_HEAD "3\nabc\n0\n\n", CHUNKED_LOG "error 400\n");
  CHECK(CHUNKED_HEAD "3\rabc\r\n0\r\n\r\n", CHUNKED_LOG "error 400\n");
  CHECK(CHUNKED_HEAD "1\r\nx\r\n0\r\n\n", CHUNKED_LOG "body x\nerror 400\n");
  /* Extensions: a name is a token, a value a token or a quoted string. */
  CHECK(CHUNKED_HEAD "1;\r\nx\r\n0\r\n\r\n", CHUNKED_LOG "error 400\n");
  CHECK(CHUNKED_HEAD "1;a=\r\nx\r\n0\r\n\r\n", CHUNKED_LOG "error 400\n");
  CHECK(CHUNKED_HEAD "1;a b\r\nx\r\n0\r\n\r\n", CHUNKED_LOG "error 400\n");
  CHECK(CHUNKED_HEAD "1;a=\"b\r\nx\r\n0\r\n\r\n", CHUNKED_LOG "error 400\n");
  CHECK(CHUNKED_HEAD "1;a=b\x01\r\nx\r\n0\r\n\r\n", CHUNKED_LOG "error 400\n");
  CHECK(CHUNKED_HEAD "1;a=\"\x00\"\r\nx\r\n0\r\n\r\n", CHUNKED_LOG "error 400\n");
  CHECK(CHUNKED_HEAD "1 1\r\nx\r\n0\r\n\r\n", CHUNKED_LOG "error 400\n");
  CHECK(CHUNKED_HEAD "1;a\rb\r\nx\r\n0\r\n\r\n", CHUNKED_LOG "error 400\n");
  /* Trailer fields: a token name, no whitespace before the colon, no
   * control byte in the value, no obs-fold. */
  CHECK(CHUNKED_HEAD "1\r\nx\r\n0\r\nT : v\r\n\r\n", CHUNKED_LOG "body x\nerror 400\n");
  CHECK(CHUNKED_HEAD "1\r\nx\r\n0\r\nT: v\r\n w\r\n\r\n", CHUNKED_LOG "body x\nerror 400\n");
  CHECK(CHUNKED_HEAD "1\r\nx\r\n0\r\nT: v\x00\r\n\r\n", CHUNKED_LOG "body x\nerror 400\n");
  CHECK(CHUNKED_HEAD "1\r\nx\r\n0\r\nT\r\n\r\n", CHUNKED_LOG "body x\nerror 400\n");
  CHECK(CHUNKED_HEAD "1\r\nx\r\n0\r\n(T): v\r\n\r\n", CHUNKED_LOG "body x\nerror 400\n");
#undef CHUNKED_HEAD
#undef CHUNKED_LOG
}

/* ---- versions, empty feeds, whitespace ---------------------------------------------- */

/* After a pause in the middle of a body (an owner that takes the body piece
 * by piece), going on with a feed of nothing passes on no empty piece
 * (llhttp reports the span it restarted at the end of the empty input): an
 * owner that paused on each piece would pause again and never get further. */
static int on_body_pausing(void *arg, const char *at, size_t len) {
  owner *o = arg;

  (void) at;
  if (len == 0)
    o->empty_bodies++;
  return HTTP_PARSE_PAUSED;
}

static void test_empty_feed_reports_no_empty_body(void **state) {
  static const char req[] = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nab";
  http_parse_cb cb = owner_cb;
  size_t used;
  (void) state;

  cb.on_body = on_body_pausing;
  O->pause_on = 0;
  owner_start(O, MAX_HEAD, MAX_BODY);
  http_parse_free(&O->p);
  http_parse_init(&O->p, &cb, O, MAX_HEAD, MAX_BODY);
  assert_int_equal(http_parse_feed(&O->p, L(req), &used), HTTP_PARSE_PAUSED);
  assert_int_equal(used, sizeof(req) - 1);
  /* Nothing more has arrived: nothing to report. */
  used = 12345;
  assert_int_equal(http_parse_feed(&O->p, req + sizeof(req) - 1, 0, &used), HTTP_PARSE_OK);
  assert_int_equal(O->empty_bodies, 0);
  http_parse_free(&O->p);
}

/* Only HTTP/1.0 and 1.1 are served.  llhttp 8 would take "HTTP/0.9" and
 * "HTTP/2.0" and refuse 1.2 or 3.0 as malformed; every well-formed version
 * but the two gets 505 (RFC 9110 section 15.6.6), as nginx answers HTTP/2.0
 * and later; a malformed one stays 400. */
static void test_unsupported_versions(void **state) {
  static const char *const versions[] = {"0.9", "2.0", "1.2", "1.9", "3.0", "9.9", "0.0"};
  char req[64], want[160];
  (void) state;

  for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
    int n = snprintf(req, sizeof(req), "GET / HTTP/%s\r\nHost: h\r\n\r\n", versions[i]);
    snprintf(want, sizeof(want), "begin\nhead 505 HTTP Version Not Supported: only HTTP/1.0 and HTTP/1.1 "
             "are served\nstop at %d\n", n);
    check_every_way(req, (size_t) n, MAX_HEAD, MAX_BODY, want);
  }
  CHECK("GET / HTTP/1.10\r\nHost: h\r\n\r\n", "begin\nerror 400\n");
  CHECK("GET / HTTP/11\r\nHost: h\r\n\r\n", "begin\nerror 400\n");
  CHECK("GET / HTTP/1.x\r\nHost: h\r\n\r\n", "begin\nerror 400\n");
  CHECK("GET / http/1.1\r\nHost: h\r\n\r\n", "begin\nerror 400\n");
  /* A request line without a version is HTTP/0.9's. */
  CHECK("GET /\r\n\r\n",
        "begin\nhead 505 HTTP Version Not Supported: only HTTP/1.0 and HTTP/1.1 are served\nstop at 9\n");
}

/* RFC 9110 section 5.5: a field value does not include leading or trailing
 * whitespace, and llhttp 8 drops only the leading.  Kept, the value would
 * go to the backend with it ("h \t"), and "Expect: 100-continue " would not
 * be seen as 100-continue. */
static void test_trailing_whitespace_in_values(void **state) {
  (void) state;
  CHECK("POST / HTTP/1.1\r\nHost: h \t\r\nExpect: 100-continue \r\nContent-Length: 1\r\n\r\nx",
        "begin\n"
        "head 0 POST / HTTP/1.1 path=/ query=- norm=/ ka=1 body=1 expect=1 "
        "h=[host: h][expect: 100-continue][content-length: 1]\n"
        "body x\n"
        "complete\n");
}

/* ---- the pool of http_parse_get() ----------------------------------------- */

static int pool_status;          /* what the last head was answered with */

static int pool_begin(void *o) {
  (void) o;
  return HTTP_PARSE_OK;
}

static int pool_head(void *o, int status, const char *body) {
  (void) o;
  (void) body;
  pool_status = status;
  return HTTP_PARSE_OK;
}

static int pool_body(void *o, const char *at, size_t len) {
  (void) o;
  (void) at;
  (void) len;
  return HTTP_PARSE_OK;
}

static int pool_complete(void *o) {
  ++*(int *) o;
  return HTTP_PARSE_OK;
}

/* A request line of exactly len bytes (with its CRLF), then Host. */
static size_t pool_line(char *out, size_t len) {
  memcpy(out, "GET /", 5);
  memset(out + 5, 'x', len - 16);
  memcpy(out + len - 11, " HTTP/1.1\r\nHost: h\r\n\r\n", 22);
  return len + 11;
}

/* A parser from the pool takes its limits (--max-request-line,
 * --max-headers) from the caller, and one given back comes out again
 * reset, whatever state it was left in. */
static void test_pool_limits_and_reuse(void **state) {
  static const http_parse_cb cb = { pool_begin, pool_head, pool_body, pool_complete };
  static const char three[] = "GET /a HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n";
  static const char four[] = "GET /a HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
  const http_parse_limits lim = { 4096, 64, 3, 0 };
  char line[128];
  int complete = 0;
  size_t used, n;
  http_parser *p, *q;
  (void) state;

  p = http_parse_get(&cb, &complete, &lim);
  assert_non_null(p);
  assert_int_equal(http_parse_feed(p, L(three), &used), HTTP_PARSE_OK);
  assert_int_equal(pool_status, 0);
  assert_int_equal(complete, 1);
  assert_int_equal(http_parse_head_of(p)->rq.nheaders, 3);
  /* Given back in the middle of a head (a connection that closed). */
  assert_int_equal(http_parse_feed(p, L("GET /b HTTP/1.1\r\nHo"), &used), HTTP_PARSE_OK);
  http_parse_put(p);
  q = http_parse_get(&cb, &complete, &lim);
  assert_ptr_equal(q, p);
  assert_int_equal(http_parse_feed(q, L(four), &used), 431);
  http_parse_put(q);
  /* A request line of 64 bytes is taken, one of 65 is 414. */
  q = http_parse_get(&cb, &complete, &lim);
  n = pool_line(line, 64);
  assert_int_equal(http_parse_feed(q, line, n, &used), HTTP_PARSE_OK);
  assert_int_equal(pool_status, 0);
  assert_int_equal(complete, 2);
  n = pool_line(line, 65);
  assert_int_equal(http_parse_feed(q, line, n, &used), 414);
  http_parse_put(q);
}

int main(void) {
  const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    T(test_simple_get),
    T(test_names_lowercased_values_kept),
    T(test_target_decoded_and_normalised),
    T(test_absolute_form_and_others),
    T(test_refused_target_form),
    T(test_refused_method),
    T(test_unknown_method),
    T(test_http10_and_keep_alive),
    T(test_body_content_length),
    T(test_body_chunked_with_trailers),
    T(test_trailers_dropped),
    T(test_pipelined),
    T(test_upgrade_goes_on_as_http),
    T(test_addresses),
    T(test_pause_on_begin),
    T(test_pause_on_head),
    T(test_pause_on_body_and_complete),
    T(test_feed_nothing),
    T(test_refused_obs_fold),
    T(test_refused_bare_lf),
    T(test_refused_bad_header_name),
    T(test_refused_host),
    T(test_refused_transfer_encoding),
    T(test_refused_expectation),
    T(test_refused_host_value),
    T(test_refused_connect_with_body),
    T(test_refused_head_owner_goes_on),
    T(test_refused_content_length_over_max_body),
    T(test_refused_path),
    T(test_url_too_long),
    T(test_head_too_large),
    T(test_too_many_headers),
    T(test_trailers_too_large),
    T(test_garbage),
    T(test_bytes_after_connection_close),
    T(test_invalid_chunks),
    T(test_chunk_line_too_long),
    T(test_refused_obs_fold_after_empty_value),
    T(test_unsupported_versions),
    T(test_trailing_whitespace_in_values),
    T(test_empty_feed_reports_no_empty_body),
    T(test_pool_limits_and_reuse),
#undef T
  };

  if (getenv("TDM_TEST_FILTER") != NULL)
    cmocka_set_test_filter(getenv("TDM_TEST_FILTER"));
  return cmocka_run_group_tests_name("http_parse", tests, NULL, NULL);
}
