/* sha1: SHA-1 as RFC 3174 section 6 computes it (method 1: the eighty words
 * of the schedule in one array), and base64; the contract is in sha1.h. */
#include "sha1.h"

#include <string.h>

static uint32_t rol(uint32_t x, int n) {
  return x << n | x >> (32 - n);
}

/* Mixes one 64-byte block into the state. */
static void sha1_block(sha1_ctx *c, const unsigned char *p) {
  uint32_t w[80], a, b, cc, d, e;
  int t;

  for (t = 0; t < 16; t++)
    w[t] = (uint32_t) p[4 * t] << 24 | (uint32_t) p[4 * t + 1] << 16 | (uint32_t) p[4 * t + 2] << 8 | p[4 * t + 3];
  for (t = 16; t < 80; t++)
    w[t] = rol(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
  a = c->h[0];
  b = c->h[1];
  cc = c->h[2];
  d = c->h[3];
  e = c->h[4];
  for (t = 0; t < 80; t++) {
    uint32_t f, k, tmp;
    if (t < 20) {
      f = (b & cc) | (~b & d);
      k = 0x5A827999u;
    } else if (t < 40) {
      f = b ^ cc ^ d;
      k = 0x6ED9EBA1u;
    } else if (t < 60) {
      f = (b & cc) | (b & d) | (cc & d);
      k = 0x8F1BBCDCu;
    } else {
      f = b ^ cc ^ d;
      k = 0xCA62C1D6u;
    }
    tmp = rol(a, 5) + f + e + w[t] + k;
    e = d;
    d = cc;
    cc = rol(b, 30);
    b = a;
    a = tmp;
  }
  c->h[0] += a;
  c->h[1] += b;
  c->h[2] += cc;
  c->h[3] += d;
  c->h[4] += e;
}

void sha1_init(sha1_ctx *c) {
  c->h[0] = 0x67452301u;
  c->h[1] = 0xEFCDAB89u;
  c->h[2] = 0x98BADCFEu;
  c->h[3] = 0x10325476u;
  c->h[4] = 0xC3D2E1F0u;
  c->total = 0;
  c->used = 0;
}

void sha1_update(sha1_ctx *c, const void *data, size_t len) {
  const unsigned char *p = data;

  c->total += len;
  while (len > 0) {
    size_t n = 64 - c->used;
    if (n > len)
      n = len;
    memcpy(c->block + c->used, p, n);
    c->used += n;
    p += n;
    len -= n;
    if (c->used == 64) {
      sha1_block(c, c->block);
      c->used = 0;
    }
  }
}

/* The padding: a 1 bit, zeros, and the message length in bits, big-endian,
 * ending a block. */
void sha1_final(sha1_ctx *c, unsigned char digest[SHA1_DIGEST_SIZE]) {
  uint64_t bits = c->total * 8;
  unsigned char len[8];
  int i;

  for (i = 0; i < 8; i++)
    len[i] = (unsigned char) (bits >> (56 - 8 * i));
  sha1_update(c, "\x80", 1);
  while (c->used != 56)
    sha1_update(c, "", 1);
  sha1_update(c, len, 8);
  for (i = 0; i < 20; i++)
    digest[i] = (unsigned char) (c->h[i / 4] >> (24 - 8 * (i % 4)));
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encode(const unsigned char *in, size_t len, char *out) {
  size_t i, o = 0;

  for (i = 0; i + 2 < len; i += 3) {
    uint32_t v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];
    out[o++] = b64[v >> 18];
    out[o++] = b64[(v >> 12) & 63];
    out[o++] = b64[(v >> 6) & 63];
    out[o++] = b64[v & 63];
  }
  if (i < len) {
    uint32_t v = (uint32_t) in[i] << 16 | (i + 1 < len ? (uint32_t) in[i + 1] << 8 : 0);
    out[o++] = b64[v >> 18];
    out[o++] = b64[(v >> 12) & 63];
    out[o++] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
    out[o++] = '=';
  }
  out[o] = '\0';
  return o;
}

static int b64_value(char c) {
  const char *p = c != '\0' ? strchr(b64, c) : NULL;
  return p != NULL ? (int) (p - b64) : -1;
}

/* Canonical: length a multiple of 4, padding only at the end, and the bits
 * the padding leaves over are zero (so that one value has one spelling). */
int base64_decoded_len(const char *s, size_t len) {
  size_t i, pad = 0;

  if (len == 0 || len % 4 != 0)
    return -1;
  if (s[len - 1] == '=')
    pad = s[len - 2] == '=' ? 2 : 1;
  for (i = 0; i < len - pad; i++)
    if (b64_value(s[i]) < 0)
      return -1;
  if (pad == 2 && (b64_value(s[len - 3]) & 15) != 0)
    return -1;
  if (pad == 1 && (b64_value(s[len - 2]) & 3) != 0)
    return -1;
  return (int) (len / 4 * 3 - pad);
}
