/* Tests of response framing (frontend/src/http_framing.c): which framing a
 * response gets (content-length, chunked, until close, no body), the status
 * line and the head-end lines byte for byte, body metering (truncation past
 * the content-length, chunk size lines), sendfile accounting and
 * completeness.  The module is pure: each test calls it and compares the
 * bytes it wrote, in buffers with a canary after the room the header
 * promises.
 *
 * Tests named *_BUG show a defect (see the comment above each): they fail
 * today, so they are not in the main list; set TDM_TEST_KNOWN_BUGS=1 to run
 * them too.
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

#include "http_framing.h"
#include "http_head.h"

#define CANARY 0x5a
#define DATE "date: Thu, 01 Jan 1970 00:00:00 GMT\r\n"

/* ---- framing decisions ------------------------------------------------------ */

static void check_start(int head, int http10, int status, int64_t cl, int64_t remaining, int chunked,
                        int no_body, int until_close) {
  http_framing f;

  /* Whatever was there before is replaced. */
  memset(&f, 0xff, sizeof(f));
  http_framing_start(&f, head, http10, status, cl);
  if (f.remaining != remaining || f.chunked != (unsigned) chunked || f.no_body != (unsigned) no_body ||
      f.until_close != (unsigned) until_close)
    fail_msg("head %d http10 %d status %d length %lld: remaining %lld chunked %u no_body %u "
             "until_close %u; want %lld %d %d %d",
             head, http10, status, (long long) cl, (long long) f.remaining, f.chunked, f.no_body,
             f.until_close, (long long) remaining, chunked, no_body, until_close);
}

static void test_start_decisions(void **state) {
  (void) state;

  /*          head 1.0 status length   remaining chunked no_body until_close */
  /* A known length frames the body, in 1.1 and 1.0. */
  check_start(0, 0, 200, 10,          10, 0, 0, 0);
  check_start(0, 0, 200, 0,           0, 0, 0, 0);
  check_start(0, 1, 200, 5,           5, 0, 0, 0);
  check_start(0, 0, 404, 3,           3, 0, 0, 0);
  check_start(0, 0, 200, INT64_C(999999999999999999), INT64_C(999999999999999999), 0, 0, 0);
  /* Without one: chunked in 1.1, until the connection closes in 1.0. */
  check_start(0, 0, 200, -1,          -1, 1, 0, 0);
  check_start(0, 0, 500, -1,          -1, 1, 0, 0);
  check_start(0, 1, 200, -1,          -1, 0, 0, 1);
  check_start(0, 1, 404, -1,          -1, 0, 0, 1);
  /* HEAD: no body, but the length it would have is kept for the header. */
  check_start(1, 0, 200, 10,          10, 0, 1, 0);
  check_start(1, 1, 200, 10,          10, 0, 1, 0);
  check_start(1, 0, 200, -1,          -1, 0, 1, 0);
  check_start(1, 1, 200, -1,          -1, 0, 1, 0);
  check_start(1, 0, 404, -1,          -1, 0, 1, 0);
  /* 204 and 304: no body and no length, whatever was given. */
  check_start(0, 0, 204, 10,          -1, 0, 1, 0);
  check_start(0, 0, 204, -1,          -1, 0, 1, 0);
  check_start(0, 0, 304, 10,          -1, 0, 1, 0);
  check_start(0, 1, 304, -1,          -1, 0, 1, 0);
  check_start(1, 0, 304, 10,          -1, 0, 1, 0);
  /* 1xx: no body. */
  check_start(0, 0, 100, -1,          -1, 0, 1, 0);
  check_start(0, 0, 101, -1,          -1, 0, 1, 0);
  check_start(0, 0, 103, -1,          -1, 0, 1, 0);
  check_start(0, 1, 199, -1,          -1, 0, 1, 0);
  /* The neighbours of the no-body statuses have bodies. */
  check_start(0, 0, 200, -1,          -1, 1, 0, 0);
  check_start(0, 0, 205, -1,          -1, 1, 0, 0);
  check_start(0, 0, 303, -1,          -1, 1, 0, 0);
  check_start(0, 0, 305, -1,          -1, 1, 0, 0);
}

/* ---- the status line --------------------------------------------------------- */

static void check_status_line(int status, const char *want) {
  char buf[HTTP_STATUS_LINE_MAX + 1];
  size_t n;

  memset(buf, CANARY, sizeof(buf));
  n = http_framing_status_line(buf, status);
  if (n != strlen(want) || memcmp(buf, want, n) != 0)
    fail_msg("status %d: \"%.*s\", want \"%s\"", status, (int) n, buf, want);
  assert_int_equal((unsigned char) buf[n], CANARY);
}

static void test_status_line(void **state) {
  (void) state;

  check_status_line(200, "HTTP/1.1 200 OK\r\n");
  check_status_line(100, "HTTP/1.1 100 Continue\r\n");
  check_status_line(204, "HTTP/1.1 204 No Content\r\n");
  check_status_line(404, "HTTP/1.1 404 Not Found\r\n");
  check_status_line(431, "HTTP/1.1 431 Request Header Fields Too Large\r\n");
  check_status_line(505, "HTTP/1.1 505 HTTP Version Not Supported\r\n");
  /* Without a reason phrase the space before it stays (RFC 9112 4). */
  check_status_line(299, "HTTP/1.1 299 \r\n");
  check_status_line(599, "HTTP/1.1 599 \r\n");
}

/* Every three-digit status fits in HTTP_STATUS_LINE_MAX, in the form
 * "HTTP/1.1 NNN reason\r\n" with the reason http_head gives. */
static void test_status_line_every_status(void **state) {
  (void) state;

  for (int status = 100; status <= 999; status++) {
    char buf[HTTP_STATUS_LINE_MAX + 1];
    char want[128];
    int wn = snprintf(want, sizeof(want), "HTTP/1.1 %d %s\r\n", status, http_status_reason(status));
    size_t n;
    memset(buf, CANARY, sizeof(buf));
    n = http_framing_status_line(buf, status);
    assert_true(n <= HTTP_STATUS_LINE_MAX);
    assert_int_equal(n, (size_t) wn);
    assert_memory_equal(buf, want, n);
    assert_int_equal((unsigned char) buf[HTTP_STATUS_LINE_MAX], CANARY);
  }
}

/* ---- the end of the head ----------------------------------------------------- */

/* Starts framing, writes the head's end and compares it; returns the framing
 * for the test to go on with. */
static http_framing check_head_end(int head, int http10, int status, int64_t cl, int have_server,
                                   const char *date, int close, const char *want) {
  char buf[HTTP_FRAMING_HEAD_MAX + 1];
  http_framing f;
  size_t n;

  http_framing_start(&f, head, http10, status, cl);
  memset(buf, CANARY, sizeof(buf));
  n = http_framing_head_end(buf, &f, have_server, date, date != NULL ? strlen(date) : 0, close, http10);
  if (n != strlen(want) || memcmp(buf, want, n) != 0)
    fail_msg("status %d length %lld: \"%.*s\", want \"%s\"", status, (long long) cl, (int) n, buf, want);
  assert_int_equal((unsigned char) buf[HTTP_FRAMING_HEAD_MAX], CANARY);
  return f;
}

static void test_head_end_lines(void **state) {
  (void) state;

  /* HTTP/1.1, kept alive: no connection header. */
  check_head_end(0, 0, 200, 5, 0, DATE, 0,
                 "server: tandem\r\n" DATE "content-length: 5\r\n\r\n");
  check_head_end(0, 0, 200, -1, 0, DATE, 0,
                 "server: tandem\r\n" DATE "transfer-encoding: chunked\r\n\r\n");
  check_head_end(0, 0, 200, 0, 0, NULL, 0, "server: tandem\r\ncontent-length: 0\r\n\r\n");
  /* The handler's own server and date lines replace ours. */
  check_head_end(0, 0, 200, 12, 1, NULL, 0, "content-length: 12\r\n\r\n");
  check_head_end(0, 0, 200, -1, 1, NULL, 0, "transfer-encoding: chunked\r\n\r\n");
  /* Closing. */
  check_head_end(0, 0, 200, 5, 1, NULL, 1, "content-length: 5\r\nconnection: close\r\n\r\n");
  check_head_end(0, 0, 500, -1, 0, DATE, 1,
                 "server: tandem\r\n" DATE "transfer-encoding: chunked\r\nconnection: close\r\n\r\n");
  /* HTTP/1.0: keep-alive is said, and a body without a length goes until
   * the connection closes. */
  check_head_end(0, 1, 200, 3, 0, DATE, 0,
                 "server: tandem\r\n" DATE "content-length: 3\r\nconnection: keep-alive\r\n\r\n");
  check_head_end(0, 1, 200, 3, 0, NULL, 1,
                 "server: tandem\r\ncontent-length: 3\r\nconnection: close\r\n\r\n");
  check_head_end(0, 1, 200, -1, 0, DATE, 1, "server: tandem\r\n" DATE "connection: close\r\n\r\n");
  /* No body: HEAD keeps the length it would have, 204/304/1xx have none. */
  check_head_end(1, 0, 200, 10, 0, NULL, 0, "server: tandem\r\ncontent-length: 10\r\n\r\n");
  check_head_end(1, 0, 200, -1, 0, NULL, 0, "server: tandem\r\n\r\n");
  check_head_end(1, 1, 200, -1, 1, NULL, 0, "connection: keep-alive\r\n\r\n");
  check_head_end(0, 0, 204, 10, 0, NULL, 0, "server: tandem\r\n\r\n");
  check_head_end(0, 0, 304, 10, 1, DATE, 0, DATE "\r\n");
  check_head_end(0, 0, 304, -1, 1, NULL, 1, "connection: close\r\n\r\n");
  check_head_end(0, 0, 100, -1, 1, NULL, 0, "\r\n");
  /* The longest length. */
  check_head_end(0, 0, 200, INT64_C(999999999999999999), 1, NULL, 0,
                 "content-length: 999999999999999999\r\n\r\n");
  /* An empty date line is none. */
  {
    char buf[HTTP_FRAMING_HEAD_MAX];
    http_framing f;
    size_t n;
    http_framing_start(&f, 0, 0, 200, 1);
    n = http_framing_head_end(buf, &f, 1, "", 0, 0, 0);
    assert_int_equal(n, 21);
    assert_memory_equal(buf, "content-length: 1\r\n\r\n", 21);
  }
}

/* The most http_framing_head_end() writes (our server line, a 64-byte date
 * line, the longest length, keep-alive) fits in HTTP_FRAMING_HEAD_MAX. */
static void test_head_end_longest_fits(void **state) {
  char date[65];
  char buf[HTTP_FRAMING_HEAD_MAX + 1];
  http_framing f;
  size_t n;
  (void) state;

  memset(date, 'd', 62);
  memcpy(date + 62, "\r\n", 2);
  date[64] = '\0';
  http_framing_start(&f, 0, 1, 200, INT64_C(999999999999999999));
  memset(buf, CANARY, sizeof(buf));
  n = http_framing_head_end(buf, &f, 0, date, 64, 0, 1);
  assert_int_equal(n, 16 + 64 + 36 + 24 + 2);
  assert_memory_equal(buf, "server: tandem\r\n", 16);
  assert_memory_equal(buf + 16, date, 64);
  assert_memory_equal(buf + 80, "content-length: 999999999999999999\r\nconnection: keep-alive\r\n\r\n", 62);
  assert_int_equal((unsigned char) buf[HTTP_FRAMING_HEAD_MAX], CANARY);
}

/* After the head of a response without a body, nothing is due. */
static void test_head_end_no_body_is_complete(void **state) {
  char buf[HTTP_FRAMING_HEAD_MAX];
  http_framing f;
  (void) state;

  http_framing_start(&f, 1, 0, 200, 10);
  assert_int_equal(http_framing_complete(&f), 1);
  http_framing_head_end(buf, &f, 0, NULL, 0, 0, 0);
  assert_int_equal(f.remaining, 0);
  assert_int_equal(http_framing_complete(&f), 1);

  http_framing_start(&f, 0, 0, 204, -1);
  http_framing_head_end(buf, &f, 0, NULL, 0, 0, 0);
  assert_int_equal(f.remaining, 0);
  assert_int_equal(http_framing_complete(&f), 1);

  /* With a body, the head changes nothing. */
  http_framing_start(&f, 0, 0, 200, 10);
  http_framing_head_end(buf, &f, 0, NULL, 0, 0, 0);
  assert_int_equal(f.remaining, 10);
  assert_int_equal(http_framing_complete(&f), 0);
}

/* BUG: RFC 9110 section 8.6: a server MUST NOT send Content-Length in a 1xx
 * (or 204) response.  204 drops a length it is given; a 1xx keeps it, so
 * "HTTP/1.1 103 ..." goes out with "content-length: 5". */
static void test_1xx_has_no_content_length_BUG(void **state) {
  (void) state;

  check_head_end(0, 0, 103, 5, 1, NULL, 0, "\r\n");
  check_head_end(0, 0, 101, 0, 1, NULL, 0, "\r\n");
}

/* ---- body metering ----------------------------------------------------------- */

/* Meters len body bytes and checks what may go out, over and the chunk line. */
static void check_body(http_framing *f, size_t len, size_t want, int want_over, const char *want_chunk) {
  char chunk[HTTP_CHUNK_HEAD_MAX + 1];
  size_t chunk_len = 12345;
  int over = 7;
  size_t got;

  memset(chunk, CANARY, sizeof(chunk));
  got = http_framing_body(f, len, &over, chunk, &chunk_len);
  if (got != want || over != want_over)
    fail_msg("body of %zu: %zu over %d, want %zu over %d", len, got, over, want, want_over);
  if (chunk_len != strlen(want_chunk) || memcmp(chunk, want_chunk, chunk_len) != 0)
    fail_msg("body of %zu: chunk line \"%.*s\", want \"%s\"", len, (int) chunk_len, chunk, want_chunk);
  assert_int_equal((unsigned char) chunk[HTTP_CHUNK_HEAD_MAX], CANARY);
}

static void test_body_content_length(void **state) {
  http_framing f;
  (void) state;

  http_framing_start(&f, 0, 0, 200, 10);
  check_body(&f, 0, 0, 0, "");
  assert_int_equal(http_framing_complete(&f), 0);
  check_body(&f, 4, 4, 0, "");
  assert_int_equal(f.remaining, 6);
  assert_int_equal(http_framing_complete(&f), 0);
  check_body(&f, 6, 6, 0, "");
  assert_int_equal(f.remaining, 0);
  assert_int_equal(http_framing_complete(&f), 1);
  /* Past the length: nothing goes out and over says so. */
  check_body(&f, 1, 0, 1, "");
  assert_int_equal(f.remaining, 0);
  assert_int_equal(http_framing_complete(&f), 1);

  /* One write that goes past it is cut at it. */
  http_framing_start(&f, 0, 1, 200, 5);
  check_body(&f, 8, 5, 1, "");
  assert_int_equal(f.remaining, 0);
  assert_int_equal(http_framing_complete(&f), 1);

  /* A length of 0. */
  http_framing_start(&f, 0, 0, 200, 0);
  assert_int_equal(http_framing_complete(&f), 1);
  check_body(&f, 3, 0, 1, "");
}

static void test_body_chunked(void **state) {
  http_framing f;
  char line[32];
  (void) state;

  http_framing_start(&f, 0, 0, 200, -1);
  check_body(&f, 1, 1, 0, "1\r\n");
  check_body(&f, 5, 5, 0, "5\r\n");
  check_body(&f, 10, 10, 0, "a\r\n");
  check_body(&f, 15, 15, 0, "f\r\n");
  check_body(&f, 16, 16, 0, "10\r\n");
  check_body(&f, 255, 255, 0, "ff\r\n");
  check_body(&f, 4096, 4096, 0, "1000\r\n");
  check_body(&f, 0xabcdef, 0xabcdef, 0, "abcdef\r\n");
  /* An empty write makes no chunk: a zero-size one would end the body. */
  check_body(&f, 0, 0, 0, "");
  /* The largest size fits in HTTP_CHUNK_HEAD_MAX. */
  snprintf(line, sizeof(line), "%zx\r\n", SIZE_MAX);
  check_body(&f, SIZE_MAX, SIZE_MAX, 0, line);
  assert_int_equal(f.remaining, -1);
}

/* Every size from 0 to 70000 gets its size in lowercase hex. */
static void test_body_chunked_every_size(void **state) {
  http_framing f;
  (void) state;

  http_framing_start(&f, 0, 0, 200, -1);
  for (size_t len = 1; len <= 70000; len++) {
    char want[32];
    char chunk[HTTP_CHUNK_HEAD_MAX];
    size_t chunk_len;
    int over;
    int wn = snprintf(want, sizeof(want), "%zx\r\n", len);
    assert_int_equal(http_framing_body(&f, len, &over, chunk, &chunk_len), len);
    assert_int_equal(over, 0);
    assert_int_equal(chunk_len, (size_t) wn);
    assert_memory_equal(chunk, want, chunk_len);
  }
}

static void test_body_until_close(void **state) {
  http_framing f;
  (void) state;

  http_framing_start(&f, 0, 1, 200, -1);
  check_body(&f, 100, 100, 0, "");
  check_body(&f, 1 << 20, 1 << 20, 0, "");
  assert_int_equal(f.remaining, -1);
}

/* A response without a body lets nothing out, and that is not "over". */
static void test_body_no_body(void **state) {
  char buf[HTTP_FRAMING_HEAD_MAX];
  http_framing f;
  (void) state;

  http_framing_start(&f, 1, 0, 200, 10);
  http_framing_head_end(buf, &f, 0, NULL, 0, 0, 0);
  check_body(&f, 5, 0, 0, "");
  check_body(&f, 50, 0, 0, "");
  http_framing_start(&f, 1, 0, 200, -1);
  check_body(&f, 5, 0, 0, "");
  http_framing_start(&f, 0, 0, 204, -1);
  check_body(&f, 5, 0, 0, "");
  http_framing_start(&f, 0, 0, 304, 10);
  check_body(&f, 5, 0, 0, "");
  assert_int_equal(http_framing_complete(&f), 1);
}

/* ---- sendfile accounting and completeness ------------------------------------ */

static void test_sent(void **state) {
  http_framing f;
  (void) state;

  http_framing_start(&f, 0, 0, 200, 100);
  http_framing_sent(&f, 0);
  assert_int_equal(f.remaining, 100);
  http_framing_sent(&f, 40);
  assert_int_equal(f.remaining, 60);
  assert_int_equal(http_framing_complete(&f), 0);
  /* What was sent by sendfile counts against the length for later writes. */
  check_body(&f, 70, 60, 1, "");
  assert_int_equal(http_framing_complete(&f), 1);

  /* More than is due leaves nothing due, never less than nothing. */
  http_framing_start(&f, 0, 0, 200, 10);
  http_framing_sent(&f, 25);
  assert_int_equal(f.remaining, 0);
  assert_int_equal(http_framing_complete(&f), 1);
  http_framing_sent(&f, 1);
  assert_int_equal(f.remaining, 0);

  /* Exactly what is due. */
  http_framing_start(&f, 0, 0, 200, INT64_C(5000000000));
  http_framing_sent(&f, UINT64_C(4999999999));
  assert_int_equal(f.remaining, 1);
  assert_int_equal(http_framing_complete(&f), 0);
  http_framing_sent(&f, 1);
  assert_int_equal(http_framing_complete(&f), 1);

  /* Without a length nothing is counted. */
  http_framing_start(&f, 0, 0, 200, -1);
  http_framing_sent(&f, 123);
  assert_int_equal(f.remaining, -1);
  assert_int_equal(f.chunked, 1);
  http_framing_start(&f, 0, 1, 200, -1);
  http_framing_sent(&f, 123);
  assert_int_equal(f.remaining, -1);
}

/* Completeness meters a content-length only: a chunked or until-close body
 * is "complete" from the start, since only the caller knows whether its end
 * (the last chunk, or the close) was written. */
static void test_complete(void **state) {
  http_framing f;
  (void) state;

  http_framing_start(&f, 0, 0, 200, 1);
  assert_int_equal(http_framing_complete(&f), 0);
  http_framing_sent(&f, 1);
  assert_int_equal(http_framing_complete(&f), 1);

  http_framing_start(&f, 0, 0, 200, -1);
  assert_int_equal(http_framing_complete(&f), 1);
  http_framing_start(&f, 0, 1, 200, -1);
  assert_int_equal(http_framing_complete(&f), 1);
  http_framing_start(&f, 0, 0, 100, -1);
  assert_int_equal(http_framing_complete(&f), 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_start_decisions),
    cmocka_unit_test(test_status_line),
    cmocka_unit_test(test_status_line_every_status),
    cmocka_unit_test(test_head_end_lines),
    cmocka_unit_test(test_head_end_longest_fits),
    cmocka_unit_test(test_head_end_no_body_is_complete),
    cmocka_unit_test(test_body_content_length),
    cmocka_unit_test(test_body_chunked),
    cmocka_unit_test(test_body_chunked_every_size),
    cmocka_unit_test(test_body_until_close),
    cmocka_unit_test(test_body_no_body),
    cmocka_unit_test(test_sent),
    cmocka_unit_test(test_complete),
  };
  /* They show bugs and fail until those are fixed (see above each). */
  const struct CMUnitTest known_bugs[] = {
    cmocka_unit_test(test_1xx_has_no_content_length_BUG),
  };
  int failed;

  if (getenv("TDM_TEST_FILTER") != NULL)
    cmocka_set_test_filter(getenv("TDM_TEST_FILTER"));
  failed = cmocka_run_group_tests_name("http_framing", tests, NULL, NULL);
  if (getenv("TDM_TEST_KNOWN_BUGS") != NULL)
    failed += cmocka_run_group_tests_name("http_framing known bugs", known_bugs, NULL, NULL);
  return failed;
}
