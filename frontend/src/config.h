/* config: the frontend's settings, from flags and TANDEM_* environment
 * variables.  Ground level: config.c calls only log and ipnet. */
#ifndef TDM_CONFIG_H
#define TDM_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ipnet.h"

#define CONFIG_MAX_STATIC 32
#define CONFIG_MAX_IDS 32

typedef struct static_mount {
  char *prefix;        /* "/static", no trailing slash ("" for "/"); owner: config */
  size_t prefix_len;
  char *dir;           /* absolute, resolved at startup; owner: config */
  size_t dir_len;
  long max_age;        /* Cache-Control max-age in seconds; -1: none */
} static_mount;

/* --static-max-age: SECONDS for every mount (prefix NULL) or PREFIX=SECONDS. */
typedef struct static_max_age {
  char *prefix;        /* owner: config */
  long seconds;
} static_max_age;

typedef struct config {
  char *listen_host;   /* owner: config */
  int listen_port;
  int reuse_port;      /* listen with SO_REUSEPORT (--reuse-port) */
  char *backend_socket;
  mode_t backend_socket_mode;
  int backend_socket_mode_set;   /* given by the user, not the default */
  long backend_socket_gid;       /* -1: the frontend's own group */
  long allow_uids[CONFIG_MAX_IDS];
  int nallow_uids;
  long allow_gids[CONFIG_MAX_IDS];
  int nallow_gids;
  static_mount statics[CONFIG_MAX_STATIC];
  int nstatics;
  static_max_age max_ages[CONFIG_MAX_STATIC];
  int nmax_ages;
  size_t static_cache_size;      /* bytes of small files kept in memory; 0: none */
  int static_follow_symlinks;    /* follow symlinks out of a mount's directory */
  int static_listing;            /* list a directory without an index.html */
  int static_fallthrough;        /* a mount's missing files go to the backends */
  int max_connections;
  unsigned keepalive_timeout_ms;
  unsigned header_timeout_ms;     /* the whole head */
  unsigned body_timeout_ms;       /* between two reads of a body */
  unsigned send_timeout_ms;       /* between two writes the client took */
  unsigned request_timeout_ms;   /* 0: none */
  unsigned backend_wait_ms;      /* 0: 503 at once when no backend has room */
  unsigned backend_queue;
  unsigned shutdown_timeout_ms;
  size_t max_request_line;        /* bytes; over it, 414 */
  unsigned max_headers;           /* header fields; over it, 431 */
  size_t max_header_size;
  uint64_t max_body_size;        /* 0: unlimited */
  ipnet_list forwarded_allow;    /* --forwarded-allow-ips: the proxies whose headers count */
  uint64_t ws_max_message;       /* largest WebSocket message from a client */
  unsigned ws_ping_interval_ms;  /* 0: no pings */
  unsigned ws_ping_timeout_ms;
  char *record;                  /* --record FILE, or NULL; owner: config */
  int check_only;                /* --check-config: check, say so, exit */
  char *access_log;              /* --access-log PATH, "-" for stderr, NULL: off; owner: config */
  int access_log_json;           /* --access-log-format json */
  char *metrics_host;            /* --metrics-listen's host, NULL: off; owner: config */
  int metrics_port;
  int log_level;
} config;

/* Fills c from the environment, then argv.  On a bad value it prints a
 * message naming the flag and returns -EINVAL; for --help/--version it prints
 * and returns 1; 0 means run. */
int config_load(config *c, int argc, char **argv);
void config_free(config *c);

/* --check-config: what would stop the start beyond the values themselves
 * (the listen address resolves; the backend socket's and --record's folders
 * exist and are writable).  Prints the verdict; returns 0 if valid, else 1. */
int config_check(const config *c);

#endif /* TDM_CONFIG_H */
