/* http_head: pure request-head functions (see http_head.h).  Calls only the
 * C library. */
#include "http_head.h"

#include <string.h>
#include <strings.h>

/* The reason phrases of the IANA HTTP status code registry (RFC 9110 and
 * the RFCs it lists). */
const char *http_status_reason(int status) {
  switch (status) {
  case 100: return "Continue";
  case 101: return "Switching Protocols";
  case 102: return "Processing";
  case 103: return "Early Hints";
  case 200: return "OK";
  case 201: return "Created";
  case 202: return "Accepted";
  case 203: return "Non-Authoritative Information";
  case 204: return "No Content";
  case 205: return "Reset Content";
  case 206: return "Partial Content";
  case 207: return "Multi-Status";
  case 208: return "Already Reported";
  case 226: return "IM Used";
  case 300: return "Multiple Choices";
  case 301: return "Moved Permanently";
  case 302: return "Found";
  case 303: return "See Other";
  case 304: return "Not Modified";
  case 305: return "Use Proxy";
  case 307: return "Temporary Redirect";
  case 308: return "Permanent Redirect";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 402: return "Payment Required";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 406: return "Not Acceptable";
  case 407: return "Proxy Authentication Required";
  case 408: return "Request Timeout";
  case 409: return "Conflict";
  case 410: return "Gone";
  case 411: return "Length Required";
  case 412: return "Precondition Failed";
  case 413: return "Content Too Large";
  case 414: return "URI Too Long";
  case 415: return "Unsupported Media Type";
  case 416: return "Range Not Satisfiable";
  case 417: return "Expectation Failed";
  case 421: return "Misdirected Request";
  case 422: return "Unprocessable Content";
  case 423: return "Locked";
  case 424: return "Failed Dependency";
  case 425: return "Too Early";
  case 426: return "Upgrade Required";
  case 428: return "Precondition Required";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 451: return "Unavailable For Legal Reasons";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  case 505: return "HTTP Version Not Supported";
  case 506: return "Variant Also Negotiates";
  case 507: return "Insufficient Storage";
  case 508: return "Loop Detected";
  case 511: return "Network Authentication Required";
  }
  return "";
}

/* tchar (RFC 9110 section 5.6.2): 1 for the bytes a token may hold.  A
 * table, since every header name of every request and response goes
 * through it. */
static const uint8_t tchar[256] = {
  ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
  ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
  ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
  ['8'] = 1, ['9'] = 1,
  ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
  ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
  ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
  ['Y'] = 1, ['Z'] = 1,
  ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
  ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
  ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
  ['y'] = 1, ['z'] = 1,
};

int http_is_token(const char *s, size_t len) {
  if (len == 0)
    return 0;
  for (size_t i = 0; i < len; i++)
    if (!tchar[(unsigned char) s[i]])
      return 0;
  return 1;
}

/* Whether any byte of the word x is below 0x20, or is 0x7f: the classic
 * test for a zero byte, shifted, and applied to x ^ 0x7f7f... */
#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull
#define HAS_BYTE_BELOW(x, n) ((((x) - ONES * (n)) & ~(x) & HIGHS) != 0)
#define HAS_DEL(x) HAS_BYTE_BELOW((x) ^ (ONES * 0x7f), 1)

int http_value_ok(const char *v, size_t len) {
  size_t i = 0;

  /* Eight bytes at a time while none is a control byte; a word that has
   * one (a tab, say) is looked at byte by byte. */
  for (; i + 8 <= len; i += 8) {
    uint64_t x;
    memcpy(&x, v + i, 8);
    if (HAS_BYTE_BELOW(x, 0x20) || HAS_DEL(x))
      break;
  }
  for (; i < len; i++) {
    unsigned char ch = (unsigned char) v[i];
    if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
      return 0;
  }
  return 1;
}

int http_authority_ok(const char *v, size_t len) {
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char) v[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
          (ch != '\0' && strchr("-._~%!$&'()*+,;=:[]", ch) != NULL)))
      return 0;
  }
  return 1;
}

/* The length of "http://" or "https://" at the start of url (any case), or 0. */
static size_t http_scheme_len(const char *url, size_t len) {
  if (len >= 7 && strncasecmp(url, "http://", 7) == 0)
    return 7;
  if (len >= 8 && strncasecmp(url, "https://", 8) == 0)
    return 8;
  return 0;
}

int http_target_form(const char *url, size_t len) {
  size_t start, end;

  if (len == 0 || memchr(url, '#', len) != NULL)
    return HTTP_FORM_BAD;
  if (url[0] == '/')
    return HTTP_FORM_ORIGIN;
  if (len == 1 && url[0] == '*')
    return HTTP_FORM_ASTERISK;
  start = http_scheme_len(url, len);
  if (start == 0)
    return HTTP_FORM_BAD;
  for (end = start; end < len && url[end] != '/' && url[end] != '?'; end++)
    ;
  if (end == start || !http_authority_ok(url + start, end - start))
    return HTTP_FORM_BAD;
  return HTTP_FORM_ABSOLUTE;
}

void http_split_target(const char *url, size_t len, http_target *t) {
  const char *start = url, *end = url + len, *q, *hash;

  t->authority = NULL;
  t->authority_len = 0;
  if (len > 0 && url[0] != '/' && url[0] != '*') {
    /* absolute-form: skip "scheme://authority"; the authority ends at the
     * first '/', '?' or '#' (RFC 3986 section 3.2). */
    const char *s = memchr(url, ':', len);
    if (s != NULL && s + 2 < end && s[1] == '/' && s[2] == '/') {
      t->authority = start = s + 3;
      while (start < end && *start != '/' && *start != '?' && *start != '#')
        start++;
      t->authority_len = (size_t) (start - t->authority);
    }
  }
  /* A fragment ends the target: a '?' inside it starts no query. */
  hash = memchr(start, '#', (size_t) (end - start));
  if (hash != NULL)
    end = hash;
  q = memchr(start, '?', (size_t) (end - start));
  t->path = start;
  t->path_len = (size_t) ((q != NULL ? q : end) - start);
  t->query = NULL;
  t->query_len = 0;
  if (q != NULL) {
    t->query = q + 1;
    t->query_len = (size_t) (end - (q + 1));
  }
}

static int hex_value(char ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  ch |= 0x20;
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  return -1;
}

size_t http_percent_encode(const char *src, size_t len, char *dst, size_t cap, int keep) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;

  for (size_t i = 0; i < len && o + 3 < cap; i++) {
    unsigned char ch = (unsigned char) src[i];
    int as_is;

    if (keep == HTTP_PCT_QUERY)
      as_is = ch > 0x20 && ch < 0x7f;
    else
      as_is = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              (ch != '\0' && strchr(keep == HTTP_PCT_PATH ? "-._~/!$&'()*+,;=:@" : "-._~", ch) != NULL);
    if (as_is) {
      dst[o++] = (char) ch;
    } else {
      dst[o++] = '%';
      dst[o++] = hex[ch >> 4];
      dst[o++] = hex[ch & 15];
    }
  }
  if (cap > 0)
    dst[o] = '\0';
  return o;
}

ssize_t http_percent_decode(const char *src, size_t len, char *dst) {
  size_t i, o = 0;

  for (i = 0; i < len; i++) {
    char ch = src[i];
    if (ch == '%') {
      int hi, lo;
      if (i + 2 >= len)
        return -1;
      hi = hex_value(src[i + 1]);
      lo = hex_value(src[i + 2]);
      if (hi < 0 || lo < 0)
        return -1;
      ch = (char) (hi << 4 | lo);
      i += 2;
    }
    if (ch == '\0')
      return -1;
    dst[o++] = ch;
  }
  return (ssize_t) o;
}

ssize_t http_normalize_path(char *p, size_t len) {
  size_t i = 0, o = 0;

  while (i < len) {
    size_t start, seg;
    while (i < len && p[i] == '/')
      i++;
    start = i;
    while (i < len && p[i] != '/')
      i++;
    seg = i - start;
    if (seg == 0)
      break;
    if (seg == 1 && p[start] == '.')
      continue;
    if (seg == 2 && p[start] == '.' && p[start + 1] == '.') {
      if (o == 0)
        return -1;
      while (o > 0 && p[o - 1] != '/')
        o--;
      if (o > 0)
        o--;
      continue;
    }
    p[o++] = '/';
    memmove(p + o, p + start, seg);
    o += seg;
  }
  if (o == 0 || (len > 0 && p[len - 1] == '/' && p[o - 1] != '/'))
    p[o++] = '/';
  return (ssize_t) o;
}

int http_path_has_encoded_slash(const char *path, size_t len) {
  const char *p = path, *end = path + len;

  while ((p = memchr(p, '%', (size_t) (end - p))) != NULL) {
    if (end - p >= 3 && ((p[1] == '2' && (p[2] | 0x20) == 'f') || (p[1] == '5' && (p[2] | 0x20) == 'c')))
      return 1;
    p++;
  }
  return 0;
}

int http_path_is_hidden(const char *p, size_t len) {
  for (size_t i = 0; i + 1 < len; i++) {
    if (p[i] != '/' || p[i + 1] != '.')
      continue;
    if (len - i - 1 >= 11 && memcmp(p + i + 1, ".well-known", 11) == 0 &&
        (len - i - 1 == 11 || p[i + 12] == '/'))
      continue;
    return 1;
  }
  return 0;
}

/* What one Transfer-Encoding value says: HTTP_TE_CHUNKED if it is exactly
 * "chunked", HTTP_TE_UNKNOWN if it is a list of other codings (tokens
 * between commas and whitespace), HTTP_TE_BAD if it is not a list at all. */
static int te_kind(const char *v, size_t len) {
  size_t i = 0, elements = 0;

  if (len == 7 && strncasecmp(v, "chunked", 7) == 0)
    return HTTP_TE_CHUNKED;
  while (i < len) {
    size_t start;
    while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
      i++;
    start = i;
    while (i < len && v[i] != ' ' && v[i] != '\t' && v[i] != ',')
      i++;
    if (i > start && !http_is_token(v + start, i - start))
      return HTTP_TE_BAD;
    elements += i > start;
  }
  return elements > 0 ? HTTP_TE_UNKNOWN : HTTP_TE_BAD;
}

/* Reads one Expect value (a list of expectations) into info. */
static void expect_scan(const char *v, size_t len, http_head_info *info) {
  size_t i = 0;

  while (i < len) {
    size_t start, end;
    while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
      i++;
    start = i;
    while (i < len && v[i] != ',')
      i++;
    end = i;
    while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
      end--;
    if (end == start)
      continue;
    if (end - start == 12 && strncasecmp(v + start, "100-continue", 12) == 0)
      info->expect_continue = 1;
    else
      info->expect_other = 1;
  }
}

int http_scan_headers(tdm_header *h, uint32_t n, http_head_info *info) {
  int status = 0;
  unsigned tes = 0;

  memset(info, 0, sizeof(*info));
  for (uint32_t i = 0; i < n; i++) {
    char *name = (char *) h[i].name.ptr;
    uint32_t nlen = h[i].name.len;
    const char *v = h[i].value.ptr;
    uint32_t vlen = h[i].value.len;

    while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
      vlen--;
    h[i].value.len = vlen;
    if (!http_is_token(name, nlen))
      status = 400;
    for (uint32_t j = 0; j < nlen; j++)
      name[j] |= (char) ((name[j] >= 'A' && name[j] <= 'Z') << 5);
    if (nlen == 4 && memcmp(name, "host", 4) == 0) {
      info->hosts++;
      info->host = i;
      info->host_bad |= !http_authority_ok(v, vlen);
    } else if (nlen == 6 && memcmp(name, "expect", 6) == 0) {
      expect_scan(v, vlen, info);
    } else if (nlen == 17 && memcmp(name, "transfer-encoding", 17) == 0) {
      /* Several headers make one list: never exactly "chunked" then. */
      int kind = te_kind(v, vlen);
      if (tes++ == 0)
        info->te = (uint8_t) kind;
      else if (kind == HTTP_TE_BAD || info->te == HTTP_TE_BAD)
        info->te = HTTP_TE_BAD;
      else
        info->te = HTTP_TE_UNKNOWN;
    }
  }
  return status;
}

int http_check_framing(const http_head_info *info, int http10, const char **why) {
  /* Two of them would let two readers route one request two ways; none is
   * allowed only in HTTP/1.0, which had no Host. */
  if (info->hosts > 1 || (!http10 && info->hosts == 0)) {
    *why = "exactly one Host header is required";
    return 400;
  }
  if (info->host_bad) {
    *why = "invalid Host header";
    return 400;
  }
  if (info->te != HTTP_TE_NONE && http10) {
    *why = "transfer-encoding in an HTTP/1.0 request";
    return 400;
  }
  if (info->te == HTTP_TE_BAD) {
    *why = "invalid transfer-encoding";
    return 400;
  }
  if (info->te == HTTP_TE_UNKNOWN) {
    *why = "unsupported transfer-encoding";
    return 501;
  }
  return 0;
}

int64_t http_parse_length(const char *v, size_t len) {
  int64_t n = 0;

  if (len == 0 || len > 18)
    return -1;
  for (size_t i = 0; i < len; i++) {
    if (v[i] < '0' || v[i] > '9')
      return -1;
    n = n * 10 + (v[i] - '0');
  }
  return n;
}
