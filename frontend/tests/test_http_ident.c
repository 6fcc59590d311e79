/* Tests of request ids and forwarded clients (frontend/src/http_ident.c):
 * which X-Forwarded-For entry is the client (the walk from the right past
 * trusted proxies), RFC 7239 Forwarded, X-Forwarded-Proto, their precedence,
 * values that are not believed, X-Request-Id from trusted and untrusted
 * peers, the ids made here, and the response's echo line.  The module is
 * pure, so each test builds a request head and asserts the exact outcome.
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

#include "http_ident.h"

#define MAX_HEADERS 8
#define PEER "127.0.0.1"

typedef struct test_req {
  tdm_request r;
  tdm_header h[MAX_HEADERS];
  http_req_ident ri;
} test_req;

static tdm_str lit(const char *s) {
  tdm_str t = {s, (uint32_t) strlen(s)};
  return t;
}

/* The trusted proxies of every test: loopback and 10.0.0.0/8. */
static ipnet_list nets;

static int setup(void **state) {
  char why[160];
  (void) state;

  assert_int_equal(ipnet_list_parse(&nets, "127.0.0.1,::1,10.0.0.0/8", why, sizeof(why)), 0);
  assert_int_equal(http_ident_init(), 0);
  return 0;
}

/* A head from peer with the client address 127.0.0.1:50000 and scheme http,
 * the headers given as name/value literal pairs (NULL-terminated), after
 * http_ident_req() with the test's list (trusted: peer in it) or none. */
static test_req *run(test_req *t, const char *peer, int refused, const char *const *pairs) {
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
  t->r.client.present = 1;
  t->r.client.host = lit("127.0.0.1");
  t->r.client.port = 50000;
  t->r.scheme = lit("http");
  http_ident_req(&t->ri, &t->r, !refused && http_ident_trusted(peer, &nets) ? &nets : NULL);
  return t;
}

#define H(...) ((const char *const[]){__VA_ARGS__, NULL})

static void client_is(const test_req *t, const char *host, uint32_t port, const char *scheme) {
  if (t->r.client.host.len != strlen(host) || memcmp(t->r.client.host.ptr, host, strlen(host)) != 0)
    fail_msg("client is %.*s, want %s", (int) t->r.client.host.len, t->r.client.host.ptr, host);
  assert_int_equal(t->r.client.port, port);
  assert_int_equal(t->r.scheme.len, strlen(scheme));
  assert_memory_equal(t->r.scheme.ptr, scheme, strlen(scheme));
}

/* As sent: 127.0.0.1:50000 over http. */
static void unchanged(const test_req *t) {
  client_is(t, "127.0.0.1", 50000, "http");
}

static void test_x_forwarded_for_walk(void **state) {
  test_req t;
  (void) state;

  /* One proxy: the address it saw. */
  client_is(run(&t, PEER, 0, H("x-forwarded-for", "203.0.113.7")), "203.0.113.7", 0, "http");
  /* The rightmost address that is not a trusted proxy; what is left of it
   * the client may have written itself. */
  client_is(run(&t, PEER, 0, H("x-forwarded-for", "1.1.1.1, 203.0.113.7, 10.0.0.5")), "203.0.113.7", 0,
            "http");
  client_is(run(&t, PEER, 0, H("x-forwarded-for", "1.1.1.1, 203.0.113.7")), "203.0.113.7", 0, "http");
  /* All trusted: the leftmost (uvicorn's rule). */
  client_is(run(&t, PEER, 0, H("x-forwarded-for", "10.0.0.9, 10.0.0.5")), "10.0.0.9", 0, "http");
  /* Several header lines are one list, in order. */
  client_is(run(&t, PEER, 0, H("x-forwarded-for", "198.51.100.1", "x-forwarded-for", "10.0.0.2, 10.1.1.1")),
            "198.51.100.1", 0, "http");
  /* Ports, brackets, IPv6, the canonical text. */
  client_is(run(&t, PEER, 0, H("x-forwarded-for", "203.0.113.7:4711")), "203.0.113.7", 4711, "http");
  client_is(run(&t, PEER, 0, H("x-forwarded-for", "2001:DB8:0::1")), "2001:db8::1", 0, "http");
  client_is(run(&t, PEER, 0, H("x-forwarded-for", "[2001:db8::1]:443")), "2001:db8::1", 443, "http");
  client_is(run(&t, PEER, 0, H("x-forwarded-for", "[2001:db8::2]")), "2001:db8::2", 0, "http");
  client_is(run(&t, PEER, 0, H("x-forwarded-for", "::ffff:203.0.113.8")), "203.0.113.8", 0, "http");
}

static void test_x_forwarded_for_not_believed(void **state) {
  test_req t;
  (void) state;

  /* From a peer that is not trusted: nothing changes, id made here. */
  unchanged(run(&t, "192.0.2.1", 0, H("x-forwarded-for", "203.0.113.7", "x-forwarded-proto", "https")));
  unchanged(run(&t, "", 0, H("x-forwarded-for", "203.0.113.7")));
  /* A refused head is not read at all. */
  unchanged(run(&t, PEER, 1, H("x-forwarded-for", "203.0.113.7")));
  /* An entry that is not an address where the walk stops. */
  static const char *const bad[] = {"unknown", "garbage", "", " , ", "203.0.113.7:", "203.0.113.7:99999",
                                    "203.0.113.7:8x", "[2001:db8::1", "[2001:db8::1]x", "[203.0.113.7]x:1",
                                    "2001:db8::1]", "example.com", "203.0.113.7 203.0.113.8"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    run(&t, PEER, 0, H("x-forwarded-for", bad[i]));
    if (t.r.client.host.len != 9)
      fail_msg("X-Forwarded-For '%s' was believed", bad[i]);
    unchanged(&t);
  }
  /* Garbage left of the client does not matter; right of it, it does. */
  client_is(run(&t, PEER, 0, H("x-forwarded-for", "garbage, 203.0.113.7, 10.0.0.1")), "203.0.113.7", 0, "http");
  unchanged(run(&t, PEER, 0, H("x-forwarded-for", "203.0.113.7, garbage, 10.0.0.1")));
}

static void test_x_forwarded_proto(void **state) {
  test_req t;
  (void) state;

  client_is(run(&t, PEER, 0, H("x-forwarded-proto", "https")), "127.0.0.1", 50000, "https");
  client_is(run(&t, PEER, 0, H("x-forwarded-proto", "HTTPS")), "127.0.0.1", 50000, "https");
  client_is(run(&t, PEER, 0, H("x-forwarded-proto", "wss")), "127.0.0.1", 50000, "https");
  client_is(run(&t, PEER, 0, H("x-forwarded-proto", " http ")), "127.0.0.1", 50000, "http");
  /* The last value: what the proxy in front of tandem says. */
  client_is(run(&t, PEER, 0, H("x-forwarded-proto", "http, https")), "127.0.0.1", 50000, "https");
  client_is(run(&t, PEER, 0, H("x-forwarded-proto", "https", "x-forwarded-proto", "http")), "127.0.0.1", 50000,
            "http");
  /* Anything else is not believed. */
  unchanged(run(&t, PEER, 0, H("x-forwarded-proto", "ftp")));
  unchanged(run(&t, PEER, 0, H("x-forwarded-proto", "")));
  unchanged(run(&t, PEER, 0, H("x-forwarded-proto", "https extra")));
  /* With an address too. */
  client_is(run(&t, PEER, 0, H("x-forwarded-for", "203.0.113.7", "x-forwarded-proto", "https")), "203.0.113.7",
            0, "https");
}

static void test_forwarded(void **state) {
  test_req t;
  (void) state;

  client_is(run(&t, PEER, 0, H("forwarded", "for=203.0.113.7;proto=https")), "203.0.113.7", 0, "https");
  client_is(run(&t, PEER, 0, H("forwarded", "For=\"[2001:db8:cafe::17]:4711\"; Proto=HTTPS; by=10.0.0.1")),
            "2001:db8:cafe::17", 4711, "https");
  client_is(run(&t, PEER, 0, H("forwarded", "for=\"203.0.113.7:8080\"")), "203.0.113.7", 8080, "http");
  /* Elements walked from the right; each proto is the scheme of its hop. */
  client_is(run(&t, PEER, 0, H("forwarded", "for=198.51.100.1;proto=http, for=203.0.113.7;proto=https, "
                                            "for=10.0.0.3;proto=http")),
            "203.0.113.7", 0, "https");
  client_is(run(&t, PEER, 0, H("forwarded", "for=198.51.100.1", "forwarded", "for=10.0.0.2;proto=https")),
            "198.51.100.1", 0, "http");
  /* Empty pairs and elements are allowed. */
  client_is(run(&t, PEER, 0, H("forwarded", ", for=203.0.113.7;;proto=https,")), "203.0.113.7", 0, "https");
  /* A quoted comma is no element break. */
  client_is(run(&t, PEER, 0, H("forwarded", "for=203.0.113.7;host=\"a,b\";proto=https")), "203.0.113.7", 0,
            "https");
  /* for=unknown or obfuscated: the walk stops there; its proto still counts. */
  client_is(run(&t, PEER, 0, H("forwarded", "for=unknown;proto=https")), "127.0.0.1", 50000, "https");
  client_is(run(&t, PEER, 0, H("forwarded", "for=_hidden;proto=https, for=10.0.0.1")), "127.0.0.1", 50000,
            "https");
  /* Not well formed: none of it is believed. */
  static const char *const bad[] = {"for=203.0.113.7;proto=https;", "for", "for=", "=x", "for=\"203.0.113.7",
                                    "for=203.0.113.7 proto=https", "for=203.0.113.7;proto=\"https\"x"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    run(&t, PEER, 0, H("forwarded", bad[i]));
    if (i == 0) {
      /* A trailing ';' is an empty pair: well formed. */
      client_is(&t, "203.0.113.7", 0, "https");
      continue;
    }
    if (t.r.client.host.len != 9 || t.r.scheme.len != 4)
      fail_msg("Forwarded '%s' was believed", bad[i]);
  }
  unchanged(run(&t, PEER, 0, H("forwarded", "for=203.0.113.7;proto=https", "forwarded", "for=\"x")));
  /* From a peer that is not trusted. */
  unchanged(run(&t, "192.0.2.1", 0, H("forwarded", "for=203.0.113.7;proto=https")));
}

/* X-Forwarded-* win over Forwarded, field by field: the headers most
 * proxies set, and the only ones gunicorn and uvicorn read. */
static void test_precedence(void **state) {
  test_req t;
  (void) state;

  client_is(run(&t, PEER, 0, H("forwarded", "for=198.51.100.1;proto=http", "x-forwarded-for", "203.0.113.7",
                               "x-forwarded-proto", "https")),
            "203.0.113.7", 0, "https");
  client_is(run(&t, PEER, 0, H("forwarded", "for=198.51.100.1;proto=https", "x-forwarded-for", "203.0.113.7")),
            "203.0.113.7", 0, "https");
  client_is(run(&t, PEER, 0, H("x-forwarded-proto", "http", "forwarded", "for=198.51.100.1;proto=https")),
            "198.51.100.1", 0, "http");
  /* X-Forwarded-For that is not believed does not fall back to Forwarded. */
  unchanged(run(&t, PEER, 0, H("x-forwarded-for", "garbage", "forwarded", "for=198.51.100.1")));
}

static void test_request_ids(void **state) {
  test_req t, u;
  char long_id[HTTP_ID_MAX + 2];
  (void) state;

  /* Made here: 32 hex digits, a new one each time. */
  run(&t, "192.0.2.1", 0, H("x-request-id", "from-the-client"));
  assert_int_equal(t.ri.id_len, HTTP_ID_GENERATED);
  assert_int_equal(t.r.request_id.len, HTTP_ID_GENERATED);
  assert_ptr_equal(t.r.request_id.ptr, t.ri.id);
  assert_int_equal(strspn(t.ri.id, "0123456789abcdef"), HTTP_ID_GENERATED);
  run(&u, "192.0.2.1", 0, NULL);
  assert_string_not_equal(t.ri.id, u.ri.id);
  /* A trusted peer's, if valid. */
  run(&t, PEER, 0, H("x-request-id", "req-42/ab=c"));
  assert_string_equal(t.ri.id, "req-42/ab=c");
  assert_int_equal(t.r.request_id.len, 11);
  /* The first one only. */
  run(&t, PEER, 0, H("x-request-id", "first", "x-request-id", "second"));
  assert_string_equal(t.ri.id, "first");
  memset(long_id, 'a', HTTP_ID_MAX);
  long_id[HTTP_ID_MAX] = '\0';
  run(&t, PEER, 0, H("x-request-id", long_id));
  assert_int_equal(t.ri.id_len, HTTP_ID_MAX);
  /* Not valid: one is made. */
  long_id[HTTP_ID_MAX] = 'a';
  long_id[HTTP_ID_MAX + 1] = '\0';
  const char *const bad[] = {"", "has space", "tab\there", "caf\xc3\xa9", "nul\x01", "del\x7f", long_id};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    run(&t, PEER, 0, H("x-request-id", bad[i]));
    assert_int_equal(t.ri.id_len, HTTP_ID_GENERATED);
    assert_int_equal(strspn(t.ri.id, "0123456789abcdef"), HTTP_ID_GENERATED);
  }
  /* A refused head's is not read. */
  run(&t, PEER, 1, H("x-request-id", "req-42"));
  assert_int_equal(t.ri.id_len, HTTP_ID_GENERATED);
}

static void test_echo(void **state) {
  test_req t;
  char line[HTTP_ID_LINE_MAX];
  size_t n;
  (void) state;

  run(&t, PEER, 0, H("x-request-id", "req-42"));
  n = http_ident_echo(&t.ri, line);
  assert_int_equal(n, strlen("x-request-id: req-42\r\n"));
  assert_memory_equal(line, "x-request-id: req-42\r\n", n);
  /* Other headers do not matter; the application's own id replaces it. */
  http_ident_resp_header(&t.ri, "x-request", 9);
  http_ident_resp_header(&t.ri, "content-type", 12);
  assert_int_equal(http_ident_echo(&t.ri, line), n);
  http_ident_resp_header(&t.ri, "X-Request-ID", 12);
  assert_int_equal(http_ident_echo(&t.ri, line), 0);
  /* The longest id fits the line. */
  memset(&t.ri, 0, sizeof(t.ri));
  memset(t.ri.id, 'z', HTTP_ID_MAX);
  t.ri.id_len = HTTP_ID_MAX;
  assert_true(http_ident_echo(&t.ri, line) <= sizeof(line));
  /* No id: no line. */
  t.ri.id_len = 0;
  assert_int_equal(http_ident_echo(&t.ri, line), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_x_forwarded_for_walk),
    cmocka_unit_test(test_x_forwarded_for_not_believed),
    cmocka_unit_test(test_x_forwarded_proto),
    cmocka_unit_test(test_forwarded),
    cmocka_unit_test(test_precedence),
    cmocka_unit_test(test_request_ids),
    cmocka_unit_test(test_echo),
  };

  if (getenv("TDM_TEST_FILTER") != NULL)
    cmocka_set_test_filter(getenv("TDM_TEST_FILTER"));
  return cmocka_run_group_tests_name("http_ident", tests, setup, NULL);
}
