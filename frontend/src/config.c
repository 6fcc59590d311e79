/* config: the frontend's settings, one row per setting in CONFIG_OPTIONS
 * (flag, environment variable, default, help), read from the environment
 * and then the command line.  Ground level: it calls log, ipnet and the C
 * library. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <pwd.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipnet.h"
#include "log.h"

#define TANDEM_VERSION "0.1.0"

/* One row per setting: the flag, its environment variable, the default and the help text. */
#define CONFIG_OPTIONS(XX)                                                                        \
  XX(LISTEN, "listen", "TANDEM_LISTEN", "127.0.0.1:8080",                                         \
     "HOST:PORT to accept HTTP clients on")                                                       \
  XX(REUSE_PORT, "reuse-port", "TANDEM_REUSE_PORT", "0",                                           \
     "on (alone, or 1) to listen with SO_REUSEPORT: several frontends started so on one HOST:PORT " \
     "share its clients, the kernel spreading new connections over them (0: the port is this "    \
     "frontend's alone)")                                                                         \
  XX(BACKEND_SOCKET, "backend-socket", "TANDEM_BACKEND_SOCKET", "/run/tandem/backend.sock",       \
     "Unix socket path that backends connect to (created by the frontend)")                       \
  XX(BACKEND_SOCKET_MODE, "backend-socket-mode", "TANDEM_BACKEND_SOCKET_MODE", "0600",            \
     "permission bits of the backend socket (octal; 0660 when --backend-socket-group is given)")  \
  XX(BACKEND_SOCKET_GROUP, "backend-socket-group", "TANDEM_BACKEND_SOCKET_GROUP", "",             \
     "group (name or number) that owns the backend socket; its members may connect")              \
  XX(BACKEND_ALLOW_UID, "backend-allow-uid", "TANDEM_BACKEND_ALLOW_UID", "",                      \
     "more users (names or numbers, comma-separated) whose backends are accepted, besides "       \
     "the frontend's own user")                                                                   \
  XX(BACKEND_ALLOW_GID, "backend-allow-gid", "TANDEM_BACKEND_ALLOW_GID", "",                      \
     "groups (names or numbers, comma-separated) whose backends are accepted")                    \
  XX(STATIC, "static", "TANDEM_STATIC", "",                                                       \
     "PREFIX=DIR: serve files under DIR at URL PREFIX (repeatable; the variable takes a "         \
     "comma-separated list)")                                                                     \
  XX(STATIC_MAX_AGE, "static-max-age", "TANDEM_STATIC_MAX_AGE", "",                               \
     "SECONDS or PREFIX=SECONDS: send Cache-Control: public, max-age=SECONDS with the files of "  \
     "every mount, or of the mount at PREFIX (repeatable; the variable takes a comma-separated " \
     "list; default: no Cache-Control)")                                                          \
  XX(STATIC_CACHE_SIZE, "static-cache-size", "TANDEM_STATIC_CACHE_SIZE", "8388608",               \
     "bytes of small static files (64 KiB or less) kept in memory, least recently used first "   \
     "out (0: none)")                                                                             \
  XX(STATIC_FOLLOW_SYMLINKS, "static-follow-symlinks", "TANDEM_STATIC_FOLLOW_SYMLINKS", "0",        \
     "on (alone, or 1) to follow symlinks that lead out of a mount's directory (0: such a link "  \
     "is 404)")                                                                                   \
  XX(STATIC_LISTING, "static-listing", "TANDEM_STATIC_LISTING", "0",                               \
     "on (alone, or 1) to answer a directory without an index.html with a listing of its files " \
     "(0: 404)")                                                                                  \
  XX(STATIC_FALLTHROUGH, "static-fallthrough", "TANDEM_STATIC_FALLTHROUGH", "0",                   \
     "on (alone, or 1) to send a request under a mount that names no file (and any but GET and "  \
     "HEAD) to the backends, as nginx's try_files (0: the mount answers 404 and 405 itself)")     \
  XX(MAX_CONNECTIONS, "max-connections", "TANDEM_MAX_CONNECTIONS", "10000",                       \
     "client connections open at once, WebSockets included; more are closed at accept, as are "     \
     "clients that arrive when no file descriptor is left")                                       \
  XX(KEEPALIVE_TIMEOUT, "keepalive-timeout", "TANDEM_KEEPALIVE_TIMEOUT", "75",                    \
     "seconds an idle keep-alive connection stays open")                                          \
  XX(HEADER_TIMEOUT, "header-timeout", "TANDEM_HEADER_TIMEOUT", "60",                             \
     "seconds a client has to send a request's whole head before 408")                            \
  XX(BODY_TIMEOUT, "body-timeout", "TANDEM_BODY_TIMEOUT", "60",                                   \
     "seconds a client may send no byte of a request body it has begun before 408")               \
  XX(SEND_TIMEOUT, "send-timeout", "TANDEM_SEND_TIMEOUT", "60",                                   \
     "seconds a client may take no byte of its response before its connection is closed")         \
  XX(REQUEST_TIMEOUT, "request-timeout", "TANDEM_REQUEST_TIMEOUT", "60",                          \
     "seconds a request may go without a frame from its backend before 504 (0: never)")          \
  XX(BACKEND_WAIT, "backend-wait", "TANDEM_BACKEND_WAIT", "5",                                    \
     "seconds a request waits for a backend with room before 503 (0: answer 503 at once)")       \
  XX(BACKEND_QUEUE, "backend-queue", "TANDEM_BACKEND_QUEUE", "1024",                              \
     "requests that may wait for a backend at once; more get 503 at once")                        \
  XX(SHUTDOWN_TIMEOUT, "shutdown-timeout", "TANDEM_SHUTDOWN_TIMEOUT", "30",                       \
     "seconds SIGTERM waits for requests in flight before closing everything")                    \
  XX(MAX_REQUEST_LINE, "max-request-line", "TANDEM_MAX_REQUEST_LINE", "8192",                    \
     "bytes of the request line (method, target, version) before answering 414")                  \
  XX(MAX_HEADERS, "max-headers", "TANDEM_MAX_HEADERS", "100",                                     \
     "header fields of a request before answering 431")                                           \
  XX(MAX_HEADER_SIZE, "max-header-size", "TANDEM_MAX_HEADER_SIZE", "65536",                       \
     "bytes of request line plus headers before answering 431")                                   \
  XX(MAX_BODY_SIZE, "max-body-size", "TANDEM_MAX_BODY_SIZE", "0",                                 \
     "largest request body in bytes before answering 413 (0: no limit)")                          \
  XX(FORWARDED_ALLOW_IPS, "forwarded-allow-ips", "TANDEM_FORWARDED_ALLOW_IPS", "127.0.0.1,::1",   \
     "comma-separated IP addresses and ADDRESS/PREFIX networks of proxies whose X-Forwarded-For, " \
     "X-Forwarded-Proto, Forwarded and X-Request-Id are believed ('*': any peer; '': none); "    \
     "the client address and scheme the backend sees are then the forwarded ones")               \
  XX(WS_MAX_MESSAGE, "ws-max-message", "TANDEM_WS_MAX_MESSAGE", "16777216",                       \
     "largest WebSocket message in bytes a client may send; a larger one closes the WebSocket "  \
     "with 1009")                                                                                 \
  XX(WS_PING_INTERVAL, "ws-ping-interval", "TANDEM_WS_PING_INTERVAL", "20",                       \
     "seconds a WebSocket may be silent before the frontend pings the client (0: never)")        \
  XX(WS_PING_TIMEOUT, "ws-ping-timeout", "TANDEM_WS_PING_TIMEOUT", "20",                          \
     "seconds a client has to answer a ping, or a close, before its WebSocket is dropped")        \
  XX(RECORD, "record", "TANDEM_RECORD", "",                                                        \
     "FILE: write every byte exchanged with backends, timed, to FILE (created mode 0600; it holds " \
     "the requests' headers and bodies) for python3 -m tandem.replay (default: off)")           \
  XX(ACCESS_LOG, "access-log", "TANDEM_ACCESS_LOG", "off",                                        \
     "PATH, - (stderr) or off: one line per request, written without blocking; the file is "       \
     "opened for appending and reopened on SIGUSR1 (log rotation); 1 and 0 are kept "   \
     "as - and off")                                                                              \
  XX(ACCESS_LOG_FORMAT, "access-log-format", "TANDEM_ACCESS_LOG_FORMAT", "combined",               \
     "combined (nginx's, then request time, upstream time, backend PID/GENERATION or static, and " \
     "request id) or json (one object a line)")                                                   \
  XX(METRICS_LISTEN, "metrics-listen", "TANDEM_METRICS_LISTEN", "",                               \
     "HOST:PORT: a second listener serving /metrics (Prometheus text), /status (JSON) and "       \
     "/status.html (a live page); keep it on a private address")                                 \
  XX(LOG_LEVEL, "log-level", "TANDEM_LOG_LEVEL", "info",                                          \
     "error, warn, info or debug (critical and warning too, as the backend spells them)")

enum {
#define XX(id, flag, env, def, help) OPT_##id,
  CONFIG_OPTIONS(XX)
#undef XX
  OPT_HELP,
  OPT_VERSION,
  OPT_CHECK_CONFIG,
  OPT_COUNT
};

static const struct {
  const char *flag;
  const char *env;
  const char *def;
  const char *help;
} options[] = {
#define XX(id, flag, env, def, help) { flag, env, def, help },
  CONFIG_OPTIONS(XX)
#undef XX
};

#define NOPTIONS ((int) (sizeof(options) / sizeof(options[0])))

/* The flags that are on or off (0 or 1): given alone, they mean 1. */
static int is_switch(int opt) {
  return opt == OPT_REUSE_PORT || opt == OPT_STATIC_FOLLOW_SYMLINKS || opt == OPT_STATIC_LISTING ||
         opt == OPT_STATIC_FALLTHROUGH;
}

static void usage(FILE *out) {
  fprintf(out,
          "usage: tandem-frontend [OPTIONS]\n\n"
          "The tandem HTTP frontend: owns client connections, serves static files and\n"
          "forwards every other request to the Python backends connected on a Unix socket.\n\n"
          "Each option can also be set with the environment variable shown; a flag wins.\n\n");
  for (int i = 0; i < NOPTIONS; i++) {
    fprintf(out, "  --%s%s\n      %s\n      [env %s, default: %s]\n", options[i].flag,
            is_switch(i) ? "[=0|1]" : "=VALUE", options[i].help, options[i].env,
            options[i].def[0] ? options[i].def : "none");
  }
  fprintf(out, "  --check-config\n      check the settings, and that the listen addresses resolve and the\n"
               "      folders of the backend socket, --record and --access-log are writable, then exit (0: valid)\n"
               "  --help     show this help and exit\n  --version  print the version and exit\n\n"
               "Signals: SIGTERM, SIGINT or SIGQUIT stops gracefully (the same signal again: at\n"
               "once); SIGUSR1 or SIGHUP reopens the --access-log file (after a log rotation moved\n"
               "it), as nginx's USR1 does; the settings are not read again.\n");
}

static int parse_uint(const char *flag, const char *s, uint64_t max, uint64_t *out) {
  char *end;
  unsigned long long v;

  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max) {
    if (max == 1)   /* a switch */
      fprintf(stderr, "tandem-frontend: --%s: expected 1 (on) or 0 (off), got '%s'\n", flag, s);
    else
      fprintf(stderr, "tandem-frontend: --%s: expected a number up to %llu, got '%s'\n", flag,
              (unsigned long long) max, s);
    return -EINVAL;
  }
  *out = v;
  return 0;
}

/* "HOST:PORT" ("[::1]:PORT" for IPv6; an empty host is 0.0.0.0) into
 * *host (replaced; owner: config) and *port. */
static int parse_listen(const char *flag, const char *s, char **host_out, int *port_out) {
  const char *colon = strrchr(s, ':');
  const char *host = s;
  size_t hlen;
  uint64_t port;

  if (colon == NULL) {
    fprintf(stderr, "tandem-frontend: --%s: expected HOST:PORT, got '%s'\n", flag, s);
    return -EINVAL;
  }
  hlen = colon - s;
  if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
    host++;
    hlen -= 2;
  }
  if (parse_uint(flag, colon + 1, 65535, &port) != 0)
    return -EINVAL;
  free(*host_out);
  *host_out = hlen > 0 ? strndup(host, hlen) : strdup("0.0.0.0");
  *port_out = (int) port;
  return 0;
}

/* --access-log: PATH, "-" (or "1") for stderr, "off" (or "0", or empty). */
static int set_access_log(config *c, const char *value) {
  free(c->access_log);
  c->access_log = NULL;
  if (value[0] == '\0' || strcmp(value, "off") == 0 || strcmp(value, "0") == 0)
    return 0;
  c->access_log = strdup(strcmp(value, "1") == 0 ? "-" : value);
  return 0;
}

/* "PREFIX=DIR": the prefix must start with '/', the directory must exist. */
static int add_static(config *c, const char *spec) {
  const char *eq = strchr(spec, '=');
  char resolved[PATH_MAX];
  struct stat st;
  static_mount *m;
  size_t plen;

  if (eq == NULL || spec[0] != '/' || eq[1] == '\0') {
    fprintf(stderr, "tandem-frontend: --static: expected PREFIX=DIR with PREFIX starting with '/', "
                    "got '%s'\n", spec);
    return -EINVAL;
  }
  if (c->nstatics == CONFIG_MAX_STATIC) {
    fprintf(stderr, "tandem-frontend: --static: at most %d mounts\n", CONFIG_MAX_STATIC);
    return -EINVAL;
  }
  /* Startup, before the loop runs: blocking file system calls are fine here. */
  if (realpath(eq + 1, resolved) == NULL || stat(resolved, &st) != 0 || !S_ISDIR(st.st_mode)) {
    fprintf(stderr, "tandem-frontend: --static: '%s' is not a directory\n", eq + 1);
    return -EINVAL;
  }
  plen = eq - spec;
  while (plen > 0 && spec[plen - 1] == '/')
    plen--;
  m = &c->statics[c->nstatics++];
  m->prefix = strndup(spec, plen);
  m->prefix_len = plen;
  m->dir = strdup(resolved);
  m->dir_len = strlen(resolved);
  m->max_age = -1;
  return 0;
}

/* "SECONDS" or "PREFIX=SECONDS"; the prefix is matched to a mount once every
 * option is read (resolve_max_ages). */
static int add_max_age(config *c, const char *spec) {
  const char *eq = strchr(spec, '=');
  static_max_age *a;
  uint64_t v;
  size_t plen;

  if (parse_uint("static-max-age", eq != NULL ? eq + 1 : spec, 10L * 365 * 86400, &v) != 0)
    return -EINVAL;
  if (eq != NULL && spec[0] != '/') {
    fprintf(stderr, "tandem-frontend: --static-max-age: expected SECONDS or PREFIX=SECONDS, got '%s'\n", spec);
    return -EINVAL;
  }
  if (c->nmax_ages == CONFIG_MAX_STATIC) {
    fprintf(stderr, "tandem-frontend: --static-max-age: at most %d\n", CONFIG_MAX_STATIC);
    return -EINVAL;
  }
  a = &c->max_ages[c->nmax_ages++];
  a->prefix = NULL;
  a->seconds = (long) v;
  if (eq != NULL) {
    plen = (size_t) (eq - spec);
    while (plen > 0 && spec[plen - 1] == '/')
      plen--;
    a->prefix = strndup(spec, plen);
  }
  return 0;
}

/* Sets a's seconds on the mounts it names (all, without a prefix). */
static int apply_max_age(config *c, const static_max_age *a) {
  int found = a->prefix == NULL;

  for (int j = 0; j < c->nstatics; j++) {
    static_mount *m = &c->statics[j];
    if (a->prefix == NULL || strcmp(a->prefix, m->prefix) == 0) {
      m->max_age = a->seconds;
      found = 1;
    }
  }
  if (!found) {
    fprintf(stderr, "tandem-frontend: --static-max-age: no --static mount at '%s'\n", a->prefix);
    return -EINVAL;
  }
  return 0;
}

/* Each mount's max-age: the last PREFIX=SECONDS naming it, else the last
 * SECONDS, else none, whatever their order on the command line.  A prefix
 * that is no mount's is a mistake. */
static int resolve_max_ages(config *c) {
  for (int i = 0; i < c->nmax_ages; i++)
    if (c->max_ages[i].prefix == NULL && apply_max_age(c, &c->max_ages[i]) != 0)
      return -EINVAL;
  for (int i = 0; i < c->nmax_ages; i++)
    if (c->max_ages[i].prefix != NULL && apply_max_age(c, &c->max_ages[i]) != 0)
      return -EINVAL;
  return 0;
}

static void free_max_ages(config *c) {
  for (int i = 0; i < c->nmax_ages; i++)
    free(c->max_ages[i].prefix);
  c->nmax_ages = 0;
}

/* A comma-separated list of user (users != 0) or group names or numbers.
 * Startup only: getpwnam and getgrnam may read files. */
static int parse_id_list(const char *flag, const char *value, int users, long *out, int max,
                         int *count) {
  char *copy = strdup(value), *save = NULL, *tok;
  int n = 0, rc = 0;

  for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
    char *end;
    long id = strtol(tok, &end, 10);
    if (*tok == '\0')
      continue;
    if (end == tok || *end != '\0' || id < 0) {
      struct passwd *pw = users ? getpwnam(tok) : NULL;
      struct group *gr = users ? NULL : getgrnam(tok);
      if (pw == NULL && gr == NULL) {
        fprintf(stderr, "tandem-frontend: --%s: no such %s '%s'\n", flag, users ? "user" : "group", tok);
        rc = -EINVAL;
        break;
      }
      id = pw != NULL ? (long) pw->pw_uid : (long) gr->gr_gid;
    }
    if (n == max) {
      fprintf(stderr, "tandem-frontend: --%s: at most %d entries\n", flag, max);
      rc = -EINVAL;
      break;
    }
    out[n++] = id;
  }
  free(copy);
  if (count != NULL)
    *count = n;
  return rc;
}

/* How a number setting is stored: the field's type, and seconds kept as
 * milliseconds. */
enum { NUM_INT, NUM_UNSIGNED, NUM_SIZE, NUM_U64, NUM_MS };

/* The settings that are numbers, one row each: the smallest and largest
 * value taken, and where the value goes. */
static const struct {
  int id;
  uint64_t min, max;
  int kind;
  size_t offset;
} numbers[] = {
  { OPT_REUSE_PORT, 0, 1, NUM_INT, offsetof(config, reuse_port) },
  { OPT_MAX_CONNECTIONS, 1, 1000000, NUM_INT, offsetof(config, max_connections) },
  { OPT_KEEPALIVE_TIMEOUT, 0, 86400, NUM_MS, offsetof(config, keepalive_timeout_ms) },
  { OPT_HEADER_TIMEOUT, 1, 86400, NUM_MS, offsetof(config, header_timeout_ms) },
  { OPT_BODY_TIMEOUT, 1, 86400, NUM_MS, offsetof(config, body_timeout_ms) },
  { OPT_SEND_TIMEOUT, 1, 86400, NUM_MS, offsetof(config, send_timeout_ms) },
  { OPT_REQUEST_TIMEOUT, 0, 86400, NUM_MS, offsetof(config, request_timeout_ms) },
  { OPT_BACKEND_WAIT, 0, 3600, NUM_MS, offsetof(config, backend_wait_ms) },
  { OPT_BACKEND_QUEUE, 0, 1000000, NUM_UNSIGNED, offsetof(config, backend_queue) },
  { OPT_SHUTDOWN_TIMEOUT, 0, 86400, NUM_MS, offsetof(config, shutdown_timeout_ms) },
  /* The request line must hold at least "GET / HTTP/1.1" with a short
   * target; the head at least one such line and a few headers. */
  { OPT_MAX_REQUEST_LINE, 64, 1 << 20, NUM_SIZE, offsetof(config, max_request_line) },
  { OPT_MAX_HEADERS, 1, 10000, NUM_UNSIGNED, offsetof(config, max_headers) },
  { OPT_MAX_HEADER_SIZE, 1024, 1 << 20, NUM_SIZE, offsetof(config, max_header_size) },
  { OPT_MAX_BODY_SIZE, 0, UINT64_MAX, NUM_U64, offsetof(config, max_body_size) },
  { OPT_STATIC_FOLLOW_SYMLINKS, 0, 1, NUM_INT, offsetof(config, static_follow_symlinks) },
  { OPT_STATIC_FALLTHROUGH, 0, 1, NUM_INT, offsetof(config, static_fallthrough) },
  { OPT_STATIC_LISTING, 0, 1, NUM_INT, offsetof(config, static_listing) },
  { OPT_STATIC_CACHE_SIZE, 0, (uint64_t) 1 << 40, NUM_SIZE, offsetof(config, static_cache_size) },
  { OPT_WS_MAX_MESSAGE, 1, UINT32_MAX, NUM_U64, offsetof(config, ws_max_message) },
  { OPT_WS_PING_INTERVAL, 0, 86400, NUM_MS, offsetof(config, ws_ping_interval_ms) },
  { OPT_WS_PING_TIMEOUT, 1, 86400, NUM_MS, offsetof(config, ws_ping_timeout_ms) },
};

#define NNUMBERS ((int) (sizeof(numbers) / sizeof(numbers[0])))

/* The settings that are numbers (and the log level).  Returns 0, -EINVAL if
 * value is not one in range (after saying so), or 1 if id is not such a
 * setting. */
static int set_number(config *c, int id, const char *value) {
  uint64_t v;

  if (id == OPT_LOG_LEVEL) {
    c->log_level = log_parse_level(value);
    if (c->log_level < 0) {
      fprintf(stderr, "tandem-frontend: --log-level: expected error, warn, info or debug, "
                      "got '%s'\n", value);
      return -EINVAL;
    }
    return 0;
  }
  for (int i = 0; i < NNUMBERS; i++) {
    char *field = (char *) c + numbers[i].offset;
    if (numbers[i].id != id)
      continue;
    if (parse_uint(options[id].flag, value, numbers[i].max, &v) != 0)
      return -EINVAL;
    if (v < numbers[i].min) {
      fprintf(stderr, "tandem-frontend: --%s: must be at least %llu\n", options[id].flag,
              (unsigned long long) numbers[i].min);
      return -EINVAL;
    }
    switch (numbers[i].kind) {
    case NUM_INT: *(int *) field = (int) v; break;
    case NUM_UNSIGNED: *(unsigned *) field = (unsigned) v; break;
    case NUM_SIZE: *(size_t *) field = (size_t) v; break;
    case NUM_U64: *(uint64_t *) field = v; break;
    case NUM_MS: *(unsigned *) field = (unsigned) v * 1000; break;
    }
    return 0;
  }
  return 1;
}

/* Sets one setting from value; from_user: given as a flag or variable, not
 * the default.  Returns 0, or -EINVAL after saying what is wrong. */
static int set_option(config *c, int id, const char *value, int from_user) {
  int rc = set_number(c, id, value);

  if (rc <= 0)
    return rc;
  switch (id) {
  case OPT_LISTEN:
    return parse_listen("listen", value, &c->listen_host, &c->listen_port);
  case OPT_METRICS_LISTEN:
    free(c->metrics_host);
    c->metrics_host = NULL;
    if (value[0] == '\0' || strcmp(value, "off") == 0)
      return 0;
    return parse_listen("metrics-listen", value, &c->metrics_host, &c->metrics_port);
  case OPT_ACCESS_LOG:
    return set_access_log(c, value);
  case OPT_ACCESS_LOG_FORMAT:
    if (strcmp(value, "combined") != 0 && strcmp(value, "json") != 0) {
      fprintf(stderr, "tandem-frontend: --access-log-format: expected combined or json, got '%s'\n", value);
      return -EINVAL;
    }
    c->access_log_json = strcmp(value, "json") == 0;
    return 0;
  case OPT_BACKEND_SOCKET:
    if (value[0] == '\0' || strlen(value) >= 108) {
      fprintf(stderr, "tandem-frontend: --backend-socket: a path of 1 to 107 bytes is needed\n");
      return -EINVAL;
    }
    free(c->backend_socket);
    c->backend_socket = strdup(value);
    return 0;
  case OPT_BACKEND_SOCKET_MODE: {
    char *end;
    unsigned long mode = strtoul(value, &end, 8);
    if (end == value || *end != '\0' || mode > 0777) {
      fprintf(stderr, "tandem-frontend: --backend-socket-mode: expected octal bits like 0600, "
                      "got '%s'\n", value);
      return -EINVAL;
    }
    c->backend_socket_mode = (mode_t) mode;
    c->backend_socket_mode_set = from_user;
    return 0;
  }
  case OPT_FORWARDED_ALLOW_IPS: {
    char why[160];
    if (ipnet_list_parse(&c->forwarded_allow, value, why, sizeof(why)) != 0) {
      fprintf(stderr, "tandem-frontend: --forwarded-allow-ips: %s\n", why);
      return -EINVAL;
    }
    return 0;
  }
  case OPT_RECORD:
    free(c->record);
    c->record = value[0] != '\0' ? strdup(value) : NULL;
    return 0;
  case OPT_BACKEND_SOCKET_GROUP:
    c->backend_socket_gid = -1;
    if (value[0] == '\0')
      return 0;
    return parse_id_list("backend-socket-group", value, 0, &c->backend_socket_gid, 1, NULL);
  case OPT_BACKEND_ALLOW_UID:
    c->nallow_uids = 0;
    return parse_id_list("backend-allow-uid", value, 1, c->allow_uids, CONFIG_MAX_IDS,
                         &c->nallow_uids);
  case OPT_BACKEND_ALLOW_GID:
    c->nallow_gids = 0;
    return parse_id_list("backend-allow-gid", value, 0, c->allow_gids, CONFIG_MAX_IDS,
                         &c->nallow_gids);
  case OPT_STATIC:
  case OPT_STATIC_MAX_AGE: {
    /* The environment form is a comma-separated list; a flag is one item. */
    char *copy = strdup(value), *save = NULL, *tok;
    int rc = 0;
    for (tok = strtok_r(copy, ",", &save); tok != NULL && rc == 0; tok = strtok_r(NULL, ",", &save))
      if (tok[0] != '\0')
        rc = id == OPT_STATIC ? add_static(c, tok) : add_max_age(c, tok);
    free(copy);
    return rc;
  }
  }
  return -EINVAL;
}

/* A switch given alone may be followed by its value as the next argument
 * ("--static-listing 0"): takes it then.  Returns the switch's value. */
static const char *switch_value(int argc, char **argv) {
  if (optind < argc && (strcmp(argv[optind], "0") == 0 || strcmp(argv[optind], "1") == 0))
    return argv[optind++];
  return "1";
}

int config_load(config *c, int argc, char **argv) {
  struct option longopts[OPT_COUNT + 1];
  unsigned char given[NOPTIONS] = { 0 };
  int i, ch;

  memset(c, 0, sizeof(*c));
  for (i = 0; i < NOPTIONS; i++)
    longopts[i] = (struct option) { options[i].flag, is_switch(i) ? optional_argument : required_argument, NULL, i };
  longopts[OPT_HELP] = (struct option) { "help", no_argument, NULL, OPT_HELP };
  longopts[OPT_VERSION] = (struct option) { "version", no_argument, NULL, OPT_VERSION };
  longopts[OPT_CHECK_CONFIG] = (struct option) { "check-config", no_argument, NULL, OPT_CHECK_CONFIG };
  longopts[OPT_COUNT] = (struct option) { NULL, 0, NULL, 0 };

  /* The flags given, first: a flag wins over its variable, whose value is
   * then neither read nor judged (the flags' own errors are the next pass's). */
  optind = 0;
  opterr = 0;
  while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    if (ch >= 0 && ch < NOPTIONS) {
      given[ch] = 1;
      if (is_switch(ch) && optarg == NULL)
        switch_value(argc, argv);
    }
  }
  for (i = 0; i < NOPTIONS; i++) {
    const char *env = given[i] ? NULL : getenv(options[i].env);
    const char *value = env != NULL ? env : options[i].def;
    if ((i == OPT_STATIC || i == OPT_STATIC_MAX_AGE) && value[0] == '\0')
      continue;
    if (set_option(c, i, value, env != NULL) != 0) {
      if (env != NULL)
        fprintf(stderr, "tandem-frontend: (the value came from %s)\n", options[i].env);
      return -EINVAL;
    }
  }

  optind = 0;
  while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    if (ch == OPT_HELP || ch == 'h') {
      usage(stdout);
      return 1;
    }
    if (ch == OPT_VERSION) {
      printf("tandem-frontend " TANDEM_VERSION " (protocol 1)\n");
      return 1;
    }
    if (ch == OPT_CHECK_CONFIG) {
      c->check_only = 1;
      continue;
    }
    if (ch == '?' || ch == ':') {
      fprintf(stderr, "tandem-frontend: unknown option or missing value: '%s' (see --help)\n",
              argv[optind - 1]);
      return -EINVAL;
    }
    /* A switch alone means 1, as in nginx's on; "--static-listing 0" and
     * "--static-listing=1" work too. */
    if (set_option(c, ch, is_switch(ch) && optarg == NULL ? switch_value(argc, argv) : optarg, 1) != 0)
      return -EINVAL;
  }
  if (optind < argc) {
    fprintf(stderr, "tandem-frontend: unexpected argument '%s' (see --help)\n", argv[optind]);
    return -EINVAL;
  }
  /* A group that owns the socket is there to let its members in. */
  if (c->backend_socket_gid >= 0 && !c->backend_socket_mode_set)
    c->backend_socket_mode = 0660;
  return resolve_max_ages(c);
}

void config_free(config *c) {
  free_max_ages(c);
  free(c->listen_host);
  free(c->backend_socket);
  free(c->record);
  free(c->access_log);
  free(c->metrics_host);
  for (int i = 0; i < c->nstatics; i++) {
    free(c->statics[i].prefix);
    free(c->statics[i].dir);
  }
  memset(c, 0, sizeof(*c));
}

/* A folder the frontend must create a file in: it exists and is writable,
 * or with create, it is missing and can be made (its parent exists and is
 * writable), as the backend socket's is (upstream.c).  Returns 0, or -1
 * after saying what is wrong. */
static int writable_folder(const char *what, const char *path, int create) {
  char dir[PATH_MAX];
  const char *slash = strrchr(path, '/');
  size_t len = slash == NULL ? 1 : slash == path ? 1 : (size_t) (slash - path);
  struct stat st;

  if (len >= sizeof(dir))
    return -1;
  memcpy(dir, slash == NULL ? "." : path, len);
  dir[len] = '\0';
  if (create && slash != NULL && slash != path && stat(dir, &st) != 0 && errno == ENOENT)
    return writable_folder(what, dir, 0);
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || access(dir, W_OK | X_OK) != 0) {
    fprintf(stderr, "tandem-frontend: %s: cannot create %s: %s is %s\n", what, path, dir,
            stat(dir, &st) != 0 ? "missing" : !S_ISDIR(st.st_mode) ? "not a folder" : "not writable");
    return -1;
  }
  return 0;
}

/* A file the frontend appends to: it exists and is a writable file, or it
 * can be created.  Returns 0, or -1 after saying what is wrong. */
static int appendable(const char *what, const char *path) {
  struct stat st;

  if (stat(path, &st) != 0)
    return writable_folder(what, path, 0);
  if (S_ISDIR(st.st_mode) || access(path, W_OK) != 0) {
    fprintf(stderr, "tandem-frontend: %s: %s is %s\n", what, path, S_ISDIR(st.st_mode) ? "a folder" : "not writable");
    return -1;
  }
  return 0;
}

/* Whether host resolves for listening.  Returns 0, or -1 after saying why. */
static int resolvable(const char *flag, const char *host) {
  struct addrinfo hints, *res = NULL;
  int rc;

  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  rc = getaddrinfo(host, "80", &hints, &res);
  freeaddrinfo(res);
  if (rc == 0)
    return 0;
  fprintf(stderr, "tandem-frontend: %s: cannot resolve %s: %s\n", flag, host, gai_strerror(rc));
  return -1;
}

int config_check(const config *c) {
  int bad = 0;

  bad |= resolvable("--listen", c->listen_host) != 0;
  if (c->metrics_host != NULL)
    bad |= resolvable("--metrics-listen", c->metrics_host) != 0;
  bad |= writable_folder("--backend-socket", c->backend_socket, 1) != 0;
  if (c->record != NULL)
    bad |= writable_folder("--record", c->record, 0) != 0;
  if (c->access_log != NULL && strcmp(c->access_log, "-") != 0)
    bad |= appendable("--access-log", c->access_log) != 0;
  if (bad)
    return 1;
  printf("tandem-frontend: the configuration is valid (listen %s:%d, backend socket %s, %d static mount%s)\n",
         c->listen_host, c->listen_port, c->backend_socket, c->nstatics, c->nstatics == 1 ? "" : "s");
  return 0;
}
