/* libFuzzer harness of the HTTP request path: bytes from a client through
 * llhttp, the frontend's own checks, the pipeline, the router, the static
 * handler and the proxy to a backend, in one process as
 * frontend/tests/test_http_conn.c runs them.
 *
 * Each input gets its own libuv loop and server_init() (no listeners), a
 * FAKE BACKEND on a socketpair (frontend/tests/fake_peer.c) that speaks real
 * frames and answers every REQUEST it gets, and a FAKE CLIENT on another.
 * The loop is driven with UV_RUN_NOWAIT; waits are counted in loop
 * iterations, and it blocks (UV_RUN_ONCE) only for the thread pool's work,
 * which always completes.  When that work finishes, relative to the loop,
 * may differ between two runs of one input, and so may the path taken; what
 * is checked may not.  No check depends on time.
 *
 * Input: a configuration byte, a split byte, then the client's bytes.
 *   configuration: bits 0-1 how the backend answers (0: a whole response
 *   as soon as the REQUEST arrives; 1: a whole response once the request's
 *   body has ended; 2: a response head at once and its body, in a DATA
 *   with END, once the request's body has ended; 3: a FILE response once
 *   it has ended); bit 2 no backend at all; bit 3 a --static mount at
 *   /static; bit 4 --max-header-size 1024; bit 5 --max-body-size 16;
 *   bit 6 --static-fallthrough; bit 7 --static-cache-size 1 MiB.
 *   split: 0 sends the bytes in one write, 1 one byte per write, any other
 *   value cuts them where a generator seeded with it says, in pieces of at
 *   most (split & 63) + 1 bytes; the loop runs once between writes.
 *
 * Asserted, besides what AddressSanitizer, UBSan and LeakSanitizer catch:
 * - every frame the frontend sends decodes, and follows PROTOCOL.md as the
 *   frontend's side: REQUEST ids increase; DATA, WINDOW and CANCEL only on a
 *   stream it opened and has not cancelled; no DATA after END; never a
 *   GOAWAY or a close of the backend's connection (no client can cause a
 *   connection error); a REQUEST holds what the frontend's checks promise
 *   (lowercase token names, values without CR, LF or NUL, one Host in
 *   HTTP/1.1, at most one Content-Length and never with Transfer-Encoding,
 *   a path without NUL), and a body with Content-Length is exactly that
 *   long when it ends;
 * - the client gets well-formed HTTP/1.1 responses, nothing after one that
 *   says "connection: close", and a response cut short only when the
 *   connection ends after it (or the backend is still streaming it);
 * - when the loop has nothing left to do, the frontend has either closed the
 *   connection or answered every request the client completed (counted by
 *   a second llhttp over the same bytes): it always answers or closes, and
 *   on input llhttp refuses it closes (but in a chunked body, which the
 *   frontend decodes itself);
 * - once the client leaves, the frontend closes its end, and every stream
 *   it opened has ended both ways or been cancelled;
 * - at teardown the loop closes with no handle left (uv_loop_close() is 0).
 *
 * TDM_FUZZ_LOG=debug (or info, warn) shows the frontend's log, and
 * TDM_FUZZ_TRACE=1 what each input came to (2: and the bytes the client
 * got), to read a crash input by.  server_init() takes SIGINT and SIGTERM
 * from libFuzzer for the run of each input, so an interrupted run may end
 * without its final report.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <llhttp.h>
#include <uv.h>

#include "config.h"
#include "fake_peer.h"
#include "http_conn.h"
#include "log.h"
#include "server.h"
#include "static.h"
#include "tdm_proto.h"
#include "upstream.h"

#define CHECK(cond)                                                                      \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      fprintf(stderr, "fuzz_http: %s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                                           \
    }                                                                                    \
  } while (0)

#define SETTLE_QUIET 8           /* idle iterations after which the loop has nothing to do */
#define SETTLE_MAX 200000        /* iterations a settle may take before it is a livelock */
#define TEARDOWN_MAX 100000

enum policy { ANSWER_AT_ONCE, ANSWER_AT_END, ANSWER_STREAMED, ANSWER_FILE };

#define S(lit) ((tdm_str){(lit), sizeof(lit) - 1})

/* What the fake backend knows of a stream. */
struct stream {
  uint8_t opened;                /* a REQUEST came */
  uint8_t req_end;               /* the frontend sent END */
  uint8_t cancelled;             /* the frontend sent CANCEL */
  uint8_t head_sent;             /* our RESPONSE went out */
  uint8_t resp_end;              /* our END went out */
  int64_t content_length;        /* the request's, or -1 */
  uint64_t body;                 /* request body bytes received */
};

struct run {
  uv_loop_t loop;
  config cfg;
  server s;
  peer cl;
  peer be;
  int have_be;
  enum policy policy;
  uint32_t last_sid;
  struct stream *streams;        /* indexed by sid; owner: the run */
  uint32_t nstreams;             /* room in streams */
};

static struct run *R;
static int trace;                        /* TDM_FUZZ_TRACE: a line per input */
static char static_dir[PATH_MAX];        /* the mount's directory, made once */
static char file_path[PATH_MAX + 16];    /* a file for FILE responses */

/* ---- the fake backend ------------------------------------------------------- */

static void be_send(const tdm_frame *f) {
  CHECK(tdm_encode(&R->be.out, f) > 0);
}

static void be_respond(uint32_t sid, uint32_t flags, const char *body, size_t len) {
  static const tdm_header h[] = {{S("content-type"), S("text/plain")}, {S("x-fuzz"), S("1")}};
  tdm_frame f;

  memset(&f, 0, sizeof(f));
  f.type = TDM_RESPONSE;
  f.stream_id = sid;
  f.u.response.flags = flags;
  f.u.response.status = 200;
  f.u.response.headers = h;
  f.u.response.nheaders = 2;
  f.u.response.body.ptr = body;
  f.u.response.body.len = (uint32_t) len;
  be_send(&f);
}

static void be_data_end(uint32_t sid, const char *data, size_t len) {
  tdm_frame f;

  memset(&f, 0, sizeof(f));
  f.type = TDM_DATA;
  f.stream_id = sid;
  f.u.data.flags = TDM_FLAG_END;
  f.u.data.data.ptr = data;
  f.u.data.data.len = (uint32_t) len;
  be_send(&f);
}

/* The backend's answer, as its policy says, at a REQUEST (at_end: or at the
 * request body's END). */
static void be_answer(uint32_t sid, int at_end) {
  struct stream *st = &R->streams[sid];

  if (st->cancelled || st->resp_end)
    return;
  switch (R->policy) {
  case ANSWER_AT_ONCE:
    if (!st->head_sent)
      be_respond(sid, TDM_FLAG_END, "ok\n", 3);
    st->resp_end = 1;
    break;
  case ANSWER_AT_END:
    if (!at_end)
      return;
    be_respond(sid, TDM_FLAG_END, "done\n", 5);
    st->resp_end = 1;
    break;
  case ANSWER_STREAMED:
    if (!st->head_sent)
      be_respond(sid, 0, "part one, ", 10);
    if (at_end) {
      be_data_end(sid, "part two\n", 9);
      st->resp_end = 1;
    }
    break;
  case ANSWER_FILE:
    if (!at_end)
      return;
    be_respond(sid, TDM_FLAG_END | TDM_FLAG_FILE, file_path, strlen(file_path));
    st->resp_end = 1;
    break;
  }
  st->head_sent = 1;
}

static int name_is(tdm_str s, const char *name) {
  return s.len == strlen(name) && memcmp(s.ptr, name, s.len) == 0;
}

/* What the frontend's checks promise of every REQUEST's head. */
static void check_request(const tdm_frame *f, struct stream *st) {
  const tdm_request *r = &f->u.request;
  unsigned hosts = 0, lengths = 0, te = 0;

  CHECK(name_is(r->http_version, "1.1") || name_is(r->http_version, "1.0"));
  CHECK(name_is(r->scheme, "http"));
  CHECK(r->method.len > 0 && r->target.len > 0);
  CHECK(r->path.len > 0 && memchr(r->path.ptr, '\0', r->path.len) == NULL);
  st->content_length = -1;
  for (uint32_t i = 0; i < r->nheaders; i++) {
    tdm_str n = r->headers[i].name, v = r->headers[i].value;
    CHECK(n.len > 0);
    for (uint32_t j = 0; j < n.len; j++)
      CHECK(n.ptr[j] > 0x20 && n.ptr[j] < 0x7f && !(n.ptr[j] >= 'A' && n.ptr[j] <= 'Z') &&
            strchr("\"(),/:;<=>?@[\\]{}", n.ptr[j]) == NULL);
    for (uint32_t j = 0; j < v.len; j++)
      CHECK(v.ptr[j] != '\r' && v.ptr[j] != '\n' && v.ptr[j] != '\0');
    if (name_is(n, "host"))
      hosts++;
    else if (name_is(n, "transfer-encoding"))
      te++;
    else if (name_is(n, "content-length")) {
      int64_t cl = 0;
      uint32_t j = 0, digits;
      lengths++;
      for (; j < v.len && v.ptr[j] >= '0' && v.ptr[j] <= '9'; j++)
        if (cl < INT64_MAX / 100)
          cl = cl * 10 + (v.ptr[j] - '0');
      digits = j;
      /* Digits only; but llhttp 8 leaves a value's trailing whitespace in it
       * (test_http_parse.c, test_trailing_whitespace_in_values_BUG). */
      while (j < v.len && (v.ptr[j] == ' ' || v.ptr[j] == '\t'))
        j++;
      CHECK(digits > 0 && j == v.len);
      st->content_length = cl;
    }
  }
  /* Request smuggling: what frames the body is unambiguous downstream too. */
  CHECK(lengths <= 1);
  CHECK(!(te > 0 && lengths > 0));
  if (name_is(r->http_version, "1.1"))
    CHECK(hosts == 1);
  else
    CHECK(te == 0);
}

static void body_bytes(struct stream *st, uint32_t len, uint32_t flags) {
  st->body += len;
  if (st->content_length >= 0)
    CHECK(st->body <= (uint64_t) st->content_length);
  if (flags & TDM_FLAG_END) {
    st->req_end = 1;
    if (st->content_length >= 0)
      CHECK(st->body == (uint64_t) st->content_length);
  }
}

static struct stream *stream_new(uint32_t sid) {
  if (sid >= R->nstreams) {
    uint32_t n = R->nstreams ? R->nstreams : 64;
    struct stream *more;
    while (n <= sid)
      n *= 2;
    more = realloc(R->streams, n * sizeof(*more));     /* owner: the run */
    CHECK(more != NULL);
    memset(more + R->nstreams, 0, (n - R->nstreams) * sizeof(*more));
    R->streams = more;
    R->nstreams = n;
  }
  R->streams[sid].opened = 1;
  return &R->streams[sid];
}

/* A frame for a stream the frontend opened and has not cancelled. */
static struct stream *open_stream(const tdm_frame *f) {
  CHECK(f->stream_id > 0 && f->stream_id <= R->last_sid && R->streams[f->stream_id].opened);
  CHECK(!R->streams[f->stream_id].cancelled);
  return &R->streams[f->stream_id];
}

/* Reads the frontend's frames, checks them and answers.  Returns how many. */
static int be_process(void) {
  tdm_frame f;
  struct stream *st;
  int rc, n = 0;

  if (!R->have_be)
    return 0;
  CHECK(!R->be.eof);            /* no client can make the frontend drop its backend */
  while ((rc = peer_try_frame(&R->be, &f)) > 0) {
    n++;
    switch (f.type) {
    case TDM_REQUEST:
      CHECK(f.stream_id > R->last_sid);
      R->last_sid = f.stream_id;
      st = stream_new(f.stream_id);
      check_request(&f, st);
      body_bytes(st, f.u.request.body.len, f.u.request.flags);
      be_answer(f.stream_id, st->req_end);
      break;
    case TDM_DATA:
      st = open_stream(&f);
      CHECK(!st->req_end);
      body_bytes(st, f.u.data.data.len, f.u.data.flags);
      if (st->req_end)
        be_answer(f.stream_id, 1);
      break;
    case TDM_WINDOW:
      open_stream(&f);
      CHECK(f.u.window_increment > 0);
      break;
    case TDM_CANCEL:
      st = open_stream(&f);
      st->cancelled = 1;
      break;
    default:
      fprintf(stderr, "fuzz_http: the frontend sent %s to a backend that did nothing wrong\n",
              tdm_frame_type_name(f.type));
      CHECK(0);
    }
  }
  CHECK(rc == 0);               /* the codec takes every frame the frontend sends */
  return n;
}

/* ---- driving the loop ------------------------------------------------------- */

/* One loop iteration, then the fake ends move bytes and the backend answers.
 * Returns whether anything happened. */
static int spin(void) {
  ssize_t moved;
  int any = 0;

  uv_run(&R->loop, UV_RUN_NOWAIT);
  moved = peer_pump(&R->cl);
  CHECK(moved >= 0);
  any |= moved > 0;
  if (R->have_be) {
    int frames;
    moved = peer_pump(&R->be);
    CHECK(moved >= 0);
    any |= moved > 0;
    frames = be_process();
    any |= frames > 0;
    if (frames > 0)
      CHECK(peer_pump(&R->be) >= 0);
  }
  return any;
}

/* Runs until nothing moves for SETTLE_QUIET iterations with no request of
 * the loop in flight; work on the thread pool is waited for by blocking in
 * the loop, which its completion wakes.  A request that completed counts as
 * something moving: what its callback produced goes out only in the next
 * iteration's flush. */
static void settle(void) {
  unsigned reqs = R->loop.active_reqs.count;
  int quiet = 0;

  for (int i = 0; i < SETTLE_MAX; i++) {
    int moved = spin();
    if (moved || R->loop.active_reqs.count != reqs) {
      reqs = R->loop.active_reqs.count;
      quiet = 0;
      continue;
    }
    if (++quiet < SETTLE_QUIET)
      continue;
    if (reqs == 0)
      return;
    uv_run(&R->loop, UV_RUN_ONCE);
    reqs = R->loop.active_reqs.count;
    quiet = 0;
  }
  fprintf(stderr, "fuzz_http: still busy after %d loop iterations\n", SETTLE_MAX);
  CHECK(0);
}

/* ---- the client's side ------------------------------------------------------ */

/* A second llhttp over the client's bytes, as the frontend drives its own:
 * how many requests they complete, whether one is unfinished, whether llhttp
 * refuses them. */
struct oracle {
  llhttp_t ll;
  unsigned begun, complete;
  int error;
  int in_chunked;                /* the message at hand has a chunked body, and its head is done */
};

static int oracle_on_begin(llhttp_t *ll) {
  ((struct oracle *) ll->data)->begun++;
  return 0;
}

static int oracle_on_head(llhttp_t *ll) {
  ((struct oracle *) ll->data)->in_chunked = (ll->flags & F_CHUNKED) != 0;
  return 0;
}

static int oracle_on_complete(llhttp_t *ll) {
  ((struct oracle *) ll->data)->in_chunked = 0;
  ((struct oracle *) ll->data)->complete++;
  return 0;
}

static void oracle_run(struct oracle *o, const char *data, size_t len) {
  static llhttp_settings_t settings;
  llhttp_errno_t err;

  llhttp_settings_init(&settings);
  settings.on_message_begin = oracle_on_begin;
  settings.on_message_complete = oracle_on_complete;
  settings.on_headers_complete = oracle_on_head;
  memset(o, 0, sizeof(*o));
  llhttp_init(&o->ll, HTTP_REQUEST, &settings);
  /* As http_parse.c: any one-digit version is read, and answered 505 once the
   * head is whole if it is not 1.0 or 1.1. */
  o->ll.lenient_flags |= LENIENT_VERSION;
  o->ll.data = o;
  while ((err = llhttp_execute(&o->ll, data, len)) == HPE_PAUSED_UPGRADE) {
    /* As http_parse.c: an upgrade goes on as HTTP/1.1. */
    size_t n = (size_t) (llhttp_get_error_pos(&o->ll) - data);
    llhttp_resume_after_upgrade(&o->ll);
    data += n;
    len -= n;
  }
  /* A chunked body is decoded by the frontend's own http_chunked.c (with its
   * tests and tests/hostile), which drops trailer fields llhttp would judge,
   * a Transfer-Encoding among them: llhttp refusing one is no verdict. */
  o->error = err != HPE_OK && !o->in_chunked;
  /* A method llhttp does not know is answered (501, or 400) once its request
   * line has ended (http_parse.c, method_scan): until then, no verdict. */
  if (err == HPE_INVALID_METHOD) {
    const char *at = llhttp_get_error_pos(&o->ll);
    if (memchr(at, '\n', (size_t) (data + len - at)) == NULL)
      o->error = 0;
  }
}

/* What the client has received. */
struct received {
  unsigned finals;               /* final (non-1xx) response heads */
  int truncated;                 /* the last response is not whole */
  int close_said;                /* a response said "connection: close" */
};

static size_t find_crlf2(const char *p, size_t len) {
  const char *e = memmem(p, len, "\r\n\r\n", 4);
  return e != NULL ? (size_t) (e - p) + 4 : 0;
}

/* Reads one response head at p[0..hlen) into status, content length (-1 if
 * none), chunked and close; checks its lines. */
static void scan_head(const char *p, size_t hlen, int *status, int64_t *clen, int *chunked, int *close) {
  size_t i;

  CHECK(hlen >= 16 && memcmp(p, "HTTP/1.1 ", 9) == 0);
  CHECK(p[9] >= '1' && p[9] <= '5' && p[10] >= '0' && p[10] <= '9' && p[11] >= '0' && p[11] <= '9');
  CHECK(p[12] == ' ' || p[12] == '\r');
  *status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
  *clen = -1;
  *chunked = *close = 0;
  i = (size_t) ((const char *) memchr(p, '\n', hlen) - p) + 1;
  while (i < hlen - 2) {
    const char *line = p + i, *eol = memmem(line, hlen - i, "\r\n", 2);
    size_t ll = (size_t) (eol - line);
    const char *colon = memchr(line, ':', ll);
    CHECK(colon != NULL && colon > line && colon[1] == ' ');
    CHECK(memchr(line, '\n', ll) == NULL && memchr(line, '\r', ll) == NULL && memchr(line, '\0', ll) == NULL);
    if (ll > 16 && strncasecmp(line, "content-length: ", 16) == 0) {
      CHECK(*clen < 0);
      *clen = strtoll(line + 16, NULL, 10);
      CHECK(*clen >= 0);
    }
    if (ll == 26 && strncasecmp(line, "transfer-encoding: chunked", 26) == 0)
      *chunked = 1;
    if (ll == 17 && strncasecmp(line, "connection: close", 17) == 0)
      *close = 1;
    i += ll + 2;
  }
  CHECK(!(*chunked && *clen >= 0));
}

/* The body of a chunked response at p[0..len): its length with the chunk
 * framing, or 0 if it is not whole yet. */
static size_t chunked_length(const char *p, size_t len) {
  size_t pos = 0;

  for (;;) {
    const char *eol = memmem(p + pos, len - pos, "\r\n", 2);
    char *end;
    unsigned long size;
    if (eol == NULL)
      return 0;
    size = strtoul(p + pos, &end, 16);
    CHECK(end == eol && end > p + pos && size < (1ul << 40));
    pos = (size_t) (eol + 2 - p);
    if (len - pos < size + 2)
      return 0;
    CHECK(memcmp(p + pos + size, "\r\n", 2) == 0);
    pos += size + 2;
    if (size == 0)
      return pos;
  }
}

static void scan_responses(const char *p, size_t len, struct received *rv) {
  size_t pos = 0;

  memset(rv, 0, sizeof(*rv));
  while (pos < len) {
    size_t hlen = find_crlf2(p + pos, len - pos), blen;
    int status, chunked, close;
    int64_t clen;

    CHECK(!rv->close_said);     /* nothing after a response that said it was the last */
    if (hlen == 0) {
      CHECK(len - pos < 9 ? memcmp(p + pos, "HTTP/1.1 ", len - pos) == 0 : memcmp(p + pos, "HTTP/1.1 ", 9) == 0);
      rv->truncated = 1;
      return;
    }
    scan_head(p + pos, hlen, &status, &clen, &chunked, &close);
    pos += hlen;
    if (status < 200) {
      CHECK(status == 100 && !close);
      continue;
    }
    rv->finals++;
    rv->close_said = close;
    if (status == 204 || status == 304) {
      blen = 0;
    } else if (chunked) {
      blen = chunked_length(p + pos, len - pos);
      if (blen == 0) {
        rv->truncated = 1;
        return;
      }
    } else if (clen >= 0) {
      /* The answer to a HEAD has its length but no body: nothing, or the
       * next response, follows its head.  (No body here starts so.) */
      if (clen > 0 && (len == pos || (len - pos >= 9 && memcmp(p + pos, "HTTP/1.1 ", 9) == 0)))
        blen = 0;
      else if ((uint64_t) (len - pos) < (uint64_t) clen) {
        rv->truncated = 1;
        return;
      } else
        blen = (size_t) clen;
    } else if (close) {
      /* Delimited by the close: whole only once the connection ends. */
      rv->truncated = 1;
      return;
    } else {
      blen = 0;                 /* the answer to a HEAD, which says nothing of a length */
    }
    pos += blen;
  }
}

/* ---- one run ---------------------------------------------------------------- */

static void make_static_dir(void) {
  const char *tmp = getenv("TMPDIR");
  char path[PATH_MAX + 32];
  FILE *fp;

  snprintf(static_dir, sizeof(static_dir), "%s/tandem-fuzz-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
  CHECK(mkdtemp(static_dir) != NULL);
  snprintf(path, sizeof(path), "%s/sub", static_dir);
  CHECK(mkdir(path, 0755) == 0);
  snprintf(path, sizeof(path), "%s/hello.txt", static_dir);
  CHECK((fp = fopen(path, "w")) != NULL && fputs("hello file!\n", fp) >= 0 && fclose(fp) == 0);
  snprintf(path, sizeof(path), "%s/hello.txt.gz", static_dir);
  CHECK((fp = fopen(path, "w")) != NULL && fputs("not really gzip\n", fp) >= 0 && fclose(fp) == 0);
  snprintf(path, sizeof(path), "%s/sub/index.html", static_dir);
  CHECK((fp = fopen(path, "w")) != NULL && fputs("<p>index</p>\n", fp) >= 0 && fclose(fp) == 0);
  snprintf(path, sizeof(path), "%s/.hidden", static_dir);
  CHECK((fp = fopen(path, "w")) != NULL && fputs("hidden\n", fp) >= 0 && fclose(fp) == 0);
  /* Larger than one read: sent with sendfile. */
  snprintf(path, sizeof(path), "%s/big.bin", static_dir);
  CHECK((fp = fopen(path, "w")) != NULL);
  for (int i = 0; i < 100000; i++)
    fputc('a' + i % 26, fp);
  CHECK(fclose(fp) == 0);
  snprintf(file_path, sizeof(file_path), "%s/hello.txt", static_dir);
}

static void remove_static_dir(void) {
  static const char *const names[] = {"hello.txt", "hello.txt.gz", "sub/index.html", ".hidden", "big.bin", "sub"};
  char path[PATH_MAX + 32];

  if (static_dir[0] == '\0')
    return;
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    snprintf(path, sizeof(path), "%s/%s", static_dir, names[i]);
    if (unlink(path) != 0)
      rmdir(path);
  }
  rmdir(static_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  const char *lvl = getenv("TDM_FUZZ_LOG");

  (void) argc;
  (void) argv;
  log_threshold = LOG_ERROR;
  trace = getenv("TDM_FUZZ_TRACE") != NULL ? atoi(getenv("TDM_FUZZ_TRACE")) : 0;
  if (lvl != NULL && log_parse_level(lvl) >= 0)
    log_threshold = (enum log_level) log_parse_level(lvl);
  make_static_dir();
  atexit(remove_static_dir);
  return 0;
}

static void run_setup(struct run *r, uint8_t conf) {
  int sv[2];
  tdm_frame f;

  memset(r, 0, sizeof(*r));
  R = r;
  r->policy = (enum policy) (conf & 3);
  r->have_be = !(conf & 4);
  fake_config(&r->cfg);
  r->cfg.max_header_size = conf & 0x10 ? 1024 : 65536;
  r->cfg.max_body_size = conf & 0x20 ? 16 : 0;
  r->cfg.static_fallthrough = (conf >> 6) & 1;
  r->cfg.static_cache_size = conf & 0x80 ? 1 << 20 : 0;
  if (conf & 8) {
    static_mount *m = &r->cfg.statics[r->cfg.nstatics++];
    m->prefix = "/static";
    m->prefix_len = 7;
    m->dir = static_dir;
    m->dir_len = strlen(static_dir);
    m->max_age = -1;
  }
  CHECK(uv_loop_init(&r->loop) == 0);
  CHECK(server_init(&r->s, &r->loop, &r->cfg) == 0);
  /* The frontend's handles now own SIGPIPE; the fake ends use MSG_NOSIGNAL. */

  if (r->have_be) {
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    CHECK(upstream_open_fd(sv[0]) == 0);
    CHECK(peer_init(&r->be, sv[1], 1) == 0);
    memset(&f, 0, sizeof(f));
    f.type = TDM_HELLO;
    f.u.hello.version = TDM_PROTO_VERSION;
    f.u.hello.role = S("backend");
    f.u.hello.app = S("fuzz:app");
    f.u.hello.pid = 4242;
    f.u.hello.generation = 1;
    f.u.hello.max_frame_size = TDM_DEFAULT_MAX_FRAME;
    f.u.hello.max_streams = 1024;
    f.u.hello.initial_window = TDM_DEFAULT_WINDOW;
    be_send(&f);
    for (int i = 0; i < SETTLE_MAX; i++) {
      int rc;
      uv_run(&r->loop, UV_RUN_NOWAIT);
      CHECK(peer_pump(&r->be) >= 0);
      if ((rc = peer_try_frame(&r->be, &f)) != 0) {
        CHECK(rc == 1 && f.type == TDM_HELLO);
        break;
      }
    }
    CHECK(f.type == TDM_HELLO);
  }
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  CHECK(http_conn_open_fd(sv[0]) == 0);
  CHECK(peer_init(&r->cl, sv[1], 0) == 0);
}

/* Sends the client's bytes in the pieces split asks for. */
static void run_send(const char *data, size_t len, uint8_t split) {
  uint32_t x = (uint32_t) split * 2654435761u | 1;
  size_t off = 0;

  while (off < len) {
    size_t n = len - off;
    if (split == 1) {
      n = 1;
    } else if (split > 1) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      n = 1 + x % ((split & 63u) + 1);
      if (n > len - off)
        n = len - off;
    }
    CHECK(peer_send(&R->cl, data + off, n) == 0);
    off += n;
    spin();
  }
}

/* The loop has nothing to do: the frontend has answered or closed. */
static void run_check_answered(const char *data, size_t len) {
  struct received rv;
  struct oracle o;

  scan_responses(R->cl.in.base, R->cl.in.len, &rv);
  oracle_run(&o, data, len);
  if (trace > 1)
    fprintf(stderr, "fuzz_http: the client got:\n%.*s\n", (int) R->cl.in.len, R->cl.in.base);
  if (trace)
    fprintf(stderr, "fuzz_http: %u final responses%s%s, %zu bytes; llhttp: %u requests begun, %u complete%s; "
            "%u streams\n", rv.finals, rv.truncated ? " (the last cut short)" : "",
            R->cl.eof ? " then the end" : "", R->cl.in.len, o.begun, o.complete, o.error ? ", refused" : "",
            R->last_sid);
  if (rv.truncated && !R->cl.eof)
    CHECK(R->policy == ANSWER_STREAMED && R->have_be);
  if (rv.close_said && !rv.truncated)
    CHECK(R->cl.eof);           /* the last response is out: so is the close */
  if (R->cl.eof)
    return;
  CHECK(!o.error);              /* input llhttp refuses is answered with a close */
  CHECK(rv.finals >= o.complete);
  CHECK(rv.finals <= o.complete + (o.begun > o.complete));
}

/* The client leaves: the frontend closes, and ends or cancels its streams. */
static void run_check_client_gone(void) {
  shutdown(R->cl.fd, SHUT_WR);
  settle();
  CHECK(R->cl.eof);
  for (uint32_t sid = 1; sid <= R->last_sid; sid++) {
    const struct stream *st = &R->streams[sid];
    CHECK(!st->opened || st->cancelled || (st->req_end && st->resp_end));
  }
}

static void run_teardown(struct run *r) {
  int alive = 1;

  server_stop(&r->s);
  for (int i = 0; i < TEARDOWN_MAX && alive; i++) {
    alive = uv_run(&r->loop, UV_RUN_NOWAIT);
    if (alive && r->loop.active_handles == 0)
      uv_run(&r->loop, UV_RUN_ONCE);      /* only the thread pool's work is left */
  }
  if (alive)
    uv_print_all_handles(&r->loop, stderr);
  CHECK(!alive);
  CHECK(uv_loop_close(&r->loop) == 0);
  /* The fake ends close last, so that the frontend never writes into a closed socket. */
  peer_free(&r->cl);
  if (r->have_be)
    peer_free(&r->be);
  static_pool_free();
  free(r->streams);
  R = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static struct run r;

  if (size < 2)
    return 0;
  run_setup(&r, data[0]);
  run_send((const char *) data + 2, size - 2, data[1]);
  settle();
  run_check_answered((const char *) data + 2, size - 2);
  run_check_client_gone();
  run_teardown(&r);
  return 0;
}
