/* route: static mounts first, then the backends (see route.h). */
#include "route.h"

#include <stdio.h>
#include <string.h>

#include <llhttp.h>

#include "access_log.h"
#include "http_head.h"
#include "metrics.h"
#include "proxy.h"
#include "static.h"

#define ROUTE_MAX_LOCATION 8192

/* Whether the normalised path p[0..len) is m's prefix or lies under it. */
static int mount_matches(const static_mount *m, const char *p, size_t len) {
  if (len < m->prefix_len || memcmp(p, m->prefix, m->prefix_len) != 0)
    return 0;
  return len == m->prefix_len || p[m->prefix_len] == '/' || m->prefix_len == 0;
}

void route_fallthrough(http_req *req) {
  if (!proxy_request(req))
    http_req_unhold(req);
}

/* req's path is under mount m. */
static void route_static(http_req *req, const static_mount *m, const char *path, size_t len) {
  int method = http_req_method(req);
  int through = http_req_ctx(req)->cfg->static_fallthrough;
  const char *raw;
  size_t raw_len;

  access_req_route(http_req_access(req), ROUTE_STATIC);
  if (len == m->prefix_len && m->prefix_len > 0) {
    /* "/static" itself: the directory, with a slash (and the query, as nginx keeps it). */
    char loc[ROUTE_MAX_LOCATION * 2], query[ROUTE_MAX_LOCATION];
    static_query_suffix(http_req_head(req), query, sizeof(query));
    snprintf(loc, sizeof(loc), "location: %.*s/%s\r\n", (int) m->prefix_len, m->prefix, query);
    http_req_local(req, 301, loc, "Moved Permanently\n", 0);
    return;
  }
  raw = http_req_raw_path(req, &raw_len);
  if (http_path_has_encoded_slash(raw, raw_len) || memchr(path, '\\', len) != NULL) {
    http_req_local(req, 404, NULL, "Not Found\n", 0);
    return;
  }
  if (through && (method != HTTP_GET && method != HTTP_HEAD ? 1 : http_path_is_hidden(path + m->prefix_len,
                                                                                   len - m->prefix_len))) {
    proxy_request(req);         /* never a file of the mount: the application's */
    return;
  }
  if (method != HTTP_GET && method != HTTP_HEAD) {
    http_req_local(req, 405, "allow: GET, HEAD\r\n", "Method Not Allowed\n", 0);
    return;
  }
  if (http_path_is_hidden(path + m->prefix_len, len - m->prefix_len)) {
    http_req_local(req, 404, NULL, "Not Found\n", 0);
    return;
  }
  /* With fallthrough the head must outlive the look at the disk, since the
   * backend may need it: the parser waits after it (static unholds). */
  if (through)
    http_req_hold(req);
  static_serve(req, m, path + m->prefix_len, len - m->prefix_len);
}

void route_request(http_req *req) {
  const config *cfg = http_req_ctx(req)->cfg;
  size_t len;
  const char *path = http_req_path(req, &len);

  if (path != NULL) {
    for (int i = 0; i < cfg->nstatics; i++) {
      if (mount_matches(&cfg->statics[i], path, len)) {
        route_static(req, &cfg->statics[i], path, len);
        return;
      }
    }
  }
  proxy_request(req);
}
