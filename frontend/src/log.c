/* log: leveled log lines on stderr (see log.h).  Ground level: it calls
 * only the C library. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum log_level log_threshold = LOG_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

int log_parse_level(const char *name) {
  for (int i = 0; i < (int) (sizeof(level_names) / sizeof(level_names[0])); i++)
    if (strcmp(name, level_names[i]) == 0)
      return i;
  if (strcmp(name, "warning") == 0)
    return LOG_WARN;
  return -EINVAL;
}

void log_msg(enum log_level level, const char *fmt, ...) {
  char line[1024];
  struct timespec ts;
  struct tm tm;
  va_list ap;
  int n;

  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ tandem-frontend[%d] %s: ",
               tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
               tm.tm_sec, ts.tv_nsec / 1000000, (int) getpid(), level_names[level]);
  va_start(ap, fmt);
  n += vsnprintf(line + n, sizeof(line) - n, fmt, ap);
  va_end(ap);
  if (n > (int) sizeof(line) - 2)
    n = sizeof(line) - 2;
  line[n++] = '\n';
  /* One write(2) per line so that lines from several processes do not interleave;
   * a short write on stderr is not worth retrying. */
  if (write(STDERR_FILENO, line, n) < 0) {
    /* Nowhere left to report it. */
  }
}
