/* ipnet: IP addresses and networks, for --forwarded-allow-ips.
 *
 * Every address is held in the 16-byte IPv6 form; an IPv4 address a.b.c.d is
 * the IPv4-mapped ::ffff:a.b.c.d, and the network a.b.c.d/n is
 * ::ffff:a.b.c.d/(96 + n).  So an IPv4 network matches a client of an IPv6
 * listener that arrives as a mapped address, and one comparison serves both
 * families.  Ground level: calls only the C library. */
#ifndef TDM_IPNET_H
#define TDM_IPNET_H

#include <stddef.h>
#include <stdint.h>

#define IPNET_LIST_MAX 64
#define IPNET_TEXT_MAX 46                /* INET6_ADDRSTRLEN: the longest address text, with its NUL */

typedef struct ipnet {
  uint8_t addr[16];                      /* host bits cleared */
  uint8_t prefix;                        /* 0..128, over the 16-byte form */
} ipnet;

typedef struct ipnet_list {
  int all;                               /* "*" was given: every address matches */
  unsigned n;
  ipnet nets[IPNET_LIST_MAX];
} ipnet_list;

/* A bare address ("10.0.0.1", "2001:db8::1") of len bytes, not NUL-terminated.
 * Returns 0, or -EINVAL for anything else (a zone, a port, brackets). */
int ipnet_addr_parse(const char *s, size_t len, uint8_t out[16]);

/* The text of a: dotted for an IPv4(-mapped) address, RFC 5952 for IPv6.
 * out holds at least IPNET_TEXT_MAX bytes. */
void ipnet_addr_format(const uint8_t a[16], char *out);

/* "ADDR" (a host: /32 or /128) or "ADDR/PREFIX"; host bits past the prefix
 * are cleared, as Python's ip_network(strict=False) does.  0 or -EINVAL. */
int ipnet_parse(const char *s, size_t len, ipnet *out);

/* A comma-separated list of networks and "*" (spaces around items allowed;
 * an empty list trusts nothing).  Returns 0, or -EINVAL with why (at most
 * errlen bytes, NUL-terminated) naming the item that is wrong. */
int ipnet_list_parse(ipnet_list *l, const char *csv, char *why, size_t errlen);

/* Whether a is in one of the list's networks. */
int ipnet_list_match(const ipnet_list *l, const uint8_t a[16]);

/* The same for an address given as text ("" or a non-address: no). */
int ipnet_list_match_text(const ipnet_list *l, const char *text);

#endif /* TDM_IPNET_H */
