/* record: --record FILE, every byte the frontend exchanges with its backends,
 * with the time and the connection, so that an incident can be replayed into
 * a backend (tandem-conform --replay; the file's format is in
 * protocol/RECORDING.md).
 *
 * Records gather in memory and go to the file with uv_fs_write from the
 * loop's per-iteration flush, one write at a time, so the loop never waits on
 * the disk.  Memory is bounded: two buffers of RECORD_BUFFER bytes.  A
 * record that finds no room is dropped, and a GAP record counting the bytes
 * lost goes in before the next one that fits.  Calls ctx and log. */
#ifndef TDM_RECORD_H
#define TDM_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "ctx.h"

#define RECORD_BUFFER (4 * 1024 * 1024)

/* The kinds of record (protocol/RECORDING.md). */
enum {
  RECORD_TO_BACKEND = 1,         /* bytes the frontend wrote */
  RECORD_FROM_BACKEND = 2,       /* bytes the frontend read */
  RECORD_ACCEPTED = 3,           /* a backend connection began */
  RECORD_CLOSED = 4,             /* it ended */
  RECORD_GAP = 5                 /* records were lost: a uint64 count of their bytes */
};

/* Starts recording to path (created, or truncated).  Returns 0, or a
 * negative errno after logging why. */
int record_open(tdm_ctx *x, const char *path);

/* Whether a recording is open. */
int record_on(void);

/* Whether a write to the file is in flight (the loop must run until it is
 * not before record_close(), which main() ensures by running it to the end). */
int record_pending(void);

/* Appends one record of connection conn (numbered from 1 by the caller). */
void record_bytes(uint32_t conn, int kind, const void *p, size_t n);

/* At exit, once the loop has stopped: writes what is left, and closes. */
void record_close(void);

#endif /* TDM_RECORD_H */
