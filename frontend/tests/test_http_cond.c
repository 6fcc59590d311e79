/* Tests of the conditional and range functions (frontend/src/http_cond.c):
 * entity-tags, HTTP-dates in their three forms, the preconditions in RFC 9110
 * section 13.2.2's order, and Range with If-Range.  The module is pure, so
 * each test builds a request's headers and asserts the exact decision.
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

#include "http_cond.h"

#define MAX_HEADERS 8

/* A request with up to MAX_HEADERS headers from name/value literal pairs. */
typedef struct test_req {
  tdm_request r;
  tdm_header h[MAX_HEADERS];
} test_req;

static tdm_str lit(const char *s) {
  tdm_str t = { s, (uint32_t) strlen(s) };
  return t;
}

static const tdm_request *req(test_req *t, const char *const *pairs) {
  uint32_t n = 0;

  memset(t, 0, sizeof(*t));
  while (pairs != NULL && pairs[2 * n] != NULL) {
    assert_true(n < MAX_HEADERS);
    t->h[n].name = lit(pairs[2 * n]);
    t->h[n].value = lit(pairs[2 * n + 1]);
    n++;
  }
  t->r.headers = t->h;
  t->r.nheaders = n;
  return &t->r;
}

/* 784111777 is Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example. */
#define EXAMPLE 784111777
#define H(...) ((const char *const[]) { __VA_ARGS__, NULL, NULL })

static http_validator file_v(void) {
  http_validator v;

  http_validator_make(&v, 0x1234, 13, EXAMPLE, 500);
  return v;
}

static void test_validator_is_strong_and_changes_with_each_part(void **state) {
  http_validator a, b;
  (void) state;

  http_validator_make(&a, 0x1234, 13, EXAMPLE, 500);
  assert_string_equal(a.etag, "\"1234-d-2ebc98a1.1f4\"");
  assert_int_equal(a.etag_len, strlen(a.etag));
  assert_int_equal(a.mtime, EXAMPLE);
  http_validator_make(&b, 0x1235, 13, EXAMPLE, 500);
  assert_string_not_equal(a.etag, b.etag);
  http_validator_make(&b, 0x1234, 14, EXAMPLE, 500);
  assert_string_not_equal(a.etag, b.etag);
  http_validator_make(&b, 0x1234, 13, EXAMPLE, 501);     /* an edit within the same second */
  assert_string_not_equal(a.etag, b.etag);
}

/* A modification time in the future is the present for Last-Modified and
 * for the comparisons (RFC 9110 section 8.8.2.1); the ETag keeps it. */
static void test_validator_time_is_never_in_the_future(void **state) {
  http_validator a, b;
  time_t before = time(NULL), future = before + 86400 * 365;
  (void) state;

  http_validator_make(&a, 0x1234, 13, future, 0);
  assert_true(a.mtime >= before && a.mtime <= time(NULL));
  http_validator_make(&b, 0x1234, 13, future + 1, 0);
  assert_string_not_equal(a.etag, b.etag);
}

static void test_date_format(void **state) {
  char out[HTTP_DATE_LEN + 1];
  (void) state;

  assert_int_equal(http_date_format(EXAMPLE, out), HTTP_DATE_LEN);
  assert_string_equal(out, "Sun, 06 Nov 1994 08:49:37 GMT");
  http_date_format(0, out);
  assert_string_equal(out, "Thu, 01 Jan 1970 00:00:00 GMT");
}

static void test_date_parse_three_forms(void **state) {
  static const char *const good[] = {
    "Sun, 06 Nov 1994 08:49:37 GMT",   /* IMF-fixdate */
    "Sunday, 06-Nov-94 08:49:37 GMT",  /* RFC 850 */
    "Sun Nov  6 08:49:37 1994",        /* asctime */
    "  Sun, 06 Nov 1994 08:49:37 GMT\t",
  };
  static const char *const bad[] = {
    "", "Sun, 06 Nov 1994 08:49:37", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 6 Nov 1994 08:49:37 GMT",
    "Sun, 06 Now 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT", "Sun, 32 Nov 1994 08:49:37 GMT",
    "Sun, 06 Nov 1994 08:49:37 GMTx", "yesterday", "1994-11-06T08:49:37Z", "Sun, 06 Nov 94 08:49:37 GMT",
  };
  time_t t;
  (void) state;

  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    t = 0;
    assert_int_equal(http_date_parse(good[i], strlen(good[i]), &t), 0);
    assert_int_equal(t, EXAMPLE);
  }
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    if (http_date_parse(bad[i], strlen(bad[i]), &t) == 0)
      fail_msg("accepted %s", bad[i]);
  /* RFC 850's two-digit years: 69 is 2069, 70 is 1970. */
  assert_int_equal(http_date_parse("Thursday, 01-Jan-70 00:00:00 GMT", 32, &t), 0);
  assert_int_equal(t, 0);
}

static void test_if_none_match(void **state) {
  http_validator v = file_v();
  test_req t;
  char list[128], weak[80];
  (void) state;

  snprintf(list, sizeof(list), "\"other\", %s", v.etag);
  snprintf(weak, sizeof(weak), "W/%s", v.etag);
  assert_int_equal(http_cond_check(req(&t, H("If-None-Match", v.etag)), 1, &v), 304);
  assert_int_equal(http_cond_check(req(&t, H("if-none-match", list)), 1, &v), 304);
  assert_int_equal(http_cond_check(req(&t, H("If-None-Match", weak)), 1, &v), 304);  /* weak comparison */
  assert_int_equal(http_cond_check(req(&t, H("If-None-Match", "*")), 1, &v), 304);
  assert_int_equal(http_cond_check(req(&t, H("If-None-Match", "\"other\"")), 1, &v), 0);
  assert_int_equal(http_cond_check(req(&t, H("If-None-Match", "garbage")), 1, &v), 0);
  /* Two header lines are one list. */
  assert_int_equal(http_cond_check(req(&t, H("If-None-Match", "\"a\"", "If-None-Match", v.etag)), 1, &v), 304);
  /* Not GET or HEAD: the precondition fails. */
  assert_int_equal(http_cond_check(req(&t, H("If-None-Match", v.etag)), 0, &v), 412);
  /* No header at all. */
  assert_int_equal(http_cond_check(req(&t, NULL), 1, &v), 0);
}

static void test_if_modified_since_and_precedence(void **state) {
  http_validator v = file_v();
  test_req t;
  (void) state;

  assert_int_equal(http_cond_check(req(&t, H("If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT")), 1, &v), 304);
  assert_int_equal(http_cond_check(req(&t, H("If-Modified-Since", "Mon, 07 Nov 1994 08:49:37 GMT")), 1, &v), 304);
  assert_int_equal(http_cond_check(req(&t, H("If-Modified-Since", "Sun, 06 Nov 1994 08:49:36 GMT")), 1, &v), 0);
  /* Ignored: invalid, in the future, twice, or not a GET or HEAD. */
  assert_int_equal(http_cond_check(req(&t, H("If-Modified-Since", "tomorrow")), 1, &v), 0);
  assert_int_equal(http_cond_check(req(&t, H("If-Modified-Since", "Fri, 01 Jan 2100 00:00:00 GMT")), 1, &v), 0);
  assert_int_equal(http_cond_check(req(&t, H("If-Modified-Since", "Mon, 07 Nov 1994 08:49:37 GMT",
                                             "If-Modified-Since", "Mon, 07 Nov 1994 08:49:37 GMT")), 1, &v), 0);
  assert_int_equal(http_cond_check(req(&t, H("If-Modified-Since", "Mon, 07 Nov 1994 08:49:37 GMT")), 0, &v), 0);
  /* If-None-Match wins: a tag that does not match means a full answer, whatever the date. */
  assert_int_equal(http_cond_check(req(&t, H("If-None-Match", "\"other\"",
                                             "If-Modified-Since", "Mon, 07 Nov 1994 08:49:37 GMT")), 1, &v), 0);
}

static void test_if_match_and_if_unmodified_since(void **state) {
  http_validator v = file_v();
  test_req t;
  char weak[80];
  (void) state;

  snprintf(weak, sizeof(weak), "W/%s", v.etag);
  assert_int_equal(http_cond_check(req(&t, H("If-Match", v.etag)), 1, &v), 0);
  assert_int_equal(http_cond_check(req(&t, H("If-Match", "*")), 1, &v), 0);
  assert_int_equal(http_cond_check(req(&t, H("If-Match", "\"other\"")), 1, &v), 412);
  assert_int_equal(http_cond_check(req(&t, H("If-Match", weak)), 1, &v), 412);   /* strong comparison */
  assert_int_equal(http_cond_check(req(&t, H("If-Unmodified-Since", "Sun, 06 Nov 1994 08:49:37 GMT")), 1, &v), 0);
  assert_int_equal(http_cond_check(req(&t, H("If-Unmodified-Since", "Sun, 06 Nov 1994 08:49:36 GMT")), 1, &v), 412);
  /* If-Match wins over If-Unmodified-Since. */
  assert_int_equal(http_cond_check(req(&t, H("If-Match", v.etag,
                                             "If-Unmodified-Since", "Sun, 06 Nov 1994 08:49:36 GMT")), 1, &v), 0);
  /* If-Match is checked before If-None-Match. */
  assert_int_equal(http_cond_check(req(&t, H("If-Match", "\"other\"", "If-None-Match", v.etag)), 1, &v), 412);
}

/* The range decision for one Range value over a 1000-byte file, and its bounds. */
static int range(const char *value, uint64_t *first, uint64_t *last) {
  http_validator v = file_v();
  test_req t;

  *first = *last = 99999;
  return http_range_check(req(&t, H("Range", value)), &v, 1000, first, last);
}

#define ONE(value, a, b)                                                        \
  do {                                                                          \
    uint64_t f_, l_;                                                            \
    assert_int_equal(range(value, &f_, &l_), HTTP_RANGE_ONE);                   \
    assert_int_equal(f_, a);                                                    \
    assert_int_equal(l_, b);                                                    \
  } while (0)

static void test_single_ranges(void **state) {
  uint64_t f, l;
  (void) state;

  ONE("bytes=0-0", 0, 0);
  ONE("bytes=0-499", 0, 499);
  ONE("bytes=500-", 500, 999);
  ONE("bytes=-100", 900, 999);
  ONE("bytes=-5000", 0, 999);        /* a suffix longer than the file: all of it */
  ONE("bytes=990-5000", 990, 999);   /* a last byte past the end: up to the end */
  ONE("Bytes=1-2", 1, 2);           /* the unit is case-insensitive */
  ONE("bytes= 1-2 ,", 1, 2);         /* an empty list element */
  assert_int_equal(range("bytes=1000-", &f, &l), HTTP_RANGE_UNSATISFIABLE);
  assert_int_equal(range("bytes=5000-6000", &f, &l), HTTP_RANGE_UNSATISFIABLE);
  assert_int_equal(range("bytes=-0", &f, &l), HTTP_RANGE_UNSATISFIABLE);
}

static void test_ranges_ignored(void **state) {
  static const char *const ignored[] = {
    "bytes=5-4", "bytes=a-b", "bytes=-", "bytes=", "items=0-1", "bytes 0-1", "bytes=0-1;x",
    "bytes=99999999999999999999-", "bytes=0-1,2-3", "bytes=0-0,-1", "", "bytes = 1-2",
  };
  uint64_t f, l;
  (void) state;

  for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
    if (range(ignored[i], &f, &l) != HTTP_RANGE_NONE)
      fail_msg("did not ignore Range: %s", ignored[i]);
  /* Several ranges none of which can be met: 416. */
  assert_int_equal(range("bytes=2000-,3000-3001", &f, &l), HTTP_RANGE_UNSATISFIABLE);
}

/* An empty file: a range from a position cannot be met (416), a suffix can
 * (RFC 9110 section 14.1.1: "the only satisfiable form") but says nothing a
 * 206 could send: the whole (empty) file is sent. */
static void test_ranges_of_an_empty_file(void **state) {
  http_validator v = file_v();
  test_req t;
  uint64_t f, l;
  (void) state;

  assert_int_equal(http_range_check(req(&t, H("Range", "bytes=0-")), &v, 0, &f, &l), HTTP_RANGE_UNSATISFIABLE);
  assert_int_equal(http_range_check(req(&t, H("Range", "bytes=-5")), &v, 0, &f, &l), HTTP_RANGE_NONE);
  assert_int_equal(http_range_check(req(&t, H("Range", "bytes=-0")), &v, 0, &f, &l), HTTP_RANGE_UNSATISFIABLE);
}

static void test_a_thousand_ranges_are_one_pass(void **state) {
  static char value[8 + 4 * 1000];
  size_t n = 0;
  uint64_t f, l;
  (void) state;

  n += (size_t) sprintf(value, "bytes=");
  for (int i = 0; i < 1000; i++)
    n += (size_t) sprintf(value + n, "%s0-0", i ? "," : "");
  /* The whole file, never a thousand parts. */
  assert_int_equal(range(value, &f, &l), HTTP_RANGE_NONE);
}

static void test_if_range(void **state) {
  http_validator v = file_v();
  test_req t;
  uint64_t f, l;
  char weak[80];
  (void) state;

  snprintf(weak, sizeof(weak), "W/%s", v.etag);
  assert_int_equal(http_range_check(req(&t, H("Range", "bytes=1-2", "If-Range", v.etag)), &v, 1000, &f, &l),
                   HTTP_RANGE_ONE);
  assert_int_equal(http_range_check(req(&t, H("Range", "bytes=1-2", "If-Range", "\"other\"")), &v, 1000, &f, &l),
                   HTTP_RANGE_NONE);
  assert_int_equal(http_range_check(req(&t, H("Range", "bytes=1-2", "If-Range", weak)), &v, 1000, &f, &l),
                   HTTP_RANGE_NONE);
  assert_int_equal(http_range_check(req(&t, H("Range", "bytes=1-2", "If-Range", "Sun, 06 Nov 1994 08:49:37 GMT")),
                                    &v, 1000, &f, &l), HTTP_RANGE_ONE);
  assert_int_equal(http_range_check(req(&t, H("Range", "bytes=1-2", "If-Range", "Sun, 06 Nov 1994 08:49:38 GMT")),
                                    &v, 1000, &f, &l), HTTP_RANGE_NONE);
}

static unsigned accepts(const char *value) {
  test_req t;

  return http_accept_encoding(req(&t, H("Accept-Encoding", value)));
}

static void test_accept_encoding(void **state) {
  test_req t;
  (void) state;

  assert_int_equal(accepts("gzip, deflate, br"), HTTP_ACCEPT_GZIP | HTTP_ACCEPT_BR);
  assert_int_equal(accepts("gzip"), HTTP_ACCEPT_GZIP);
  assert_int_equal(accepts("x-gzip;q=0.5"), HTTP_ACCEPT_GZIP);
  assert_int_equal(accepts("BR ; q=1.0"), HTTP_ACCEPT_BR);
  assert_int_equal(accepts("br;q=0, gzip;q=0.001"), HTTP_ACCEPT_GZIP);
  assert_int_equal(accepts("br;q=0.0, gzip;q=0.000"), 0);
  assert_int_equal(accepts("*"), HTTP_ACCEPT_GZIP | HTTP_ACCEPT_BR);
  assert_int_equal(accepts("*;q=0.5, br;q=0"), HTTP_ACCEPT_GZIP);
  assert_int_equal(accepts("identity"), 0);
  assert_int_equal(accepts("deflate, compress"), 0);
  assert_int_equal(accepts(""), 0);
  assert_int_equal(accepts(" , ,gzip,"), HTTP_ACCEPT_GZIP);
  assert_int_equal(accepts("gzipx, brotli"), 0);
  /* None at all, and two header lines. */
  assert_int_equal(http_accept_encoding(req(&t, NULL)), 0);
  assert_int_equal(http_accept_encoding(req(&t, H("Accept-Encoding", "gzip", "Accept-Encoding", "br"))),
                   HTTP_ACCEPT_GZIP | HTTP_ACCEPT_BR);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_validator_is_strong_and_changes_with_each_part),
    cmocka_unit_test(test_validator_time_is_never_in_the_future),
    cmocka_unit_test(test_date_format),
    cmocka_unit_test(test_date_parse_three_forms),
    cmocka_unit_test(test_if_none_match),
    cmocka_unit_test(test_if_modified_since_and_precedence),
    cmocka_unit_test(test_if_match_and_if_unmodified_since),
    cmocka_unit_test(test_single_ranges),
    cmocka_unit_test(test_ranges_ignored),
    cmocka_unit_test(test_ranges_of_an_empty_file),
    cmocka_unit_test(test_a_thousand_ranges_are_one_pass),
    cmocka_unit_test(test_if_range),
    cmocka_unit_test(test_accept_encoding),
  };

  if (getenv("TDM_TEST_FILTER") != NULL)
    cmocka_set_test_filter(getenv("TDM_TEST_FILTER"));
  return cmocka_run_group_tests_name("http_cond", tests, NULL, NULL);
}
