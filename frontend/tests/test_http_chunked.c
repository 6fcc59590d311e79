/* Tests of the chunked body decoder (frontend/src/http_chunked.c).
 *
 * Every input is fed whole, in two pieces at every split point, and one
 * byte at a time, each piece in a buffer of exactly its size (so a read
 * past it is caught under AddressSanitizer), and must give the same body,
 * the same end and the same bytes left over for what follows the body.
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

#include "http_chunked.h"

#define MAX_TRAILERS 64
#define OUT_MAX 8192

/* What one run made of an input. */
typedef struct outcome {
  char body[OUT_MAX];
  size_t body_len;
  int error;                     /* 0, or the HTTP_CHUNKED_* error */
  size_t rest;                   /* input bytes after the body's end; (size_t) -1 if it did not end */
} outcome;

/* Feeds data[0..len) cut at cuts[0..ncuts) into a fresh decoder. */
static void run(const char *data, size_t len, const size_t *cuts, size_t ncuts, size_t max_trailers,
                outcome *out) {
  http_chunked d;
  size_t start = 0;

  memset(out, 0, sizeof(*out));
  out->rest = (size_t) -1;
  http_chunked_init(&d, max_trailers);
  for (size_t k = 0; k <= ncuts && !d.done && out->error == 0; k++) {
    size_t end = k < ncuts ? cuts[k] : len, off = 0, n = end - start;
    char *piece = malloc(n != 0 ? n : 1);
    assert_non_null(piece);
    memcpy(piece, data + start, n);
    while (off < n && !d.done) {
      const char *body;
      size_t blen;
      ssize_t got = http_chunked_feed(&d, piece + off, n - off, &body, &blen);
      if (got < 0) {
        assert_non_null(d.why);
        out->error = (int) got;
        break;
      }
      assert_true((size_t) got <= n - off);
      if (blen > 0) {
        /* The data lies among the bytes taken, at their end. */
        assert_ptr_equal(body + blen, piece + off + got);
        assert_true(out->body_len + blen <= OUT_MAX);
        memcpy(out->body + out->body_len, body, blen);
        out->body_len += blen;
      }
      off += (size_t) got;
    }
    if (d.done)
      out->rest = (n - off) + (len - end);
    free(piece);
    start = end;
  }
}

static void same(const outcome *a, const outcome *b, const char *how, size_t at) {
  if (a->error != b->error || a->rest != b->rest || a->body_len != b->body_len ||
      memcmp(a->body, b->body, a->body_len) != 0)
    fail_msg("fed %s %zu: error %d rest %zd body \"%.*s\"; whole: error %d rest %zd body \"%.*s\"", how, at,
             b->error, (ssize_t) b->rest, (int) b->body_len, b->body, a->error, (ssize_t) a->rest,
             (int) a->body_len, a->body);
}

/* Feeds data every way; all must give what feeding it whole gives, which
 * is returned in *whole. */
static void every_way(const char *data, size_t len, size_t max_trailers, outcome *whole) {
  outcome *o = malloc(sizeof(*o));
  size_t *cuts = malloc((len != 0 ? len : 1) * sizeof(*cuts));

  assert_non_null(o);
  assert_non_null(cuts);
  run(data, len, NULL, 0, max_trailers, whole);
  for (size_t i = 1; i < len; i++) {
    cuts[0] = i;
    run(data, len, cuts, 1, max_trailers, o);
    same(whole, o, "split at", i);
  }
  for (size_t i = 1; i < len; i++)
    cuts[i - 1] = i;
  if (len > 1) {
    run(data, len, cuts, len - 1, max_trailers, o);
    same(whole, o, "byte by byte", 0);
  }
  free(cuts);
  free(o);
}

/* data decodes to body, and rest bytes follow its end. */
static void check_ok(const char *data, const char *body, size_t rest) {
  outcome o;

  every_way(data, strlen(data), MAX_TRAILERS, &o);
  if (o.error != 0)
    fail_msg("\"%s\": error %d", data, o.error);
  if (o.body_len != strlen(body) || memcmp(o.body, body, o.body_len) != 0)
    fail_msg("\"%s\": body \"%.*s\", want \"%s\"", data, (int) o.body_len, o.body, body);
  if (o.rest != rest)
    fail_msg("\"%s\": %zd bytes after the end, want %zu", data, (ssize_t) o.rest, rest);
}

static void check_error(const char *data, size_t len, int error) {
  outcome o;

  every_way(data, len, MAX_TRAILERS, &o);
  if (o.error != error)
    fail_msg("\"%.*s\": error %d, want %d", (int) len, data, o.error, error);
}

#define BAD(lit) check_error(lit, sizeof(lit) - 1, HTTP_CHUNKED_BAD)

static void test_plain_chunks(void **state) {
  (void) state;
  check_ok("0\r\n\r\n", "", 0);
  check_ok("5\r\nhello\r\n0\r\n\r\n", "hello", 0);
  check_ok("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET /next", "hello world", 9);
  check_ok("A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n", "0123456789abcdefghij", 0);
  check_ok("0005\r\nhello\r\n000\r\n\r\n", "hello", 0);
  /* CRLF inside the data is data. */
  check_ok("4\r\n\r\n\r\n\r\n0\r\n\r\n", "\r\n\r\n", 0);
}

/* RFC 9112 section 7.1.1, which a recipient must ignore (and llhttp 8
 * refuses in part). */
static void test_extensions(void **state) {
  (void) state;
  check_ok("5;ext\r\nhello\r\n0\r\n\r\n", "hello", 0);
  check_ok("5; some; parameters=stuff\r\nhello\r\n0\r\n\r\n", "hello", 0);
  check_ok("5 ; a = b ; c\t=\t\"q;\\\"uo\\\\ted\"\t;d\r\nhello\r\n0;e=\"\"\r\n\r\n", "hello", 0);
  check_ok("5;a=b;c=d;e=f\r\nhello\r\n0\r\n\r\n", "hello", 0);
  check_ok("5;a=\"\x80\xff\"\r\nhello\r\n0\r\n\r\n", "hello", 0);
  /* Whitespace before the CRLF, as h11 and nginx take it. */
  check_ok("5 \r\nhello\r\n0\t\r\n\r\n", "hello", 0);
  check_ok("5;a \r\nhello\r\n0\r\n\r\n", "hello", 0);
}

static void test_trailers(void **state) {
  (void) state;
  check_ok("1\r\nx\r\n0\r\nT: v\r\n\r\n", "x", 0);
  check_ok("1\r\nx\r\n0\r\nContent-Length: 5\r\nHost: evil\r\nX:\r\nY: \t a b \r\n\r\nrest", "x", 4);
  check_ok("0\r\nT: \x80\xff\t\r\n\r\n", "", 0);
}

static void test_malformed(void **state) {
  (void) state;
  BAD("\r\n");
  BAD("x\r\n");
  BAD("-1\r\n");
  BAD("+1\r\n");
  BAD("0x1\r\nx\r\n");
  BAD("1 1\r\n");
  BAD("1\n");
  BAD("1\rx");
  BAD("1\r\nxY");
  BAD("1\r\nx\n0\r\n\r\n");
  BAD("1\r\nx\r\r");
  BAD("0\r\n\n");
  BAD("0\r\n\rx");
  /* Extensions. */
  BAD("1;\r\n");
  BAD("1;;a\r\n");
  BAD("1;=a\r\n");
  BAD("1;a=\r\n");
  BAD("1;a==b\r\n");
  BAD("1;a b\r\n");
  BAD("1;a=b c\r\n");
  BAD("1;a=\"b\r\n");
  BAD("1;a=\"b\"c\r\n");
  BAD("1;a=(b)\r\n");
  BAD("1;a@b\r\n");
  BAD("1;a=b\x01\r\n");
  BAD("1;a=\"\x7f\"\r\n");
  BAD("1;a=\"\\\x01\"\r\n");
  BAD("1;a\nb\r\n");
  BAD("1 x\r\n");
  check_error("1;a=\"\0\"\r\n", 9, HTTP_CHUNKED_BAD);
  check_error("1\0\r\n", 4, HTTP_CHUNKED_BAD);
  /* Trailers. */
  BAD("0\r\nT : v\r\n\r\n");
  BAD("0\r\n T: v\r\n\r\n");
  BAD("0\r\nT: v\r\n w\r\n\r\n");
  BAD("0\r\nT\r\n\r\n");
  BAD("0\r\n: v\r\n\r\n");
  BAD("0\r\n(T): v\r\n\r\n");
  BAD("0\r\nT: v\x7f\r\n\r\n");
  BAD("0\r\nT: a\rb\r\n\r\n");
  BAD("0\r\nT: v\n\r\n");
  check_error("0\r\nT: \0\r\n\r\n", 11, HTTP_CHUNKED_BAD);
}

/* Sizes up to 2^63 - 1; above, refused before they overflow. */
static void test_sizes(void **state) {
  http_chunked d;
  const char *body;
  size_t blen;
  (void) state;

  http_chunked_init(&d, MAX_TRAILERS);
  assert_int_equal(http_chunked_feed(&d, "7fffffffffffffff\r\nab", 20, &body, &blen), 20);
  assert_int_equal(blen, 2);
  assert_int_equal(d.size, INT64_MAX - 2);
  BAD("8000000000000000\r\n");
  BAD("fffffffffffffffff\r\n");
  BAD("10000000000000000000000000\r\n");
  /* Leading zeros do not count toward it. */
  check_ok("00000000000000000000000001\r\nx\r\n0\r\n\r\n", "x", 0);
}

/* The size line is bounded, the trailer fields too (by the caller). */
static void test_bounds(void **state) {
  char line[HTTP_CHUNK_LINE_MAX + 32];
  outcome o;
  size_t n;
  (void) state;

  memcpy(line, "1;", 2);
  memset(line + 2, 'e', HTTP_CHUNK_LINE_MAX - 2);
  n = HTTP_CHUNK_LINE_MAX;
  memcpy(line + n, "\r\nx\r\n0\r\n\r\n", 11);
  run(line, n + 10, NULL, 0, MAX_TRAILERS, &o);
  assert_int_equal(o.error, 0);
  assert_int_equal(o.rest, 0);
  line[n] = 'e';
  run(line, n + 1, NULL, 0, MAX_TRAILERS, &o);
  assert_int_equal(o.error, HTTP_CHUNKED_BAD);

  /* Trailer names and values count, not the colons, whitespace or line ends. */
  every_way("0\r\nAB: cd\r\nE:\t f \r\n\r\n", 22, 7, &o);
  assert_int_equal(o.error, 0);
  every_way("0\r\nAB: cd\r\nE:\t f \r\n\r\n", 22, 6, &o);
  assert_int_equal(o.error, HTTP_CHUNKED_TOO_LARGE);
}

/* Once the body is done, the decoder takes nothing more. */
static void test_stops_at_the_end(void **state) {
  static const char in[] = "1\r\nx\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
  http_chunked d;
  const char *body;
  size_t blen, off = 0;
  ssize_t n;
  (void) state;

  http_chunked_init(&d, MAX_TRAILERS);
  n = http_chunked_feed(&d, in, sizeof(in) - 1, &body, &blen);
  assert_int_equal(n, 4);
  assert_int_equal(blen, 1);
  off += (size_t) n;
  n = http_chunked_feed(&d, in + off, sizeof(in) - 1 - off, &body, &blen);
  assert_int_equal(n, 7);
  assert_int_equal(blen, 0);
  assert_int_equal(d.done, 1);
  off += (size_t) n;
  n = http_chunked_feed(&d, in + off, sizeof(in) - 1 - off, &body, &blen);
  assert_int_equal(n, 0);
  assert_int_equal(blen, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_plain_chunks),
    cmocka_unit_test(test_extensions),
    cmocka_unit_test(test_trailers),
    cmocka_unit_test(test_malformed),
    cmocka_unit_test(test_sizes),
    cmocka_unit_test(test_bounds),
    cmocka_unit_test(test_stops_at_the_end),
  };

  if (getenv("TDM_TEST_FILTER") != NULL)
    cmocka_set_test_filter(getenv("TDM_TEST_FILTER"));
  return cmocka_run_group_tests_name("http_chunked", tests, NULL, NULL);
}
