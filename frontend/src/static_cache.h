/* static_cache: small files of the --static mounts kept in memory, with the
 * validators they had when last checked, under a byte budget with
 * least-recently-used eviction; a larger file is kept as an open
 * descriptor instead (as nginx's open_file_cache), so that sending it needs
 * no open.  A data structure for the loop thread alone: it does no file I/O
 * (a memfd that holds a body is memory)
 * (static.c checks the files on the thread pool and tells it what it found,
 * and closes the descriptor of an entry that goes, through the hook given to
 * static_cache_init()).  Calls http_cond (validators) and config (the mount,
 * by pointer). */
#ifndef TDM_STATIC_CACHE_H
#define TDM_STATIC_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "http_cond.h"
#include "sock.h"

/* A file's bytes are kept only up to this size (the thread pool reads such a
 * file whole anyway). */
#define STATIC_CACHE_FILE_MAX (64 * 1024)
/* A kept body the socket writes at once (SOCK_WRITE_NOW_MIN bytes or more)
 * lives in a memfd, mapped: the socket can send its pages with sendfile
 * instead of copying them (sock_write_now()); at most STATIC_CACHE_MEMFDS of
 * them, so that descriptors stay for clients (the others are copied into the
 * entry, as smaller ones are). */
#define STATIC_CACHE_MEMFD_MIN SOCK_WRITE_NOW_MIN
#define STATIC_CACHE_MEMFDS 256
/* Descriptors of larger files kept open at most. */
#define STATIC_CACHE_FDS 256
/* How long a kept file is served without looking at the disk again. */
#define STATIC_CACHE_VALID_MS 1000
/* How long a look at the disk may take before another request makes its own. */
#define STATIC_CACHE_CHECK_MS 5000
#define STATIC_CACHE_LINES 320

typedef struct static_entry {
  struct static_entry *hnext;             /* the hash chain */
  struct static_entry *lprev, *lnext;     /* most recently used first */
  uint64_t hash;
  const static_mount *mount;
  const char *key;                        /* the mount-relative path asked for */
  size_t key_len;
  unsigned variant;                       /* which request it answers (static.c: the codings taken) */
  const char *encoding;                   /* its Content-Encoding, a static string, or NULL */
  unsigned vary : 1;                      /* the answer varies by Accept-Encoding */
  const char *body;                       /* NULL when fd is kept instead */
  int body_fd;                            /* the memfd body maps (owner: the entry), or -1 */
  int fd;                                 /* a large file's descriptor (owner: the entry), or -1 */
  uint64_t size;
  size_t bytes;                           /* what it counts against the budget */
  const char *content_type;               /* a static string */
  http_validator v;
  uint64_t ino;
  long mtime_nsec;
  uint64_t checked;                       /* loop time of the last look at the disk */
  uint64_t checking_until;                /* a look at the disk is under way until then */
  /* Its response's header lines, made once by static.c; a 304 sends them
   * from lines_v on. */
  size_t lines_len, lines_v;
  char lines[STATIC_CACHE_LINES];
} static_entry;

/* Keeps at most budget bytes (0: keep nothing) and STATIC_CACHE_FDS
 * descriptors; close_fd(fd) is called for the descriptor of an entry that
 * goes. */
void static_cache_init(size_t budget, void (*close_fd)(int fd));
/* Frees every entry (at shutdown). */
void static_cache_free(void);

/* The entry for rel[0..len) under m and variant, or NULL; a hit counts as a use. */
static_entry *static_cache_find(const static_mount *m, const char *rel, size_t len, unsigned variant);

/* Keeps the file rel[0..len) of m, as variant: its size bytes of body (or,
 * with body NULL, its open descriptor fd, which the cache then owns) and what
 * its stat said, checked at loop time now, replacing any entry for it.
 * Evicts the least recently used to make room; keeps nothing if it cannot
 * (and closes fd).  Returns the entry or NULL. */
static_entry *static_cache_put(const static_mount *m, const char *rel, size_t len, unsigned variant, const char *body,
                               int fd, uint64_t size, const char *content_type, uint64_t ino, time_t mtime,
                               long mtime_nsec, uint64_t now);

/* Forgets e (its file changed or is gone). */
void static_cache_drop(static_entry *e);

/* Bytes and entries kept, for tests and logs. */
size_t static_cache_bytes(void);
size_t static_cache_count(void);

#endif /* TDM_STATIC_CACHE_H */
