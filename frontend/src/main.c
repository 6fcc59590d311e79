/* tandem-frontend: parse the configuration, listen, run the loop.  It calls
 * config, log, server, http_ident (to seed the request ids), and at exit
 * static (to free its pool), record and access_log (to write the rest of a
 * recording and of the log). */
#include <stdio.h>
#include <stdlib.h>

#include <uv.h>

#include "access_log.h"
#include "config.h"
#include "http_ident.h"
#include "log.h"
#include "record.h"
#include "server.h"
#include "static.h"

int main(int argc, char **argv) {
  static config cfg;
  static server s;
  uv_loop_t *loop = uv_default_loop();
  int rc;

  rc = config_load(&cfg, argc, argv);
  if (rc != 0) {
    config_free(&cfg);
    return rc > 0 ? 0 : 2;
  }
  if (cfg.check_only) {
    rc = config_check(&cfg);
    config_free(&cfg);
    return rc;
  }
  log_threshold = (enum log_level) cfg.log_level;
  if (http_ident_init() != 0)
    log_warn("no randomness for request ids yet: made from the time and the pid instead");
  server_init(&s, loop, &cfg);
  if (server_listen(&s) != 0) {
    server_stop(&s);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    record_close();
    access_log_close();
    config_free(&cfg);
    return 1;
  }
  uv_run(loop, UV_RUN_DEFAULT);
  /* Closing handles of connections closed during shutdown. */
  uv_run(loop, UV_RUN_DEFAULT);
  static_pool_free();
  record_close();
  access_log_close();
  rc = uv_loop_close(loop);
  if (rc != 0)
    log_warn("loop closed with handles still open: %s", uv_strerror(rc));
  log_info("stopped");
  config_free(&cfg);
  return 0;
}
