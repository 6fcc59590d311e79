/* http_cond: conditional and range requests (see http_cond.h). */
#include "http_cond.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <string.h>
#include <strings.h>

static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

static int lower(int c) {
  return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Whether header name n[0..len) is lname (lowercase), case aside. */
static int name_is(tdm_str n, const char *lname) {
  size_t i;

  for (i = 0; i < n.len; i++)
    if (lname[i] == '\0' || lower((unsigned char) n.ptr[i]) != lname[i])
      return 0;
  return lname[i] == '\0';
}

/* The index of the first header called lname at or after *from, or -1; *from
 * moves past it. */
static int find(const tdm_request *r, const char *lname, uint32_t *from) {
  for (uint32_t i = *from; i < r->nheaders; i++)
    if (name_is(r->headers[i].name, lname)) {
      *from = i + 1;
      return (int) i;
    }
  *from = r->nheaders;
  return -1;
}

/* The one header called lname: 1 and its value, 0 if there is none, -1 if
 * there are several. */
static int find_one(const tdm_request *r, const char *lname, tdm_str *value) {
  uint32_t from = 0;
  int i = find(r, lname, &from);

  if (i < 0)
    return 0;
  if (find(r, lname, &from) >= 0)
    return -1;
  *value = r->headers[i].value;
  return 1;
}

/* ---- validators and dates -------------------------------------------------- */

void http_validator_make(http_validator *v, uint64_t ino, uint64_t size, time_t mtime, long mtime_nsec) {
  int n = snprintf(v->etag, sizeof(v->etag), "\"%llx-%llx-%llx.%lx\"", (unsigned long long) ino,
                   (unsigned long long) size, (unsigned long long) mtime, (unsigned long) mtime_nsec);

  time_t now = time(NULL);

  v->etag_len = n > 0 && (size_t) n < sizeof(v->etag) ? (size_t) n : 0;
  /* RFC 9110 section 8.8.2.1: a modification time in the future is sent,
   * and compared, as the present. */
  v->mtime = mtime > now ? now : mtime;
}

size_t http_date_format(time_t t, char *out) {
  struct tm tm;

  gmtime_r(&t, &tm);
  /* The names by hand: strftime's %a and %b follow the locale. */
  memcpy(out, days[tm.tm_wday % 7], 3);
  out[3] = ',';
  strftime(out + 4, HTTP_DATE_LEN - 3, " %d ", &tm);
  memcpy(out + 8, months[tm.tm_mon % 12], 3);
  strftime(out + 11, HTTP_DATE_LEN - 10, " %Y %H:%M:%S GMT", &tm);
  return HTTP_DATE_LEN;
}

/* A small cursor over a date's bytes. */
typedef struct scan {
  const char *p, *end;
} scan;

static int sc_lit(scan *s, const char *lit) {
  size_t n = strlen(lit);

  if ((size_t) (s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
    return -1;
  s->p += n;
  return 0;
}

/* Exactly n digits (or, with n < 0, one or two). */
static int sc_num(scan *s, int n, int *out) {
  int v = 0, got = 0, max = n < 0 ? 2 : n;

  while (got < max && s->p < s->end && *s->p >= '0' && *s->p <= '9') {
    v = v * 10 + (*s->p++ - '0');
    got++;
  }
  if (got == 0 || (n > 0 && got != n))
    return -1;
  *out = v;
  return 0;
}

static int sc_month(scan *s, int *out) {
  for (int i = 0; i < 12; i++)
    if (s->end - s->p >= 3 && memcmp(s->p, months[i], 3) == 0) {
      s->p += 3;
      *out = i;
      return 0;
    }
  return -1;
}

static int sc_time(scan *s, struct tm *tm) {
  if (sc_num(s, 2, &tm->tm_hour) || sc_lit(s, ":") || sc_num(s, 2, &tm->tm_min) || sc_lit(s, ":") ||
      sc_num(s, 2, &tm->tm_sec))
    return -1;
  return tm->tm_hour > 23 || tm->tm_min > 59 || tm->tm_sec > 60 ? -1 : 0;
}

int http_date_parse(const char *str, size_t len, time_t *out) {
  scan s = { str, str + len };
  struct tm tm;
  const char *comma;
  int year, ok;

  while (s.p < s.end && (*s.p == ' ' || *s.p == '\t'))
    s.p++;
  while (s.end > s.p && (s.end[-1] == ' ' || s.end[-1] == '\t'))
    s.end--;
  memset(&tm, 0, sizeof(tm));
  comma = memchr(s.p, ',', (size_t) (s.end - s.p));
  if (comma != NULL && comma - s.p == 3) {
    /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
    s.p = comma;
    ok = !sc_lit(&s, ", ") && !sc_num(&s, 2, &tm.tm_mday) && !sc_lit(&s, " ") && !sc_month(&s, &tm.tm_mon) &&
         !sc_lit(&s, " ") && !sc_num(&s, 4, &year) && !sc_lit(&s, " ") && !sc_time(&s, &tm) &&
         !sc_lit(&s, " GMT");
  } else if (comma != NULL) {
    /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
    s.p = comma;
    ok = !sc_lit(&s, ", ") && !sc_num(&s, 2, &tm.tm_mday) && !sc_lit(&s, "-") && !sc_month(&s, &tm.tm_mon) &&
         !sc_lit(&s, "-") && !sc_num(&s, 2, &year) && !sc_lit(&s, " ") && !sc_time(&s, &tm) &&
         !sc_lit(&s, " GMT");
    /* Only a year that was read: a date that failed before it has none. */
    if (ok)
      year += year < 70 ? 2000 : 1900;
  } else {
    /* asctime: Sun Nov  6 08:49:37 1994 */
    ok = s.end - s.p >= 4 && (s.p += 4, 1) && !sc_month(&s, &tm.tm_mon) && !sc_lit(&s, " ");
    if (ok && s.p < s.end && *s.p == ' ')
      s.p++;
    ok = ok && !sc_num(&s, -1, &tm.tm_mday) && !sc_lit(&s, " ") && !sc_time(&s, &tm) && !sc_lit(&s, " ") &&
         !sc_num(&s, 4, &year);
  }
  if (!ok || s.p != s.end || tm.tm_mday < 1 || tm.tm_mday > 31 || year < 1900)
    return -EINVAL;
  tm.tm_year = year - 1900;
  *out = timegm(&tm);
  return 0;
}

/* ---- preconditions ----------------------------------------------------------- */

/* Whether the entity-tag list s[0..len) ("*" or 1#entity-tag) names v: with
 * the weak comparison (If-None-Match) or the strong one (If-Match, If-Range).
 * A list that does not parse names nothing. */
static int etag_list_matches(const char *s, size_t len, const http_validator *v, int weak) {
  const char *p = s, *end = s + len;

  for (;;) {
    int is_weak = 0;
    const char *open, *close;

    while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
      p++;
    if (p == end)
      return 0;
    if (*p == '*')
      return 1;
    if (end - p >= 2 && p[0] == 'W' && p[1] == '/') {
      is_weak = 1;
      p += 2;
    }
    if (p == end || *p != '"')
      return 0;
    open = p;
    close = memchr(p + 1, '"', (size_t) (end - p - 1));
    if (close == NULL)
      return 0;
    p = close + 1;
    if ((weak || !is_weak) && (size_t) (p - open) == v->etag_len &&
        memcmp(open, v->etag, v->etag_len) == 0)
      return 1;
  }
}

/* Whether any header called lname names v (1), none does (0), or there is none (-1). */
static int any_etag_matches(const tdm_request *r, const char *lname, const http_validator *v, int weak) {
  uint32_t from = 0;
  int i, seen = 0;

  while ((i = find(r, lname, &from)) >= 0) {
    seen = 1;
    if (etag_list_matches(r->headers[i].value.ptr, r->headers[i].value.len, v, weak))
      return 1;
  }
  return seen ? 0 : -1;
}

/* The date of the one header called lname, if it is a valid HTTP-date not
 * later than now: 1 and *t; 0 if it is to be ignored. */
static int one_date(const tdm_request *r, const char *lname, time_t *t) {
  tdm_str value;

  if (find_one(r, lname, &value) != 1 || http_date_parse(value.ptr, value.len, t) != 0)
    return 0;
  return *t <= time(NULL);
}

int http_cond_check(const tdm_request *r, int get_or_head, const http_validator *v) {
  time_t t;
  int m;

  /* Steps 1 and 2 of section 13.2.2: If-Match, else If-Unmodified-Since. */
  m = any_etag_matches(r, "if-match", v, 0);
  if (m == 0)
    return 412;
  if (m < 0 && one_date(r, "if-unmodified-since", &t) && v->mtime > t)
    return 412;
  /* Steps 3 and 4: If-None-Match, else If-Modified-Since (GET and HEAD only). */
  m = any_etag_matches(r, "if-none-match", v, 1);
  if (m == 1)
    return get_or_head ? 304 : 412;
  if (m < 0 && get_or_head && one_date(r, "if-modified-since", &t) && v->mtime <= t)
    return 304;
  return 0;
}

/* ---- ranges ---------------------------------------------------------------- */

/* A decimal number of at most 19 digits at *p. */
static int range_num(const char **p, const char *end, uint64_t *out) {
  uint64_t v = 0;
  int n = 0;

  while (*p < end && **p >= '0' && **p <= '9') {
    if (++n > 19)
      return -1;
    v = v * 10 + (uint64_t) (**p - '0');
    (*p)++;
  }
  if (n == 0)
    return -1;
  *out = v;
  return 0;
}

/* If-Range: whether the Range may be used (1) or is to be ignored (0). */
static int if_range_holds(const tdm_request *r, const http_validator *v) {
  tdm_str value;
  time_t t;
  int n = find_one(r, "if-range", &value);

  if (n == 0)
    return 1;
  if (n < 0)
    return 0;
  if (value.len > 0 && (value.ptr[0] == '"' || value.ptr[0] == 'W'))
    return etag_list_matches(value.ptr, value.len, v, 0) && value.ptr[0] == '"';
  return http_date_parse(value.ptr, value.len, &t) == 0 && t == v->mtime;
}

int http_range_check(const tdm_request *r, const http_validator *v, uint64_t size, uint64_t *first,
                     uint64_t *last) {
  tdm_str value;
  const char *p, *end;
  unsigned specs = 0, satisfiable = 0;

  if (find_one(r, "range", &value) != 1 || !if_range_holds(r, v))
    return HTTP_RANGE_NONE;
  p = value.ptr;
  end = p + value.len;
  if (end - p < 6 || lower(p[0]) != 'b' || lower(p[1]) != 'y' || lower(p[2]) != 't' ||
      lower(p[3]) != 'e' || lower(p[4]) != 's' || p[5] != '=')
    return HTTP_RANGE_NONE;
  p += 6;
  for (;;) {
    uint64_t a = 0, b = 0;
    int suffix = 0, open_end = 0;

    /* Empty list elements are allowed (RFC 9110 section 5.6.1). */
    while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
      p++;
    if (p == end)
      break;
    if (*p == '-') {
      suffix = 1;
      p++;
      if (range_num(&p, end, &b) != 0)
        return HTTP_RANGE_NONE;
    } else {
      if (range_num(&p, end, &a) != 0 || p == end || *p++ != '-')
        return HTTP_RANGE_NONE;
      if (p < end && *p >= '0' && *p <= '9') {
        if (range_num(&p, end, &b) != 0 || b < a)
          return HTTP_RANGE_NONE;
      } else {
        open_end = 1;
      }
    }
    specs++;
    /* Of an empty representation a suffix is satisfiable (RFC 9110 section
     * 14.1.1) but no part can be sent: the whole, which is nothing, is. */
    if (suffix && b > 0 && size == 0)
      return HTTP_RANGE_NONE;
    if (suffix ? b > 0 : a < size) {
      satisfiable++;
      if (specs == 1) {
        *first = suffix ? (b >= size ? 0 : size - b) : a;
        *last = suffix || open_end || b >= size ? size - 1 : b;
      }
    }
    while (p < end && (*p == ' ' || *p == '\t'))
      p++;
    if (p == end)
      break;
    if (*p++ != ',')
      return HTTP_RANGE_NONE;
  }
  if (specs == 0)
    return HTTP_RANGE_NONE;
  if (satisfiable == 0)
    return HTTP_RANGE_UNSATISFIABLE;
  return specs == 1 ? HTTP_RANGE_ONE : HTTP_RANGE_NONE;
}

/* ---- content codings --------------------------------------------------------- */

/* Whether the weight ";q=..." at p[0..len) (parameters of one list member) is
 * above zero; no weight is 1. */
static int weight_positive(const char *p, size_t len) {
  for (size_t i = 0; i + 1 < len; i++) {
    if (lower((unsigned char) p[i]) != 'q' || p[i + 1] != '=' || (i > 0 && p[i - 1] != ';' && p[i - 1] != ' '))
      continue;
    for (i += 2; i < len && (p[i] == '0' || p[i] == '.'); i++)
      ;
    return i < len && p[i] >= '1' && p[i] <= '9';
  }
  return 1;
}

unsigned http_accept_encoding(const tdm_request *r) {
  unsigned yes = 0, no = 0, star = 0;
  uint32_t from = 0;
  int i;

  while ((i = find(r, "accept-encoding", &from)) >= 0) {
    const char *p = r->headers[i].value.ptr, *end = p + r->headers[i].value.len;
    for (;;) {
      const char *item, *semi = NULL, *name_end;
      unsigned bit;
      int ok;
      while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
        p++;
      if (p == end)
        break;
      item = p;
      for (; p < end && *p != ','; p++)
        if (*p == ';' && semi == NULL)
          semi = p;
      name_end = semi != NULL ? semi : p;
      while (name_end > item && (name_end[-1] == ' ' || name_end[-1] == '\t'))
        name_end--;
      ok = semi == NULL || weight_positive(semi, (size_t) (p - semi));
      if (name_end - item == 1 && *item == '*')
        star = ok ? 1 : 2;
      bit = 0;
      if ((name_end - item == 4 && strncasecmp(item, "gzip", 4) == 0) ||
          (name_end - item == 6 && strncasecmp(item, "x-gzip", 6) == 0))
        bit = HTTP_ACCEPT_GZIP;
      else if (name_end - item == 2 && strncasecmp(item, "br", 2) == 0)
        bit = HTTP_ACCEPT_BR;
      if (ok)
        yes |= bit;
      else
        no |= bit;
    }
  }
  if (star == 1)
    yes |= (HTTP_ACCEPT_GZIP | HTTP_ACCEPT_BR) & ~no;
  return yes & ~no;
}
