/* server: listeners, signals and the graceful stop; the wiring of the
 * modules (see server.h). */
#include "server.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "access_log.h"
#include "http_conn.h"
#include "log.h"
#include "proxy.h"
#include "record.h"
#include "route.h"
#include "sock.h"
#include "static.h"
#include "status.h"
#include "upstream.h"
#include "ws.h"

#define LISTEN_BACKLOG 1024

static void server_conn_gone(void *arg);

/* Client connections open: HTTP ones and WebSockets. */
static int server_conns(void) {
  return http_conn_count() + ws_count();
}

static const int server_signals[] = { SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGUSR1, SIGPIPE };
_Static_assert(sizeof(server_signals) / sizeof(server_signals[0]) ==
               sizeof(((server *) 0)->signals) / sizeof(((server *) 0)->signals[0]), "a handle for each signal");

static const char *signal_name(int signum) {
  return signum == SIGINT ? "SIGINT" : signum == SIGTERM ? "SIGTERM" : signum == SIGQUIT ? "SIGQUIT" : "SIGHUP";
}

static void server_on_signal(uv_signal_t *h, int signum) {
  server *srv = h->data;
  const char *name = signal_name(signum);

  if (signum == SIGPIPE)
    return;
  if (signum == SIGUSR1 || signum == SIGHUP) {
    /* nginx's signal for a log rotation: the file moved, open it anew.
     * SIGHUP, nginx's reload, does the same: the settings are the command
     * line's, with nothing to read again; a closed terminal stops nothing. */
    if (signum == SIGHUP)
      log_info("received SIGHUP: reopening the access log (the settings are not read again)");
    access_log_reopen();
    return;
  }
  if (srv->ctx.stopping && srv->stop_signal != 0 && signum != srv->stop_signal) {
    /* Ctrl-C reaches --serve's frontend and its parent, which then sends
     * SIGTERM: only the signal that began the stop, again, cuts it short. */
    log_info("received %s while shutting down; send %s again to close everything now", name,
             signal_name(srv->stop_signal));
    return;
  }
  if (srv->ctx.stopping)
    log_info("received %s again, closing everything now", name);
  else
    log_info("received %s, shutting down: finishing %d connection(s) in flight (at most %u s)",
             name, server_conns(), srv->ctx.cfg->shutdown_timeout_ms / 1000);
  srv->stop_signal = signum;
  server_stop(srv);
}

/* A client was refused (why: a libuv error, or UV_EBUSY for
 * --max-connections): said at most once a second, with how many there were,
 * so that a flood cannot flood the log too. */
static void server_refused(server *s, int why) {
  uint64_t now = uv_now(s->ctx.loop);

  s->refused++;
  if (s->refused_said_at != 0 && now - s->refused_said_at < 1000)
    return;
  if (why == UV_EBUSY)
    log_warn("--max-connections (%d) reached: closed %" PRIu64 " new client(s) at accept", s->ctx.cfg->max_connections,
             s->refused);
  else
    log_warn("accept: %s: %" PRIu64 " client(s) refused", uv_strerror(why), s->refused);
  s->refused = 0;
  s->refused_said_at = now;
}

/* Over --max-connections a client is accepted and closed at once, so the
 * listener never stays readable (no busy loop) and the client learns at
 * once.  Out of file descriptors (EMFILE), libuv does the same with a
 * descriptor it keeps in reserve for that, then tells us. */
static void server_on_connection(uv_stream_t *listener, int status) {
  server *s = listener->data;
  int rc;

  if (status < 0) {
    server_refused(s, status);
    return;
  }
  if (server_conns() >= s->ctx.cfg->max_connections) {
    rc = sock_refuse(listener);
    server_refused(s, rc == 0 ? UV_EBUSY : rc);
    return;
  }
  http_conn_accept(listener);
}

int server_init(server *s, uv_loop_t *loop, const config *cfg) {
  int rc;

  memset(s, 0, sizeof(*s));
  rc = ctx_init(&s->ctx, loop, cfg);
  if (rc != 0)
    return rc;
  s->hooks.route = route_request;
  s->hooks.conn_gone = server_conn_gone;
  s->hooks.arg = s;
  http_conn_init(&s->ctx, &s->hooks);
  static_init(loop, cfg->static_cache_size, cfg->static_follow_symlinks, cfg->static_listing,
              cfg->static_fallthrough ? route_fallthrough : NULL);
  proxy_init(&s->ctx);
  ws_init(&s->ctx, server_conn_gone, s);
  s->listener.data = s;
  /* SIGPIPE among them: a client that resets its connection must not kill
   * the process. */
  for (size_t i = 0; i < sizeof(server_signals) / sizeof(server_signals[0]); i++) {
    s->signals[i].data = s;
    uv_signal_init(loop, &s->signals[i]);
    uv_signal_start(&s->signals[i], server_on_signal, server_signals[i]);
  }
  return 0;
}

/* The port the listener is bound to: the kernel's choice for port 0. */
static int server_port(uv_tcp_t *listener, int asked) {
  struct sockaddr_storage ss;
  int len = sizeof(ss);

  if (asked != 0 || uv_tcp_getsockname(listener, (struct sockaddr *) &ss, &len) != 0)
    return asked;
  return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *) &ss)->sin6_port :
                                          ((struct sockaddr_in *) &ss)->sin_port);
}

/* SO_REUSEPORT on the listener's socket: frontends that all set it share
 * the address (--reuse-port). */
static int reuse_port(uv_tcp_t *listener) {
  uv_os_fd_t fd;
  int on = 1;
  int rc;

  rc = uv_fileno((uv_handle_t *) listener, &fd);
  if (rc == 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0)
    rc = uv_translate_sys_error(errno);
  return rc;
}

int server_listen(server *s) {
  struct addrinfo hints, *res = NULL;
  char port[16];
  int rc;

  const config *cfg = s->ctx.cfg;

  if (cfg->record != NULL && (rc = record_open(&s->ctx, cfg->record)) != 0)
    return rc;
  if ((rc = access_log_open(&s->ctx, cfg)) != 0 || (rc = status_listen(&s->ctx)) != 0)
    return rc;
  rc = upstream_listen();
  if (rc != 0)
    return rc;

  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  snprintf(port, sizeof(port), "%d", cfg->listen_port);
  /* Startup, before the loop runs: a blocking lookup is fine here. */
  rc = getaddrinfo(cfg->listen_host, port, &hints, &res);
  if (rc != 0) {
    log_error("cannot resolve listen address %s: %s", cfg->listen_host, gai_strerror(rc));
    return UV_EINVAL;
  }
  /* The socket is made before the bind so SO_REUSEPORT can be set on it
   * (libuv 1.44's bind has no flag for it). */
  rc = uv_tcp_init_ex(s->ctx.loop, &s->listener, (unsigned) res->ai_family);
  if (rc != 0)
    s->listener.loop = NULL;            /* not a handle: server_stop() leaves it */
  else if (cfg->reuse_port)
    rc = reuse_port(&s->listener);
  if (rc == 0)
    rc = uv_tcp_bind(&s->listener, res->ai_addr, 0);
  freeaddrinfo(res);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *) &s->listener, LISTEN_BACKLOG, server_on_connection);
  if (rc != 0) {
    log_error("cannot listen on %s:%d: %s", cfg->listen_host, cfg->listen_port,
              uv_strerror(rc));
    return rc;
  }
  log_info("listening on http://%s:%d, backends connect to %s", cfg->listen_host,
           server_port(&s->listener, cfg->listen_port), cfg->backend_socket);
  return 0;
}

/* Everything closes now: connections still open, backends (told with
 * GOAWAY), the loop's own handles; then the loop ends. */
static void server_finish(server *s) {
  if (s->finished)
    return;
  s->finished = 1;
  if (s->shutdown_timer_ready)
    uv_close((uv_handle_t *) &s->shutdown_timer, NULL);
  http_conn_close_all();
  status_close();
  ws_close_all();
  proxy_close();
  upstream_close_all();
  /* Flushes the GOAWAYs queued above before the loop stops. */
  ctx_close(&s->ctx);
  for (size_t i = 0; i < sizeof(server_signals) / sizeof(server_signals[0]); i++)
    uv_close((uv_handle_t *) &s->signals[i], NULL);
}

static void server_on_shutdown_timeout(uv_timer_t *t) {
  server *s = t->data;

  log_warn("--shutdown-timeout passed with %d connection(s) still busy; closing them", server_conns());
  server_finish(s);
}

static void server_finish_on_flush(flushable *f) {
  /* A connection may have become a WebSocket since the last one closed. */
  if (server_conns() == 0)
    server_finish((server *) ((char *) f - offsetof(server, finisher)));
}

/* A client connection closed: the last one of a graceful stop ends it. */
static void server_conn_gone(void *arg) {
  server *s = arg;

  if (s->ctx.stopping && server_conns() == 0 && !s->finished) {
    /* From the flush, not from inside whatever closed the connection. */
    s->finisher.flush = server_finish_on_flush;
    ctx_schedule_flush(&s->ctx, &s->finisher);
  }
}

void server_stop(server *s) {
  const config *cfg = s->ctx.cfg;

  if (s->ctx.stopping) {
    server_finish(s);
    return;
  }
  s->ctx.stopping = 1;
  /* No new clients and no new backends; requests in flight go on. */
  if (s->listener.loop != NULL)
    uv_close((uv_handle_t *) &s->listener, NULL);
  upstream_stop_listening();
  http_conn_stop_all();
  ws_stop_all();
  if (server_conns() == 0 || cfg->shutdown_timeout_ms == 0) {
    server_finish(s);
    return;
  }
  uv_timer_init(s->ctx.loop, &s->shutdown_timer);
  s->shutdown_timer.data = s;
  s->shutdown_timer_ready = 1;
  uv_timer_start(&s->shutdown_timer, server_on_shutdown_timeout, cfg->shutdown_timeout_ms, 0);
}
