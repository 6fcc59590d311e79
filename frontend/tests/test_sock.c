/* Tests of the ground-level pieces an HTTP connection stands on: ctx (the
 * per-iteration flush and the date line), outbuf (the two buffers that swap
 * at each write) and sock (a client socket: reads, gathered writes, the
 * graceful end and the close), each on a real libuv loop with the other end
 * of a socketpair in the test's hands.  Every wait is bounded by a number of
 * loop iterations.
 *
 * Set TDM_TEST_FILTER to a test name (cmocka pattern) to run only that test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "ctx.h"
#include "outbuf.h"
#include "sock.h"

#define MAX_SPINS 20000

static config cfg;

/* ---- ctx ------------------------------------------------------------------ */

static int flushed[4];
static int flush_order[4];
static int nflushed;

typedef struct counted {
  flushable fl;
  int id;
} counted;

static void counted_flush(flushable *f) {
  counted *c = (counted *) f;
  flushed[c->id]++;
  flush_order[nflushed++] = c->id;
}

static void test_ctx_flushes_each_queued_once_and_cancel_takes_one_off(void **state) {
  uv_loop_t loop;
  tdm_ctx x;
  counted a = {{0}, 0}, b = {{0}, 1}, c = {{0}, 2};
  (void) state;

  assert_int_equal(uv_loop_init(&loop), 0);
  assert_int_equal(ctx_init(&x, &loop, &cfg), 0);
  memset(flushed, 0, sizeof(flushed));
  nflushed = 0;
  a.fl.flush = b.fl.flush = c.fl.flush = counted_flush;
  ctx_schedule_flush(&x, &a.fl);
  ctx_schedule_flush(&x, &a.fl);          /* idempotent */
  ctx_schedule_flush(&x, &b.fl);
  ctx_schedule_flush(&x, &c.fl);
  ctx_cancel_flush(&x, &b.fl);
  ctx_cancel_flush(&x, &b.fl);            /* idempotent */
  uv_run(&loop, UV_RUN_NOWAIT);           /* the prepare handle runs the flush */
  assert_int_equal(flushed[0], 1);
  assert_int_equal(flushed[1], 0);
  assert_int_equal(flushed[2], 1);
  assert_int_equal(nflushed, 2);
  uv_run(&loop, UV_RUN_NOWAIT);           /* nothing queued: nothing again */
  assert_int_equal(nflushed, 2);
  ctx_close(&x);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_ctx_date_line(void **state) {
  uv_loop_t loop;
  tdm_ctx x;
  size_t len = 0;
  const char *d;
  (void) state;

  assert_int_equal(uv_loop_init(&loop), 0);
  assert_int_equal(ctx_init(&x, &loop, &cfg), 0);
  d = ctx_date_line(&x, &len);
  /* "date: Mon, 07 Dec 2026 09:05:18 GMT\r\n" */
  assert_int_equal(len, 37);
  assert_memory_equal(d, "date: ", 6);
  assert_memory_equal(d + len - 6, " GMT\r\n", 6);
  assert_ptr_equal(ctx_date_line(&x, &len), d);   /* the same second: the same line */
  ctx_close(&x);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- sock and outbuf ------------------------------------------------------- */

typedef struct owner {
  char got[256];
  size_t ngot;
  int ended, end_err;
  int written, write_status;
  int closed;
  int timeouts;
} owner;

static void own_read(void *o, const char *data, size_t len) {
  owner *w = o;
  assert_true(w->ngot + len <= sizeof(w->got));
  memcpy(w->got + w->ngot, data, len);
  w->ngot += len;
}

static void own_end(void *o, int err) {
  owner *w = o;
  w->ended++;
  w->end_err = err;
}

static void own_written(void *o, int status) {
  owner *w = o;
  w->written++;
  w->write_status = status;
}

static void own_closed(void *o) {
  ((owner *) o)->closed = 1;
}

static void own_timeout(void *o) {
  ((owner *) o)->timeouts++;
}

static const sock_cb own_cb = { own_read, own_end, own_written, own_closed, own_timeout, NULL };

typedef struct rig {
  uv_loop_t loop;
  tdm_ctx x;
  sock s;
  owner w;
  int peer;
} rig;

static void rig_open(rig *r) {
  int sv[2];

  memset(r, 0, sizeof(*r));
  assert_int_equal(uv_loop_init(&r->loop), 0);
  assert_int_equal(ctx_init(&r->x, &r->loop, &cfg), 0);
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  r->peer = sv[1];
  assert_int_equal(fcntl(r->peer, F_SETFL, fcntl(r->peer, F_GETFL) | O_NONBLOCK), 0);
  sock_init(&r->s, &r->x, &own_cb, &r->w, 1 << 20);
  assert_int_equal(sock_open_fd(&r->s, sv[0]), 0);
  assert_string_equal(r->s.peer_host, "127.0.0.1");
}

static void rig_close(rig *r) {
  sock_close(&r->s);
  for (int i = 0; i < MAX_SPINS && !r->w.closed; i++)
    uv_run(&r->loop, UV_RUN_NOWAIT);
  assert_true(r->w.closed);
  ctx_close(&r->x);
  uv_run(&r->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&r->loop), 0);
  close(r->peer);
}

#define SPIN_UNTIL(r, cond)                                                   \
  do {                                                                        \
    int n_ = 0;                                                               \
    while (!(cond) && n_++ < MAX_SPINS)                                       \
      uv_run(&(r)->loop, UV_RUN_NOWAIT);                                      \
    if (!(cond))                                                              \
      fail_msg("still not true: %s", #cond);                                  \
  } while (0)

static void test_sock_reads_and_gathers_writes_into_one(void **state) {
  rig r;
  char buf[64];
  ssize_t n;
  (void) state;

  rig_open(&r);
  assert_int_equal(sock_read_start(&r.s), 0);
  assert_int_equal(send(r.peer, "ping", 4, 0), 4);
  SPIN_UNTIL(&r, r.w.ngot == 4);
  assert_memory_equal(r.w.got, "ping", 4);

  /* Two appends in one iteration leave in one write. */
  assert_int_equal(tdm_buf_append(sock_out(&r.s), "one,", 4), 0);
  assert_int_equal(tdm_buf_append(sock_out(&r.s), "two", 3), 0);
  sock_flush_soon(&r.s);
  assert_int_equal(sock_pending(&r.s), 7);
  SPIN_UNTIL(&r, r.w.written == 1);
  assert_int_equal(r.w.write_status, 0);
  assert_int_equal(sock_pending(&r.s), 0);
  n = recv(r.peer, buf, sizeof(buf), 0);
  assert_int_equal(n, 7);
  assert_memory_equal(buf, "one,two", 7);

  /* Reading stopped: bytes wait in the kernel until it starts again. */
  sock_read_stop(&r.s);
  assert_int_equal(send(r.peer, "more", 4, 0), 4);
  for (int i = 0; i < 100; i++)
    uv_run(&r.loop, UV_RUN_NOWAIT);
  assert_int_equal(r.w.ngot, 4);
  assert_int_equal(sock_read_start(&r.s), 0);
  SPIN_UNTIL(&r, r.w.ngot == 8);
  rig_close(&r);
}

static void test_sock_end_writes_then_sends_fin_and_lingers(void **state) {
  rig r;
  char buf[64];
  ssize_t n = 0;
  (void) state;

  rig_open(&r);
  assert_int_equal(sock_read_start(&r.s), 0);
  assert_int_equal(tdm_buf_append(sock_out(&r.s), "last", 4), 0);
  sock_end(&r.s);
  /* The output goes first, then FIN: the peer reads it all, then end of stream. */
  SPIN_UNTIL(&r, (n = recv(r.peer, buf, sizeof(buf), MSG_PEEK)) == 4);
  SPIN_UNTIL(&r, r.s.lingering);
  assert_int_equal(recv(r.peer, buf, sizeof(buf), 0), 4);
  SPIN_UNTIL(&r, recv(r.peer, buf, sizeof(buf), 0) == 0);
  /* While it lingers, what the client still sends is dropped, not delivered. */
  assert_int_equal(send(r.peer, "late", 4, 0), 4);
  for (int i = 0; i < 100; i++)
    uv_run(&r.loop, UV_RUN_NOWAIT);
  assert_int_equal(r.w.ngot, 0);
  assert_int_equal(r.w.ended, 0);
  /* The client closes: the lingering is over. */
  shutdown(r.peer, SHUT_WR);
  SPIN_UNTIL(&r, r.w.ended == 1);
  assert_int_equal(r.w.end_err, 0);
  rig_close(&r);
}

static void test_sock_reports_the_clients_eof(void **state) {
  rig r;
  (void) state;

  rig_open(&r);
  assert_int_equal(sock_read_start(&r.s), 0);
  shutdown(r.peer, SHUT_WR);
  SPIN_UNTIL(&r, r.w.ended == 1);
  assert_int_equal(r.w.end_err, UV_EOF);
  rig_close(&r);
}

/* Writes n bytes through r's socket and reads them back at the peer. */
static void rig_send_through(rig *r, size_t n) {
  static char data[100000], got[100000];
  size_t have = 0;
  ssize_t k;
  int written = r->w.written;

  memset(data, 'x', n);
  assert_int_equal(tdm_buf_append(sock_out(&r->s), data, n), 0);
  sock_flush_soon(&r->s);
  SPIN_UNTIL(r, r->w.written == written + 1);
  while (have < n && (k = recv(r->peer, got, sizeof(got), 0)) > 0)
    have += (size_t) k;
  assert_int_equal(have, n);
}

static void test_sock_trim_keeps_output_buffers_by_size_for_the_next_output(void **state) {
  rig r;
  char *eight;
  (void) state;

  rig_open(&r);
  /* A 6,000-byte output grows the buffer to 8 KiB; trimmed, it goes to the
   * pool, and the socket's next output starts in that buffer, at its size,
   * rather than in a 4 KiB one that would be moved to grow again. */
  rig_send_through(&r, 6000);
  eight = sock_out(&r.s)->base;
  assert_int_equal(sock_out(&r.s)->size, 8192);
  sock_trim(&r.s);
  assert_null(r.s.ob.out.base);
  assert_ptr_equal(sock_out(&r.s)->base, eight);
  assert_int_equal(sock_out(&r.s)->size, 8192);
  assert_int_equal(sock_out(&r.s)->len, 0);
  rig_send_through(&r, 6000);
  assert_ptr_equal(sock_out(&r.s)->base, eight);      /* not moved: no realloc() */

  /* Larger output moves it once, to 32 KiB, and the next starts there. */
  rig_send_through(&r, 20000);
  sock_trim(&r.s);
  assert_int_equal(sock_out(&r.s)->size, 32768);
  /* A buffer beyond the largest size the pool keeps (64 KiB) is freed on
   * trim, not kept: the pool has nothing left, and the next output
   * allocates as usual. */
  rig_send_through(&r, 70000);
  assert_int_equal(sock_out(&r.s)->size, 131072);
  sock_trim(&r.s);
  assert_null(r.s.ob.out.base);
  assert_null(sock_out(&r.s)->base);
  rig_close(&r);
}

#define LARGE (200 * 1024)

/* Reads at the peer, turning the loop, until n bytes came; returns them. */
static const char *rig_read_all(rig *r, size_t n) {
  static char got[4 * LARGE];
  size_t have = 0;
  ssize_t k;

  assert_true(n <= sizeof(got));
  for (int i = 0; i < MAX_SPINS && have < n; i++) {
    uv_run(&r->loop, UV_RUN_NOWAIT);
    k = recv(r->peer, got + have, n - have, 0);
    if (k > 0)
      have += (size_t) k;
  }
  assert_int_equal(have, n);
  return got;
}

static void test_sock_write_now_sends_a_large_body_after_the_held_output_in_order(void **state) {
  static char body[LARGE], body2[LARGE];
  const char *got;
  rig r;
  int sndbuf = 4096;
  (void) state;

  for (size_t i = 0; i < LARGE; i++) {
    body[i] = (char) ('a' + i % 26);
    body2[i] = (char) ('A' + i % 26);
  }
  rig_open(&r);
  /* The head waits in the output buffer; the body goes with it in one
   * writev, and nothing of it is copied into the buffer. */
  assert_int_equal(tdm_buf_append(sock_out(&r.s), "head:", 5), 0);
  assert_int_equal(sock_write_now(&r.s, body, 100000, -1, 0), 0);
  assert_int_equal(sock_pending(&r.s), 0);
  assert_true(r.s.ob.out.size < 100000);
  /* The owner hears of the write as of any other: producers waiting for
   * the client to take output (the backend's window) go on. */
  assert_int_equal(r.w.written, 0);
  SPIN_UNTIL(&r, r.w.written == 1);
  got = rig_read_all(&r, 5 + 100000);
  assert_memory_equal(got, "head:", 5);
  assert_memory_equal(got + 5, body, 100000);

  /* A socket buffer too small for it: what the kernel does not take waits
   * in the output buffer, and leaves in order, before later output. */
  assert_int_equal(setsockopt(sock_fd(&r.s), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
  assert_int_equal(tdm_buf_append(sock_out(&r.s), "head:", 5), 0);
  assert_int_equal(sock_write_now(&r.s, body, LARGE, -1, 0), 0);
  assert_true(sock_pending(&r.s) > 0);
  assert_int_equal(tdm_buf_append(sock_out(&r.s), ":tail", 5), 0);
  sock_flush_soon(&r.s);
  /* While that write is in flight, a large body is only queued after it. */
  for (int i = 0; i < 10 && !r.s.ob.writing; i++)
    uv_run(&r.loop, UV_RUN_NOWAIT);
  assert_true(r.s.ob.writing);
  assert_int_equal(sock_write_now(&r.s, body2, LARGE, -1, 0), 0);
  got = rig_read_all(&r, 5 + LARGE + 5 + LARGE);
  assert_memory_equal(got, "head:", 5);
  assert_memory_equal(got + 5, body, LARGE);
  assert_memory_equal(got + 5 + LARGE, ":tail", 5);
  assert_memory_equal(got + 10 + LARGE, body2, LARGE);
  SPIN_UNTIL(&r, sock_pending(&r.s) == 0);
  rig_close(&r);
}

/* With a file descriptor, the part of the body the kernel takes comes from
 * the file by sendfile: the file here deliberately holds other bytes than
 * the memory copy (upper case against lower), so the test sees which went. */
static void test_sock_write_now_sends_a_memfd_body_with_sendfile(void **state) {
  static char body[LARGE], file[LARGE];
  const char *got;
  size_t split;
  rig r;
  int sndbuf = 4096;
  int fd;
  (void) state;

  for (size_t i = 0; i < LARGE; i++) {
    body[i] = (char) ('a' + i % 26);
    file[i] = (char) ('A' + i % 26);
  }
  fd = memfd_create("test", MFD_CLOEXEC);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, file, LARGE), LARGE);
  rig_open(&r);
  assert_int_equal(tdm_buf_append(sock_out(&r.s), "head:", 5), 0);
  assert_int_equal(sock_write_now(&r.s, body, 50000, fd, 1000), 0);
  assert_int_equal(sock_pending(&r.s), 0);
  SPIN_UNTIL(&r, r.w.written == 1);
  got = rig_read_all(&r, 5 + 50000);
  assert_memory_equal(got, "head:", 5);
  assert_memory_equal(got + 5, file + 1000, 50000);

  /* What the kernel does not take is copied from memory, and follows in
   * order. */
  assert_int_equal(setsockopt(sock_fd(&r.s), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
  assert_int_equal(tdm_buf_append(sock_out(&r.s), "head:", 5), 0);
  assert_int_equal(sock_write_now(&r.s, body, LARGE, fd, 0), 0);
  assert_true(sock_pending(&r.s) > 0);
  got = rig_read_all(&r, 5 + LARGE);
  assert_memory_equal(got, "head:", 5);
  got += 5;
  for (split = 0; split < LARGE && got[split] == file[split]; split++)
    ;
  assert_true(split > 0 && split < LARGE);
  assert_memory_equal(got + split, body + split, LARGE - split);
  SPIN_UNTIL(&r, sock_pending(&r.s) == 0);
  rig_close(&r);
  close(fd);
}

static void test_outbuf_writes_at_once_what_the_kernel_takes(void **state) {
  rig r;
  char buf[64];
  (void) state;

  rig_open(&r);
  assert_int_equal(tdm_buf_append(&r.s.ob.out, "first", 5), 0);
  /* No request, no callback: the caller finishes the write itself. */
  assert_int_equal(outbuf_write(&r.s.ob, &r.s.h.stream, NULL, NULL), OUTBUF_DONE);
  assert_false(r.s.ob.writing);
  assert_int_equal(outbuf_pending(&r.s.ob), 0);
  assert_int_equal(recv(r.peer, buf, sizeof(buf), 0), 5);
  assert_memory_equal(buf, "first", 5);
  rig_close(&r);
}

#define BIG (256 * 1024)

static void test_outbuf_swaps_and_keeps_gathering_during_a_write(void **state) {
  static char big[BIG], got[BIG + 6];
  rig r;
  size_t have = 0;
  int sndbuf = 4096;
  ssize_t n;
  (void) state;

  rig_open(&r);
  /* A small socket buffer: the kernel takes only part of the output at once. */
  assert_int_equal(setsockopt(sock_fd(&r.s), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
  for (size_t i = 0; i < BIG; i++)
    big[i] = (char) ('a' + i % 26);
  assert_int_equal(tdm_buf_append(&r.s.ob.out, big, BIG), 0);
  assert_int_equal(outbuf_write(&r.s.ob, &r.s.h.stream, NULL, NULL), 0);
  /* In flight: the output moved to wbuf, new output gathers in out. */
  assert_true(r.s.ob.writing);
  assert_int_equal(r.s.ob.wbuf.len, BIG);
  assert_int_equal(r.s.ob.out.len, 0);
  assert_int_equal(tdm_buf_append(&r.s.ob.out, "second", 6), 0);
  assert_int_equal(outbuf_pending(&r.s.ob), BIG + 6);
  /* A second write while one is in flight does nothing. */
  assert_int_equal(outbuf_write(&r.s.ob, &r.s.h.stream, NULL, NULL), 0);
  assert_int_equal(r.s.ob.wbuf.len, BIG);
  /* The peer gets the first output whole and in order, the part written at
   * once and the rest alike. */
  for (int i = 0; i < MAX_SPINS && have < BIG; i++) {
    uv_run(&r.loop, UV_RUN_NOWAIT);
    n = recv(r.peer, got + have, BIG + 6 - have, 0);
    if (n > 0)
      have += (size_t) n;
  }
  assert_int_equal(have, BIG);
  assert_memory_equal(got, big, BIG);
  outbuf_written(&r.s.ob);
  assert_false(r.s.ob.writing);
  assert_int_equal(outbuf_pending(&r.s.ob), 6);
  rig_close(&r);
}

/* Runs the loop, blocking until its next event each time, until cond holds
 * (a timer's callback is what it waits for). */
#define WAIT_TIMER(r, cond)                                                   \
  do {                                                                        \
    for (int n_ = 0; !(cond) && n_ < 1000; n_++)                              \
      uv_run(&(r)->loop, UV_RUN_ONCE);                                        \
    if (!(cond))                                                              \
      fail_msg("still not true: %s", #cond);                                  \
  } while (0)

/* The owner's timeout: it fires, a stopped one does not, and a restarted
 * one fires at its new deadline, not at the first timer's. */
static void test_sock_timeout_lazily_restarted(void **state) {
  rig r;
  uint64_t start;
  (void) state;

  rig_open(&r);
  sock_timeout(&r.s, 5);
  WAIT_TIMER(&r, r.w.timeouts == 1);
  sock_timeout(&r.s, 5);
  sock_timeout_stop(&r.s);
  WAIT_TIMER(&r, !uv_is_active((uv_handle_t *) &r.s.timer));
  assert_int_equal(r.w.timeouts, 1);
  uv_update_time(&r.loop);
  start = uv_now(&r.loop);
  sock_timeout(&r.s, 5);
  sock_timeout(&r.s, 40);       /* later: the running timer is kept, and waits for the rest */
  WAIT_TIMER(&r, r.w.timeouts == 2);
  assert_true(uv_now(&r.loop) - start >= 40);
  sock_timeout(&r.s, 60000);
  sock_timeout(&r.s, 5);        /* sooner: the timer is restarted */
  WAIT_TIMER(&r, r.w.timeouts == 3);
  rig_close(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_ctx_flushes_each_queued_once_and_cancel_takes_one_off),
    cmocka_unit_test(test_ctx_date_line),
    cmocka_unit_test(test_sock_reads_and_gathers_writes_into_one),
    cmocka_unit_test(test_sock_end_writes_then_sends_fin_and_lingers),
    cmocka_unit_test(test_sock_reports_the_clients_eof),
    cmocka_unit_test(test_sock_timeout_lazily_restarted),
    cmocka_unit_test(test_sock_trim_keeps_output_buffers_by_size_for_the_next_output),
    cmocka_unit_test(test_sock_write_now_sends_a_large_body_after_the_held_output_in_order),
    cmocka_unit_test(test_sock_write_now_sends_a_memfd_body_with_sendfile),
    cmocka_unit_test(test_outbuf_writes_at_once_what_the_kernel_takes),
    cmocka_unit_test(test_outbuf_swaps_and_keeps_gathering_during_a_write),
  };

  if (getenv("TDM_TEST_FILTER") != NULL)
    cmocka_set_test_filter(getenv("TDM_TEST_FILTER"));
  return cmocka_run_group_tests_name("sock", tests, NULL, NULL);
}
