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
  /* The backend's spellings (Python's logging), which TANDEM_LOG_LEVEL may
   * be shared with; there is nothing above error here. */
  if (strcmp(name, "warning") == 0)
    return LOG_WARN;
  if (strcmp(name, "critical") == 0)
    return LOG_ERROR;
  return -EINVAL;
}

/* Copies src into dst (cap bytes, at least 5) with every byte that is not
 * printable ASCII written as \xHH, as nginx writes its logs: whatever a
 * client managed to put in a logged string (a path, a target) can neither
 * end the line, nor make one that looks like another, nor reach a terminal
 * as an escape sequence.  Returns the length written. */
static size_t escape(char *dst, size_t cap, const char *src, size_t len) {
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;

  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char) src[i];
    if (ch >= 0x20 && ch < 0x7f) {
      if (o + 1 > cap)
        break;
      dst[o++] = (char) ch;
    } else {
      if (o + 4 > cap)
        break;
      dst[o++] = '\\';
      dst[o++] = 'x';
      dst[o++] = hex[ch >> 4];
      dst[o++] = hex[ch & 15];
    }
  }
  return o;
}

void log_msg(enum log_level level, const char *fmt, ...) {
  char msg[1024], line[1024 + 64];
  struct timespec ts;
  struct tm tm;
  va_list ap;
  int n, m;

  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ tandem-frontend[%d] %s: ",
               tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
               tm.tm_sec, ts.tv_nsec / 1000000, (int) getpid(), level_names[level]);
  va_start(ap, fmt);
  m = vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (m < 0)
    m = 0;
  if (m > (int) sizeof(msg) - 1)
    m = sizeof(msg) - 1;
  n += (int) escape(line + n, sizeof(line) - 1 - (size_t) n, msg, (size_t) m);
  line[n++] = '\n';
  /* One write(2) per line so that lines from several processes do not interleave;
   * a short write on stderr is not worth retrying. */
  if (write(STDERR_FILENO, line, n) < 0) {
    /* Nowhere left to report it. */
  }
}
