/* afile: an append-only file written from the loop without waiting on the
 * disk: --record and --access-log.
 *
 * Bytes gather in memory (the fill buffer) and go to the file with
 * uv_fs_write from the loop's per-iteration flush, one write at a time,
 * while new bytes gather in the other buffer.  Memory is bounded: two
 * buffers of `cap` bytes each.  The writer never blocks and never grows: a
 * caller that finds no room (afile_reserve returns NULL) drops what it had to
 * write and says so in its own way.  At exit, once the loop has stopped,
 * afile_close() writes the rest with write(2).  Calls ctx and log. */
#ifndef TDM_AFILE_H
#define TDM_AFILE_H

#include <stddef.h>

#include <uv.h>

#include "ctx.h"

typedef struct afile {
  tdm_ctx *ctx;
  const char *what;              /* "--record", for log lines; not owned (a literal) */
  char *path;                    /* NULL for an inherited descriptor; owner: the afile */
  int fd;                        /* -1: closed, or stopped after an error */
  int own_fd;                    /* close fd at the end (not stderr) */
  int flags;                     /* open(2) flags of a reopen */
  size_t max_write;              /* > 0: each write ends at a line's end within this much */
  flushable fl;
  uv_fs_t req;
  int writing;                   /* req is in flight, writing `out` */
  uv_fs_t reopen_req;
  int reopening;                 /* reopen_req is in flight */
  int next_fd;                   /* the reopened file, swapped in after the write in flight */
  char *fill, *out;              /* cap bytes each; owner: the afile */
  size_t cap, fill_len, out_len, out_off;
} afile;

/* Opens path with open(2) flags (O_CREAT uses mode) for appending records of
 * at most cap bytes in all.  Startup only (a blocking open).  Returns 0, or
 * a negative errno after logging why, naming `what`. */
int afile_open(afile *f, tdm_ctx *x, const char *what, const char *path, int flags, int mode, size_t cap);

/* The same on an inherited descriptor (stderr), which is never closed;
 * max_write > 0 cuts writes at line ends so that each stays whole. */
int afile_open_fd(afile *f, tdm_ctx *x, const char *what, int fd, size_t cap, size_t max_write);

/* Whether the file is open. */
static inline int afile_on(const afile *f) {
  return f->fd >= 0;
}

/* Room for n bytes at the end of what is gathered: a pointer to fill, then
 * afile_commit() with what was used; NULL if the buffer has no room for n. */
char *afile_reserve(afile *f, size_t n);
void afile_commit(afile *f, size_t used);

/* Bytes the fill buffer can still take. */
static inline size_t afile_room(const afile *f) {
  return f->fd < 0 ? 0 : f->cap - f->fill_len;
}

/* Reopens the file by its path (log rotation), without waiting on the loop;
 * bytes gathered so far go to the new file.  Nothing for a descriptor. */
void afile_reopen(afile *f);

/* Whether a write or a reopen is in flight. */
int afile_pending(const afile *f);

/* At exit, once the loop has stopped: writes what is left, and closes. */
void afile_close(afile *f);

#endif /* TDM_AFILE_H */
