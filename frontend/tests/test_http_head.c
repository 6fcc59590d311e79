/* Tests of the request-head functions (frontend/src/http_head.c): status
 * reasons, the token and header value checks, the target split, percent-decoding, path
 * normalisation, the encoded-slash check, the header scan, the framing rules
 * and the content-length parser.  The module is pure, so each test calls it
 * on byte strings and asserts exact results; the decoders are also run on
 * every byte value and at every truncation point, and write into buffers
 * with a canary after them.
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

#include "http_head.h"

#define CANARY 0x5a

/* A header of a test, from two literals; name is copied so the scan can
 * lowercase it. */
typedef struct test_header {
  char name[64];
  const char *value;
} test_header;

/* Fills out[0..n) from name/value literal pairs in the scan's form. */
static void make_headers(tdm_header *out, test_header *store, const char *const *pairs, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    size_t nlen = strlen(pairs[2 * i]);
    assert_true(nlen < sizeof(store[i].name));
    memcpy(store[i].name, pairs[2 * i], nlen + 1);
    store[i].value = pairs[2 * i + 1];
    out[i].name.ptr = store[i].name;
    out[i].name.len = (uint32_t) nlen;
    out[i].value.ptr = store[i].value;
    out[i].value.len = (uint32_t) strlen(store[i].value);
  }
}

/* Scans the headers given as name/value pairs; returns the status. */
static int scan(const char *const *pairs, uint32_t n, http_head_info *info) {
  tdm_header h[8];
  test_header store[8];

  assert_true(n <= 8);
  make_headers(h, store, pairs, n);
  return http_scan_headers(h, n, info);
}

/* ---- status reasons ------------------------------------------------------ */

static void test_status_reason(void **state) {
  static const struct {
    int status;
    const char *reason;
  } want[] = {
    {100, "Continue"}, {200, "OK"}, {201, "Created"}, {202, "Accepted"}, {204, "No Content"},
    {206, "Partial Content"}, {301, "Moved Permanently"}, {302, "Found"}, {303, "See Other"},
    {304, "Not Modified"}, {307, "Temporary Redirect"}, {308, "Permanent Redirect"},
    {400, "Bad Request"}, {401, "Unauthorized"}, {403, "Forbidden"}, {404, "Not Found"},
    {405, "Method Not Allowed"}, {408, "Request Timeout"}, {409, "Conflict"}, {410, "Gone"},
    {411, "Length Required"}, {413, "Content Too Large"}, {414, "URI Too Long"},
    {415, "Unsupported Media Type"}, {422, "Unprocessable Content"}, {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"}, {500, "Internal Server Error"},
    {501, "Not Implemented"}, {502, "Bad Gateway"}, {503, "Service Unavailable"},
    {504, "Gateway Timeout"}, {505, "HTTP Version Not Supported"}, {101, "Switching Protocols"},
    {103, "Early Hints"}, {203, "Non-Authoritative Information"}, {205, "Reset Content"},
    {421, "Misdirected Request"}, {426, "Upgrade Required"}, {428, "Precondition Required"},
    {451, "Unavailable For Legal Reasons"}, {511, "Network Authentication Required"},
  };
  /* Not in the registry (418 is reserved, RFC 9110 section 15.5.19). */
  static const int without[] = {-1, 0, 1, 99, 104, 199, 209, 299, 306, 418, 420, 509, 599, 600, 1000};
  (void) state;

  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
    assert_string_equal(http_status_reason(want[i].status), want[i].reason);
  for (size_t i = 0; i < sizeof(without) / sizeof(without[0]); i++)
    assert_string_equal(http_status_reason(without[i]), "");
}

/* ---- tokens ---------------------------------------------------------------- */

static int is_tchar_ref(int ch) {
  return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
         (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static void test_is_token_every_byte(void **state) {
  char s[3];
  (void) state;

  for (int ch = 0; ch < 256; ch++) {
    /* alone, first, in the middle and last: one byte decides. */
    s[0] = (char) ch;
    assert_int_equal(http_is_token(s, 1), is_tchar_ref(ch));
    s[0] = 'a';
    s[1] = (char) ch;
    s[2] = 'b';
    assert_int_equal(http_is_token(s, 3), is_tchar_ref(ch));
    assert_int_equal(http_is_token(s, 2), is_tchar_ref(ch));
    s[0] = (char) ch;
    assert_int_equal(http_is_token(s, 3), is_tchar_ref(ch));
  }
}

static void test_is_token_examples(void **state) {
  (void) state;

  assert_int_equal(http_is_token("", 0), 0);
  assert_int_equal(http_is_token("x", 0), 0);
  assert_int_equal(http_is_token("Content-Type", 12), 1);
  assert_int_equal(http_is_token("!#$%&'*+-.^_`|~09azAZ", 21), 1);
  assert_int_equal(http_is_token("a b", 3), 0);
  assert_int_equal(http_is_token("a:b", 3), 0);
  assert_int_equal(http_is_token("a\"b", 3), 0);
  assert_int_equal(http_is_token("(a)", 3), 0);
  /* Only len bytes count: a bad byte after them does not. */
  assert_int_equal(http_is_token("ab c", 2), 1);
  /* A NUL inside is not a token character. */
  assert_int_equal(http_is_token("a\0b", 3), 0);
}

/* ---- header values ----------------------------------------------------------- */

static void test_value_ok_examples(void **state) {
  (void) state;

  assert_int_equal(http_value_ok("", 0), 1);
  assert_int_equal(http_value_ok("text/html; charset=utf-8", 24), 1);
  assert_int_equal(http_value_ok("a\tb \x7e\x80\xff", 7), 1);
  /* Every control byte but HTAB, and DEL: a client may take one for a line
   * end or refuse the whole response. */
  assert_int_equal(http_value_ok("a\x1b[2Jb", 6), 0);
  assert_int_equal(http_value_ok("a\x7f", 2), 0);
  assert_int_equal(http_value_ok("0123456789\x0b", 11), 0);
  /* Only len bytes are looked at. */
  assert_int_equal(http_value_ok("ab\r\n", 2), 1);
  assert_int_equal(http_value_ok("ab\r\n", 3), 0);
  assert_int_equal(http_value_ok("0123456789abcdef\n", 16), 1);
  assert_int_equal(http_value_ok("0123456789abcdef\n", 17), 0);
  /* Header injection, the reason for the check. */
  assert_int_equal(http_value_ok("x\r\nSet-Cookie: a=b", 19), 0);
}

/* Every byte value at every place of values of every length up to 40 (so
 * at every place of a word, and in the tail after the last word), on
 * backgrounds of plain, high and control bytes.  Each value is in a buffer
 * of exactly its size. */
static void test_value_ok_every_byte_everywhere(void **state) {
  static const char backgrounds[] = {'a', '\xff', '\x80', '\t', ' ', '\x7e', '!'};
  (void) state;

  for (size_t bg = 0; bg < sizeof(backgrounds); bg++) {
    for (size_t len = 1; len <= 40; len++) {
      char *v = malloc(len);
      assert_non_null(v);
      memset(v, backgrounds[bg], len);
      assert_int_equal(http_value_ok(v, len), 1);
      for (size_t at = 0; at < len; at++) {
        for (int ch = 0; ch < 256; ch++) {
          int want = (ch >= 0x20 || ch == '\t') && ch != 0x7f;
          v[at] = (char) ch;
          if (http_value_ok(v, len) != want)
            fail_msg("byte 0x%02x at %zu of %zu (on 0x%02x): want %d", ch, at, len,
                     (unsigned char) backgrounds[bg], want);
        }
        v[at] = backgrounds[bg];
      }
      free(v);
    }
  }
}

/* ---- target split ---------------------------------------------------------- */

/* Splits url and checks path and query (query NULL: none expected). */
static void check_split(const char *url, const char *path, const char *query) {
  http_target t;
  size_t len = strlen(url);

  memset(&t, 0xee, sizeof(t));
  http_split_target(url, len, &t);
  if (t.path_len != strlen(path) || memcmp(t.path, path, t.path_len) != 0)
    fail_msg("split \"%s\": path \"%.*s\", want \"%s\"", url, (int) t.path_len, t.path, path);
  /* The parts point into the url, not into a copy. */
  assert_true(t.path >= url && t.path + t.path_len <= url + len);
  if (query == NULL) {
    if (t.query != NULL)
      fail_msg("split \"%s\": query \"%.*s\", want none", url, (int) t.query_len, t.query);
    assert_int_equal(t.query_len, 0);
  } else {
    if (t.query == NULL)
      fail_msg("split \"%s\": no query, want \"%s\"", url, query);
    if (t.query_len != strlen(query) || memcmp(t.query, query, t.query_len) != 0)
      fail_msg("split \"%s\": query \"%.*s\", want \"%s\"", url, (int) t.query_len, t.query, query);
    assert_true(t.query >= url && t.query + t.query_len <= url + len);
  }
}

static void test_split_origin_form(void **state) {
  (void) state;

  check_split("/", "/", NULL);
  check_split("/a/b.html", "/a/b.html", NULL);
  check_split("/a?x=1&y=2", "/a", "x=1&y=2");
  check_split("/a?", "/a", "");
  check_split("/a??b", "/a", "?b");
  check_split("/a?x=/y?z", "/a", "x=/y?z");
  check_split("/a#frag", "/a", NULL);
  check_split("/a?x#frag", "/a", "x");
  check_split("/a?#", "/a", "");
  check_split("/a%3Fb", "/a%3Fb", NULL);
  check_split("/a:b//c", "/a:b//c", NULL);
  check_split("/http://h/x", "/http://h/x", NULL);
  check_split("", "", NULL);
  check_split("*", "*", NULL);
}

static void test_split_absolute_form(void **state) {
  (void) state;

  check_split("http://example.com/a/b?x=1", "/a/b", "x=1");
  check_split("https://example.com:8443/a", "/a", NULL);
  check_split("http://example.com/", "/", NULL);
  check_split("http://example.com", "", NULL);
  check_split("http://example.com/a#f", "/a", NULL);
  check_split("http://example.com/a/../b", "/a/../b", NULL);
  /* Not absolute-form: an authority (CONNECT) or a scheme without "//". */
  check_split("example.com:443", "example.com:443", NULL);
  check_split("a:b", "a:b", NULL);
  check_split("a:/", "a:/", NULL);
  check_split("a://", "", NULL);
}

/* Every prefix of a target splits without reading past it, and a prefix
 * never has a longer path than the whole. */
static void test_split_every_truncation(void **state) {
  static const char *const urls[] = {"/a/b?x=1#f", "http://h:80/p/q?r#s", "*", "h:443"};
  (void) state;

  for (size_t u = 0; u < sizeof(urls) / sizeof(urls[0]); u++) {
    size_t len = strlen(urls[u]);
    for (size_t n = 0; n <= len; n++) {
      char *copy = malloc(n + 1);
      http_target t;
      assert_non_null(copy);
      memcpy(copy, urls[u], n);
      http_split_target(copy, n, &t);
      assert_true(t.path >= copy && t.path + t.path_len <= copy + n);
      if (t.query != NULL)
        assert_true(t.query >= copy && t.query + t.query_len <= copy + n);
      free(copy);
    }
  }
}

/* In absolute form the authority ends at the first '/', '?' or '#' (RFC
 * 3986 section 3.2): "http://h?x=/y" is a request for "/" with the query
 * "x=/y", not one for "/y" (the path taken from inside the query). */
static void test_split_absolute_authority_ends_at_query(void **state) {
  (void) state;

  check_split("http://h?x=/y", "", "x=/y");
  check_split("http://h?x", "", "x");
  check_split("http://h#/y", "", NULL);
}

/* A '?' inside the fragment is part of the fragment (RFC 3986 section 3.5):
 * "/a#f?x" has no query.  (http_target_form() refuses a fragment anyway.) */
static void test_split_question_mark_in_fragment(void **state) {
  (void) state;

  check_split("/a#f?x", "/a", NULL);
  check_split("http://h/a#f?x", "/a", NULL);
}

/* The authority of an absolute-form target; none for the other forms. */
static void test_split_authority(void **state) {
  static const struct {
    const char *url, *authority;
  } cases[] = {
    {"http://h/a", "h"}, {"https://h.example:8443", "h.example:8443"}, {"http://[::1]:80/", "[::1]:80"},
    {"http://h?x", "h"}, {"http://h#f", "h"}, {"http:///x", ""}, {"/a", NULL}, {"*", NULL},
    {"h:443", NULL},
  };
  (void) state;

  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    http_target t;
    http_split_target(cases[i].url, strlen(cases[i].url), &t);
    if (cases[i].authority == NULL) {
      assert_null(t.authority);
      assert_int_equal(t.authority_len, 0);
      continue;
    }
    if (t.authority == NULL || t.authority_len != strlen(cases[i].authority) ||
        memcmp(t.authority, cases[i].authority, t.authority_len) != 0)
      fail_msg("%s: authority \"%.*s\", want \"%s\"", cases[i].url, (int) t.authority_len,
               t.authority != NULL ? t.authority : "", cases[i].authority);
  }
}

static void test_target_form(void **state) {
  static const struct {
    const char *url;
    int form;
  } cases[] = {
    {"/", HTTP_FORM_ORIGIN}, {"/a?b", HTTP_FORM_ORIGIN}, {"//a", HTTP_FORM_ORIGIN},
    {"*", HTTP_FORM_ASTERISK},
    {"http://h", HTTP_FORM_ABSOLUTE}, {"HTTP://h/a", HTTP_FORM_ABSOLUTE}, {"https://h:1?x", HTTP_FORM_ABSOLUTE},
    {"http://[::1]/", HTTP_FORM_ABSOLUTE},
    {"", HTTP_FORM_BAD}, {"/a#f", HTTP_FORM_BAD}, {"http://h/#", HTTP_FORM_BAD}, {"*/", HTTP_FORM_BAD},
    {"**", HTTP_FORM_BAD}, {"a", HTTP_FORM_BAD}, {"h:443", HTTP_FORM_BAD}, {"ftp://h/", HTTP_FORM_BAD},
    {"http:/h", HTTP_FORM_BAD}, {"http://", HTTP_FORM_BAD}, {"http:///a", HTTP_FORM_BAD},
    {"http://u@h/", HTTP_FORM_BAD}, {"http://h h/", HTTP_FORM_BAD}, {"httpx://h/", HTTP_FORM_BAD},
  };
  (void) state;

  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    int got = http_target_form(cases[i].url, strlen(cases[i].url));
    if (got != cases[i].form)
      fail_msg("\"%s\": form %d, want %d", cases[i].url, got, cases[i].form);
  }
}

static void test_authority_ok(void **state) {
  static const char *const good[] = {"", "h", "example.com:8080", "[::1]:80", "a-b_c~d.e", "%41",
                                     "!$&'()*+,;=", "1.2.3.4"};
  static const char *const bad[] = {"a b", "a/b", "u@h", "a\\b", "h?", "h#", "a\"b", "<h>", "a\tb", "\x80",
                                    "a{b}", "a|b", "a^b", "`"};
  (void) state;

  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
    if (!http_authority_ok(good[i], strlen(good[i])))
      fail_msg("\"%s\" was refused", good[i]);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    if (http_authority_ok(bad[i], strlen(bad[i])))
      fail_msg("\"%s\" was taken", bad[i]);
  /* A NUL is none of them. */
  assert_int_equal(http_authority_ok("a\0b", 3), 0);
}

/* ---- percent-decoding -------------------------------------------------------- */

/* Decodes src into a buffer with a canary after len bytes; checks the result
 * (want NULL: -1 expected). */
static void check_decode(const char *src, size_t len, const char *want, size_t want_len) {
  char *dst = malloc(len + 1);
  ssize_t n;

  assert_non_null(dst);
  memset(dst, CANARY, len + 1);
  n = http_percent_decode(src, len, dst);
  if (want == NULL) {
    if (n != -1)
      fail_msg("decode \"%.*s\": %zd, want -1", (int) len, src, n);
  } else {
    if (n != (ssize_t) want_len || memcmp(dst, want, want_len) != 0)
      fail_msg("decode \"%.*s\": %zd \"%.*s\", want \"%.*s\"", (int) len, src, n, n > 0 ? (int) n : 0,
               dst, (int) want_len, want);
  }
  assert_int_equal((unsigned char) dst[len], CANARY);
  free(dst);
}

#define DECODE(src, want) check_decode(src, sizeof(src) - 1, want, sizeof(want) - 1)
#define DECODE_FAILS(src) check_decode(src, sizeof(src) - 1, NULL, 0)

static void test_percent_decode_examples(void **state) {
  (void) state;

  DECODE("", "");
  DECODE("/a/b", "/a/b");
  DECODE("%41", "A");
  DECODE("/a%20b", "/a b");
  DECODE("%2f%2F", "//");
  DECODE("%4a%4A", "JJ");
  DECODE("%25", "%");
  DECODE("%2541", "%41");
  DECODE("%ff%80", "\xff\x80");
  DECODE("a+b", "a+b");
  DECODE("%41%42%43", "ABC");
  DECODE_FAILS("%");
  DECODE_FAILS("a%");
  DECODE_FAILS("%4");
  DECODE_FAILS("a%4");
  DECODE_FAILS("%g1");
  DECODE_FAILS("%1g");
  DECODE_FAILS("%%41");
  DECODE_FAILS("% 41");
  DECODE_FAILS("%-1");
  DECODE_FAILS("/ok%zz/ok");
  /* NUL, encoded or raw, is refused. */
  DECODE_FAILS("%00");
  DECODE_FAILS("/a%00b");
  DECODE_FAILS("/a\0b");
}

/* Every pair of bytes after a '%': valid exactly when both are hex digits. */
static void test_percent_decode_every_escape(void **state) {
  (void) state;

  for (int hi = 0; hi < 256; hi++) {
    for (int lo = 0; lo < 256; lo++) {
      char src[3] = {'%', (char) hi, (char) lo};
      int hv = hi >= '0' && hi <= '9' ? hi - '0' :
               hi >= 'a' && hi <= 'f' ? hi - 'a' + 10 :
               hi >= 'A' && hi <= 'F' ? hi - 'A' + 10 : -1;
      int lv = lo >= '0' && lo <= '9' ? lo - '0' :
               lo >= 'a' && lo <= 'f' ? lo - 'a' + 10 :
               lo >= 'A' && lo <= 'F' ? lo - 'A' + 10 : -1;
      char dst[4] = {CANARY, CANARY, CANARY, CANARY};
      ssize_t n = http_percent_decode(src, 3, dst);
      if (hv < 0 || lv < 0 || (hv == 0 && lv == 0)) {
        if (n != -1)
          fail_msg("%%%02x%02x decoded to %zd", hi, lo, n);
      } else {
        if (n != 1 || (unsigned char) dst[0] != (unsigned) (hv << 4 | lv))
          fail_msg("%%%02x%02x decoded to %zd (0x%02x)", hi, lo, n, (unsigned char) dst[0]);
      }
      assert_int_equal((unsigned char) dst[1], CANARY);
    }
  }
}

/* ---- percent-encoding -------------------------------------------------------- */

static void check_encode(const char *src, int keep, const char *want) {
  char dst[256];
  size_t n = http_percent_encode(src, strlen(src), dst, sizeof(dst), keep);

  if (n != strlen(want) || strcmp(dst, want) != 0)
    fail_msg("encode \"%s\" (%d): \"%s\", want \"%s\"", src, keep, dst, want);
}

static void test_percent_encode_examples(void **state) {
  (void) state;

  check_encode("", HTTP_PCT_PATH, "");
  check_encode("/a b/c?d#e%", HTTP_PCT_PATH, "/a%20b/c%3Fd%23e%25");
  check_encode("/x!$&'()*+,;=:@-._~", HTTP_PCT_PATH, "/x!$&'()*+,;=:@-._~");
  check_encode("a b/c:d", HTTP_PCT_SEGMENT, "a%20b%2Fc%3Ad");
  check_encode("-._~Az09", HTTP_PCT_SEGMENT, "-._~Az09");
  check_encode("\"<x>\"", HTTP_PCT_SEGMENT, "%22%3Cx%3E%22");
  check_encode("a=1&b=%20#", HTTP_PCT_QUERY, "a=1&b=%20#");
  check_encode("a b\x7f\xc3\xa9\t", HTTP_PCT_QUERY, "a%20b%7F%C3%A9%09");
}

/* Every byte, in every mode: it is kept or encoded, and decoding gives it
 * back (but NUL, which the decoder refuses, and a query's '%'). */
static void test_percent_encode_every_byte(void **state) {
  (void) state;

  for (int keep = HTTP_PCT_SEGMENT; keep <= HTTP_PCT_QUERY; keep++) {
    for (int ch = 0; ch < 256; ch++) {
      char src[1] = {(char) ch}, enc[4], dec[4];
      size_t n = http_percent_encode(src, 1, enc, sizeof(enc), keep);
      int kept = keep == HTTP_PCT_QUERY ? ch > 0x20 && ch < 0x7f
                 : (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                       (ch != 0 && strchr(keep == HTTP_PCT_PATH ? "-._~/!$&'()*+,;=:@" : "-._~", ch));

      if (n != (kept ? 1u : 3u) || enc[n] != '\0')
        fail_msg("byte 0x%02x (mode %d): %zu bytes \"%s\"", ch, keep, n, enc);
      if (ch == 0 || (keep == HTTP_PCT_QUERY && ch == '%'))
        continue;             /* a query is encoded already: its '%' stays */
      if (http_percent_decode(enc, n, dec) != 1 || (unsigned char) dec[0] != ch)
        fail_msg("byte 0x%02x (mode %d) does not decode back from \"%s\"", ch, keep, enc);
    }
  }
}

/* Any room: a prefix of the whole encoding, whole escapes only, NUL-ended,
 * nothing written past cap. */
static void test_percent_encode_every_room(void **state) {
  static const char src[] = "/a b/\xc3\xa9/z";
  char full[64], dst[64];
  size_t whole = http_percent_encode(src, sizeof(src) - 1, full, sizeof(full), HTTP_PCT_PATH);

  (void) state;
  assert_int_equal(whole, strlen("/a%20b/%C3%A9/z"));
  for (size_t cap = 0; cap <= whole + 1; cap++) {
    size_t n;

    memset(dst, CANARY, sizeof(dst));
    n = http_percent_encode(src, sizeof(src) - 1, dst, cap, HTTP_PCT_PATH);
    assert_int_equal((unsigned char) dst[cap], CANARY);
    if (cap == 0) {
      assert_int_equal(n, 0);
      continue;
    }
    assert_true(n < cap);
    assert_int_equal(dst[n], '\0');
    assert_memory_equal(dst, full, n);
    for (size_t i = n >= 2 ? n - 2 : 0; i < n; i++)
      if (dst[i] == '%')
        fail_msg("room %zu: an escape cut short: \"%s\"", cap, dst);
  }
}

/* Every plain byte but NUL and '%' decodes to itself. */
static void test_percent_decode_every_plain_byte(void **state) {
  (void) state;

  for (int ch = 0; ch < 256; ch++) {
    char src[3] = {'a', (char) ch, 'b'};
    char dst[4];
    ssize_t n;
    memset(dst, CANARY, sizeof(dst));
    n = http_percent_decode(src, 3, dst);
    if (ch == 0 || ch == '%') {
      assert_int_equal(n, -1);
      continue;
    }
    assert_int_equal(n, 3);
    assert_memory_equal(dst, src, 3);
    assert_int_equal((unsigned char) dst[3], CANARY);
  }
}

/* Each prefix of an encoded path: a prefix that cuts an escape is refused,
 * any other decodes to the prefix of the decoded whole.  Each prefix is in a
 * buffer of exactly its size, so a read past it is caught (ASan). */
static void test_percent_decode_every_truncation(void **state) {
  static const char src[] = "/a%20b/%7Ec%2f";
  static const char whole[] = "/a b/~c/";
  /* For each prefix length, the decoded length, or -1. */
  static const int want[] = {0, 1, 2, -1, -1, 3, 4, 5, -1, -1, 6, 7, -1, -1, 8};
  (void) state;

  assert_int_equal(sizeof(want) / sizeof(want[0]), sizeof(src));
  for (size_t n = 0; n < sizeof(src); n++) {
    char *copy = malloc(n != 0 ? n : 1);
    char dst[sizeof(src)];
    ssize_t got;
    assert_non_null(copy);
    memcpy(copy, src, n);
    got = http_percent_decode(copy, n, dst);
    if (got != want[n])
      fail_msg("prefix %zu: %zd, want %d", n, got, want[n]);
    /* What a prefix decodes to is the start of what the whole does. */
    if (got > 0)
      assert_memory_equal(dst, whole, (size_t) got);
    free(copy);
  }
}

/* ---- path normalisation ---------------------------------------------------- */

/* Normalises a copy of in (exactly its size, canary after) and checks it
 * (want NULL: -1 expected). */
static void check_norm(const char *in, const char *want) {
  size_t len = strlen(in);
  char *buf = malloc(len + 1);
  ssize_t n;

  assert_non_null(buf);
  memcpy(buf, in, len);
  buf[len] = (char) CANARY;
  n = http_normalize_path(buf, len);
  if (want == NULL) {
    if (n != -1)
      fail_msg("normalise \"%s\": %zd \"%.*s\", want -1", in, n, n > 0 ? (int) n : 0, buf);
  } else if (n != (ssize_t) strlen(want) || memcmp(buf, want, (size_t) n) != 0) {
    fail_msg("normalise \"%s\": %zd \"%.*s\", want \"%s\"", in, n, n > 0 ? (int) n : 0, buf, want);
  }
  assert_int_equal((unsigned char) buf[len], CANARY);
  free(buf);
}

static void test_normalize_examples(void **state) {
  (void) state;

  check_norm("/", "/");
  check_norm("/a", "/a");
  check_norm("/a/b/c.txt", "/a/b/c.txt");
  /* Repeated slashes merge; a trailing slash stays. */
  check_norm("//", "/");
  check_norm("///a///b", "/a/b");
  check_norm("/a/", "/a/");
  check_norm("/a//", "/a/");
  check_norm("///a///b///", "/a/b/");
  /* "." segments go. */
  check_norm("/.", "/");
  check_norm("/./", "/");
  check_norm("/./a/./b/.", "/a/b");
  check_norm("/a/./", "/a/");
  /* ".." takes the segment before it. */
  check_norm("/a/..", "/");
  check_norm("/a/../", "/");
  check_norm("/a/../b", "/b");
  check_norm("/a/b/../c", "/a/c");
  check_norm("/a/b/../../c/", "/c/");
  check_norm("/a//b/..//c", "/a/c");
  /* A final "." or ".." leaves no trailing slash ("/a/b/.." is "/a"; RFC
   * 3986 section 5.2.4 would give "/a/").  The contract does not say. */
  check_norm("/a/b/..", "/a");
  /* Names that only look like dot segments stay. */
  check_norm("/...", "/...");
  check_norm("/.a/a./..b/b..", "/.a/a./..b/b..");
  check_norm("/a/.../b", "/a/.../b");
  /* Climbing above the root is refused, however it is spelled. */
  check_norm("/..", NULL);
  check_norm("/../", NULL);
  check_norm("/../a", NULL);
  check_norm("/a/../..", NULL);
  check_norm("/a/../../b", NULL);
  check_norm("/a/b/../../..", NULL);
  check_norm("//..//a", NULL);
  check_norm("/./..", NULL);
}

/* Whether p[0..len) is normal: one leading slash, no empty, "." or ".."
 * segment (a trailing slash aside). */
static int is_normal(const char *p, size_t len) {
  size_t i = 1;

  if (len == 0 || p[0] != '/')
    return 0;
  while (i < len) {
    size_t start = i;
    while (i < len && p[i] != '/')
      i++;
    if (i == start)
      return 0;
    if ((i - start == 1 && p[start] == '.') || (i - start == 2 && p[start] == '.' && p[start + 1] == '.'))
      return 0;
    i++;
  }
  return 1;
}

/* Every prefix of paths full of dot segments: refused, or a normal path that
 * normalises to itself (idempotent), never longer than the input. */
static void test_normalize_every_prefix(void **state) {
  static const char *const paths[] = {"/a/./b/../c//d/./../e/", "//x/../y/./z/..", "/a/b/c/../../../d",
                                      "/../a", "/a/.b/..c/.../"};
  (void) state;

  for (size_t k = 0; k < sizeof(paths) / sizeof(paths[0]); k++) {
    size_t len = strlen(paths[k]);
    for (size_t n = 1; n <= len; n++) {
      char *buf = malloc(n);
      char again[64];
      ssize_t got, got2;
      assert_non_null(buf);
      memcpy(buf, paths[k], n);
      got = http_normalize_path(buf, n);
      if (got < 0) {
        free(buf);
        continue;
      }
      assert_true((size_t) got <= n);
      if (!is_normal(buf, (size_t) got))
        fail_msg("\"%.*s\" normalised to \"%.*s\"", (int) n, paths[k], (int) got, buf);
      memcpy(again, buf, (size_t) got);
      got2 = http_normalize_path(again, (size_t) got);
      assert_int_equal(got2, got);
      assert_memory_equal(again, buf, (size_t) got);
      free(buf);
    }
  }
}

/* ---- encoded slashes --------------------------------------------------------- */

static void test_encoded_slash(void **state) {
  static const struct {
    const char *path;
    int want;
  } cases[] = {
    {"/a/b", 0},      {"", 0},           {"%2f", 1},        {"%2F", 1},       {"/a%2fb", 1},
    {"/a%2Fb", 1},    {"/a/b%2f", 1},    {"%5c", 1},        {"%5C", 1},       {"/a%5cb", 1},
    {"/a%2", 0},      {"/a%", 0},        {"/a%252f", 0},    {"/a%2e%2e", 0},  {"/a\\b", 0},
    {"/a%20b", 0},    {"/a%2g", 0},      {"/%%2f", 1},
  };
  (void) state;

  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    if (http_path_has_encoded_slash(cases[i].path, strlen(cases[i].path)) != cases[i].want)
      fail_msg("\"%s\": want %d", cases[i].path, cases[i].want);
  }
  /* Only len bytes are looked at. */
  assert_int_equal(http_path_has_encoded_slash("/a%2f", 4), 0);
  assert_int_equal(http_path_has_encoded_slash("/a%2f", 5), 1);
}

/* ---- hidden paths -------------------------------------------------------------- */

static void test_hidden_path(void **state) {
  static const struct {
    const char *path;
    int want;
  } cases[] = {
    {"/", 0},                 {"/a/b.txt", 0},        {"/.env", 1},            {"/a/.git/config", 1},
    {"/a.b/c", 0},            {"/.well-known", 0},    {"/.well-known/x", 0},   {"/.well-knownx", 1},
    {"/.well-known/.x", 1},   {"/a/.well-known/t", 0}, {"/a/.", 1},            {"", 0},
  };
  (void) state;

  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    if (http_path_is_hidden(cases[i].path, strlen(cases[i].path)) != cases[i].want)
      fail_msg("\"%s\": want %d", cases[i].path, cases[i].want);
  }
  /* Only len bytes are looked at. */
  assert_int_equal(http_path_is_hidden("/a/.env", 3), 0);
}

/* ---- header scan --------------------------------------------------------------- */

static void test_scan_lowercases_names_in_place(void **state) {
  static const char *const pairs[] = {"Host", "Example.COM", "X-MiXeD-Case", "VaLuE", "CONTENT-TYPE",
                                      "text/HTML", "accept", "*/*",
                                      "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "1",
                                      "!#$%&'*+-.^_`|~09AZaz", "2"};
  tdm_header h[6];
  test_header store[6];
  http_head_info info;
  (void) state;

  make_headers(h, store, pairs, 6);
  assert_int_equal(http_scan_headers(h, 6, &info), 0);
  assert_string_equal(store[0].name, "host");
  assert_string_equal(store[1].name, "x-mixed-case");
  assert_string_equal(store[2].name, "content-type");
  assert_string_equal(store[3].name, "accept");
  /* Letters only: '^' and '`' sit next to them. */
  assert_string_equal(store[4].name, "abcdefghijklmnopqrstuvwxyz");
  assert_string_equal(store[5].name, "!#$%&'*+-.^_`|~09azaz");
  /* The names are changed where they are; the values not at all. */
  assert_ptr_equal(h[1].name.ptr, store[1].name);
  assert_int_equal(h[1].name.len, 12);
  assert_string_equal(h[0].value.ptr, "Example.COM");
  assert_string_equal(h[1].value.ptr, "VaLuE");
  assert_int_equal(info.hosts, 1);
  assert_int_equal(info.host, 0);
  assert_int_equal(info.expect_continue, 0);
  assert_int_equal(info.te, HTTP_TE_NONE);
}

/* RFC 9110 section 5.5: trailing whitespace is no part of a value. */
static void test_scan_trims_values(void **state) {
  static const char *const pairs[] = {"A", "x \t ", "B", " \t", "C", "a b", "D", ""};
  tdm_header h[4];
  test_header store[4];
  http_head_info info;
  (void) state;

  make_headers(h, store, pairs, 4);
  assert_int_equal(http_scan_headers(h, 4, &info), 0);
  assert_int_equal(h[0].value.len, 1);
  assert_int_equal(h[1].value.len, 0);
  assert_int_equal(h[2].value.len, 3);
  assert_int_equal(h[3].value.len, 0);
}

static void test_scan_zero_headers_clears_info(void **state) {
  http_head_info info;
  (void) state;

  memset(&info, 0xff, sizeof(info));
  assert_int_equal(http_scan_headers(NULL, 0, &info), 0);
  assert_int_equal(info.hosts, 0);
  assert_int_equal(info.host_bad, 0);
  assert_int_equal(info.expect_continue, 0);
  assert_int_equal(info.expect_other, 0);
  assert_int_equal(info.te, HTTP_TE_NONE);
}

static void test_scan_bad_names(void **state) {
  static const char *const bad[] = {"", "a b", "a:b", "x\x80", "\xc3\xa9", "a\tb", "(x)", "a/b", "a@b",
                                    "a\"b"};
  http_head_info info;
  (void) state;

  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    const char *pairs[] = {"Host", "h", bad[i], "v"};
    if (scan(pairs, 2, &info) != 400)
      fail_msg("name \"%s\" was not refused", bad[i]);
    /* First or alone, the same. */
    pairs[0] = bad[i];
    pairs[1] = "v";
    assert_int_equal(scan(pairs, 1, &info), 400);
  }
}

static void test_scan_host_count(void **state) {
  http_head_info info;
  (void) state;

  {
    const char *pairs[] = {"X", "1"};
    assert_int_equal(scan(pairs, 1, &info), 0);
    assert_int_equal(info.hosts, 0);
  }
  {
    const char *pairs[] = {"HOST", "a", "X-Host", "b", "Hostx", "c"};
    assert_int_equal(scan(pairs, 3, &info), 0);
    assert_int_equal(info.hosts, 1);
  }
  {
    const char *pairs[] = {"Host", "a", "host", "a", "hOsT", ""};
    assert_int_equal(scan(pairs, 3, &info), 0);
    assert_int_equal(info.hosts, 3);
  }
}

static void test_scan_host_value(void **state) {
  http_head_info info;
  (void) state;

  {
    const char *pairs[] = {"X", "1", "Host", "example.com:80"};
    assert_int_equal(scan(pairs, 2, &info), 0);
    assert_int_equal(info.host, 1);
    assert_int_equal(info.host_bad, 0);
  }
  {
    const char *pairs[] = {"Host", "a b"};
    assert_int_equal(scan(pairs, 1, &info), 0);
    assert_int_equal(info.host_bad, 1);
  }
}

static void test_scan_expect(void **state) {
  static const struct {
    const char *name, *value;
    int cont, other;
  } cases[] = {
    {"Expect", "100-continue", 1, 0}, {"EXPECT", "100-Continue", 1, 0}, {"expect", "100-CONTINUE", 1, 0},
    {"Expect", "100-continuex", 0, 1}, {"Expect", "200-ok", 0, 1}, {"Expect", "", 0, 0},
    {"Expect", "100-continu", 0, 1}, {"X-Expect", "100-continue", 0, 0}, {"Expects", "100-continue", 0, 0},
    {"Expect", " , 100-continue , ", 1, 0}, {"Expect", "100-continue, foo", 1, 1}, {"Expect", ",,", 0, 0},
    {"Expect", "100-continue; x=1", 0, 1},
  };
  http_head_info info;
  (void) state;

  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const char *pairs[] = {"Host", "h", cases[i].name, cases[i].value};
    assert_int_equal(scan(pairs, 2, &info), 0);
    if (info.expect_continue != (unsigned) cases[i].cont || info.expect_other != (unsigned) cases[i].other)
      fail_msg("%s: %s: continue %u other %u, want %d %d", cases[i].name, cases[i].value, info.expect_continue,
               info.expect_other, cases[i].cont, cases[i].other);
    assert_int_equal(info.te, HTTP_TE_NONE);
  }
}

static void test_scan_transfer_encoding(void **state) {
  static const struct {
    const char *value;
    int te;
  } cases[] = {
    {"chunked", HTTP_TE_CHUNKED}, {"CHUNKED", HTTP_TE_CHUNKED}, {"Chunked", HTTP_TE_CHUNKED},
    {"chunked ", HTTP_TE_CHUNKED}, {"chunked\t", HTTP_TE_CHUNKED},
    /* Any other coding, chunked under it or not: not implemented. */
    {"gzip, chunked", HTTP_TE_UNKNOWN}, {"gzip,chunked", HTTP_TE_UNKNOWN}, {"gzip,\tchunked", HTTP_TE_UNKNOWN},
    {"deflate, chunked", HTTP_TE_UNKNOWN}, {"gzip", HTTP_TE_UNKNOWN}, {"chunked, gzip", HTTP_TE_UNKNOWN},
    {"chunked, chunked", HTTP_TE_UNKNOWN}, {"xchunked", HTTP_TE_UNKNOWN}, {"chunke", HTTP_TE_UNKNOWN},
    {"identity", HTTP_TE_UNKNOWN}, {", chunked", HTTP_TE_UNKNOWN},
    /* No list of codings. */
    {"", HTTP_TE_BAD}, {" ", HTTP_TE_BAD}, {",", HTTP_TE_BAD}, {"chunked;q=1", HTTP_TE_BAD},
    {"\"chunked\"", HTTP_TE_BAD}, {"chunked/1", HTTP_TE_BAD},
  };
  http_head_info info;
  (void) state;

  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const char *pairs[] = {"Transfer-Encoding", cases[i].value};
    assert_int_equal(scan(pairs, 1, &info), 0);
    if (info.te != cases[i].te)
      fail_msg("\"%s\": %d, want %d", cases[i].value, info.te, cases[i].te);
  }
  /* Two headers make one list: never exactly chunked. */
  {
    const char *pairs[] = {"Transfer-Encoding", "chunked", "transfer-encoding", "chunked"};
    assert_int_equal(scan(pairs, 2, &info), 0);
    assert_int_equal(info.te, HTTP_TE_UNKNOWN);
  }
  {
    const char *pairs[] = {"Transfer-Encoding", "", "TRANSFER-ENCODING", "chunked"};
    assert_int_equal(scan(pairs, 2, &info), 0);
    assert_int_equal(info.te, HTTP_TE_BAD);
  }
  {
    const char *pairs[] = {"Transfer-Encoding", "gzip", "TRANSFER-ENCODING", "x y"};
    assert_int_equal(scan(pairs, 2, &info), 0);
    assert_int_equal(info.te, HTTP_TE_UNKNOWN);
  }
  /* A name that only contains it is not it. */
  {
    const char *pairs[] = {"X-Transfer-Encoding", "chunked"};
    assert_int_equal(scan(pairs, 1, &info), 0);
    assert_int_equal(info.te, HTTP_TE_NONE);
  }
}

/* ---- framing rules --------------------------------------------------------------- */

static void check_framing(unsigned hosts, int host_bad, int te, int http10, int want, const char *want_why) {
  http_head_info info;
  const char *why = NULL;
  int got;

  memset(&info, 0, sizeof(info));
  info.hosts = hosts;
  info.host_bad = (unsigned) host_bad;
  info.te = (uint8_t) te;
  got = http_check_framing(&info, http10, &why);
  if (got != want)
    fail_msg("hosts %u bad %d te %d http10 %d: %d, want %d", hosts, host_bad, te, http10, got, want);
  if (want_why != NULL) {
    assert_non_null(why);
    assert_string_equal(why, want_why);
  }
}

static void test_check_framing(void **state) {
  static const char host[] = "exactly one Host header is required";
  static const char bad_host[] = "invalid Host header";
  static const char te10[] = "transfer-encoding in an HTTP/1.0 request";
  static const char unsupported[] = "unsupported transfer-encoding";
  static const char bad_te[] = "invalid transfer-encoding";
  (void) state;

  /* HTTP/1.1: exactly one Host, and a valid one. */
  check_framing(1, 0, HTTP_TE_NONE, 0, 0, NULL);
  check_framing(0, 0, HTTP_TE_NONE, 0, 400, host);
  check_framing(2, 0, HTTP_TE_NONE, 0, 400, host);
  check_framing(7, 0, HTTP_TE_NONE, 0, 400, host);
  check_framing(1, 1, HTTP_TE_NONE, 0, 400, bad_host);
  /* HTTP/1.0: none or one, and valid. */
  check_framing(0, 0, HTTP_TE_NONE, 1, 0, NULL);
  check_framing(1, 0, HTTP_TE_NONE, 1, 0, NULL);
  check_framing(2, 0, HTTP_TE_NONE, 1, 400, host);
  check_framing(1, 1, HTTP_TE_NONE, 1, 400, bad_host);
  /* Transfer-Encoding: exactly chunked in 1.1, never in 1.0. */
  check_framing(1, 0, HTTP_TE_CHUNKED, 0, 0, NULL);
  check_framing(1, 0, HTTP_TE_UNKNOWN, 0, 501, unsupported);
  check_framing(1, 0, HTTP_TE_BAD, 0, 400, bad_te);
  check_framing(0, 0, HTTP_TE_CHUNKED, 1, 400, te10);
  check_framing(1, 0, HTTP_TE_UNKNOWN, 1, 400, te10);
  /* The Host rule comes first. */
  check_framing(0, 0, HTTP_TE_UNKNOWN, 0, 400, host);
}

/* ---- content-length -------------------------------------------------------------- */

static void test_parse_length(void **state) {
  static const char *const bad[] = {"", "+1", "-1", " 1", "1 ", "1a", "0x1", "1,1", "1.0", "١",
                                    "1000000000000000000", "0000000000000000000", "99999999999999999999"};
  (void) state;

  assert_int_equal(http_parse_length("0", 1), 0);
  assert_int_equal(http_parse_length("7", 1), 7);
  assert_int_equal(http_parse_length("123", 3), 123);
  assert_int_equal(http_parse_length("000", 3), 0);
  assert_int_equal(http_parse_length("0012", 4), 12);
  assert_int_equal(http_parse_length("999999999999999999", 18), INT64_C(999999999999999999));
  assert_int_equal(http_parse_length("123456789012345678", 18), INT64_C(123456789012345678));
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    if (http_parse_length(bad[i], strlen(bad[i])) != -1)
      fail_msg("\"%s\" was not refused", bad[i]);
  /* Only len bytes count. */
  assert_int_equal(http_parse_length("12x", 2), 12);
}

static void test_parse_length_every_byte_and_prefix(void **state) {
  static const char digits[] = "1234567890123456789";
  int64_t want = 0;
  (void) state;

  for (int ch = 0; ch < 256; ch++) {
    char s[3] = {'1', (char) ch, '2'};
    int64_t got = http_parse_length(s, 3);
    if (ch >= '0' && ch <= '9')
      assert_int_equal(got, 100 + (ch - '0') * 10 + 2);
    else
      assert_int_equal(got, -1);
  }
  for (size_t n = 1; n < sizeof(digits); n++) {
    char *copy = malloc(n);
    assert_non_null(copy);
    memcpy(copy, digits, n);
    want = want * 10 + (digits[n - 1] - '0');
    assert_int_equal(http_parse_length(copy, n), n <= 18 ? want : -1);
    free(copy);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_status_reason),
    cmocka_unit_test(test_is_token_every_byte),
    cmocka_unit_test(test_is_token_examples),
    cmocka_unit_test(test_value_ok_examples),
    cmocka_unit_test(test_value_ok_every_byte_everywhere),
    cmocka_unit_test(test_split_origin_form),
    cmocka_unit_test(test_split_absolute_form),
    cmocka_unit_test(test_split_every_truncation),
    cmocka_unit_test(test_split_absolute_authority_ends_at_query),
    cmocka_unit_test(test_split_question_mark_in_fragment),
    cmocka_unit_test(test_split_authority),
    cmocka_unit_test(test_target_form),
    cmocka_unit_test(test_authority_ok),
    cmocka_unit_test(test_percent_decode_examples),
    cmocka_unit_test(test_percent_decode_every_escape),
    cmocka_unit_test(test_percent_decode_every_plain_byte),
    cmocka_unit_test(test_percent_decode_every_truncation),
    cmocka_unit_test(test_percent_encode_examples),
    cmocka_unit_test(test_percent_encode_every_byte),
    cmocka_unit_test(test_percent_encode_every_room),
    cmocka_unit_test(test_normalize_examples),
    cmocka_unit_test(test_normalize_every_prefix),
    cmocka_unit_test(test_encoded_slash),
    cmocka_unit_test(test_hidden_path),
    cmocka_unit_test(test_scan_lowercases_names_in_place),
    cmocka_unit_test(test_scan_zero_headers_clears_info),
    cmocka_unit_test(test_scan_bad_names),
    cmocka_unit_test(test_scan_host_count),
    cmocka_unit_test(test_scan_host_value),
    cmocka_unit_test(test_scan_trims_values),
    cmocka_unit_test(test_scan_expect),
    cmocka_unit_test(test_scan_transfer_encoding),
    cmocka_unit_test(test_check_framing),
    cmocka_unit_test(test_parse_length),
    cmocka_unit_test(test_parse_length_every_byte_and_prefix),
  };

  if (getenv("TDM_TEST_FILTER") != NULL)
    cmocka_set_test_filter(getenv("TDM_TEST_FILTER"));
  return cmocka_run_group_tests_name("http_head", tests, NULL, NULL);
}
