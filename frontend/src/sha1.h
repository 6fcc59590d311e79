/* sha1: SHA-1 (RFC 3174) and base64 (RFC 4648), the two steps of a
 * WebSocket handshake's Sec-WebSocket-Accept (RFC 6455 section 4.2.2).
 * Sans-I/O and allocation-free.  SHA-1 is broken for signatures; here it
 * only proves that the server read the client's key, as RFC 6455 asks. */
#ifndef TDM_SHA1_H
#define TDM_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define SHA1_DIGEST_SIZE 20

typedef struct sha1_ctx {
  uint32_t h[5];
  uint64_t total;                /* bytes hashed so far */
  unsigned char block[64];
  size_t used;                   /* bytes waiting in block */
} sha1_ctx;

void sha1_init(sha1_ctx *c);
void sha1_update(sha1_ctx *c, const void *data, size_t len);
void sha1_final(sha1_ctx *c, unsigned char digest[SHA1_DIGEST_SIZE]);

/* Writes the base64 of in[0..len) and a NUL to out, which must hold
 * 4 * ((len + 2) / 3) + 1 bytes.  Returns the length written (NUL excluded). */
size_t base64_encode(const unsigned char *in, size_t len, char *out);

/* The number of bytes base64 text s[0..len) decodes to, or -1 if it is not
 * canonical padded base64. */
int base64_decoded_len(const char *s, size_t len);

#endif /* TDM_SHA1_H */
