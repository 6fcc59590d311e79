/* Tests of frontend/src/record.c (--record): the file it writes, read back
 * byte by byte against protocol/RECORDING.md, on a real loop and a real file.
 * Loss is made deterministic by appending while the loop does not run: the
 * buffer fills, later records are dropped, and a GAP counts them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "config.h"
#include "ctx.h"
#include "record.h"

#define HEAD 17

typedef struct fixture {
  uv_loop_t loop;
  config cfg;
  tdm_ctx ctx;
  char dir[64];
  char path[96];
} fixture;

/* Runs the loop until the recording's write in flight has ended. */
static void finish_writes(fixture *f) {
  while (record_pending())
    uv_run(&f->loop, UV_RUN_ONCE);
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof(*f));

  assert_non_null(f);
  assert_int_equal(uv_loop_init(&f->loop), 0);
  assert_int_equal(ctx_init(&f->ctx, &f->loop, &f->cfg), 0);
  strcpy(f->dir, "/tmp/tdm-record-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  snprintf(f->path, sizeof(f->path), "%s/rec", f->dir);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;

  finish_writes(f);
  record_close();
  ctx_close(&f->ctx);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&f->loop), 0);
  unlink(f->path);
  rmdir(f->dir);
  free(f);
  return 0;
}

/* The whole file; *len gets its size.  Owner: the caller. */
static unsigned char *slurp(const char *path, size_t *len) {
  FILE *fp = fopen(path, "rb");
  unsigned char *buf;
  long n;

  assert_non_null(fp);
  fseek(fp, 0, SEEK_END);
  n = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  buf = malloc((size_t) n + 1);
  assert_non_null(buf);
  assert_int_equal(fread(buf, 1, (size_t) n, fp), (size_t) n);
  fclose(fp);
  *len = (size_t) n;
  return buf;
}

static uint64_t get_be(const unsigned char *p, int bytes) {
  uint64_t v = 0;

  for (int i = 0; i < bytes; i++)
    v = v << 8 | p[i];
  return v;
}

typedef struct rec {
  uint64_t time;
  uint32_t conn;
  int kind;
  const unsigned char *data;
  size_t len;
} rec;

/* Splits the file into records after its magic; returns how many (at most max). */
static size_t parse(const unsigned char *buf, size_t len, rec *out, size_t max) {
  size_t pos = 8, n = 0;

  assert_true(len >= 8);
  assert_memory_equal(buf, "TDMREC1\n", 8);
  while (pos < len) {
    assert_true(pos + HEAD <= len);
    assert_true(n < max);
    out[n].time = get_be(buf + pos, 8);
    out[n].conn = (uint32_t) get_be(buf + pos + 8, 4);
    out[n].kind = buf[pos + 12];
    out[n].len = (size_t) get_be(buf + pos + 13, 4);
    out[n].data = buf + pos + HEAD;
    pos += HEAD + out[n].len;
    assert_true(pos <= len);
    n++;
  }
  return n;
}

static void test_records_in_order(void **state) {
  fixture *f = *state;
  unsigned char *buf;
  size_t len, n;
  rec r[8];

  assert_int_equal(record_open(&f->ctx, f->path), 0);
  assert_true(record_on());
  record_bytes(1, RECORD_ACCEPTED, NULL, 0);
  record_bytes(1, RECORD_FROM_BACKEND, "hello", 5);
  uv_run(&f->loop, UV_RUN_NOWAIT);          /* the flush writes these */
  record_bytes(1, RECORD_TO_BACKEND, "world!", 6);
  record_bytes(1, RECORD_CLOSED, NULL, 0);
  finish_writes(f);
  record_close();
  assert_false(record_on());

  buf = slurp(f->path, &len);
  n = parse(buf, len, r, 8);
  assert_int_equal(n, 4);
  assert_int_equal(r[0].kind, RECORD_ACCEPTED);
  assert_int_equal(r[0].len, 0);
  assert_int_equal(r[1].kind, RECORD_FROM_BACKEND);
  assert_memory_equal(r[1].data, "hello", 5);
  assert_int_equal(r[2].kind, RECORD_TO_BACKEND);
  assert_memory_equal(r[2].data, "world!", 6);
  assert_int_equal(r[3].kind, RECORD_CLOSED);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(r[i].conn, 1);
    assert_true(r[i].time > 1600000000ull * 1000000000ull);    /* wall-clock nanoseconds */
    if (i > 0)
      assert_true(r[i].time >= r[i - 1].time);
  }
  free(buf);
}

/* A large read becomes records of at most 1 MiB, in order. */
static void test_large_bytes_are_cut_into_pieces(void **state) {
  fixture *f = *state;
  size_t big = 2 * 1024 * 1024 + 5, len, n, got = 0;
  unsigned char *data = malloc(big), *buf;
  rec r[8];

  assert_non_null(data);
  for (size_t i = 0; i < big; i++)
    data[i] = (unsigned char) (i * 7);
  assert_int_equal(record_open(&f->ctx, f->path), 0);
  record_bytes(3, RECORD_FROM_BACKEND, data, big);
  record_close();
  buf = slurp(f->path, &len);
  n = parse(buf, len, r, 8);
  assert_int_equal(n, 3);
  for (size_t i = 0; i < n; i++) {
    assert_true(r[i].len <= 1024 * 1024);
    assert_memory_equal(r[i].data, data + got, r[i].len);
    got += r[i].len;
  }
  assert_int_equal(got, big);
  free(data);
  free(buf);
}

/* Records that find the buffer full are dropped; once there is room again a
 * GAP with their size comes first, then the records go on. */
static void test_a_full_buffer_loses_records_and_says_so(void **state) {
  fixture *f = *state;
  size_t piece = 512 * 1024, len, n, kept = 0, lost = 0;
  char *data = calloc(1, piece);
  unsigned char *buf;
  rec r[32];

  assert_non_null(data);
  assert_int_equal(record_open(&f->ctx, f->path), 0);
  for (int i = 0; i < 10; i++)              /* 5 MiB without the loop running: 4 MiB fit */
    record_bytes(2, RECORD_TO_BACKEND, data, piece);
  uv_run(&f->loop, UV_RUN_NOWAIT);          /* written; the buffer is free again */
  finish_writes(f);
  record_bytes(2, RECORD_CLOSED, NULL, 0);
  record_close();

  buf = slurp(f->path, &len);
  n = parse(buf, len, r, 32);
  for (size_t i = 0; i < n; i++) {
    if (r[i].kind == RECORD_TO_BACKEND)
      kept++;
    if (r[i].kind == RECORD_GAP) {
      assert_int_equal(r[i].conn, 0);
      assert_int_equal(r[i].len, 8);
      lost = (size_t) get_be(r[i].data, 8);
      assert_int_equal(r[i + 1].kind, RECORD_CLOSED);     /* the record after the loss */
    }
  }
  assert_true(kept >= 1 && kept < 10);
  assert_int_equal(lost, (10 - kept) * (HEAD + piece));
  assert_int_equal(r[n - 1].kind, RECORD_CLOSED);
  free(data);
  free(buf);
}

static void test_a_path_that_cannot_be_created(void **state) {
  fixture *f = *state;
  char bad[128];

  snprintf(bad, sizeof(bad), "%s/no/such/dir/rec", f->dir);
  assert_true(record_open(&f->ctx, bad) < 0);
  assert_false(record_on());
  record_bytes(1, RECORD_ACCEPTED, NULL, 0);  /* nothing to do, nothing breaks */
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_records_in_order, setup, teardown),
    cmocka_unit_test_setup_teardown(test_large_bytes_are_cut_into_pieces, setup, teardown),
    cmocka_unit_test_setup_teardown(test_a_full_buffer_loses_records_and_says_so, setup, teardown),
    cmocka_unit_test_setup_teardown(test_a_path_that_cannot_be_created, setup, teardown),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
