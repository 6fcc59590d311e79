/* Tests of the log lines (frontend/src/log.c): what a message holds is
 * written so that it cannot end its line, fake another, or reach a terminal
 * as an escape sequence.  stderr goes to a temporary file while a test logs.
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

#include "log.h"

/* Runs log_msg(LOG_INFO, "%s", msg) with stderr in a file; returns what was
 * written after the line's prefix (the "info: "), in out. */
static void logged(const char *msg, size_t msg_len, char *out, size_t cap) {
  FILE *f = tmpfile();
  int saved = dup(STDERR_FILENO);
  size_t n;
  char *body;

  assert_non_null(f);
  assert_true(saved >= 0);
  assert_int_equal(dup2(fileno(f), STDERR_FILENO), STDERR_FILENO);
  log_msg(LOG_INFO, "got %.*s end", (int) msg_len, msg);
  assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
  close(saved);
  rewind(f);
  n = fread(out, 1, cap - 1, f);
  out[n] = '\0';
  fclose(f);
  body = strstr(out, "info: ");
  assert_non_null(body);
  memmove(out, body + 6, strlen(body + 6) + 1);
}

static void test_plain_text_kept(void **state) {
  char out[2048];
  (void) state;

  logged("GET /a?b=\"c\" 200", 17, out, sizeof(out));
  assert_string_equal(out, "got GET /a?b=\"c\" 200 end\n");
}

/* One line per message, whatever it holds. */
static void test_control_bytes_escaped(void **state) {
  static const char msg[] = "/a\r\n2026-01-01T00:00:00.000Z tandem-frontend[1] error: fake\x1b[2J\x7f\x80\xff\tz";
  char out[2048];
  (void) state;

  logged(msg, sizeof(msg) - 1, out, sizeof(out));
  assert_string_equal(out, "got /a\\x0d\\x0a2026-01-01T00:00:00.000Z tandem-frontend[1] error: fake"
                           "\\x1b[2J\\x7f\\x80\\xff\\x09z end\n");
  assert_int_equal(strchr(out, '\n'), out + strlen(out) - 1);
}

/* A message too long for the line is cut, never in the middle of an
 * escape, and the line still ends with its newline. */
static void test_long_message_cut_whole(void **state) {
  char msg[3000], out[4096];
  size_t len;
  (void) state;

  memset(msg, '\n', sizeof(msg));
  logged(msg, sizeof(msg), out, sizeof(out));
  len = strlen(out);
  assert_true(len > 1000);
  assert_int_equal(out[len - 1], '\n');
  assert_int_equal(strchr(out, '\n'), out + len - 1);
  /* Only whole escapes after "got ". */
  assert_int_equal((len - 1 - 4) % 4, 0);
  assert_memory_equal(out + len - 5, "\\x0a", 4);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_plain_text_kept),
    cmocka_unit_test(test_control_bytes_escaped),
    cmocka_unit_test(test_long_message_cut_whole),
  };

  if (getenv("TDM_TEST_FILTER") != NULL)
    cmocka_set_test_filter(getenv("TDM_TEST_FILTER"));
  return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
