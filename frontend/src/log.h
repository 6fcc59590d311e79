/* log: leveled log lines on stderr, one write per line.  Every byte of a
 * message that is not printable ASCII is written as \xHH, so no string in
 * it (a client's path or target) can end the line, fake another, or send a
 * terminal an escape sequence.  Ground level: it names no other module. */
#ifndef TDM_LOG_H
#define TDM_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

extern enum log_level log_threshold;

/* Parses "error", "warn", "info" or "debug"; returns -EINVAL for anything else. */
int log_parse_level(const char *name);

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)                                                         \
  do { if (log_threshold >= LOG_WARN) log_msg(LOG_WARN, __VA_ARGS__); } while (0)
#define log_info(...)                                                         \
  do { if (log_threshold >= LOG_INFO) log_msg(LOG_INFO, __VA_ARGS__); } while (0)
#define log_debug(...)                                                        \
  do { if (log_threshold >= LOG_DEBUG) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)

#endif /* TDM_LOG_H */
