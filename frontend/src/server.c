#include "server.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_conn.h"
#include "log.h"
#include "upstream.h"

server *srv;

#define LISTEN_BACKLOG 1024

void server_schedule_flush(flushable *f) {
  if (f->queued)
    return;
  f->queued = 1;
  f->next = srv->flush_head;
  srv->flush_head = f;
}

void server_cancel_flush(flushable *f) {
  flushable **p;

  if (!f->queued)
    return;
  for (p = &srv->flush_head; *p != NULL; p = &(*p)->next) {
    if (*p == f) {
      *p = f->next;
      break;
    }
  }
  f->next = NULL;
  f->queued = 0;
}

/* Runs once per loop iteration, just before the loop waits for I/O: every
 * connection that gathered output in this iteration writes it now, in one
 * write each.  A flush may queue more (a write that completes at once does
 * not call back synchronously in libuv, so this terminates). */
static void server_on_prepare(uv_prepare_t *h) {
  (void) h;
  while (srv->flush_head != NULL) {
    flushable *f = srv->flush_head;
    srv->flush_head = f->next;
    f->next = NULL;
    f->queued = 0;
    f->flush(f);
  }
}

void outbuf_init(outbuf *o, size_t cap) {
  tdm_buf_init(&o->out, cap);
  tdm_buf_init(&o->wbuf, cap);
  o->writing = 0;
}

void outbuf_free(outbuf *o) {
  tdm_buf_free(&o->out);
  tdm_buf_free(&o->wbuf);
}

int outbuf_write(outbuf *o, uv_stream_t *s, uv_write_cb cb, void *data) {
  tdm_buf tmp;
  uv_buf_t buf;
  int rc;

  if (o->writing || o->out.len == 0)
    return 0;
  tmp = o->wbuf;
  o->wbuf = o->out;
  o->out = tmp;
  o->out.len = 0;
  buf = uv_buf_init(o->wbuf.base, o->wbuf.len);
  o->wreq.data = data;
  rc = uv_write(&o->wreq, s, &buf, 1, cb);
  if (rc == 0)
    o->writing = 1;
  return rc;
}

void outbuf_written(outbuf *o) {
  o->writing = 0;
  o->wbuf.len = 0;
}

size_t outbuf_pending(const outbuf *o) {
  return o->out.len + o->wbuf.len;
}

const char *server_date_line(size_t *len) {
  uint64_t now = uv_now(srv->loop) / 1000;

  if (now != srv->date_stamp || srv->date_len == 0) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    srv->date_len = strftime(srv->date_line, sizeof(srv->date_line),
                             "date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
    srv->date_stamp = now;
  }
  *len = srv->date_len;
  return srv->date_line;
}

static void server_on_signal(uv_signal_t *h, int signum) {
  (void) h;
  if (signum == SIGPIPE)
    return;
  if (srv->stopping)
    log_info("received %s again, closing everything now", signum == SIGINT ? "SIGINT" : "SIGTERM");
  else
    log_info("received %s, shutting down: finishing %d connection(s) in flight (at most %u s)",
             signum == SIGINT ? "SIGINT" : "SIGTERM", srv->nconns, srv->cfg->shutdown_timeout_ms / 1000);
  server_stop(srv);
}

static void server_on_connection(uv_stream_t *listener, int status) {
  if (status < 0) {
    log_warn("accept: %s", uv_strerror(status));
    return;
  }
  http_conn_accept(listener);
}

int server_init(server *s, uv_loop_t *loop, const config *cfg) {
  memset(s, 0, sizeof(*s));
  s->loop = loop;
  s->cfg = cfg;
  srv = s;
  uv_prepare_init(loop, &s->flusher);
  uv_prepare_start(&s->flusher, server_on_prepare);
  uv_signal_init(loop, &s->sigint);
  uv_signal_init(loop, &s->sigterm);
  uv_signal_init(loop, &s->sigpipe);
  uv_signal_start(&s->sigint, server_on_signal, SIGINT);
  uv_signal_start(&s->sigterm, server_on_signal, SIGTERM);
  /* A client that resets its connection must not kill the process. */
  uv_signal_start(&s->sigpipe, server_on_signal, SIGPIPE);
  return 0;
}

int server_listen(server *s) {
  struct addrinfo hints, *res = NULL;
  char port[16];
  int rc;

  rc = upstream_listen(s->loop, s->cfg);
  if (rc != 0)
    return rc;

  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  snprintf(port, sizeof(port), "%d", s->cfg->listen_port);
  /* Startup, before the loop runs: a blocking lookup is fine here. */
  rc = getaddrinfo(s->cfg->listen_host, port, &hints, &res);
  if (rc != 0) {
    log_error("cannot resolve listen address %s: %s", s->cfg->listen_host, gai_strerror(rc));
    return UV_EINVAL;
  }
  uv_tcp_init(s->loop, &s->listener);
  rc = uv_tcp_bind(&s->listener, res->ai_addr, 0);
  freeaddrinfo(res);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *) &s->listener, LISTEN_BACKLOG, server_on_connection);
  if (rc != 0) {
    log_error("cannot listen on %s:%d: %s", s->cfg->listen_host, s->cfg->listen_port,
              uv_strerror(rc));
    return rc;
  }
  log_info("listening on http://%s:%d, backends connect to %s", s->cfg->listen_host,
           s->cfg->listen_port, s->cfg->backend_socket);
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
  upstream_close_all();
  /* Flush the GOAWAYs queued above before the loop stops. */
  server_on_prepare(&s->flusher);
  uv_close((uv_handle_t *) &s->flusher, NULL);
  uv_close((uv_handle_t *) &s->sigint, NULL);
  uv_close((uv_handle_t *) &s->sigterm, NULL);
  uv_close((uv_handle_t *) &s->sigpipe, NULL);
}

static void server_on_shutdown_timeout(uv_timer_t *t) {
  log_warn("--shutdown-timeout passed with %d connection(s) still busy; closing them", srv->nconns);
  (void) t;
  server_finish(srv);
}

static void server_finish_on_flush(flushable *f) {
  (void) f;
  server_finish(srv);
}

void server_conn_gone(void) {
  if (srv->stopping && srv->nconns == 0 && !srv->finished) {
    /* From the flush, not from inside whatever closed the connection. */
    srv->finisher.flush = server_finish_on_flush;
    server_schedule_flush(&srv->finisher);
  }
}

void server_stop(server *s) {
  if (s->stopping) {
    server_finish(s);
    return;
  }
  s->stopping = 1;
  /* No new clients and no new backends; requests in flight go on. */
  if (s->listener.loop != NULL)
    uv_close((uv_handle_t *) &s->listener, NULL);
  upstream_stop_listening();
  http_conn_stop_all();
  if (s->nconns == 0 || s->cfg->shutdown_timeout_ms == 0) {
    server_finish(s);
    return;
  }
  uv_timer_init(s->loop, &s->shutdown_timer);
  s->shutdown_timer_ready = 1;
  uv_timer_start(&s->shutdown_timer, server_on_shutdown_timeout, s->cfg->shutdown_timeout_ms, 0);
}
