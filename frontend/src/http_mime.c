/* http_mime: content types by extension (see http_mime.h). */
#include "http_mime.h"

#include <string.h>
#include <strings.h>

#define UTF8 "; charset=utf-8"

/* Sorted by extension, for the binary search. */
static const struct {
  const char *ext;
  const char *type;
} types[] = {
  { "7z", "application/x-7z-compressed" },
  { "aac", "audio/aac" },
  { "apng", "image/apng" },
  { "atom", "application/atom+xml" },
  { "avif", "image/avif" },
  { "bmp", "image/bmp" },
  { "css", "text/css" UTF8 },
  { "csv", "text/csv" UTF8 },
  { "eot", "application/vnd.ms-fontobject" },
  { "epub", "application/epub+zip" },
  { "flac", "audio/flac" },
  { "gif", "image/gif" },
  { "gz", "application/gzip" },
  { "htm", "text/html" UTF8 },
  { "html", "text/html" UTF8 },
  { "ico", "image/x-icon" },
  { "ics", "text/calendar" UTF8 },
  { "jpeg", "image/jpeg" },
  { "jpg", "image/jpeg" },
  { "js", "text/javascript" UTF8 },
  { "json", "application/json" },
  { "jsonld", "application/ld+json" },
  { "m4a", "audio/mp4" },
  { "m4v", "video/mp4" },
  { "map", "application/json" },
  { "md", "text/markdown" UTF8 },
  { "mjs", "text/javascript" UTF8 },
  { "mov", "video/quicktime" },
  { "mp3", "audio/mpeg" },
  { "mp4", "video/mp4" },
  { "oga", "audio/ogg" },
  { "ogg", "audio/ogg" },
  { "ogv", "video/ogg" },
  { "opus", "audio/ogg" },
  { "otf", "font/otf" },
  { "pdf", "application/pdf" },
  { "png", "image/png" },
  { "rss", "application/rss+xml" },
  { "svg", "image/svg+xml" },
  { "svgz", "image/svg+xml" },
  { "tar", "application/x-tar" },
  { "tif", "image/tiff" },
  { "tiff", "image/tiff" },
  { "ttf", "font/ttf" },
  { "txt", "text/plain" UTF8 },
  { "vtt", "text/vtt" UTF8 },
  { "wasm", "application/wasm" },
  { "wav", "audio/wav" },
  { "webm", "video/webm" },
  { "webmanifest", "application/manifest+json" },
  { "webp", "image/webp" },
  { "woff", "font/woff" },
  { "woff2", "font/woff2" },
  { "xhtml", "application/xhtml+xml" UTF8 },
  { "xml", "application/xml" },
  { "yaml", "text/yaml" UTF8 },
  { "yml", "text/yaml" UTF8 },
  { "zip", "application/zip" },
};

const char *http_mime_type(const char *path, size_t len) {
  const char *dot = NULL;
  char ext[16];
  size_t n, lo = 0, hi = sizeof(types) / sizeof(types[0]);

  for (size_t i = len; i > 0; i--) {
    if (path[i - 1] == '/')
      break;
    if (path[i - 1] == '.') {
      dot = path + i;
      break;
    }
  }
  n = dot != NULL ? (size_t) (path + len - dot) : 0;
  if (n == 0 || n >= sizeof(ext))
    return "application/octet-stream";
  for (size_t i = 0; i < n; i++)
    ext[i] = (char) (dot[i] >= 'A' && dot[i] <= 'Z' ? dot[i] + 32 : dot[i]);
  ext[n] = '\0';
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = strcmp(ext, types[mid].ext);
    if (c == 0)
      return types[mid].type;
    if (c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return "application/octet-stream";
}
