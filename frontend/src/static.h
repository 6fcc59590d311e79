/* static: response bodies that are files, sent by the frontend itself: the
 * handler of requests under a --static mount, and of a backend's FILE
 * response.  It may call http_conn (below it), ctx, config and log. */
#ifndef TDM_STATIC_H
#define TDM_STATIC_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "http_conn.h"

/* Before the first request: keep up to cache_bytes of small files in
 * memory; follow (or not) symlinks out of a mount's directory; list (or
 * not) a directory that has no index.html; hand a mount's request that names
 * no file to fallthrough (NULL: answer 404).  With a fallthrough, the caller
 * holds each request it gives static_serve, which unholds it. */
void static_init(uv_loop_t *loop, size_t cache_bytes, int follow_symlinks, int listing,
                 void (*fallthrough)(http_req *req));

/* Starts serving mount-relative path rel (decoded, dot segments resolved,
 * starting with '/' or empty) for req, a GET or HEAD; the response is
 * produced asynchronously. */
void static_serve(http_req *req, const static_mount *m, const char *rel, size_t rel_len);

/* Answers req with the file at path (absolute), named by a backend's FILE
 * response: status and header lines (already checked, "name: value\r\n"
 * each) are the backend's; content_length is its content-length or -1;
 * have_date/have_server: whether those lines include them. */
void static_send_file(http_req *req, const char *path, size_t path_len, const char *headers,
                      size_t headers_len, int status, int64_t content_length, int have_date,
                      int have_server);

/* "?query" of r for a redirect's location ("" if it has none), with bytes
 * outside visible ASCII percent-encoded, into dst of cap bytes (cut to fit).
 * Returns its length. */
size_t static_query_suffix(const tdm_request *r, char *dst, size_t cap);

/* Frees the idle structs kept for reuse and the files kept in memory (at shutdown). */
void static_pool_free(void);

#endif /* TDM_STATIC_H */
