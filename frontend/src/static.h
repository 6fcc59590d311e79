/* static: response bodies that are files (--static mounts, and backends'
 * FILE responses), opened on libuv's thread pool and sent with sendfile. */
#ifndef TDM_STATIC_H
#define TDM_STATIC_H

#include <stddef.h>

#include "config.h"

struct http_req;
typedef struct static_file static_file;

/* Starts serving mount-relative path rel (decoded, dot segments resolved,
 * starting with '/' or empty) for req; the response is produced
 * asynchronously through http_req_start/write/end.  head: no body. */
void static_serve(struct http_req *req, const static_mount *m, const char *rel, size_t rel_len,
                  int head, static_file **handle);

/* Answers req with the file at path (absolute), named by a backend's FILE
 * response: status and header lines (already checked, "name: value\r\n"
 * each) are the backend's; content_length is its content-length or -1;
 * have_date/have_server: whether those lines include them. */
void static_send_file(struct http_req *req, const char *path, size_t path_len, int head,
                      int status, const char *headers, size_t headers_len, int64_t content_length,
                      int have_date, int have_server, static_file **handle);

/* req can take more bytes (it became the head of its connection's pipeline
 * or its connection's output drained). */
void static_on_writable(static_file *sf);

/* req is going away: stop and release everything (the file is closed
 * asynchronously). */
void static_abort(static_file *sf);

/* Frees the idle structs kept for reuse (at shutdown). */
void static_pool_free(void);

#endif /* TDM_STATIC_H */
