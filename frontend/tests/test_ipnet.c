/* Tests of IP addresses and networks (frontend/src/ipnet.c), the matching
 * --forwarded-allow-ips does: CIDR in both families, IPv4-mapped peers, the
 * list syntax and its errors, the text form of addresses.
 *
 * Set TDM_TEST_FILTER to a test name (cmocka pattern) to run only that test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipnet.h"

static int parses(const char *s) {
  ipnet n;

  return ipnet_parse(s, strlen(s), &n) == 0;
}

/* Whether the list csv (which must parse) matches the address text. */
static int matches(const char *csv, const char *addr) {
  ipnet_list l;
  char why[160];

  if (ipnet_list_parse(&l, csv, why, sizeof(why)) != 0)
    fail_msg("'%s' did not parse: %s", csv, why);
  return ipnet_list_match_text(&l, addr);
}

static void test_addresses(void **state) {
  uint8_t a[16];
  char text[IPNET_TEXT_MAX];
  static const char *const good[] = {"127.0.0.1", "0.0.0.0", "255.255.255.255", "::1", "::",
                                     "2001:db8::1", "::ffff:10.1.2.3", "fe80::1:2:3:4"};
  static const char *const bad[] = {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4 ", " 1.2.3.4",
                                    "[::1]", "::1%eth0", "1.2.3.4:80", "example.com", "2001:db8:::1",
                                    "1.2.3.04x", "0x7f.0.0.1",
                                    "1111:2222:3333:4444:5555:6666:7777:8888:9999"};
  (void) state;

  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
    if (ipnet_addr_parse(good[i], strlen(good[i]), a) != 0)
      fail_msg("'%s' is an address", good[i]);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    if (ipnet_addr_parse(bad[i], strlen(bad[i]), a) == 0)
      fail_msg("'%s' is not an address", bad[i]);
  /* Not NUL-terminated: only len bytes count. */
  assert_int_equal(ipnet_addr_parse("10.0.0.1junk", 8, a), 0);
  ipnet_addr_format(a, text);
  assert_string_equal(text, "10.0.0.1");
  /* IPv4 and its mapped IPv6 form are the same address, written dotted. */
  assert_int_equal(ipnet_addr_parse("::ffff:192.0.2.9", 16, a), 0);
  ipnet_addr_format(a, text);
  assert_string_equal(text, "192.0.2.9");
  /* IPv6 in its RFC 5952 form, whatever it was given as. */
  assert_int_equal(ipnet_addr_parse("2001:0DB8:0:0:0:0:0:0001", 24, a), 0);
  ipnet_addr_format(a, text);
  assert_string_equal(text, "2001:db8::1");
}

static void test_networks(void **state) {
  ipnet n;
  (void) state;

  assert_true(parses("10.0.0.0/8"));
  assert_true(parses("10.0.0.0/0"));
  assert_true(parses("10.0.0.0/32"));
  assert_true(parses("2001:db8::/32"));
  assert_true(parses("::/0"));
  assert_true(parses("::1/128"));
  assert_false(parses("10.0.0.0/33"));
  assert_false(parses("::/129"));
  assert_false(parses("10.0.0.0/"));
  assert_false(parses("10.0.0.0/8/8"));
  assert_false(parses("10.0.0.0/-1"));
  assert_false(parses("10.0.0.0/ 8"));
  assert_false(parses("10.0.0.0/0008"));
  assert_false(parses("/8"));
  /* Host bits are cleared, as ip_network(strict=False) does. */
  assert_int_equal(ipnet_parse("10.1.2.3/8", 10, &n), 0);
  assert_int_equal(n.prefix, 96 + 8);
  assert_int_equal(n.addr[12], 10);
  assert_int_equal(n.addr[13] | n.addr[14] | n.addr[15], 0);
  assert_int_equal(ipnet_parse("2001:db8:ffff::1/33", 19, &n), 0);
  assert_int_equal(n.prefix, 33);
  assert_int_equal(n.addr[4], 0x80);
  assert_int_equal(n.addr[5] | n.addr[15], 0);
}

static void test_cidr_matching(void **state) {
  (void) state;

  assert_true(matches("10.0.0.0/8", "10.255.1.2"));
  assert_false(matches("10.0.0.0/8", "11.0.0.1"));
  assert_true(matches("192.168.1.128/25", "192.168.1.200"));
  assert_false(matches("192.168.1.128/25", "192.168.1.127"));
  assert_true(matches("172.16.0.0/12", "172.31.255.255"));
  assert_false(matches("172.16.0.0/12", "172.32.0.0"));
  /* A prefix that ends inside a byte. */
  assert_true(matches("10.0.0.0/9", "10.127.0.1"));
  assert_false(matches("10.0.0.0/9", "10.128.0.1"));
  /* A single address, and /0 of one family only. */
  assert_true(matches("127.0.0.1", "127.0.0.1"));
  assert_false(matches("127.0.0.1", "127.0.0.2"));
  assert_true(matches("0.0.0.0/0", "203.0.113.9"));
  assert_false(matches("0.0.0.0/0", "2001:db8::1"));
  assert_true(matches("::/0", "2001:db8::1"));
  /* IPv6. */
  assert_true(matches("2001:db8::/32", "2001:db8:1234::5"));
  assert_false(matches("2001:db8::/32", "2001:db9::5"));
  assert_true(matches("::1", "::1"));
  assert_false(matches("::1", "127.0.0.1"));
  /* A client of a dual-stack listener arrives IPv4-mapped. */
  assert_true(matches("10.0.0.0/8", "::ffff:10.2.3.4"));
  /* Not an address: never a match, except with "*". */
  assert_false(matches("10.0.0.0/8", ""));
  assert_false(matches("10.0.0.0/8", "garbage"));
}

static void test_lists(void **state) {
  ipnet_list l;
  char why[160], big[64 * 20];
  (void) state;

  /* The default: loopback in both families. */
  assert_true(matches("127.0.0.1,::1", "127.0.0.1"));
  assert_true(matches("127.0.0.1,::1", "::1"));
  assert_false(matches("127.0.0.1,::1", "127.0.0.2"));
  /* Spaces around items, empty items, "*" anywhere. */
  assert_true(matches(" 10.0.0.1 , ,192.168.0.0/16 ", "192.168.3.4"));
  assert_true(matches("10.0.0.1,*", "8.8.8.8"));
  assert_true(matches("*", ""));
  assert_true(matches("*", "garbage"));
  /* The empty list trusts nothing. */
  assert_false(matches("", "127.0.0.1"));
  /* Errors name the item. */
  assert_int_equal(ipnet_list_parse(&l, "10.0.0.1,localhost", why, sizeof(why)), -EINVAL);
  assert_non_null(strstr(why, "'localhost'"));
  assert_int_equal(ipnet_list_parse(&l, "10.0.0.0/40", why, sizeof(why)), -EINVAL);
  assert_non_null(strstr(why, "'10.0.0.0/40'"));
  assert_int_equal(ipnet_list_parse(&l, "**", why, sizeof(why)), -EINVAL);
  /* A bound on the list. */
  big[0] = '\0';
  for (int i = 0; i <= IPNET_LIST_MAX; i++)
    snprintf(big + strlen(big), sizeof(big) - strlen(big), "%s10.0.%d.1", i ? "," : "", i);
  assert_int_equal(ipnet_list_parse(&l, big, why, sizeof(why)), -EINVAL);
  assert_non_null(strstr(why, "at most"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_addresses),
    cmocka_unit_test(test_networks),
    cmocka_unit_test(test_cidr_matching),
    cmocka_unit_test(test_lists),
  };

  if (getenv("TDM_TEST_FILTER") != NULL)
    cmocka_set_test_filter(getenv("TDM_TEST_FILTER"));
  return cmocka_run_group_tests_name("ipnet", tests, NULL, NULL);
}
