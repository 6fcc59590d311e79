/* status: /metrics, /status and /status.html on --metrics-listen (see
 * status.h).
 *
 * A connection lives as: reading its head (bounded, timed), then writing
 * one whole response, then shutdown and close.  Each response is built in
 * full in memory (the metrics of a few thousand backends are well under
 * STATUS_BODY_MAX) from counters and the owners' state, so a scrape
 * changes nothing it reports on.
 */
#include "status.h"

#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http_conn.h"
#include "http_head.h"
#include "log.h"
#include "metrics.h"
#include "proxy.h"
#include "status_page.h"
#include "upstream.h"

typedef struct status_conn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_write_t wr;
  uv_shutdown_t sd;
  char in[STATUS_HEAD_MAX];
  size_t in_len;
  tdm_buf out;                   /* the response; owner: the connection */
  int closes;                    /* handles whose close callback is due */
  unsigned answered : 1;
  unsigned closing : 1;
  struct status_conn *prev, *next;
} status_conn;

static tdm_ctx *ctx;                     /* given by status_listen(); not owned */
static uv_tcp_t listener;
static int listening;
static status_conn *conns;
static int nconns;
static uint64_t started_ms;

/* ---- the backends, gathered -------------------------------------------------- */

typedef struct backend_list {
  upstream_info *v;              /* owner: the list, freed by backends_free */
  size_t n, cap;
  int failed;
} backend_list;

static void backends_add(const upstream_info *info, void *arg) {
  backend_list *l = arg;

  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    upstream_info *v = realloc(l->v, cap * sizeof(*v));
    if (v == NULL) {
      l->failed = 1;
      return;
    }
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n++] = *info;
}

/* The app names point into the connections: used before the loop runs on. */
static void backends_get(backend_list *l) {
  memset(l, 0, sizeof(*l));
  upstream_foreach(backends_add, l);
}

static void backends_free(backend_list *l) {
  free(l->v);
}

/* ---- text escaping ------------------------------------------------------------ */

/* s as a Prometheus label value: '\', '"' and newline escaped; bytes outside
 * printable ASCII become '?' (an app name is the backend's to choose). */
static int put_label(tdm_buf *out, const char *s) {
  int rc = 0;

  for (; *s != '\0' && rc == 0; s++) {
    unsigned char ch = (unsigned char) *s;
    if (ch == '\\' || ch == '"')
      rc = metrics_printf(out, "\\%c", ch);
    else if (ch == '\n')
      rc = metrics_printf(out, "\\n");
    else
      rc = metrics_printf(out, "%c", ch >= 0x20 && ch < 0x7f ? ch : '?');
  }
  return rc;
}

/* s as a JSON string, quotes included: bytes outside printable ASCII as \u00HH. */
static int put_json(tdm_buf *out, const char *s) {
  int rc = metrics_printf(out, "\"");

  for (; *s != '\0' && rc == 0; s++) {
    unsigned char ch = (unsigned char) *s;
    if (ch == '\\' || ch == '"')
      rc = metrics_printf(out, "\\%c", ch);
    else if (ch >= 0x20 && ch < 0x7f)
      rc = metrics_printf(out, "%c", ch);
    else
      rc = metrics_printf(out, "\\u%04x", ch);
  }
  return rc | metrics_printf(out, "\"");
}

/* ---- /metrics ---------------------------------------------------------------- */

/* One backend's labels: app, pid, generation (and state). */
static int put_backend_labels(tdm_buf *out, const upstream_info *b, int with_pid) {
  int rc = metrics_printf(out, "{app=\"");

  rc |= put_label(out, b->app);
  if (with_pid)
    rc |= metrics_printf(out, "\",pid=\"%" PRIu64, b->pid);
  return rc | metrics_printf(out, "\",generation=\"%" PRIu64 "\",state=\"%s\"}", b->generation, b->state);
}

static int render_backends(tdm_buf *out, const backend_list *l) {
  int rc = metrics_printf(out, "# HELP tandem_backends Backend connections, by app, generation and state.\n"
                               "# TYPE tandem_backends gauge\n");

  for (size_t i = 0; i < l->n; i++) {
    size_t count = 0, j;
    for (j = 0; j < i; j++)
      if (strcmp(l->v[j].app, l->v[i].app) == 0 && l->v[j].generation == l->v[i].generation &&
          strcmp(l->v[j].state, l->v[i].state) == 0)
        break;
    if (j < i)
      continue;                 /* counted with an earlier one */
    for (j = i; j < l->n; j++)
      count += strcmp(l->v[j].app, l->v[i].app) == 0 && l->v[j].generation == l->v[i].generation &&
               strcmp(l->v[j].state, l->v[i].state) == 0;
    rc |= metrics_printf(out, "tandem_backends");
    rc |= put_backend_labels(out, &l->v[i], 0);
    rc |= metrics_printf(out, " %zu\n", count);
  }
  rc |= metrics_printf(out, "# HELP tandem_backend_requests_in_flight Requests open at each backend.\n"
                            "# TYPE tandem_backend_requests_in_flight gauge\n");
  for (size_t i = 0; i < l->n; i++) {
    rc |= metrics_printf(out, "tandem_backend_requests_in_flight");
    rc |= put_backend_labels(out, &l->v[i], 1);
    rc |= metrics_printf(out, " %" PRIu32 "\n", l->v[i].in_flight);
  }
  rc |= metrics_printf(out, "# HELP tandem_backend_requests_total Requests sent to each connected backend.\n"
                            "# TYPE tandem_backend_requests_total counter\n");
  for (size_t i = 0; i < l->n; i++) {
    rc |= metrics_printf(out, "tandem_backend_requests_total");
    rc |= put_backend_labels(out, &l->v[i], 1);
    rc |= metrics_printf(out, " %" PRIu64 "\n", l->v[i].served);
  }
  return rc;
}

static int render_metrics(tdm_buf *out) {
  metrics_gauges g = { .connections = http_conn_count(), .queued = proxy_waiting() };
  backend_list l;
  int rc = metrics_render(out, &g);

  backends_get(&l);
  rc |= l.failed ? TDM_ENOMEM : render_backends(out, &l);
  backends_free(&l);
  return rc;
}

/* ---- /status ------------------------------------------------------------------ */

static int render_status(tdm_buf *out) {
  static const char *const classes[6] = { "none", "1xx", "2xx", "3xx", "4xx", "5xx" };
  uint64_t by_class[6] = { 0 }, total = 0;
  backend_list l;
  int rc;

  for (int k = 0; k < ROUTE_KINDS; k++)
    for (int c = 0; c < 6; c++) {
      by_class[c] += metrics.requests[k][c];
      total += metrics.requests[k][c];
    }
  rc = metrics_printf(out, "{\"pid\":%d,\"uptime_seconds\":%.3f,\"connections\":%d,\"requests_in_flight\":%" PRId64
                      ",\"requests_queued\":%u,\"requests_total\":%" PRIu64 ",\"responses\":{",
                      (int) getpid(), (double) (uv_now(ctx->loop) - started_ms) / 1000.0, http_conn_count(),
                      metrics.in_flight, proxy_waiting(), total);
  for (int c = 0; c < 6; c++)
    rc |= metrics_printf(out, "%s\"%s\":%" PRIu64, c ? "," : "", classes[c], by_class[c]);
  rc |= metrics_printf(out, "},\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64 ",\"backends\":[", metrics.bytes_in,
                       metrics.bytes_out);
  backends_get(&l);
  for (size_t i = 0; i < l.n && !l.failed; i++) {
    const upstream_info *b = &l.v[i];
    rc |= metrics_printf(out, "%s{\"app\":", i ? "," : "");
    rc |= put_json(out, b->app);
    rc |= metrics_printf(out, ",\"pid\":%" PRIu64 ",\"generation\":%" PRIu64 ",\"state\":\"%s\",\"in_flight\":%" PRIu32
                         ",\"max_streams\":%" PRIu32 ",\"served\":%" PRIu64 "}", b->pid, b->generation, b->state,
                         b->in_flight, b->max_streams, b->served);
  }
  rc |= l.failed ? TDM_ENOMEM : metrics_printf(out, "]}\n");
  backends_free(&l);
  return rc;
}

/* ---- the connection ------------------------------------------------------------ */

static void conn_on_timeout(uv_timer_t *t);

static void conn_on_close(uv_handle_t *h) {
  status_conn *c = h->data;

  if (--c->closes > 0)
    return;
  tdm_buf_free(&c->out);
  free(c);
}

static void conn_close(status_conn *c) {
  if (c->closing)
    return;
  c->closing = 1;
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    conns = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  nconns--;
  c->closes = 2;
  uv_close((uv_handle_t *) &c->timer, conn_on_close);
  uv_close((uv_handle_t *) &c->tcp, conn_on_close);
}

static void conn_on_shutdown(uv_shutdown_t *sd, int status) {
  (void) status;
  conn_close(sd->data);
}

static void conn_on_written(uv_write_t *wr, int status) {
  status_conn *c = wr->data;

  if (c->closing)
    return;
  c->sd.data = c;
  if (status != 0 || uv_shutdown(&c->sd, (uv_stream_t *) &c->tcp, conn_on_shutdown) != 0)
    conn_close(c);
}

/* Sends status with body (len bytes; none for HEAD) and closes after it. */
static void conn_answer(status_conn *c, int status, const char *type, const char *body, size_t len, int head) {
  char top[256];
  int n = snprintf(top, sizeof(top), "HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %zu\r\n"
                   "cache-control: no-store\r\nconnection: close\r\n\r\n", status, http_status_reason(status),
                   type, len);
  tdm_buf whole;
  uv_buf_t b;

  c->answered = 1;
  uv_read_stop((uv_stream_t *) &c->tcp);
  uv_timer_start(&c->timer, conn_on_timeout, STATUS_TIMEOUT_MS, 0);     /* bounds the write too */
  tdm_buf_init(&whole, STATUS_BODY_MAX + sizeof(top));
  if (tdm_buf_append(&whole, top, (size_t) n) != 0 || (!head && tdm_buf_append(&whole, body, len) != 0)) {
    tdm_buf_free(&whole);
    conn_close(c);
    return;
  }
  tdm_buf_free(&c->out);
  c->out = whole;
  b = uv_buf_init(c->out.base, (unsigned) c->out.len);
  c->wr.data = c;
  if (uv_write(&c->wr, (uv_stream_t *) &c->tcp, &b, 1, conn_on_written) != 0)
    conn_close(c);
}

static void conn_text(status_conn *c, int status, const char *text) {
  conn_answer(c, status, "text/plain; charset=utf-8", text, strlen(text), 0);
}

/* A dynamic page built by render into a buffer of ours. */
static void conn_render(status_conn *c, const char *type, int (*render)(tdm_buf *out), int head) {
  tdm_buf body;

  tdm_buf_init(&body, STATUS_BODY_MAX);      /* owner: here */
  if (render(&body) != 0) {
    log_warn("--metrics-listen: a response over %d bytes; answering 500", STATUS_BODY_MAX);
    conn_text(c, 500, "Internal Server Error\n");
  } else {
    conn_answer(c, 200, type, body.base, body.len, head);
  }
  tdm_buf_free(&body);
}

/* The head is complete: answer it.  Only its request line matters. */
static void conn_route(status_conn *c) {
  char *line_end = memchr(c->in, '\n', c->in_len), *sp1, *sp2;
  size_t plen;
  int head;

  sp1 = memchr(c->in, ' ', (size_t) (line_end - c->in));
  sp2 = sp1 != NULL ? memchr(sp1 + 1, ' ', (size_t) (line_end - sp1 - 1)) : NULL;
  if (sp2 == NULL || sp1[1] != '/' || strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
    conn_text(c, 400, "Bad Request\n");
    return;
  }
  head = sp1 - c->in == 4 && memcmp(c->in, "HEAD", 4) == 0;
  if (!head && !(sp1 - c->in == 3 && memcmp(c->in, "GET", 3) == 0)) {
    conn_text(c, 405, "Method Not Allowed: GET or HEAD\n");
    return;
  }
  plen = strcspn(sp1 + 1, "? ");
  if (plen == 8 && memcmp(sp1 + 1, "/metrics", 8) == 0)
    conn_render(c, "text/plain; version=0.0.4; charset=utf-8", render_metrics, head);
  else if (plen == 7 && memcmp(sp1 + 1, "/status", 7) == 0)
    conn_render(c, "application/json", render_status, head);
  else if (plen == 12 && memcmp(sp1 + 1, "/status.html", 12) == 0)
    conn_answer(c, 200, "text/html; charset=utf-8", status_page_html, strlen(status_page_html), head);
  else
    conn_text(c, 404, "Not Found: this listener serves /metrics, /status and /status.html\n");
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  status_conn *c = h->data;

  (void) suggested;
  *buf = uv_buf_init(c->in + c->in_len, (unsigned) (sizeof(c->in) - 1 - c->in_len));
}

static void conn_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  status_conn *c = s->data;

  (void) buf;
  if (nread == 0 || c->answered || c->closing)
    return;
  if (nread < 0) {
    conn_close(c);
    return;
  }
  c->in_len += (size_t) nread;
  c->in[c->in_len] = '\0';
  if (strstr(c->in, "\r\n\r\n") != NULL || strstr(c->in, "\n\n") != NULL)
    conn_route(c);
  else if (memchr(c->in, '\0', c->in_len) != NULL)
    conn_text(c, 400, "Bad Request\n");
  else if (c->in_len == sizeof(c->in) - 1)
    conn_text(c, 431, "Request Header Fields Too Large\n");
}

static void conn_on_timeout(uv_timer_t *t) {
  conn_close(t->data);
}

static void listener_on_connection(uv_stream_t *server, int status) {
  status_conn *c;

  if (status < 0) {
    log_warn("--metrics-listen: accept: %s", uv_strerror(status));
    return;
  }
  c = calloc(1, sizeof(*c));          /* owner: itself, freed in conn_on_close */
  if (c == NULL)
    return;
  uv_tcp_init(ctx->loop, &c->tcp);
  uv_timer_init(ctx->loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  c->next = conns;
  if (conns != NULL)
    conns->prev = c;
  conns = c;
  nconns++;
  if (uv_accept(server, (uv_stream_t *) &c->tcp) != 0 || nconns > STATUS_MAX_CONNS) {
    conn_close(c);
    return;
  }
  uv_timer_start(&c->timer, conn_on_timeout, STATUS_TIMEOUT_MS, 0);
  if (uv_read_start((uv_stream_t *) &c->tcp, conn_alloc, conn_on_read) != 0)
    conn_close(c);
}

/* ---- the listener ------------------------------------------------------------ */

int status_listen(tdm_ctx *x) {
  const config *cfg = x->cfg;
  struct addrinfo hints, *res = NULL;
  char port[16];
  int rc;

  ctx = x;
  started_ms = uv_now(x->loop);
  if (cfg->metrics_host == NULL)
    return 0;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  snprintf(port, sizeof(port), "%d", cfg->metrics_port);
  /* Startup, before the loop runs: a blocking lookup is fine here. */
  rc = getaddrinfo(cfg->metrics_host, port, &hints, &res);
  if (rc != 0) {
    log_error("cannot resolve --metrics-listen address %s: %s", cfg->metrics_host, gai_strerror(rc));
    return UV_EINVAL;
  }
  uv_tcp_init(x->loop, &listener);
  listening = 1;
  rc = uv_tcp_bind(&listener, res->ai_addr, 0);
  freeaddrinfo(res);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *) &listener, 64, listener_on_connection);
  if (rc != 0) {
    log_error("cannot listen on --metrics-listen %s:%d: %s", cfg->metrics_host, cfg->metrics_port, uv_strerror(rc));
    return rc;
  }
  log_info("metrics on http://%s:%d/metrics, status on /status and /status.html", cfg->metrics_host,
           cfg->metrics_port);
  return 0;
}

void status_close(void) {
  if (listening) {
    uv_close((uv_handle_t *) &listener, NULL);
    listening = 0;
  }
  while (conns != NULL)
    conn_close(conns);
}
