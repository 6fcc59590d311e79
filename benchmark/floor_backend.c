/* The cheapest backend there can be: what the frontend costs with nothing behind it.
 *
 * It speaks the channel protocol (protocol/PROTOCOL.md) with the protocol's own
 * C codec, on one blocking Unix socket: it reads what the frontend sent, answers
 * every request of it with "Hello, World!" as text/plain, and writes all the
 * answers at once, one read and one write a batch.  It never looks at a request
 * beyond its stream id and flags, so a request's CPU in this process is the
 * least any backend could spend; `make bench` serves plaintext through it to
 * show what the frontend and the channel cost by themselves (benchmark/README.md,
 * "The floor").  It is a measuring tool, not a server: beside REQUEST it takes
 * DATA (granting its window back), answers PING, ends at GOAWAY and ignores the
 * rest.
 *
 *   build/floor-backend SOCKET        (the frontend's --backend-socket)
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tdm_proto.h"

#define READ_SIZE 65536

static const char hello_body[] = "Hello, World!";
static const char ctype_name[] = "content-type";
static const char ctype_value[] = "text/plain; charset=utf-8";

static const tdm_header text_headers[] = {
  { { ctype_name, sizeof(ctype_name) - 1 }, { ctype_value, sizeof(ctype_value) - 1 } },
};


static void die(const char *what) {
  fprintf(stderr, "floor-backend: %s: %s\n", what, strerror(errno));
  exit(1);
}


static int connect_to(const char *path) {
  struct sockaddr_un addr;
  int fd;

  if (strlen(path) >= sizeof(addr.sun_path)) {
    fprintf(stderr, "floor-backend: socket path too long: %s\n", path);
    exit(2);
  }
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  strcpy(addr.sun_path, path);
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    die("socket");
  if (connect(fd, (struct sockaddr *) &addr, sizeof(addr)) != 0)
    die(path);
  return fd;
}


/* Returns 0, or -1 if the frontend has closed the connection. */
static int write_all(int fd, tdm_buf *out) {
  size_t done = 0;
  ssize_t n;

  while (done < out->len) {
    n = write(fd, out->base + done, out->len - done);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EPIPE || errno == ECONNRESET)
        return -1;
      die("write");
    }
    done += (size_t) n;
  }
  out->len = 0;
  return 0;
}


static void encode(tdm_buf *out, const tdm_frame *f) {
  if (tdm_encode(out, f) < 0) {
    fprintf(stderr, "floor-backend: cannot encode a frame of type %u\n", f->type);
    exit(1);
  }
}


static void answer(tdm_buf *out, uint32_t stream_id) {
  tdm_frame f;

  memset(&f, 0, sizeof(f));
  f.type = TDM_RESPONSE;
  f.stream_id = stream_id;
  f.u.response.flags = TDM_FLAG_END;
  f.u.response.status = 200;
  f.u.response.headers = text_headers;
  f.u.response.nheaders = 1;
  f.u.response.body.ptr = hello_body;
  f.u.response.body.len = sizeof(hello_body) - 1;
  encode(out, &f);
}


/* One frame from the frontend.  Returns 0 to go on, 1 once GOAWAY has come. */
static int on_frame(tdm_buf *out, const tdm_frame *f) {
  tdm_frame pong;                          /* PING's answer, or WINDOW */

  switch (f->type) {
  case TDM_REQUEST:
    if (f->u.request.flags & TDM_FLAG_END)
      answer(out, f->stream_id);
    return 0;
  case TDM_DATA:                            /* request body: taken; its last part: answer it now */
    if (f->u.data.flags & TDM_FLAG_END) {
      answer(out, f->stream_id);
    } else if (f->u.data.data.len > 0) {
      memset(&pong, 0, sizeof(pong));
      pong.type = TDM_WINDOW;
      pong.stream_id = f->stream_id;
      pong.u.window_increment = f->u.data.data.len;
      encode(out, &pong);
    }
    return 0;
  case TDM_PING:
    if (!f->u.ping.ack) {
      memset(&pong, 0, sizeof(pong));
      pong.type = TDM_PING;
      pong.u.ping.ack = 1;
      pong.u.ping.opaque = f->u.ping.opaque;
      encode(out, &pong);
    }
    return 0;
  case TDM_GOAWAY:
    return 1;
  default:                                  /* HELLO, WINDOW, CANCEL: nothing to do */
    return 0;
  }
}


int main(int argc, char **argv) {
  tdm_decoder decoder;
  tdm_buf in;                               /* owned here: bytes read, not yet decoded */
  tdm_buf out;                              /* owned here: frames to write */
  tdm_frame f;
  struct timespec now;
  size_t used;
  ssize_t n;
  int fd;
  int done;

  if (argc != 2) {
    fprintf(stderr, "usage: floor-backend SOCKET\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);                 /* a closed frontend is EPIPE: the end, not a crash */
  fd = connect_to(argv[1]);
  if (tdm_decoder_init(&decoder, TDM_DEFAULT_MAX_FRAME) != 0)
    die("tdm_decoder_init");
  tdm_buf_init(&in, 2 * (size_t) TDM_DEFAULT_MAX_FRAME);
  tdm_buf_init(&out, 0);

  clock_gettime(CLOCK_REALTIME, &now);
  memset(&f, 0, sizeof(f));
  f.type = TDM_HELLO;
  f.u.hello.version = TDM_PROTO_VERSION;
  f.u.hello.role = (tdm_str) { "backend", 7 };
  f.u.hello.app = (tdm_str) { "floor-backend", 13 };
  f.u.hello.pid = (uint64_t) getpid();
  f.u.hello.generation = (uint64_t) now.tv_sec * 1000 + (uint64_t) now.tv_nsec / 1000000;
  f.u.hello.max_frame_size = TDM_DEFAULT_MAX_FRAME;
  f.u.hello.max_streams = 4096;
  f.u.hello.initial_window = TDM_DEFAULT_WINDOW;
  encode(&out, &f);
  done = write_all(fd, &out) != 0;

  while (!done) {
    if (tdm_buf_reserve(&in, READ_SIZE) != 0) {
      fprintf(stderr, "floor-backend: input buffer full\n");
      return 1;
    }
    n = read(fd, in.base + in.len, in.size - in.len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == ECONNRESET)
        break;
      die("read");
    }
    if (n == 0)
      break;                                /* the frontend closed */
    in.len += (size_t) n;

    used = 0;
    while (!done) {
      n = tdm_decode(&decoder, in.base + used, in.len - used, &f);
      if (n == TDM_EAGAIN)
        break;
      if (n < 0) {
        fprintf(stderr, "floor-backend: bad frame from the frontend: %s\n", tdm_strerror((int) n));
        return 1;
      }
      used += (size_t) n;
      done = on_frame(&out, &f);
    }
    tdm_buf_consume(&in, used);
    if (write_all(fd, &out) != 0)
      break;
  }

  tdm_buf_free(&in);
  tdm_buf_free(&out);
  tdm_decoder_free(&decoder);
  close(fd);
  return 0;
}
