/* http_ident: request ids and forwarded clients; the contract and the rules
 * are in http_ident.h. */
#include "http_ident.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* The hops of a forwarding header kept for the walk from the right: the last
 * FWD_HOPS of them (more proxies than that in one chain is not a setup
 * anyone runs; the walk then ends at the oldest hop kept). */
#define FWD_HOPS 32

typedef struct hop {
  tdm_str node;                  /* X-Forwarded-For's entry, Forwarded's for= (ptr NULL: none) */
  tdm_str proto;                 /* Forwarded's proto= (ptr NULL: none) */
} hop;

typedef struct hops {
  hop h[FWD_HOPS];               /* a ring: hop i is h[i % FWD_HOPS] */
  unsigned n;                    /* hops seen */
  int present;                   /* the header was sent */
  int bad;                       /* it is not well formed: not believed */
} hops;

static uint64_t id_prefix, id_counter;
static char id_prefix_hex[16] = "0000000000000000";   /* id_prefix in hex, made by init */

static void hex64(char *out, uint64_t v) {
  static const char digits[] = "0123456789abcdef";

  for (int i = 15; i >= 0; i--) {
    out[i] = digits[v & 0xf];
    v >>= 4;
  }
}

int http_ident_init(void) {
  uint64_t seed[2];
  struct timespec ts;
  int rc = 0;

  if (getrandom(seed, sizeof(seed), GRND_NONBLOCK) == (ssize_t) sizeof(seed)) {
    id_prefix = seed[0];
    id_counter = seed[1];
  } else {
    /* Early in boot the pool may not be ready; ids need to be unique, not
     * secret, and the time with the pid is that. */
    rc = -errno;
    clock_gettime(CLOCK_REALTIME, &ts);
    id_prefix = ((uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec) ^ ((uint64_t) getpid() << 40);
    id_counter = 0;
  }
  hex64(id_prefix_hex, id_prefix);
  return rc;
}

void http_ident_generate(char *out) {
  memcpy(out, id_prefix_hex, 16);
  hex64(out + 16, id_counter++);
  out[HTTP_ID_GENERATED] = '\0';
}

static int name_is(const tdm_header *h, const char *name) {
  size_t len = strlen(name);

  return h->name.len == len && memcmp(h->name.ptr, name, len) == 0;
}

static int is_ows(char c) {
  return c == ' ' || c == '\t';
}

static tdm_str trim(const char *p, const char *end) {
  tdm_str s;

  while (p < end && is_ows(*p))
    p++;
  while (end > p && is_ows(end[-1]))
    end--;
  s.ptr = p;
  s.len = (uint32_t) (end - p);
  return s;
}

static void hops_push(hops *hs, tdm_str node, tdm_str proto) {
  hop *h = &hs->h[hs->n++ % FWD_HOPS];

  h->node = node;
  h->proto = proto;
}

/* One X-Forwarded-For value: comma-separated nodes, oldest first. */
static void xff_collect(hops *hs, tdm_str value) {
  const char *p = value.ptr, *end = value.ptr + value.len;
  static const tdm_str none = {NULL, 0};

  hs->present = 1;
  for (;;) {
    const char *comma = memchr(p, ',', (size_t) (end - p));
    const char *stop = comma != NULL ? comma : end;
    hops_push(hs, trim(p, stop), none);
    if (comma == NULL)
      return;
    p = comma + 1;
  }
}

/* One value of a Forwarded pair at *p (RFC 7239 section 4: a token or a
 * quoted-string), without the quotes; moves *p past it.  A quoted-pair is
 * kept as it is: no value this module reads needs one, and one left in
 * makes the value fail to parse, so it is not believed.  -1: malformed. */
static int fwd_value(const char **p, const char *end, tdm_str *out) {
  const char *s = *p;

  if (s < end && *s == '"') {
    const char *q = ++s;
    while (q < end && *q != '"')
      q += *q == '\\' && q + 1 < end ? 2 : 1;
    if (q >= end)
      return -1;
    out->ptr = s;
    out->len = (uint32_t) (q - s);
    *p = q + 1;
    return 0;
  }
  while (s < end && *s != ';' && *s != ',' && !is_ows(*s) && *s != '"' && *s != '=')
    s++;
  if (s == *p)
    return -1;
  out->ptr = *p;
  out->len = (uint32_t) (s - *p);
  *p = s;
  return 0;
}

/* One Forwarded value: elements separated by commas, each pairs separated by
 * semicolons.  Returns 0, or -1 if it is not well formed. */
static int fwd_collect(hops *hs, tdm_str value) {
  const char *p = value.ptr, *end = value.ptr + value.len;
  tdm_str node = {NULL, 0}, proto = {NULL, 0};
  int pairs = 0;

  hs->present = 1;
  for (;;) {
    const char *name;
    tdm_str v;
    while (p < end && is_ows(*p))
      p++;
    name = p;
    while (p < end && *p != '=' && *p != ';' && *p != ',' && !is_ows(*p))
      p++;
    if (p > name) {
      size_t nlen = (size_t) (p - name);
      if (p == end || *p != '=')
        return -1;
      p++;
      if (fwd_value(&p, end, &v) != 0)
        return -1;
      if (nlen == 3 && strncasecmp(name, "for", 3) == 0)
        node = v;
      else if (nlen == 5 && strncasecmp(name, "proto", 5) == 0)
        proto = v;
      pairs++;
      while (p < end && is_ows(*p))
        p++;
    }
    /* Empty pairs and elements are allowed (RFC 7239 section 4, RFC 9110
     * section 5.6.1). */
    if (p < end && *p == ';') {
      p++;
    } else if (p == end || *p == ',') {
      if (pairs > 0)
        hops_push(hs, node, proto);
      node.ptr = proto.ptr = NULL;
      node.len = proto.len = 0;
      pairs = 0;
      if (p == end)
        return 0;
      p++;
    } else {
      return -1;
    }
  }
}

/* A node (an X-Forwarded-For entry, a Forwarded for=): an address, IPv4 with
 * an optional ":port", IPv6 bare or in brackets with an optional ":port".
 * Returns 0, or -1 for anything else ("unknown", "_hidden", garbage). */
static int node_parse(tdm_str node, uint8_t addr[16], uint32_t *port) {
  const char *s = node.ptr, *end = node.ptr + node.len, *colon;
  size_t alen;

  *port = 0;
  if (s == NULL || s == end)
    return -1;
  if (*s == '[') {
    const char *close = memchr(s, ']', (size_t) (end - s));
    if (close == NULL || (close + 1 < end && close[1] != ':'))
      return -1;
    s++;
    alen = (size_t) (close - s);
    colon = close + 1 < end ? close + 1 : NULL;
  } else {
    colon = memchr(s, ':', (size_t) (end - s));
    /* Two colons or more: a bare IPv6 address, which has no port. */
    if (colon != NULL && memchr(colon + 1, ':', (size_t) (end - colon - 1)) != NULL)
      colon = NULL;
    alen = (size_t) ((colon != NULL ? colon : end) - s);
  }
  if (ipnet_addr_parse(s, alen, addr) != 0)
    return -1;
  if (colon != NULL) {
    const char *p = colon + 1;
    uint32_t v = 0;
    if (p == end || end - p > 5)
      return -1;
    for (; p < end; p++) {
      if (*p < '0' || *p > '9')
        return -1;
      v = v * 10 + (uint32_t) (*p - '0');
    }
    if (v > 65535)
      return -1;
    *port = v;
  }
  return 0;
}

/* The walk from the right: the first hop whose node is not a trusted proxy
 * (or, if all are, the oldest kept).  *addr_ok says whether its node is an
 * address (then in addr and port).  NULL if there is no hop. */
static const hop *walk(const hops *hs, const ipnet_list *nets, uint8_t addr[16], uint32_t *port,
                       int *addr_ok) {
  unsigned oldest = hs->n > FWD_HOPS ? hs->n - FWD_HOPS : 0;
  const hop *h = NULL;

  *addr_ok = 0;
  for (unsigned i = hs->n; i > oldest; i--) {
    h = &hs->h[(i - 1) % FWD_HOPS];
    *addr_ok = node_parse(h->node, addr, port) == 0;
    if (!*addr_ok || !ipnet_list_match(nets, addr))
      break;
  }
  return h;
}

/* "http" or "https" for a forwarded proto in any case ("ws" and "wss" name
 * the same schemes for a WebSocket handshake), NULL for anything else. */
static const char *scheme_of(tdm_str proto) {
  if (proto.ptr == NULL)
    return NULL;
  if ((proto.len == 4 && strncasecmp(proto.ptr, "http", 4) == 0) ||
      (proto.len == 2 && strncasecmp(proto.ptr, "ws", 2) == 0))
    return "http";
  if ((proto.len == 5 && strncasecmp(proto.ptr, "https", 5) == 0) ||
      (proto.len == 3 && strncasecmp(proto.ptr, "wss", 3) == 0))
    return "https";
  return NULL;
}

/* The last item of a comma-separated value. */
static tdm_str last_item(tdm_str value) {
  const char *end = value.ptr + value.len, *p = end;

  while (p > value.ptr && p[-1] != ',')
    p--;
  return trim(p, end);
}

/* The first X-Request-Id if it is 1 to HTTP_ID_MAX bytes of visible ASCII
 * (copied into id), else 0.  Only the first counts, as nginx's
 * $http_x_request_id takes it. */
static size_t incoming_id(const tdm_request *rq, char *id) {
  for (uint32_t i = 0; i < rq->nheaders; i++) {
    const tdm_header *h = &rq->headers[i];
    if (!name_is(h, "x-request-id"))
      continue;
    if (h->value.len == 0 || h->value.len > HTTP_ID_MAX)
      return 0;
    for (uint32_t j = 0; j < h->value.len; j++)
      if (h->value.ptr[j] < '!' || h->value.ptr[j] > '~')
        return 0;
    memcpy(id, h->value.ptr, h->value.len);
    id[h->value.len] = '\0';
    return h->value.len;
  }
  return 0;
}

static void set_client(tdm_request *rq, char *client, const uint8_t addr[16], uint32_t port) {
  ipnet_addr_format(addr, client);
  rq->client.present = 1;
  rq->client.host.ptr = client;
  rq->client.host.len = (uint32_t) strlen(client);
  rq->client.port = port;
}

static void set_scheme(tdm_request *rq, const char *scheme) {
  if (scheme != NULL) {
    rq->scheme.ptr = scheme;
    rq->scheme.len = (uint32_t) strlen(scheme);
  }
}

/* X-Forwarded-For and -Proto first, Forwarded for what they leave out: the
 * headers most proxies set (nginx, HAProxy, Caddy, Traefik, cloud load
 * balancers) and the only ones gunicorn and uvicorn read.  A proxy that
 * sets one kind and passes the other through from its client would let
 * that client choose what is believed: whichever a setup's proxy sets, it
 * should also set or remove the other (README, "Behind a proxy"). */
static void forwarded(tdm_request *rq, char *client, const ipnet_list *nets) {
  static hops xff, fwd;          /* large; the loop is single-threaded and this does not nest */
  tdm_str xfp = {NULL, 0};
  const hop *h = NULL;
  uint8_t addr[16];
  uint32_t port;
  int addr_ok = 0;

  xff.n = fwd.n = 0;
  xff.present = fwd.present = fwd.bad = 0;
  for (uint32_t i = 0; i < rq->nheaders; i++) {
    const tdm_header *hd = &rq->headers[i];
    if (name_is(hd, "x-forwarded-for"))
      xff_collect(&xff, hd->value);
    else if (name_is(hd, "x-forwarded-proto"))
      xfp = last_item(hd->value);
    else if (name_is(hd, "forwarded") && !fwd.bad && fwd_collect(&fwd, hd->value) != 0)
      fwd.bad = 1;
  }
  if (fwd.present && !fwd.bad)
    h = walk(&fwd, nets, addr, &port, &addr_ok);
  if (xff.present)
    walk(&xff, nets, addr, &port, &addr_ok);
  if ((xff.present || h != NULL) && addr_ok)
    set_client(rq, client, addr, port);
  set_scheme(rq, xfp.ptr != NULL ? scheme_of(xfp) : h != NULL ? scheme_of(h->proto) : NULL);
}

int http_ident_trusted(const char *peer, const ipnet_list *nets) {
  return ipnet_list_match_text(nets, peer);
}

void http_ident_req(http_req_ident *ri, tdm_request *rq, const ipnet_list *nets) {
  size_t n = 0;

  if (nets != NULL) {
    n = incoming_id(rq, ri->id);
    forwarded(rq, ri->client, nets);
  }
  if (n == 0) {
    http_ident_generate(ri->id);
    n = HTTP_ID_GENERATED;
  }
  ri->id_len = (uint8_t) n;
  ri->resp_has_id = 0;
  rq->request_id.ptr = ri->id;
  rq->request_id.len = (uint32_t) n;
}

void http_ident_resp_header(http_req_ident *ri, const char *name, size_t len) {
  if (len == 12 && strncasecmp(name, "x-request-id", 12) == 0)
    ri->resp_has_id = 1;
}

size_t http_ident_echo(const http_req_ident *ri, char *dst) {
  if (ri->id_len == 0 || ri->resp_has_id)
    return 0;
  memcpy(dst, "x-request-id: ", 14);
  memcpy(dst + 14, ri->id, ri->id_len);
  memcpy(dst + 14 + ri->id_len, "\r\n", 2);
  return 16u + ri->id_len;
}
