/* Tests of the memory cache of small static files (frontend/src/static_cache.c):
 * lookups by mount and path, replacement, the byte budget and which entry is
 * evicted, files too large to keep, and larger bodies kept in memfds.  It is a
 * data structure without file I/O, so each test puts and finds entries directly.
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
#include <unistd.h>

#include "static_cache.h"

static static_mount m1 = { "/a", 2, "/tmp", 4, -1 };
static static_mount m2 = { "/b", 2, "/tmp", 4, -1 };
static char body[STATIC_CACHE_FILE_MAX + 1];

/* Descriptors the cache gave back, in order. */
static int closed[512];
static int nclosed;

static void on_close(int fd) {
  assert_true(nclosed < 512);
  closed[nclosed++] = fd;
}

static void static_cache_init_t(size_t budget) {
  nclosed = 0;
  static_cache_init(budget, on_close);
}

static static_entry *put(const static_mount *m, const char *rel, uint64_t size, uint64_t ino) {
  return static_cache_put(m, rel, strlen(rel), 0, body, -1, size, "text/plain", ino, 1700000000, 0, 0);
}

static static_entry *find(const static_mount *m, const char *rel) {
  return static_cache_find(m, rel, strlen(rel), 0);
}

static int teardown(void **state) {
  (void) state;
  static_cache_free();
  assert_int_equal(static_cache_count(), 0);
  assert_int_equal(static_cache_bytes(), 0);
  return 0;
}

static void test_put_and_find_by_mount_and_path(void **state) {
  static_entry *e;
  (void) state;

  static_cache_init_t(1 << 20);
  memcpy(body, "Hello, World!", 13);
  e = put(&m1, "/hello.txt", 13, 7);
  assert_non_null(e);
  assert_ptr_equal(find(&m1, "/hello.txt"), e);
  assert_memory_equal(e->body, "Hello, World!", 13);
  assert_int_equal(e->size, 13);
  assert_string_equal(e->content_type, "text/plain");
  assert_int_equal(e->v.etag_len, strlen(e->v.etag));
  /* Another mount, another path, a prefix of the path: not found. */
  assert_null(find(&m2, "/hello.txt"));
  assert_null(find(&m1, "/hello.tx"));
  assert_null(find(&m1, "/other"));
  assert_int_equal(static_cache_count(), 1);
  /* Another variant of the same path is another entry. */
  assert_null(static_cache_find(&m1, "/hello.txt", 10, 3));
  assert_non_null(static_cache_put(&m1, "/hello.txt", 10, 3, body, -1, 5, "text/plain", 8, 1700000000, 0, 0));
  assert_int_equal(static_cache_find(&m1, "/hello.txt", 10, 3)->size, 5);
  assert_ptr_equal(find(&m1, "/hello.txt"), e);
  assert_int_equal(static_cache_count(), 2);
}

static void test_put_replaces_and_drop_forgets(void **state) {
  static_entry *e;
  (void) state;

  static_cache_init_t(1 << 20);
  put(&m1, "/f", 10, 1);
  e = put(&m1, "/f", 20, 2);
  assert_non_null(e);
  assert_int_equal(static_cache_count(), 1);
  assert_ptr_equal(find(&m1, "/f"), e);
  assert_int_equal(e->size, 20);
  static_cache_drop(e);
  assert_null(find(&m1, "/f"));
  assert_int_equal(static_cache_count(), 0);
}

static void test_budget_evicts_the_least_recently_used(void **state) {
  size_t one;
  (void) state;

  /* Room for three entries of 1,000 bytes. */
  static_cache_init_t(1 << 20);
  put(&m1, "/x", 1000, 1);
  one = static_cache_bytes();
  static_cache_free();
  static_cache_init_t(3 * one);
  put(&m1, "/1", 1000, 1);
  put(&m1, "/2", 1000, 2);
  put(&m1, "/3", 1000, 3);
  assert_int_equal(static_cache_count(), 3);
  assert_non_null(find(&m1, "/1"));      /* /1 used: /2 is now the least recently used */
  put(&m1, "/4", 1000, 4);
  assert_int_equal(static_cache_count(), 3);
  assert_null(find(&m1, "/2"));
  assert_non_null(find(&m1, "/1"));
  assert_non_null(find(&m1, "/3"));
  assert_non_null(find(&m1, "/4"));
  assert_true(static_cache_bytes() <= 3 * one);
}

static void test_what_is_not_kept(void **state) {
  (void) state;

  static_cache_init_t(1 << 20);
  /* Over the per-file limit. */
  assert_null(put(&m1, "/big", STATIC_CACHE_FILE_MAX + 1, 1));
  assert_non_null(put(&m1, "/limit", STATIC_CACHE_FILE_MAX, 1));
  /* Over the whole budget: kept nowhere, and nothing else is evicted for it. */
  static_cache_free();
  static_cache_init_t(1000);
  assert_null(put(&m1, "/f", 2000, 1));
  assert_int_equal(static_cache_count(), 0);
  /* A budget of 0 keeps nothing. */
  static_cache_init_t(0);
  assert_null(put(&m1, "/f", 1, 1));
}

static void test_descriptors_of_large_files(void **state) {
  static_entry *e;
  (void) state;

  static_cache_init_t(1 << 20);
  /* Kept with no body, counting only its overhead against the budget. */
  e = static_cache_put(&m1, "/big", 4, 0, NULL, 100, 10 << 20, "video/mp4", 9, 1700000000, 0, 0);
  assert_non_null(e);
  assert_null(e->body);
  assert_int_equal(e->fd, 100);
  assert_int_equal(e->size, 10 << 20);
  assert_true(static_cache_bytes() < 4096);
  /* Replaced: the old descriptor is given back; dropped: the new one. */
  e = static_cache_put(&m1, "/big", 4, 0, NULL, 101, 10 << 20, "video/mp4", 10, 1700000000, 0, 0);
  assert_int_equal(nclosed, 1);
  assert_int_equal(closed[0], 100);
  static_cache_drop(e);
  assert_int_equal(nclosed, 2);
  assert_int_equal(closed[1], 101);
  /* At most STATIC_CACHE_FDS descriptors: the least recently used goes. */
  for (int i = 0; i < STATIC_CACHE_FDS + 1; i++) {
    char key[16];
    snprintf(key, sizeof(key), "/f%d", i);
    assert_non_null(static_cache_put(&m1, key, strlen(key), 0, NULL, 1000 + i, 1 << 20, "x", (uint64_t) i,
                                     1700000000, 0, 0));
  }
  assert_int_equal(static_cache_count(), STATIC_CACHE_FDS);
  assert_int_equal(closed[nclosed - 1], 1000);
  /* Not kept (over the budget): the descriptor is given back at once. */
  static_cache_free();
  static_cache_init_t(10);
  assert_null(static_cache_put(&m1, "/x", 2, 0, NULL, 7, 1 << 20, "x", 1, 1700000000, 0, 0));
  assert_int_equal(nclosed, 1);
  assert_int_equal(closed[0], 7);
}

/* A body of STATIC_CACHE_MEMFD_MIN bytes or more is kept in a memfd that the
 * entry maps (the socket sends its pages), at most STATIC_CACHE_MEMFDS of
 * them; smaller ones, and those beyond, are copied into the entry. */
static void test_larger_bodies_in_memfds(void **state) {
  static_entry *e, *small;
  char rel[32], got[64];
  (void) state;

  static_cache_init_t(64 << 20);
  for (size_t i = 0; i < sizeof(body); i++)
    body[i] = (char) ('a' + i % 26);
  small = put(&m1, "/small", STATIC_CACHE_MEMFD_MIN - 1, 1);
  assert_int_equal(small->body_fd, -1);
  e = put(&m1, "/large", STATIC_CACHE_MEMFD_MIN, 2);
  assert_true(e->body_fd >= 0);
  assert_memory_equal(e->body, body, STATIC_CACHE_MEMFD_MIN);
  assert_int_equal(pread(e->body_fd, got, sizeof(got), 1000), sizeof(got));
  assert_memory_equal(got, body + 1000, sizeof(got));
  /* It counts against the budget as a copy would. */
  assert_int_equal(static_cache_bytes(), 2 * sizeof(static_entry) + 6 + 6 + 2 * STATIC_CACHE_MEMFD_MIN - 1);
  for (int i = 1; i < STATIC_CACHE_MEMFDS; i++) {
    snprintf(rel, sizeof(rel), "/f%d", i);
    assert_true(put(&m1, rel, STATIC_CACHE_MEMFD_MIN, 10 + (uint64_t) i)->body_fd >= 0);
  }
  e = put(&m1, "/one-more", STATIC_CACHE_MEMFD_MIN, 3);
  assert_int_equal(e->body_fd, -1);
  assert_memory_equal(e->body, body, STATIC_CACHE_MEMFD_MIN);
  /* One going makes room for the next. */
  static_cache_drop(find(&m1, "/large"));
  assert_true(put(&m1, "/again", STATIC_CACHE_MEMFD_MIN, 4)->body_fd >= 0);
  assert_int_equal(nclosed, 0);    /* memfds are the cache's own, not the hook's */
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_teardown(test_put_and_find_by_mount_and_path, teardown),
    cmocka_unit_test_teardown(test_put_replaces_and_drop_forgets, teardown),
    cmocka_unit_test_teardown(test_budget_evicts_the_least_recently_used, teardown),
    cmocka_unit_test_teardown(test_what_is_not_kept, teardown),
    cmocka_unit_test_teardown(test_descriptors_of_large_files, teardown),
    cmocka_unit_test_teardown(test_larger_bodies_in_memfds, teardown),
  };

  if (getenv("TDM_TEST_FILTER") != NULL)
    cmocka_set_test_filter(getenv("TDM_TEST_FILTER"));
  return cmocka_run_group_tests_name("static_cache", tests, NULL, NULL);
}
