/* static_list: a directory's HTML listing (see static_list.h). */
#include "static_list.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "http_head.h"

typedef struct item {
  char *name;                    /* owner: the listing being built */
  int dir;
  off_t size;
  time_t mtime;
} item;

static int by_name(const void *a, const void *b) {
  const item *x = a, *y = b;

  return strcmp(x->name, y->name);
}

/* An output buffer that grows; on failure it stays failed. */
typedef struct page {
  char *p;
  size_t len, cap;
  int failed;
} page;

static void put(page *pg, const char *s, size_t n) {
  if (pg->failed)
    return;
  if (pg->len + n + 1 > pg->cap) {
    size_t cap = pg->cap ? pg->cap : 4096;
    char *p;
    while (pg->len + n + 1 > cap)
      cap *= 2;
    p = realloc(pg->p, cap);
    if (p == NULL) {
      pg->failed = 1;
      return;
    }
    pg->p = p;
    pg->cap = cap;
  }
  memcpy(pg->p + pg->len, s, n);
  pg->len += n;
  pg->p[pg->len] = '\0';
}

static void puts_(page *pg, const char *s) {
  put(pg, s, strlen(s));
}

/* s as HTML text (also safe inside a quoted attribute). */
static void put_html(page *pg, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '&': puts_(pg, "&amp;"); break;
    case '<': puts_(pg, "&lt;"); break;
    case '>': puts_(pg, "&gt;"); break;
    case '"': puts_(pg, "&quot;"); break;
    case '\'': puts_(pg, "&#39;"); break;
    default: put(pg, s, 1);
    }
  }
}

/* s as one path segment of a URL: every byte but the unreserved ones encoded. */
static void put_segment(page *pg, const char *s) {
  char e[3 * NAME_MAX + 1];
  size_t n = http_percent_encode(s, strlen(s), e, sizeof(e), HTTP_PCT_SEGMENT);

  put(pg, e, n);
}

/* Reads the visible entries of dir (at most STATIC_LIST_MAX kept; *more
 * counts the rest).  Returns the count, or a negative errno. */
static ssize_t read_items(const char *dir, item **out, size_t *more) {
  DIR *d = opendir(dir);
  item *items = NULL;
  size_t n = 0, cap = 0;
  struct dirent *de;
  char path[PATH_MAX];
  struct stat st;

  *more = 0;
  if (d == NULL)
    return -errno;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.')
      continue;                 /* ".", "..", and hidden files */
    if (n == STATIC_LIST_MAX) {
      (*more)++;
      continue;
    }
    if ((size_t) snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= sizeof(path) || stat(path, &st) != 0)
      continue;
    if (n == cap) {
      item *grown = realloc(items, (cap ? cap * 2 : 64) * sizeof(*items));
      if (grown == NULL)
        break;
      items = grown;
      cap = cap ? cap * 2 : 64;
    }
    items[n].name = strdup(de->d_name);
    if (items[n].name == NULL)
      break;
    items[n].dir = S_ISDIR(st.st_mode);
    items[n].size = st.st_size;
    items[n].mtime = st.st_mtime;
    n++;
  }
  closedir(d);
  qsort(items, n, sizeof(*items), by_name);
  *out = items;
  return (ssize_t) n;
}

ssize_t static_list_dir(const char *dir, const char *url, char **out) {
  page pg = { 0 };
  item *items = NULL;
  size_t more;
  ssize_t n = read_items(dir, &items, &more);
  char line[128];
  struct tm tm;

  if (n < 0)
    return n;
  puts_(&pg, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of ");
  put_html(&pg, url);
  puts_(&pg, "</title></head>\n<body><h1>Index of ");
  put_html(&pg, url);
  puts_(&pg, "</h1><hr><pre><a href=\"../\">../</a>\n");
  for (ssize_t i = 0; i < n; i++) {
    puts_(&pg, "<a href=\"");
    put_segment(&pg, items[i].name);
    puts_(&pg, items[i].dir ? "/\">" : "\">");
    put_html(&pg, items[i].name);
    puts_(&pg, items[i].dir ? "/</a>" : "</a>");
    gmtime_r(&items[i].mtime, &tm);
    strftime(line, sizeof(line), "  %Y-%m-%d %H:%M", &tm);
    puts_(&pg, line);
    if (items[i].dir)
      puts_(&pg, "  -\n");
    else {
      snprintf(line, sizeof(line), "  %lld\n", (long long) items[i].size);
      puts_(&pg, line);
    }
    free(items[i].name);
  }
  free(items);
  if (more > 0) {
    snprintf(line, sizeof(line), "... and %zu more\n", more);
    puts_(&pg, line);
  }
  puts_(&pg, "</pre><hr></body></html>\n");
  if (pg.failed) {
    free(pg.p);
    return -ENOMEM;
  }
  *out = pg.p;
  return (ssize_t) pg.len;
}
