/* record: --record FILE (see record.h; the format is protocol/RECORDING.md).
 * The file is an afile: written from the loop's flush without waiting. */
#include "record.h"

#include <fcntl.h>
#include <string.h>
#include <time.h>

#include "afile.h"
#include "log.h"

#define RECORD_MAGIC "TDMREC1\n"
#define RECORD_HEAD 17                   /* time 8, connection 4, kind 1, length 4 */
#define RECORD_PIECE (1024 * 1024)       /* bytes become records of at most this much */

static afile file = { .fd = -1 };
static uint64_t lost;                    /* bytes of records dropped since the last GAP */

static void put_be(char *p, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; i--, v >>= 8)
    p[i] = (char) (v & 0xff);
}

/* Appends one record; the caller made sure it fits. */
static void put_record(uint32_t conn, int kind, const void *p, size_t n) {
  struct timespec ts;
  char *h = afile_reserve(&file, RECORD_HEAD + n);

  clock_gettime(CLOCK_REALTIME, &ts);
  put_be(h, (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec, 8);
  put_be(h + 8, conn, 4);
  h[12] = (char) kind;
  put_be(h + 13, n, 4);
  if (n > 0)
    memcpy(h + RECORD_HEAD, p, n);
  afile_commit(&file, RECORD_HEAD + n);
}

int record_open(tdm_ctx *x, const char *path) {
  char *magic;
  int rc = afile_open(&file, x, "--record", path, O_WRONLY | O_CREAT | O_TRUNC, 0600, RECORD_BUFFER);

  if (rc != 0)
    return rc;
  magic = afile_reserve(&file, sizeof(RECORD_MAGIC) - 1);
  memcpy(magic, RECORD_MAGIC, sizeof(RECORD_MAGIC) - 1);
  afile_commit(&file, sizeof(RECORD_MAGIC) - 1);
  log_info("recording what backends and the frontend exchange to %s", path);
  return 0;
}

int record_on(void) {
  return afile_on(&file);
}

int record_pending(void) {
  return afile_pending(&file);
}

void record_bytes(uint32_t conn, int kind, const void *p, size_t n) {
  size_t piece;

  if (!afile_on(&file))
    return;
  do {
    piece = n < RECORD_PIECE ? n : RECORD_PIECE;
    if (lost > 0 && afile_room(&file) >= RECORD_HEAD + 8 + RECORD_HEAD + piece) {
      char count[8];
      log_warn("--record %s: %llu bytes of records lost (the disk did not keep up)", file.path,
               (unsigned long long) lost);
      put_be(count, lost, 8);
      put_record(0, RECORD_GAP, count, 8);
      lost = 0;
    }
    if (lost > 0 || afile_room(&file) < RECORD_HEAD + piece) {
      if (lost == 0)
        log_warn("--record %s: the disk does not keep up; records are being lost", file.path);
      lost += RECORD_HEAD + piece;
    } else {
      put_record(conn, kind, p, piece);
    }
    p = (const char *) p + piece;
    n -= piece;
  } while (n > 0);
}

void record_close(void) {
  afile_close(&file);
}
