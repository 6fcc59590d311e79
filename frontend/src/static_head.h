/* static_head: the head of the answer about a file, of a --static mount or
 * a backend's FILE response: the header lines that describe it (type,
 * validators, the mount's Cache-Control) and the status its request's
 * conditional and Range headers call for (RFC 9110 sections 13 and 14).
 * Calls http_conn (the response), http_cond (validators, preconditions,
 * ranges) and config (the mount). */
#ifndef TDM_STATIC_HEAD_H
#define TDM_STATIC_HEAD_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "http_cond.h"
#include "http_conn.h"

/* The header lines every answer about a mount's file carries, into dst:
 * its type, then (from *vstart) its validators and the mount's
 * Cache-Control, which a 304 carries alone.  Returns their length (0 if
 * they do not fit). */
size_t static_file_lines(const static_mount *m, const http_validator *v, const char *content_type,
                         const char *encoding, int vary, char *dst, size_t cap, size_t *vstart);

/* The head of the answer to a GET or HEAD (head) of a file with validators
 * v, whose header lines[0..len) static_file_lines() made, given the request's
 * conditional headers cond: 304 or 412 by its preconditions, 206 or 416 by
 * its Range, else 200 (RFC 9110 sections 13 and 14).  Sets the bytes to send,
 * *offset up to *end.  Returns 0, or 1 if the answer is complete. */
int static_file_head(http_req *req, const tdm_request *cond, const http_validator *v, uint64_t size, int head,
                     const char *lines, size_t len, size_t vstart, uint64_t *offset, uint64_t *end);

#endif /* TDM_STATIC_HEAD_H */
