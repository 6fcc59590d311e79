/* ipnet: IP addresses and networks; the contract is in ipnet.h. */
#include "ipnet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static int is_v4_mapped(const uint8_t a[16]) {
  return memcmp(a, v4_mapped, sizeof(v4_mapped)) == 0;
}

/* inet_pton() wants a NUL-terminated string and takes neither spaces nor
 * brackets nor zones, which is what is wanted here. */
int ipnet_addr_parse(const char *s, size_t len, uint8_t out[16]) {
  char text[IPNET_TEXT_MAX];

  if (len == 0 || len >= sizeof(text))
    return -EINVAL;
  memcpy(text, s, len);
  text[len] = '\0';
  if (memchr(text, ':', len) == NULL) {
    memcpy(out, v4_mapped, sizeof(v4_mapped));
    return inet_pton(AF_INET, text, out + 12) == 1 ? 0 : -EINVAL;
  }
  return inet_pton(AF_INET6, text, out) == 1 ? 0 : -EINVAL;
}

void ipnet_addr_format(const uint8_t a[16], char *out) {
  if (is_v4_mapped(a))
    inet_ntop(AF_INET, a + 12, out, IPNET_TEXT_MAX);
  else
    inet_ntop(AF_INET6, a, out, IPNET_TEXT_MAX);
}

static void clear_host_bits(ipnet *n) {
  for (int i = 0; i < 16; i++) {
    int keep = (int) n->prefix - 8 * i;
    if (keep <= 0)
      n->addr[i] = 0;
    else if (keep < 8)
      n->addr[i] &= (uint8_t) (0xff << (8 - keep));
  }
}

int ipnet_parse(const char *s, size_t len, ipnet *out) {
  const char *slash = memchr(s, '/', len);
  size_t alen = slash != NULL ? (size_t) (slash - s) : len;
  unsigned long bits;
  int v4;

  if (ipnet_addr_parse(s, alen, out->addr) != 0)
    return -EINVAL;
  v4 = memchr(s, ':', alen) == NULL;
  bits = v4 ? 32 : 128;
  if (slash != NULL) {
    const char *p = slash + 1, *end = s + len;
    if (p == end || end - p > 3)
      return -EINVAL;
    bits = 0;
    for (; p < end; p++) {
      if (*p < '0' || *p > '9')
        return -EINVAL;
      bits = bits * 10 + (unsigned long) (*p - '0');
    }
    if (bits > (v4 ? 32u : 128u))
      return -EINVAL;
  }
  out->prefix = (uint8_t) (v4 ? 96 + bits : bits);
  clear_host_bits(out);
  return 0;
}

static int is_space(char c) {
  return c == ' ' || c == '\t';
}

int ipnet_list_parse(ipnet_list *l, const char *csv, char *why, size_t errlen) {
  const char *p = csv;

  l->all = 0;
  l->n = 0;
  while (*p != '\0') {
    const char *end = strchr(p, ','), *item_end;
    if (end == NULL)
      end = p + strlen(p);
    while (p < end && is_space(*p))
      p++;
    item_end = end;
    while (item_end > p && is_space(item_end[-1]))
      item_end--;
    if (item_end - p == 1 && *p == '*') {
      l->all = 1;
    } else if (item_end > p) {
      if (l->n == IPNET_LIST_MAX) {
        snprintf(why, errlen, "at most %d networks", IPNET_LIST_MAX);
        return -EINVAL;
      }
      if (ipnet_parse(p, (size_t) (item_end - p), &l->nets[l->n]) != 0) {
        snprintf(why, errlen, "'%.*s' is not an IP address or ADDRESS/PREFIX network",
                 (int) (item_end - p > 64 ? 64 : item_end - p), p);
        return -EINVAL;
      }
      l->n++;
    }
    p = *end == ',' ? end + 1 : end;
  }
  return 0;
}

static int net_contains(const ipnet *n, const uint8_t a[16]) {
  unsigned whole = n->prefix / 8, rest = n->prefix % 8;

  if (memcmp(n->addr, a, whole) != 0)
    return 0;
  return rest == 0 || ((a[whole] ^ n->addr[whole]) & (uint8_t) (0xff << (8 - rest))) == 0;
}

int ipnet_list_match(const ipnet_list *l, const uint8_t a[16]) {
  if (l->all)
    return 1;
  for (unsigned i = 0; i < l->n; i++)
    if (net_contains(&l->nets[i], a))
      return 1;
  return 0;
}

int ipnet_list_match_text(const ipnet_list *l, const char *text) {
  uint8_t a[16];

  if (l->all)
    return 1;
  return ipnet_addr_parse(text, strlen(text), a) == 0 && ipnet_list_match(l, a);
}
