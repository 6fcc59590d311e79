/* static_cache: small static files in memory (see static_cache.h). */
#include "static_cache.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NBUCKETS 4096                    /* a power of two */
#define ENTRY_OVERHEAD ((size_t) sizeof(static_entry))  /* bytes an entry counts besides its key and body */

static static_entry *buckets[NBUCKETS];
static static_entry *mru, *lru;          /* the use list's two ends */
static size_t budget, used, count, fds, memfds;
static void (*close_fd)(int fd);

/* FNV-1a over the mount's address and the path. */
static uint64_t hash_of(const static_mount *m, const char *rel, size_t len, unsigned variant) {
  uint64_t h = (14695981039346656037ULL ^ (uint64_t) (uintptr_t) m) + variant;

  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char) rel[i];
    h *= 1099511628211ULL;
  }
  return h;
}

static void use_unlink(static_entry *e) {
  if (e->lprev != NULL)
    e->lprev->lnext = e->lnext;
  else
    mru = e->lnext;
  if (e->lnext != NULL)
    e->lnext->lprev = e->lprev;
  else
    lru = e->lprev;
  e->lprev = e->lnext = NULL;
}

static void use_front(static_entry *e) {
  e->lnext = mru;
  e->lprev = NULL;
  if (mru != NULL)
    mru->lprev = e;
  mru = e;
  if (lru == NULL)
    lru = e;
}

void static_cache_init(size_t bytes, void (*close_hook)(int fd)) {
  budget = bytes;
  close_fd = close_hook;
}

static_entry *static_cache_find(const static_mount *m, const char *rel, size_t len, unsigned variant) {
  uint64_t h = hash_of(m, rel, len, variant);
  static_entry *e;

  for (e = buckets[h & (NBUCKETS - 1)]; e != NULL; e = e->hnext)
    if (e->hash == h && e->mount == m && e->variant == variant && e->key_len == len &&
        memcmp(e->key, rel, len) == 0) {
      if (e != mru) {
        use_unlink(e);
        use_front(e);
      }
      return e;
    }
  return NULL;
}

void static_cache_drop(static_entry *e) {
  static_entry **p = &buckets[e->hash & (NBUCKETS - 1)];

  while (*p != e)
    p = &(*p)->hnext;
  *p = e->hnext;
  use_unlink(e);
  used -= e->bytes;
  count--;
  if (e->fd >= 0) {
    fds--;
    if (close_fd != NULL)
      close_fd(e->fd);
  }
  if (e->body_fd >= 0) {
    memfds--;
    munmap((void *) e->body, (size_t) e->size);
    close(e->body_fd);
  }
  free(e);
}

/* A memfd holding size bytes of body, mapped read-only at *map; -1 if the
 * system will not make one (the body is then copied into the entry). */
static int body_memfd(const char *body, size_t size, const char **map) {
  int fd = memfd_create("tandem-static", MFD_CLOEXEC);
  size_t done = 0;
  void *p;

  if (fd < 0)
    return -1;
  while (done < size) {
    ssize_t n = write(fd, body + done, size - done);

    if (n <= 0)
      goto fail;
    done += (size_t) n;
  }
  p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED)
    goto fail;
  *map = p;
  return fd;

fail:
  close(fd);
  return -1;
}

/* The least recently used entry that holds a descriptor. */
static static_entry *lru_fd(void) {
  static_entry *e = lru;

  while (e != NULL && e->fd < 0)
    e = e->lprev;
  return e;
}

static_entry *static_cache_put(const static_mount *m, const char *rel, size_t len, unsigned variant, const char *body,
                               int fd, uint64_t size, const char *content_type, uint64_t ino, time_t mtime,
                               long mtime_nsec, uint64_t now) {
  size_t kept = body != NULL ? (size_t) size : 0;
  size_t bytes = ENTRY_OVERHEAD + len + kept;
  static_entry *e = static_cache_find(m, rel, len, variant);
  char *mem = NULL;
  const char *map = NULL;
  int body_fd = -1;

  if (e != NULL)
    static_cache_drop(e);
  if ((body != NULL && size > STATIC_CACHE_FILE_MAX) || bytes > budget)
    goto fail;
  while (used + bytes > budget && lru != NULL)
    static_cache_drop(lru);
  while (body == NULL && fds >= STATIC_CACHE_FDS && lru_fd() != NULL)
    static_cache_drop(lru_fd());
  if (kept >= STATIC_CACHE_MEMFD_MIN && memfds < STATIC_CACHE_MEMFDS) {
    body_fd = body_memfd(body, kept, &map);
    if (body_fd >= 0)
      kept = 0;                 /* in the memfd, not in the allocation */
  }
  /* One allocation: the entry, then its key, then its body (unless a memfd
   * holds it).  Owner: the cache. */
  mem = malloc(sizeof(*e) + len + kept);
  if (mem == NULL)
    goto fail;
  e = (static_entry *) mem;
  memset(e, 0, sizeof(*e));
  memcpy(mem + sizeof(*e), rel, len);
  if (kept > 0)
    memcpy(mem + sizeof(*e) + len, body, kept);
  e->key = mem + sizeof(*e);
  e->key_len = len;
  e->body = body_fd >= 0 ? map : body != NULL ? mem + sizeof(*e) + len : NULL;
  e->body_fd = body_fd;
  e->fd = body != NULL ? -1 : fd;
  if (body == NULL)
    fds++;
  if (body_fd >= 0)
    memfds++;
  e->size = size;
  e->bytes = bytes;
  e->mount = m;
  e->variant = variant;
  e->hash = hash_of(m, rel, len, variant);
  e->content_type = content_type;
  e->ino = ino;
  e->mtime_nsec = mtime_nsec;
  http_validator_make(&e->v, ino, size, mtime, mtime_nsec);
  e->checked = now;
  e->hnext = buckets[e->hash & (NBUCKETS - 1)];
  buckets[e->hash & (NBUCKETS - 1)] = e;
  use_front(e);
  used += bytes;
  count++;
  return e;

fail:
  if (body == NULL && fd >= 0 && close_fd != NULL)
    close_fd(fd);
  if (body_fd >= 0) {
    munmap((void *) map, (size_t) size);
    close(body_fd);
  }
  return NULL;
}

void static_cache_free(void) {
  while (lru != NULL)
    static_cache_drop(lru);
}

size_t static_cache_bytes(void) {
  return used;
}

size_t static_cache_count(void) {
  return count;
}
