/* static_head: a file's response head (see static_head.h). */
#include "static_head.h"

#include <stdio.h>

size_t static_file_lines(const static_mount *m, const http_validator *v, const char *content_type,
                         const char *encoding, int vary, char *dst, size_t cap, size_t *vstart) {
  char date[HTTP_DATE_LEN + 1];
  int n, k;

  http_date_format(v->mtime, date);
  n = snprintf(dst, cap, "content-type: %s\r\naccept-ranges: bytes\r\n%s%s%s", content_type,
               encoding != NULL ? "content-encoding: " : "", encoding != NULL ? encoding : "",
               encoding != NULL ? "\r\n" : "");
  if (n < 0 || (size_t) n >= cap)
    return 0;
  *vstart = (size_t) n;
  k = snprintf(dst + n, cap - (size_t) n, "etag: %s\r\nlast-modified: %s\r\n%s", v->etag, date,
               vary ? "vary: accept-encoding\r\n" : "");
  if (k < 0 || (size_t) (n + k) >= cap)
    return 0;
  n += k;
  if (m->max_age >= 0) {
    k = snprintf(dst + n, cap - (size_t) n, "cache-control: public, max-age=%ld\r\n", m->max_age);
    if (k < 0 || (size_t) (n + k) >= cap)
      return 0;
    n += k;
  }
  return (size_t) n;
}

int static_file_head(http_req *req, const tdm_request *cond, const http_validator *v, uint64_t size, int head,
                     const char *lines, size_t len, size_t vstart, uint64_t *offset, uint64_t *end) {
  char range[96];
  uint64_t first = 0, last = 0;
  int n;

  *offset = 0;
  *end = size;
  if (cond != NULL && cond->nheaders > 0) {
    switch (http_cond_check(cond, 1, v)) {
    case 304:
      http_req_start(req, 304, lines + vstart, len - vstart, -1);
      http_req_end(req);
      return 1;
    case 412:
      http_req_simple(req, 412, NULL, "Precondition Failed\n");
      return 1;
    }
    switch (head ? HTTP_RANGE_NONE : http_range_check(cond, v, size, &first, &last)) {
    case HTTP_RANGE_ONE:
      n = snprintf(range, sizeof(range), "content-range: bytes %llu-%llu/%llu\r\n", (unsigned long long) first,
                   (unsigned long long) last, (unsigned long long) size);
      *offset = first;
      *end = last + 1;
      http_resp_begin(req, 206, (int64_t) (*end - *offset));
      http_resp_header_lines(req, lines, len);
      http_resp_header_lines(req, range, (size_t) n);
      http_resp_end_head(req, 0, 0);
      return 0;
    case HTTP_RANGE_UNSATISFIABLE:
      snprintf(range, sizeof(range), "content-range: bytes */%llu\r\n", (unsigned long long) size);
      http_req_simple(req, 416, range, "Range Not Satisfiable\n");
      return 1;
    }
  }
  http_req_start(req, 200, lines, len, (int64_t) size);
  return 0;
}
