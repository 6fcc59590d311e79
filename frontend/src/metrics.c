/* metrics: the counters and their Prometheus text (see metrics.h).  Calls
 * only the codec's byte buffer and the C library. */
#include "metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

metrics_counters metrics;

static const uint64_t bucket_us[METRICS_LATENCY_BUCKETS] = {
  500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};
static const char *const bucket_le[METRICS_LATENCY_BUCKETS] = {
  "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10",
};
static const char *const route_names[ROUTE_KINDS] = { "none", "static", "dynamic" };
static const char *const class_names[6] = { "none", "1xx", "2xx", "3xx", "4xx", "5xx" };
static const char *const disconnect_names[DISCONNECT_REASONS] = {
#define XX(id, name) name,
  METRICS_DISCONNECT_MAP(XX)
#undef XX
};

void metrics_request_done(int kind, int status, uint64_t us) {
  int b = 0;

  metrics.requests[kind][status >= 100 && status <= 599 ? status / 100 : 0]++;
  while (b < METRICS_LATENCY_BUCKETS && us > bucket_us[b])
    b++;
  metrics.latency[kind][b]++;
  metrics.latency_sum_us[kind] += us;
  if (status >= 502 && status <= 504)
    metrics.gateway[status - 502]++;
}

int metrics_printf(tdm_buf *out, const char *fmt, ...) {
  va_list ap;
  int n;

  for (int tries = 0; tries < 2; tries++) {
    size_t room = out->size - out->len;
    va_start(ap, fmt);
    n = vsnprintf(out->base != NULL ? out->base + out->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0)
      return TDM_EINVAL;
    if ((size_t) n < room) {
      out->len += (size_t) n;
      return 0;
    }
    if (tdm_buf_reserve(out, (size_t) n + 1) != 0)
      return TDM_ENOMEM;
  }
  return TDM_ENOMEM;
}

/* "# HELP" and "# TYPE" of one family. */
static int family(tdm_buf *out, const char *name, const char *type, const char *help) {
  return metrics_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int render_requests(tdm_buf *out) {
  int rc = family(out, "tandem_requests_total", "counter",
                  "Requests that left the pipeline, by route and status class (none: no response was begun).");

  for (int k = 0; k < ROUTE_KINDS; k++)
    for (int c = 0; c < 6; c++)
      rc |= metrics_printf(out, "tandem_requests_total{route=\"%s\",code=\"%s\"} %" PRIu64 "\n", route_names[k],
                           class_names[c], metrics.requests[k][c]);
  rc |= family(out, "tandem_request_duration_seconds", "histogram",
               "Time from a request's first byte to the end of its response, by route.");
  for (int k = 0; k < ROUTE_KINDS; k++) {
    uint64_t cum = 0;
    for (int b = 0; b <= METRICS_LATENCY_BUCKETS; b++) {
      cum += metrics.latency[k][b];
      rc |= metrics_printf(out, "tandem_request_duration_seconds_bucket{route=\"%s\",le=\"%s\"} %" PRIu64 "\n",
                           route_names[k], b < METRICS_LATENCY_BUCKETS ? bucket_le[b] : "+Inf", cum);
    }
    rc |= metrics_printf(out, "tandem_request_duration_seconds_sum{route=\"%s\"} %" PRIu64 ".%06" PRIu64 "\n",
                         route_names[k], metrics.latency_sum_us[k] / 1000000, metrics.latency_sum_us[k] % 1000000);
    rc |= metrics_printf(out, "tandem_request_duration_seconds_count{route=\"%s\"} %" PRIu64 "\n",
                         route_names[k], cum);
  }
  return rc;
}

/* One family with one unlabelled sample. */
static int single(tdm_buf *out, const char *name, const char *type, const char *help, int64_t v) {
  return family(out, name, type, help) | metrics_printf(out, "%s %" PRId64 "\n", name, v);
}

static int render_errors(tdm_buf *out) {
  int rc = family(out, "tandem_gateway_errors_total", "counter",
                  "Responses 502 (bad gateway), 503 (unavailable) and 504 (gateway timeout).");

  for (int i = 0; i < 3; i++)
    rc |= metrics_printf(out, "tandem_gateway_errors_total{code=\"%d\"} %" PRIu64 "\n", 502 + i,
                         metrics.gateway[i]);
  rc |= family(out, "tandem_timeouts_total", "counter",
               "Timeouts: request (--request-timeout, 504), backend_wait (--backend-wait, 503), client (a "
               "client too slow to send its request or take its response, or idle past --keepalive-timeout).");
  rc |= metrics_printf(out, "tandem_timeouts_total{kind=\"request\"} %" PRIu64 "\n"
                       "tandem_timeouts_total{kind=\"backend_wait\"} %" PRIu64 "\n"
                       "tandem_timeouts_total{kind=\"client\"} %" PRIu64 "\n",
                       metrics.request_timeouts, metrics.wait_timeouts, metrics.client_timeouts);
  rc |= family(out, "tandem_requests_cancelled_total", "counter",
               "Requests cancelled: by the client (it left before its response was complete) or by the backend.");
  rc |= metrics_printf(out, "tandem_requests_cancelled_total{by=\"client\"} %" PRIu64 "\n"
                       "tandem_requests_cancelled_total{by=\"backend\"} %" PRIu64 "\n",
                       metrics.cancelled_client, metrics.cancelled_backend);
  rc |= family(out, "tandem_backend_disconnects_total", "counter", "Backend connections that ended, by reason.");
  for (int i = 0; i < DISCONNECT_REASONS; i++)
    rc |= metrics_printf(out, "tandem_backend_disconnects_total{reason=\"%s\"} %" PRIu64 "\n", disconnect_names[i],
                         metrics.disconnects[i]);
  return rc;
}

int metrics_render(tdm_buf *out, const metrics_gauges *g) {
  int rc = render_requests(out);

  rc |= single(out, "tandem_received_bytes_total", "counter", "Bytes read from clients.",
               (int64_t) metrics.bytes_in);
  rc |= single(out, "tandem_sent_bytes_total", "counter", "Bytes written to clients.",
               (int64_t) metrics.bytes_out);
  rc |= single(out, "tandem_connections_accepted_total", "counter", "Client connections accepted.",
               (int64_t) metrics.connections);
  rc |= single(out, "tandem_connections_open", "gauge", "Client connections open.", g->connections);
  rc |= single(out, "tandem_requests_in_flight", "gauge", "Requests read and not yet answered in full.",
               metrics.in_flight);
  rc |= single(out, "tandem_requests_queued", "gauge", "Requests waiting for a backend with room.",
               (int64_t) g->queued);
  rc |= render_errors(out);
  rc |= single(out, "tandem_backend_swaps_total", "counter",
               "Times a newer generation of an app attached and superseded older backends.",
               (int64_t) metrics.swaps);
  rc |= single(out, "tandem_access_log_dropped_lines_total", "counter",
               "Access log lines dropped because the log's buffer was full.", (int64_t) metrics.access_log_dropped);
  return rc != 0 ? TDM_ENOMEM : 0;
}
