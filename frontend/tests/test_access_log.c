/* Tests of frontend/src/access_log.c and afile.c (--access-log): the lines
 * written for requests made of their parts (a head, a route, a backend, an
 * end), read back from a real file on a real loop; the escaping of every
 * kind of byte; the counters; the bound (lines appended while the loop does
 * not run fill the buffer, the rest are dropped and counted); the reopen
 * after a rotation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "access_log.h"
#include "config.h"
#include "ctx.h"
#include "metrics.h"

typedef struct fixture {
  uv_loop_t loop;
  config cfg;
  tdm_ctx ctx;
  char dir[64];
  char path[96];
} fixture;

static void finish_writes(fixture *f) {
  do
    uv_run(&f->loop, UV_RUN_NOWAIT);
  while (access_log_pending());
}

static fixture *open_log(void **state, int json) {
  fixture *f = calloc(1, sizeof(*f));

  assert_non_null(f);
  assert_int_equal(uv_loop_init(&f->loop), 0);
  strcpy(f->dir, "/tmp/tdm-alog-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  snprintf(f->path, sizeof(f->path), "%s/access.log", f->dir);
  f->cfg.access_log = f->path;
  f->cfg.access_log_json = json;
  assert_int_equal(ctx_init(&f->ctx, &f->loop, &f->cfg), 0);
  assert_int_equal(access_log_open(&f->ctx, &f->cfg), 0);
  memset(&metrics, 0, sizeof(metrics));
  *state = f;
  return f;
}

static int teardown(void **state) {
  fixture *f = *state;
  char rotated[128];

  finish_writes(f);
  access_log_close();
  ctx_close(&f->ctx);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&f->loop), 0);
  snprintf(rotated, sizeof(rotated), "%s.1", f->path);
  unlink(f->path);
  unlink(rotated);
  rmdir(f->dir);
  free(f);
  return 0;
}

/* The whole file as a string.  Owner: the caller. */
static char *slurp(const char *path) {
  FILE *fp = fopen(path, "rb");
  char *buf;
  long n;

  assert_non_null(fp);
  fseek(fp, 0, SEEK_END);
  n = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  buf = malloc((size_t) n + 1);
  assert_non_null(buf);
  assert_int_equal(fread(buf, 1, (size_t) n, fp), (size_t) n);
  buf[n] = '\0';
  fclose(fp);
  return buf;
}

/* A request head with a user agent and a referer (NULL: none). */
static tdm_request head_of(const char *target, const char *agent, const char *referer, tdm_header *h) {
  tdm_request rq;
  uint32_t n = 0;

  memset(&rq, 0, sizeof(rq));
  rq.method = (tdm_str) { "GET", 3 };
  rq.target = (tdm_str) { target, (uint32_t) strlen(target) };
  rq.http_version = (tdm_str) { "1.1", 3 };
  rq.client.present = 1;
  rq.client.host = (tdm_str) { "192.0.2.7", 9 };
  if (agent != NULL)
    h[n++] = (tdm_header) { { "User-Agent", 10 }, { agent, (uint32_t) strlen(agent) } };
  if (referer != NULL)
    h[n++] = (tdm_header) { { "referer", 7 }, { referer, (uint32_t) strlen(referer) } };
  rq.headers = h;
  rq.nheaders = n;
  return rq;
}

/* One request's whole life: begin, head, route, an optional backend, end. */
static void one_request(const char *target, const char *agent, const char *referer, int kind, int pid,
                        int status, uint64_t bytes) {
  access_req ar;
  tdm_header h[2];
  tdm_request rq = head_of(target, agent, referer, h);

  memset(&ar, 0, sizeof(ar));
  access_req_begin(&ar);
  access_req_head(&ar, &rq);
  access_req_route(&ar, kind);
  if (pid > 0) {
    access_req_backend(&ar, pid, 42);
    access_req_backend_done(&ar);
  }
  access_req_end(&ar, "198.51.100.1", status, bytes, NULL);
  assert_null(ar.fields);
}

static void test_combined_lines(void **state) {
  fixture *f = open_log(state, 0);
  char *text, *second;

  one_request("/users/5?q=x", "probe/1", "http://example.test/", ROUTE_DYNAMIC, 1234, 200, 16);
  one_request("/static/a.css", NULL, NULL, ROUTE_STATIC, 0, 404, 10);
  finish_writes(f);
  text = slurp(f->path);
  second = strchr(text, '\n') + 1;
  assert_non_null(strstr(text, "192.0.2.7 - - ["));
  assert_non_null(strstr(text, "] \"GET /users/5?q=x HTTP/1.1\" 200 16 \"http://example.test/\" \"probe/1\" "));
  assert_non_null(strstr(text, " 1234/42 \"-\"\n"));
  assert_non_null(strstr(second, "\"GET /static/a.css HTTP/1.1\" 404 10 \"-\" \"-\" "));
  assert_non_null(strstr(second, " - static \"-\"\n"));
  assert_int_equal(strlen(second), strchr(second, '\n') + 1 - second);
  free(text);
  assert_int_equal(metrics.requests[ROUTE_DYNAMIC][2], 1);
  assert_int_equal(metrics.requests[ROUTE_STATIC][4], 1);
  assert_int_equal(metrics.in_flight, 0);
}

/* Every byte a header may hold, and what each format makes of it. */
#define HOSTILE "a\"b\\c\td\xff\xc3\xa9"

static void test_combined_escaping(void **state) {
  fixture *f = open_log(state, 0);
  char *text;

  one_request("/p?\"x\\", HOSTILE, NULL, ROUTE_DYNAMIC, 1, 200, 0);
  finish_writes(f);
  text = slurp(f->path);
  assert_non_null(strstr(text, "\"GET /p?\\x22x\\x5c HTTP/1.1\""));
  assert_non_null(strstr(text, "\"a\\x22b\\x5cc\\x09d\\xff\\xc3\\xa9\""));
  free(text);
}

static void test_json_escaping(void **state) {
  fixture *f = open_log(state, 1);
  char *text;

  one_request("/p?\"x\\", HOSTILE, NULL, ROUTE_DYNAMIC, 1, 200, 0);
  finish_writes(f);
  text = slurp(f->path);
  assert_non_null(strstr(text, "\"request\":\"GET /p?\\\"x\\\\ HTTP/1.1\""));
  /* Valid UTF-8 stays; the lone 0xff becomes \u00ff. */
  assert_non_null(strstr(text, "\"user_agent\":\"a\\\"b\\\\c\\u0009d\\u00ff\xc3\xa9\""));
  assert_non_null(strstr(text, "\"referer\":null"));
  assert_non_null(strstr(text, "\"backend\":\"1/42\""));
  assert_non_null(strstr(text, "\"request_id\":null}\n"));
  free(text);
}

/* A client that left: 499 for one whose head was read, nothing for one whose was not. */
static void test_forgotten_requests(void **state) {
  fixture *f = open_log(state, 0);
  access_req ar;
  tdm_header h[2];
  tdm_request rq = head_of("/slow", "probe/gone", NULL, h);
  char *text;

  memset(&ar, 0, sizeof(ar));
  access_req_begin(&ar);
  access_req_head(&ar, &rq);
  access_req_route(&ar, ROUTE_DYNAMIC);
  assert_int_equal(metrics.in_flight, 1);
  access_req_forget(&ar);
  memset(&ar, 0, sizeof(ar));
  access_req_begin(&ar);                 /* a head never completed */
  access_req_forget(&ar);
  access_req_forget(&ar);                /* twice is once */
  finish_writes(f);
  text = slurp(f->path);
  assert_non_null(strstr(text, "\"GET /slow HTTP/1.1\" 499 0 \"-\" \"probe/gone\""));
  assert_string_equal(strchr(text, '\n') + 1, "");     /* one line: the second left none */
  free(text);
  assert_int_equal(metrics.in_flight, 0);
  assert_int_equal(metrics.cancelled_client, 1);
  assert_int_equal(metrics.requests[ROUTE_DYNAMIC][0], 1);
}

/* The loop does not run: the buffer fills, the lines after are dropped and counted. */
static void test_a_full_buffer_drops_and_counts(void **state) {
  fixture *f = open_log(state, 0);
  char *text, *p;
  uint64_t lines = 0, total = 0;

  while (metrics.access_log_dropped < 10) {
    one_request("/fill", "probe/fill", NULL, ROUTE_DYNAMIC, 1, 200, 0);
    total++;
  }
  finish_writes(f);
  text = slurp(f->path);
  for (p = text; (p = strchr(p, '\n')) != NULL; p++)
    lines++;
  free(text);
  assert_int_equal(lines + metrics.access_log_dropped, total);
  assert_true(lines > ACCESS_LOG_BUFFER / 1024);    /* the buffer was used up, not the disk waited for */
  one_request("/after", "probe/after", NULL, ROUTE_DYNAMIC, 1, 200, 0);
  finish_writes(f);
  text = slurp(f->path);
  assert_non_null(strstr(text, "/after"));
  free(text);
}

/* After a rotation moved the file, a reopen makes a new one at the path. */
static void test_reopen(void **state) {
  fixture *f = open_log(state, 0);
  char rotated[128], *text;

  one_request("/before", NULL, NULL, ROUTE_DYNAMIC, 1, 200, 0);
  finish_writes(f);
  snprintf(rotated, sizeof(rotated), "%s.1", f->path);
  assert_int_equal(rename(f->path, rotated), 0);
  access_log_reopen();
  finish_writes(f);
  one_request("/after", NULL, NULL, ROUTE_DYNAMIC, 1, 200, 0);
  finish_writes(f);
  text = slurp(f->path);
  assert_non_null(strstr(text, "/after"));
  assert_null(strstr(text, "/before"));
  free(text);
  text = slurp(rotated);
  assert_null(strstr(text, "/after"));
  free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_teardown(test_combined_lines, teardown),
    cmocka_unit_test_teardown(test_combined_escaping, teardown),
    cmocka_unit_test_teardown(test_json_escaping, teardown),
    cmocka_unit_test_teardown(test_forgotten_requests, teardown),
    cmocka_unit_test_teardown(test_a_full_buffer_drops_and_counts, teardown),
    cmocka_unit_test_teardown(test_reopen, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
