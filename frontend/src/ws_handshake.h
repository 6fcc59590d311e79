/* ws_handshake: the HTTP/1.1 side of a WebSocket's opening (RFC 6455
 * section 4.2): whether a request asks for one and asks correctly, and the
 * 101 response that accepts it.  Sans-I/O.  It may call http_head, sha1 and
 * the codec. */
#ifndef TDM_WS_HANDSHAKE_H
#define TDM_WS_HANDSHAKE_H

#include "tdm_proto.h"

/* What rq (whose method is the llhttp method `method`) asks for: 0 no
 * WebSocket (no "upgrade: websocket" listed in "connection"), 1 a valid
 * WebSocket handshake, or the status to refuse it with (400, or 426 for a
 * version other than 13: the answer then needs "sec-websocket-version: 13"),
 * with *why saying what is wrong. */
int ws_handshake_check(const tdm_request *rq, int method, const char **why);

#define WS_KEY_LEN 24            /* a valid Sec-WebSocket-Key: base64 of 16 bytes */

/* Copies the Sec-WebSocket-Key of rq, whose handshake ws_handshake_check()
 * found valid, and a NUL to key. */
void ws_handshake_key(const tdm_request *rq, char key[WS_KEY_LEN + 1]);

/* Appends the 101 response accepting the handshake with key, as the
 * backend's a says (subprotocol and extra headers), with date_line
 * ("date: ...\r\n") to out.  Returns 0, or -1 with *why if a is not valid (a
 * subprotocol that is not a token, an invalid header) or out's cap is too
 * small. */
int ws_handshake_accept(tdm_buf *out, const char *key, const tdm_ws_accept *a, const char *date_line,
                        size_t date_len, const char **why);

/* Sec-WebSocket-Accept for key[0..len): base64(SHA-1(key + the RFC's GUID)),
 * 28 characters and a NUL written to out. */
void ws_accept_key(const char *key, size_t len, char out[29]);

#endif /* TDM_WS_HANDSHAKE_H */
