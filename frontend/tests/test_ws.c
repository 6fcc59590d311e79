/* Tests of WebSocket connections through the whole frontend (ws.c, with
 * proxy.c's handover and upstream.c's WebSocket frames), as test_http_conn
 * runs it: server_init() without listeners, a fake backend and fake clients
 * on socketpairs (fake_peer.c) speaking the real bytes.  Each test ends with
 * a graceful stop after which the loop must close with no handle left.
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
#include <sys/socket.h>

#include "fake_peer.h"
#include "http_conn.h"
#include "log.h"
#include "server.h"
#include "upstream.h"

#define MAX_SPINS 20000
#define MAX_PEERS 8

typedef struct harness {
  uv_loop_t loop;
  config cfg;
  server s;
  peer *peers[MAX_PEERS];
  int npeers;
} harness;

static harness *H;

static peer *peer_new(int fd, int is_backend) {
  peer *p = calloc(1, sizeof(*p));      /* owner: the harness, freed in teardown */

  assert_non_null(p);
  assert_int_equal(peer_init(p, fd, is_backend), 0);
  assert_true(H->npeers < MAX_PEERS);
  H->peers[H->npeers++] = p;
  return p;
}

static void spin(void) {
  uv_run(&H->loop, UV_RUN_NOWAIT);
  for (int i = 0; i < H->npeers; i++)
    assert_true(peer_pump(H->peers[i]) >= 0);
}

#define WAIT_UNTIL(cond)                                                      \
  do {                                                                        \
    int spins_ = 0, ok_;                                                      \
    while (!(ok_ = !!(cond)) && spins_++ < MAX_SPINS)                         \
      spin();                                                                 \
    if (!ok_)                                                                 \
      fail_msg("still not true after %d loop iterations: %s", MAX_SPINS, #cond); \
  } while (0)

/* ---- the fake backend -------------------------------------------------------- */

static void be_send(peer *b, const tdm_frame *f) {
  assert_true(tdm_encode(&b->out, f) > 0);
}

/* A backend attached with this initial window, announcing features. */
static peer *be_ready(uint32_t initial_window, uint32_t features) {
  int sv[2];
  tdm_frame f;
  peer *b;

  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  assert_int_equal(upstream_open_fd(sv[0]), 0);
  b = peer_new(sv[1], 1);
  memset(&f, 0, sizeof(f));
  f.type = TDM_HELLO;
  f.u.hello.version = TDM_PROTO_VERSION;
  f.u.hello.role.ptr = "backend";
  f.u.hello.role.len = 7;
  f.u.hello.app.ptr = "test:app";
  f.u.hello.app.len = 8;
  f.u.hello.pid = 1;
  f.u.hello.generation = 1;
  f.u.hello.max_frame_size = TDM_DEFAULT_MAX_FRAME;
  f.u.hello.max_streams = 16;
  f.u.hello.initial_window = initial_window;
  f.u.hello.features = features;
  be_send(b, &f);
  WAIT_UNTIL(peer_try_frame(b, &f) == 1);
  assert_int_equal(f.type, TDM_HELLO);
  assert_int_equal(f.u.hello.features & TDM_FEATURE_WEBSOCKET, TDM_FEATURE_WEBSOCKET);
  b->dec.max_frame_size = TDM_DEFAULT_MAX_FRAME;
  return b;
}

/* The next frame from the frontend, of this type (WINDOW frames are skipped). */
static void be_expect(peer *b, uint32_t type, tdm_frame *f) {
  for (;;) {
    WAIT_UNTIL(peer_try_frame(b, f) == 1);
    if (f->type != TDM_WINDOW || type == TDM_WINDOW)
      break;
  }
  if (f->type != type)
    fail_msg("the frontend sent %s, want %s", tdm_frame_type_name(f->type), tdm_frame_type_name(type));
}

static void be_ws(peer *b, uint32_t type, uint32_t sid, uint32_t a, uint32_t kind, const char *data) {
  tdm_frame f;

  memset(&f, 0, sizeof(f));
  f.type = type;
  f.stream_id = sid;
  if (type == TDM_WS_MESSAGE) {
    f.u.ws_message.flags = a;
    f.u.ws_message.kind = kind;
    f.u.ws_message.data.ptr = data;
    f.u.ws_message.data.len = (uint32_t) strlen(data);
  } else if (type == TDM_WS_CLOSE) {
    f.u.ws_close.code = a;
    f.u.ws_close.reason.ptr = data;
    f.u.ws_close.reason.len = (uint32_t) strlen(data);
  } else if (type == TDM_WINDOW) {
    f.u.window_increment = a;
  }
  be_send(b, &f);
}

/* ---- the fake client ----------------------------------------------------------- */

static peer *cl_connect(void) {
  int sv[2];

  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  assert_int_equal(http_conn_open_fd(sv[0]), 0);
  return peer_new(sv[1], 0);
}

static const char HANDSHAKE[] = "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/* A masked client frame. */
static void cl_frame(peer *c, int fin, unsigned op, const void *data, size_t n, int mask) {
  unsigned char h[14], key[4] = {1, 2, 3, 4};
  size_t hl = 2;
  unsigned char *p;

  h[0] = (unsigned char) ((fin ? 0x80 : 0) | op);
  if (n < 126) {
    h[1] = (unsigned char) n;
  } else if (n < 65536) {
    h[1] = 126;
    h[2] = (unsigned char) (n >> 8);
    h[3] = (unsigned char) n;
    hl = 4;
  } else {
    h[1] = 127;
    for (int i = 0; i < 8; i++)
      h[2 + i] = (unsigned char) ((uint64_t) n >> (56 - 8 * i));
    hl = 10;
  }
  if (mask) {
    h[1] |= 0x80;
    memcpy(h + hl, key, 4);
    hl += 4;
  }
  assert_int_equal(peer_send(c, h, hl), 0);
  p = malloc(n + 1);                    /* owner: here */
  assert_non_null(p);
  for (size_t i = 0; i < n; i++)
    p[i] = ((const unsigned char *) data)[i] ^ (mask ? key[i & 3] : 0);
  assert_int_equal(peer_send(c, p, n), 0);
  free(p);
}

/* The client's input after what it has consumed. */
static const unsigned char *cl_in(peer *c, size_t *len) {
  *len = c->in.len - c->rpos;
  return (const unsigned char *) c->in.base + c->rpos;
}

/* The response head, which must be a 101 with RFC 6455's example accept key. */
static void cl_expect_101(peer *c) {
  const char *end;
  size_t len;

  WAIT_UNTIL((cl_in(c, &len), len > 0 && memmem(cl_in(c, &len), len, "\r\n\r\n", 4) != NULL));
  end = memmem(cl_in(c, &len), len, "\r\n\r\n", 4);
  assert_true(strncmp((const char *) cl_in(c, &len), "HTTP/1.1 101 ", 13) == 0);
  assert_non_null(memmem(cl_in(c, &len), len, "sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n", 52));
  c->rpos += (size_t) (end + 4 - (const char *) cl_in(c, &len));
}

/* The next server frame: opcode and payload copied to buf (of cap bytes). */
static unsigned cl_expect_frame(peer *c, char *buf, size_t cap, size_t *n) {
  const unsigned char *p;
  size_t len, hl = 2, plen;

  WAIT_UNTIL((p = cl_in(c, &len), len >= 2 && len >= 2 + (p[1] == 126 ? 2 : 0) &&
              len >= 2 + (p[1] == 126 ? 2u : 0u) + (p[1] == 126 ? ((size_t) p[2] << 8 | p[3]) : p[1])));
  assert_int_equal(p[1] & 0x80, 0);                 /* never masked */
  plen = p[1] & 0x7f;
  if (plen == 126) {
    plen = (size_t) p[2] << 8 | p[3];
    hl = 4;
  }
  assert_true(plen <= cap);
  memcpy(buf, p + hl, plen);
  *n = plen;
  c->rpos += hl + plen;
  return p[0];
}

/* ---- setup --------------------------------------------------------------------- */

static int setup(void **state) {
  harness *h = calloc(1, sizeof(*h));

  assert_non_null(h);
  log_threshold = LOG_ERROR;
  assert_int_equal(uv_loop_init(&h->loop), 0);
  fake_config(&h->cfg);
  h->cfg.ws_max_message = 1 << 20;
  h->cfg.ws_ping_interval_ms = 0;
  h->cfg.ws_ping_timeout_ms = 2000;
  h->cfg.shutdown_timeout_ms = 5000;
  H = h;
  assert_int_equal(server_init(&h->s, &h->loop, &h->cfg), 0);
  *state = h;
  return 0;
}

static int teardown(void **state) {
  harness *h = *state;
  int i, active = 1;

  server_stop(&h->s);
  server_stop(&h->s);                 /* a second stop closes everything now */
  for (i = 0; i < 100000 && active; i++)
    active = uv_run(&h->loop, UV_RUN_NOWAIT);
  assert_int_equal(active, 0);
  assert_int_equal(uv_loop_close(&h->loop), 0);
  for (i = 0; i < h->npeers; i++) {
    peer_free(h->peers[i]);
    free(h->peers[i]);
  }
  H = NULL;
  free(h);
  return 0;
}

/* A client whose handshake the backend accepted on stream *sid. */
static peer *opened(peer *b, uint32_t *sid) {
  peer *c = cl_connect();
  tdm_frame f;

  assert_int_equal(peer_send(c, HANDSHAKE, sizeof(HANDSHAKE) - 1), 0);
  be_expect(b, TDM_REQUEST, &f);
  assert_int_equal(f.u.request.flags, TDM_FLAG_END | TDM_FLAG_WEBSOCKET);
  *sid = f.stream_id;
  memset(&f, 0, sizeof(f));
  f.type = TDM_WS_ACCEPT;
  f.stream_id = *sid;
  be_send(b, &f);
  cl_expect_101(c);
  return c;
}

/* ---- the tests ------------------------------------------------------------------ */

static void test_relay_and_close(void **state) {
  peer *b = be_ready(TDM_DEFAULT_WINDOW, TDM_FEATURE_WEBSOCKET), *c;
  char buf[256];
  size_t n;
  uint32_t sid;
  tdm_frame f;

  (void) state;
  c = opened(b, &sid);
  cl_frame(c, 0, 1, "hel", 3, 1);
  cl_frame(c, 1, 9, "ping", 4, 1);
  cl_frame(c, 1, 0, "lo", 2, 1);
  assert_int_equal(cl_expect_frame(c, buf, sizeof(buf), &n), 0x8a);      /* the pong, from the frontend */
  assert_memory_equal(buf, "ping", 4);
  be_expect(b, TDM_WS_MESSAGE, &f);
  assert_int_equal(f.u.ws_message.flags, TDM_FLAG_END);
  assert_int_equal(f.u.ws_message.kind, TDM_WS_TEXT);
  assert_int_equal(f.u.ws_message.data.len, 5);
  assert_memory_equal(f.u.ws_message.data.ptr, "hello", 5);
  be_ws(b, TDM_WS_MESSAGE, sid, 0, TDM_WS_BINARY, "ab");
  be_ws(b, TDM_WS_MESSAGE, sid, TDM_FLAG_END, TDM_WS_BINARY, "cd");
  assert_int_equal(cl_expect_frame(c, buf, sizeof(buf), &n), 0x02);      /* first fragment */
  assert_int_equal(cl_expect_frame(c, buf, sizeof(buf), &n), 0x80);      /* continuation, FIN */
  assert_memory_equal(buf, "cd", 2);
  cl_frame(c, 1, 8, "\x0f\xa0" "bye", 5, 1);                             /* close 4000 */
  assert_int_equal(cl_expect_frame(c, buf, sizeof(buf), &n), 0x88);
  assert_int_equal(n, 2);
  assert_memory_equal(buf, "\x0f\xa0", 2);
  be_expect(b, TDM_WS_CLOSE, &f);
  assert_int_equal(f.u.ws_close.code, 4000);
  assert_memory_equal(f.u.ws_close.reason.ptr, "bye", 3);
  be_ws(b, TDM_WS_CLOSE, sid, 4000, 0, "");
  WAIT_UNTIL(c->eof);
}

/* The backend grants nothing: the frontend passes on no more than its window
 * and stops reading the client; a grant lets the rest through. */
static void test_flow_control(void **state) {
  peer *b = be_ready(TDM_MIN_WINDOW, TDM_FEATURE_WEBSOCKET), *c;
  static char big[100000];
  size_t got = 0;
  uint32_t sid;
  tdm_frame f;

  (void) state;
  memset(big, 'w', sizeof(big));
  c = opened(b, &sid);
  cl_frame(c, 1, 2, big, sizeof(big), 1);
  cl_frame(c, 1, 2, big, sizeof(big), 1);
  for (int i = 0; i < 2000; i++) {
    spin();
    while (peer_try_frame(b, &f) == 1) {
      assert_int_equal(f.type, TDM_WS_MESSAGE);
      got += f.u.ws_message.data.len;
    }
  }
  assert_true(got > 0 && got <= TDM_MIN_WINDOW);
  be_ws(b, TDM_WINDOW, sid, 2 * sizeof(big), 0, "");
  while (got < 2 * sizeof(big)) {
    be_expect(b, TDM_WS_MESSAGE, &f);
    got += f.u.ws_message.data.len;
  }
  assert_int_equal(got, 2 * sizeof(big));
  assert_int_equal(f.u.ws_message.flags, TDM_FLAG_END);
}

/* The backend closes while the client's input waits for its window: that
 * input is dropped, and the client's answer to the close still gets through. */
static void test_backend_close_while_input_waits(void **state) {
  peer *b = be_ready(TDM_MIN_WINDOW, TDM_FEATURE_WEBSOCKET), *c;
  static char big[200000];
  char buf[256];
  size_t n;
  uint32_t sid;
  tdm_frame f;

  (void) state;
  c = opened(b, &sid);
  cl_frame(c, 1, 2, big, sizeof(big), 1);
  be_expect(b, TDM_WS_MESSAGE, &f);                 /* the first 64 KiB part: the window is used up */
  be_ws(b, TDM_WS_CLOSE, sid, 4100, 0, "enough");
  assert_int_equal(cl_expect_frame(c, buf, sizeof(buf), &n), 0x88);
  assert_int_equal(n, 8);
  assert_memory_equal(buf, "\x10\x04" "enough", 8);
  cl_frame(c, 1, 8, "\x10\x04", 2, 1);
  be_expect(b, TDM_WS_CLOSE, &f);
  assert_int_equal(f.u.ws_close.code, 4100);
  WAIT_UNTIL(c->eof);
}

static void test_client_violation_closes_both_sides(void **state) {
  peer *b = be_ready(TDM_DEFAULT_WINDOW, TDM_FEATURE_WEBSOCKET), *c;
  char buf[256];
  size_t n;
  uint32_t sid;
  tdm_frame f;

  (void) state;
  c = opened(b, &sid);
  cl_frame(c, 1, 1, "plain", 5, 0);                                      /* unmasked */
  assert_int_equal(cl_expect_frame(c, buf, sizeof(buf), &n), 0x88);
  assert_memory_equal(buf, "\x03\xea", 2);                               /* 1002 */
  be_expect(b, TDM_WS_CLOSE, &f);
  assert_int_equal(f.u.ws_close.code, 1002);
  WAIT_UNTIL(c->eof);
}

static void test_backend_gone_is_1011(void **state) {
  peer *b = be_ready(TDM_DEFAULT_WINDOW, TDM_FEATURE_WEBSOCKET), *c;
  char buf[256];
  size_t n;
  uint32_t sid;

  (void) state;
  c = opened(b, &sid);
  peer_close(b);
  assert_int_equal(cl_expect_frame(c, buf, sizeof(buf), &n), 0x88);
  assert_memory_equal(buf, "\x03\xf3", 2);                               /* 1011 */
  cl_frame(c, 1, 8, "\x03\xf3", 2, 1);
  WAIT_UNTIL(c->eof);
}

static void test_refusal_is_403(void **state) {
  peer *b = be_ready(TDM_DEFAULT_WINDOW, TDM_FEATURE_WEBSOCKET), *c = cl_connect();
  size_t len;
  tdm_frame f;

  (void) state;
  assert_int_equal(peer_send(c, HANDSHAKE, sizeof(HANDSHAKE) - 1), 0);
  be_expect(b, TDM_REQUEST, &f);
  be_ws(b, TDM_WS_CLOSE, f.stream_id, 1000, 0, "");
  WAIT_UNTIL((cl_in(c, &len), len > 12));
  assert_true(strncmp((const char *) cl_in(c, &len), "HTTP/1.1 403 ", 13) == 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_relay_and_close, setup, teardown),
    cmocka_unit_test_setup_teardown(test_flow_control, setup, teardown),
    cmocka_unit_test_setup_teardown(test_backend_close_while_input_waits, setup, teardown),
    cmocka_unit_test_setup_teardown(test_client_violation_closes_both_sides, setup, teardown),
    cmocka_unit_test_setup_teardown(test_backend_gone_is_1011, setup, teardown),
    cmocka_unit_test_setup_teardown(test_refusal_is_403, setup, teardown),
  };
  const char *filter = getenv("TDM_TEST_FILTER");

  if (filter != NULL)
    cmocka_set_test_filter(filter);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
