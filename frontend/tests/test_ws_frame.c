/* Tests of the WebSocket pieces without I/O: SHA-1 against RFC 3174's test
 * vectors and base64 (frontend/src/sha1.c), the handshake's checks and the
 * accept key of RFC 6455's example (ws_handshake.c), and the frame parser
 * and writer (ws_frame.c): UTF-8 checking, every frame parsed whole and one
 * byte at a time, control frames inside fragmented messages, the caller's
 * room, and each violation with its close code.
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

#include <llhttp.h>

#include "sha1.h"
#include "ws_frame.h"
#include "ws_handshake.h"

/* ---- SHA-1 and base64 ------------------------------------------------------------- */

static void check_sha1(const char *data, size_t len, size_t repeat, const char *hex) {
  unsigned char digest[SHA1_DIGEST_SIZE];
  char got[41];
  sha1_ctx c;

  sha1_init(&c);
  for (size_t i = 0; i < repeat; i++)
    sha1_update(&c, data, len);
  sha1_final(&c, digest);
  for (int i = 0; i < SHA1_DIGEST_SIZE; i++)
    snprintf(got + 2 * i, 3, "%02X", digest[i]);
  if (strcmp(got, hex) != 0)
    fail_msg("SHA-1 of \"%.*s\" x %zu is %s, want %s", (int) (len > 40 ? 40 : len), data, repeat, got, hex);
}

static void test_sha1_rfc3174_vectors(void **state) {
  (void) state;
  check_sha1("abc", 3, 1, "A9993E364706816ABA3E25717850C26C9CD0D89D");
  check_sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, 1,
             "84983E441C3BD26EBAAE4AA1F95129E5E54670F1");
  check_sha1("a", 1, 1000000, "34AA973CD4C4DAA4F61EEB2BDBAD27316534016F");
  check_sha1("0123456701234567012345670123456701234567012345670123456701234567", 64, 10,
             "DEA356A2CDDD90C7A7ECEDC5EBB563934F460452");
  check_sha1("", 0, 1, "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709");
}

static void test_base64(void **state) {
  static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  static const char *const coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  char out[16];

  (void) state;
  for (size_t i = 0; i < 7; i++) {
    assert_int_equal(base64_encode((const unsigned char *) plain[i], strlen(plain[i]), out), strlen(coded[i]));
    assert_string_equal(out, coded[i]);
    if (i > 0)
      assert_int_equal(base64_decoded_len(coded[i], strlen(coded[i])), strlen(plain[i]));
  }
  assert_int_equal(base64_decoded_len("dGhlIHNhbXBsZSBub25jZQ==", 24), 16);
  assert_int_equal(base64_decoded_len("", 0), -1);
  assert_int_equal(base64_decoded_len("Zg=", 3), -1);           /* not a multiple of 4 */
  assert_int_equal(base64_decoded_len("Zh==", 4), -1);          /* bits left over */
  assert_int_equal(base64_decoded_len("Z=g=", 4), -1);          /* padding inside */
  assert_int_equal(base64_decoded_len("Zm9*", 4), -1);
}

/* ---- the handshake ------------------------------------------------------------------- */

static void test_accept_key_of_rfc6455(void **state) {
  char out[29];

  (void) state;
  ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out);
  assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

#define H(n, v) {{n, sizeof(n) - 1}, {v, sizeof(v) - 1}}

static int check(const tdm_header *h, uint32_t n, int method, const char *version) {
  tdm_request rq;
  const char *why = NULL;

  memset(&rq, 0, sizeof(rq));
  rq.headers = h;
  rq.nheaders = n;
  rq.http_version.ptr = version;
  rq.http_version.len = (uint32_t) strlen(version);
  return ws_handshake_check(&rq, method, &why);
}

static void test_handshake_check(void **state) {
  const tdm_header good[] = {H("upgrade", "WebSocket"), H("connection", "keep-alive, Upgrade"),
                             H("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="), H("sec-websocket-version", "13")};
  const tdm_header v8[] = {H("upgrade", "websocket"), H("connection", "upgrade"),
                           H("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="), H("sec-websocket-version", "8")};
  const tdm_header short_key[] = {H("upgrade", "websocket"), H("connection", "upgrade"),
                                  H("sec-websocket-key", "c2hvcnQ="), H("sec-websocket-version", "13")};
  const tdm_header no_connection[] = {H("upgrade", "websocket"), H("sec-websocket-version", "13")};
  const tdm_header h2c[] = {H("upgrade", "h2c"), H("connection", "upgrade")};

  (void) state;
  assert_int_equal(check(good, 4, HTTP_GET, "1.1"), 1);
  assert_int_equal(check(good, 4, HTTP_POST, "1.1"), 400);
  assert_int_equal(check(good, 4, HTTP_GET, "1.0"), 0);        /* HTTP/1.0: Upgrade ignored (RFC 9110 7.8) */
  assert_int_equal(check(good, 4, HTTP_POST, "1.0"), 0);
  assert_int_equal(check(v8, 4, HTTP_GET, "1.1"), 426);
  assert_int_equal(check(good, 3, HTTP_GET, "1.1"), 426);       /* no version */
  assert_int_equal(check(short_key, 4, HTTP_GET, "1.1"), 400);
  assert_int_equal(check(good, 2, HTTP_GET, "1.1"), 426);
  assert_int_equal(check(no_connection, 2, HTTP_GET, "1.1"), 0);   /* not an upgrade: plain HTTP */
  assert_int_equal(check(h2c, 2, HTTP_GET, "1.1"), 0);
  assert_int_equal(check(good, 0, HTTP_GET, "1.1"), 0);
}

static void test_handshake_accept(void **state) {
  const tdm_header req_h[] = {H("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")};
  char key[WS_KEY_LEN + 1];
  const tdm_header extra[] = {H("set-cookie", "a=1"), H("connection", "close"), H("sec-websocket-accept", "x")};
  const tdm_header bad[] = {H("bad name", "v")};
  tdm_request rq;
  tdm_ws_accept a;
  const char *why = NULL;
  tdm_buf out;

  (void) state;
  memset(&rq, 0, sizeof(rq));
  rq.headers = req_h;
  rq.nheaders = 1;
  memset(&a, 0, sizeof(a));
  a.subprotocol.ptr = "chat";
  a.subprotocol.len = 4;
  a.headers = extra;
  a.nheaders = 3;
  tdm_buf_init(&out, 4096);
  ws_handshake_key(&rq, key);
  assert_string_equal(key, "dGhlIHNhbXBsZSBub25jZQ==");
  assert_int_equal(ws_handshake_accept(&out, key, &a, "date: x\r\n", 9, &why), 0);
  assert_true(tdm_buf_append(&out, "", 1) == 0);
  assert_string_equal(out.base, "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
                                "sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                                "sec-websocket-protocol: chat\r\nset-cookie: a=1\r\ndate: x\r\n\r\n");
  out.len = 0;
  a.subprotocol.ptr = "a b";
  a.subprotocol.len = 3;
  assert_int_equal(ws_handshake_accept(&out, key, &a, "", 0, &why), -1);
  a.subprotocol.len = 0;
  a.headers = bad;
  a.nheaders = 1;
  assert_int_equal(ws_handshake_accept(&out, key, &a, "", 0, &why), -1);
  tdm_buf_free(&out);
}

/* ---- UTF-8 --------------------------------------------------------------------------------- */

static int utf8_ok(const char *s, size_t n) {
  ws_utf8 u = {0, 0, 0};
  return ws_utf8_feed(&u, (const unsigned char *) s, n) == 0 && ws_utf8_complete(&u);
}

/* The same text fed one byte at a time. */
static int utf8_ok_bytewise(const char *s, size_t n) {
  ws_utf8 u = {0, 0, 0};
  for (size_t i = 0; i < n; i++)
    if (ws_utf8_feed(&u, (const unsigned char *) s + i, 1) != 0)
      return 0;
  return ws_utf8_complete(&u);
}

static void test_utf8(void **state) {
  static const struct {
    const char *s;
    size_t n;
    int ok;
  } cases[] = {
    {"", 0, 1}, {"plain ascii", 11, 1}, {"h\xc3\xa9llo", 6, 1}, {"\xe2\x98\x83", 3, 1},
    {"\xf0\x9f\x98\x80", 4, 1}, {"\xf4\x8f\xbf\xbf", 4, 1}, {"\xed\x9f\xbf", 3, 1}, {"\xee\x80\x80", 3, 1},
    {"\x80", 1, 0}, {"\xc0\xaf", 2, 0}, {"\xc1\xbf", 2, 0}, {"\xe0\x9f\xbf", 3, 0}, {"\xed\xa0\x80", 3, 0},
    {"\xf0\x8f\xbf\xbf", 4, 0}, {"\xf4\x90\x80\x80", 4, 0}, {"\xf5\x80\x80\x80", 4, 0}, {"\xff", 1, 0},
    {"\xe2\x98", 2, 0}, {"\xc3", 1, 0}, {"\xc3\x28", 2, 0}, {"a\xe2\x28\xa1", 4, 0},
  };

  (void) state;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    if (utf8_ok(cases[i].s, cases[i].n) != cases[i].ok || utf8_ok_bytewise(cases[i].s, cases[i].n) != cases[i].ok)
      fail_msg("case %zu: want %s", i, cases[i].ok ? "valid" : "invalid");
  }
}

/* ---- the parser ------------------------------------------------------------------------------ */

/* A client frame (masked with a fixed key unless mask is 0) appended to b. */
static void client_frame(tdm_buf *b, int fin, unsigned op, const char *payload, size_t n, int mask, int rsv) {
  static const unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};
  unsigned char hdr[16];
  size_t h = ws_frame_header(hdr, fin, op, n);

  hdr[0] |= (unsigned char) (rsv << 4);
  if (mask) {
    hdr[1] |= 0x80;
    memcpy(hdr + h, key, 4);
    h += 4;
  }
  assert_int_equal(tdm_buf_append(b, hdr, h), 0);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char) payload[i] ^ (mask ? key[i & 3] : 0);
    assert_int_equal(tdm_buf_append(b, &c, 1), 0);
  }
}

/* What parsing in produces, as a string of events: "M1:text" for a message
 * (kind and its bytes), "C9:payload" for a control frame (close: "C8:code"),
 * "E1002" for an error; step bytes at a time (0: all at once). */
static void parse_all(const tdm_buf *in, size_t step, uint64_t max, char *log, size_t cap) {
  ws_parser p;
  tdm_buf msg;
  size_t off = 0, end = 0, len = 0;

  ws_parser_init(&p, max);
  tdm_buf_init(&msg, 0);
  log[0] = '\0';
  while (off < in->len) {
    ws_event ev;
    size_t n;
    end = step == 0 || off + step > in->len ? in->len : off + step;
    n = ws_parse(&p, (const unsigned char *) in->base + off, end - off, &msg, 1 << 20, &ev);
    off += n;
    if (ev.kind == WS_EV_MESSAGE_END)
      len += (size_t) snprintf(log + len, cap - len, "M%u:%.*s ", ev.opcode, (int) msg.len, msg.base), msg.len = 0;
    else if (ev.kind == WS_EV_CONTROL && ev.opcode == WS_OP_CLOSE)
      len += (size_t) snprintf(log + len, cap - len, "C8:%u ", ev.close_code);
    else if (ev.kind == WS_EV_CONTROL)
      len += (size_t) snprintf(log + len, cap - len, "C%u:%.*s ", ev.opcode, (int) ev.len, ev.payload);
    else if (ev.kind == WS_EV_ERROR) {
      len += (size_t) snprintf(log + len, cap - len, "E%u", ev.close_code);
      break;
    } else if (n == 0 && end == in->len)
      break;
  }
  tdm_buf_free(&msg);
}

/* Parses in whole, one byte at a time and seven at a time: all must say want. */
static void expect_events(const tdm_buf *in, uint64_t max, const char *want) {
  static const size_t steps[] = {0, 1, 7};
  char log[512];

  for (size_t i = 0; i < 3; i++) {
    parse_all(in, steps[i], max, log, sizeof(log));
    if (strcmp(log, want) != 0)
      fail_msg("in steps of %zu: \"%s\", want \"%s\"", steps[i], log, want);
  }
}

static void test_parse_messages(void **state) {
  tdm_buf b;

  (void) state;
  tdm_buf_init(&b, 0);
  client_frame(&b, 1, WS_OP_TEXT, "hello", 5, 1, 0);
  client_frame(&b, 1, WS_OP_BINARY, "", 0, 1, 0);
  client_frame(&b, 0, WS_OP_TEXT, "fr", 2, 1, 0);
  client_frame(&b, 1, WS_OP_PING, "p!", 2, 1, 0);
  client_frame(&b, 0, WS_OP_CONT, "ag\xe2\x98", 4, 1, 0);
  client_frame(&b, 1, WS_OP_PONG, "", 0, 1, 0);
  client_frame(&b, 1, WS_OP_CONT, "\x83", 1, 1, 0);
  client_frame(&b, 1, WS_OP_CLOSE, "\x03\xe8ok", 4, 1, 0);
  expect_events(&b, 1000, "M1:hello M2: C9:p! C10: M1:frag\xe2\x98\x83 C8:1000 ");
  tdm_buf_free(&b);
}

static void test_parse_lengths(void **state) {
  static char big[70000];
  static char want[200];
  tdm_buf b;

  (void) state;
  memset(big, 'z', sizeof(big));
  /* Around the 7-bit and 16-bit length forms. */
  for (size_t n = 124; n <= 127; n++) {
    tdm_buf_init(&b, 0);
    client_frame(&b, 1, WS_OP_BINARY, big, n, 1, 0);
    snprintf(want, sizeof(want), "M2:%.*s ", (int) n, big);
    expect_events(&b, 1 << 20, want);
    tdm_buf_free(&b);
  }
  tdm_buf_init(&b, 0);
  client_frame(&b, 1, WS_OP_BINARY, big, 65536, 1, 0);       /* a 64-bit length */
  {
    ws_parser p;
    tdm_buf msg;
    ws_event ev;
    size_t n;
    ws_parser_init(&p, 65536);
    tdm_buf_init(&msg, 0);
    n = ws_parse(&p, (const unsigned char *) b.base, b.len, &msg, 1 << 20, &ev);
    assert_int_equal(n, b.len);
    assert_int_equal(ev.kind, WS_EV_MESSAGE_END);
    assert_int_equal(msg.len, 65536);
    assert_int_equal(memcmp(msg.base, big, 65536), 0);
    tdm_buf_free(&msg);
  }
  expect_events(&b, 65535, "E1009");                          /* one byte over the limit */
  tdm_buf_free(&b);
}

/* The limit is judged from the header: the payload need not be there. */
static void test_oversize_from_the_header_alone(void **state) {
  const unsigned char hdr[] = {0x82, 0xff, 0, 0, 0, 0, 0x01, 0, 0, 0x01, 1, 2, 3, 4};
  ws_parser p;
  tdm_buf msg;
  ws_event ev;

  (void) state;
  ws_parser_init(&p, 16777216);
  tdm_buf_init(&msg, 0);
  assert_int_equal(ws_parse(&p, hdr, sizeof(hdr), &msg, 1 << 20, &ev), sizeof(hdr));
  assert_int_equal(ev.kind, WS_EV_ERROR);
  assert_int_equal(ev.close_code, WS_CLOSE_TOO_BIG);
  assert_int_equal(ws_parse(&p, hdr, sizeof(hdr), &msg, 1 << 20, &ev), 0);     /* failed: takes nothing */
  tdm_buf_free(&msg);
}

/* With little room, message bytes come a little at a time and the rest waits. */
static void test_room(void **state) {
  tdm_buf b, msg;
  ws_parser p;
  ws_event ev;
  size_t off = 0, n;

  (void) state;
  tdm_buf_init(&b, 0);
  tdm_buf_init(&msg, 0);
  client_frame(&b, 1, WS_OP_TEXT, "abcdefgh", 8, 1, 0);
  ws_parser_init(&p, 100);
  n = ws_parse(&p, (const unsigned char *) b.base, b.len, &msg, 3, &ev);
  assert_int_equal(ev.kind, WS_EV_NONE);
  assert_int_equal(msg.len, 3);
  assert_true(n < b.len);
  off += n;
  assert_int_equal(ws_parse(&p, (const unsigned char *) b.base + off, b.len - off, &msg, 0, &ev), 0);
  n = ws_parse(&p, (const unsigned char *) b.base + off, b.len - off, &msg, 100, &ev);
  assert_int_equal(off + n, b.len);
  assert_int_equal(ev.kind, WS_EV_MESSAGE_END);
  assert_int_equal(msg.len, 8);
  assert_memory_equal(msg.base, "abcdefgh", 8);
  tdm_buf_free(&msg);
  tdm_buf_free(&b);
}

static void expect_error(int fin, unsigned op, const char *payload, size_t n, int mask, int rsv, const char *want) {
  tdm_buf b;

  tdm_buf_init(&b, 0);
  client_frame(&b, fin, op, payload, n, mask, rsv);
  expect_events(&b, 1000, want);
  tdm_buf_free(&b);
}

static void test_violations(void **state) {
  tdm_buf b;

  (void) state;
  expect_error(1, WS_OP_TEXT, "hi", 2, 0, 0, "E1002");                  /* unmasked */
  expect_error(1, WS_OP_TEXT, "hi", 2, 1, 1, "E1002");                  /* RSV3 */
  expect_error(1, WS_OP_TEXT, "hi", 2, 1, 4, "E1002");                  /* RSV1: no deflate negotiated */
  expect_error(1, 3, "", 0, 1, 0, "E1002");
  expect_error(1, 11, "", 0, 1, 0, "E1002");
  expect_error(1, WS_OP_CONT, "x", 1, 1, 0, "E1002");
  expect_error(0, WS_OP_PING, "x", 1, 1, 0, "E1002");
  expect_error(1, WS_OP_TEXT, "\xc3\x28", 2, 1, 0, "E1007");
  expect_error(1, WS_OP_TEXT, "\xe2\x98", 2, 1, 0, "E1007");
  expect_error(1, WS_OP_CLOSE, "\x03", 1, 1, 0, "E1002");
  expect_error(1, WS_OP_CLOSE, "\x03\xed", 2, 1, 0, "E1002");            /* 1005 may not be sent */
  expect_error(1, WS_OP_CLOSE, "\x0b\xb7", 2, 1, 0, "E1002");            /* 2999 */
  expect_error(1, WS_OP_CLOSE, "\x0b\xb8", 2, 1, 0, "C8:3000 ");
  expect_error(1, WS_OP_CLOSE, "\x03\xe8\xc0", 3, 1, 0, "E1007");
  expect_error(1, WS_OP_CLOSE, "", 0, 1, 0, "C8:1005 ");
  {
    static char ctl[126];
    memset(ctl, 'c', sizeof(ctl));
    expect_error(1, WS_OP_PING, ctl, 126, 1, 0, "E1002");
    expect_error(1, WS_OP_PING, ctl, 125, 1, 0, "C9:ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
                                                  "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc ");
  }
  tdm_buf_init(&b, 0);
  client_frame(&b, 0, WS_OP_TEXT, "a", 1, 1, 0);
  client_frame(&b, 1, WS_OP_BINARY, "b", 1, 1, 0);
  expect_events(&b, 1000, "E1002");                                     /* a new message inside one */
  b.len = 0;
  client_frame(&b, 0, WS_OP_BINARY, "0123456789", 10, 1, 0);
  client_frame(&b, 1, WS_OP_CONT, "0123456789", 10, 1, 0);
  expect_events(&b, 19, "E1009");                                       /* fragments sum over the limit */
  expect_events(&b, 20, "M2:01234567890123456789 ");
  tdm_buf_free(&b);
}

static void test_frame_header(void **state) {
  unsigned char h[WS_HEADER_MAX];

  (void) state;
  assert_int_equal(ws_frame_header(h, 1, WS_OP_TEXT, 0), 2);
  assert_memory_equal(h, "\x81\x00", 2);
  assert_int_equal(ws_frame_header(h, 0, WS_OP_BINARY, 125), 2);
  assert_memory_equal(h, "\x02\x7d", 2);
  assert_int_equal(ws_frame_header(h, 1, WS_OP_CONT, 126), 4);
  assert_memory_equal(h, "\x80\x7e\x00\x7e", 4);
  assert_int_equal(ws_frame_header(h, 1, WS_OP_BINARY, 65535), 4);
  assert_memory_equal(h, "\x82\x7e\xff\xff", 4);
  assert_int_equal(ws_frame_header(h, 1, WS_OP_BINARY, 65536), 10);
  assert_memory_equal(h, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
  assert_true(ws_close_code_valid(1000) && ws_close_code_valid(4999) && ws_close_code_valid(1014));
  assert_false(ws_close_code_valid(1005) || ws_close_code_valid(1006) || ws_close_code_valid(1015) ||
               ws_close_code_valid(999) || ws_close_code_valid(5000));
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_sha1_rfc3174_vectors),
    cmocka_unit_test(test_base64),
    cmocka_unit_test(test_accept_key_of_rfc6455),
    cmocka_unit_test(test_handshake_check),
    cmocka_unit_test(test_handshake_accept),
    cmocka_unit_test(test_utf8),
    cmocka_unit_test(test_parse_messages),
    cmocka_unit_test(test_parse_lengths),
    cmocka_unit_test(test_oversize_from_the_header_alone),
    cmocka_unit_test(test_room),
    cmocka_unit_test(test_violations),
    cmocka_unit_test(test_frame_header),
  };
  const char *filter = getenv("TDM_TEST_FILTER");

  if (filter != NULL)
    cmocka_set_test_filter(filter);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
