/* http_mime: the Content-Type of a file from its name's extension, as
 * nginx's mime.types gives it (text types with charset=utf-8).  Pure; ground
 * level: it names no other module of the frontend. */
#ifndef TDM_HTTP_MIME_H
#define TDM_HTTP_MIME_H

#include <stddef.h>

/* The type for the file name path[0..len) (case aside), or
 * "application/octet-stream" for an unknown or missing extension. */
const char *http_mime_type(const char *path, size_t len);

#endif /* TDM_HTTP_MIME_H */
