/* The non-blocking C API from an epoll loop, in C:
 *   capi_async CONFIG_DIR HTTP_HOST HTTP_PORT PATH SIZE SHA256 ECHO_PORT
 * 20 streams fetch PATH at once (half on a queue of our own, half on the
 * client's default queue; both eventfds in one epoll set), each body checked
 * for size and sha256. Stream 0 is left unread for a while: its receive
 * buffer must stop at ARTI_STREAM_BUFFER_MAX and resume when read. One more
 * stream sends 2 MiB to an echo server and checks what comes back: try_send
 * must report -EAGAIN (bounded send buffer) and ARTI_EV_WRITABLE must follow.
 * Every API call is timed: none may wait for the network. */
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "capi_common.h"
#include "torclient.h"

#define NFETCH 20
#define ECHO_TAG NFETCH
#define ECHO_BYTES (2u << 20)
#define DEFER_MS 1500.0
#define MAX_CALL_MS 250.0

struct fetch {
  void *s;
  int retries;
  struct http_resp r;
  int connected, done;
  double deferred_since; /* stream 0: first READABLE seen, not read yet */
};

static struct fetch g_f[NFETCH];
static void *g_echo;
static uint64_t g_echo_sent, g_echo_recvd;
static int g_echo_done, g_echo_eagain, g_echo_writable;
static int g_done;
static double g_max_call_ms;
static const char *g_host, *g_path, *g_sha;
static uint64_t g_size;
static size_t g_rx_max_seen;
static void *g_client, *g_queue;
static uint16_t g_port;
static int g_retries;

#define TIMED(expr)                            \
  __extension__({                              \
    double t0_ = now_ms();                     \
    __typeof__(expr) r_ = (expr);              \
    double d_ = now_ms() - t0_;                \
    if (d_ > g_max_call_ms) g_max_call_ms = d_; \
    r_;                                        \
  })

static uint8_t echo_byte(uint64_t i) { return (uint8_t)(i * 7u + (i >> 9)); }

static void echo_send(void) {
  uint8_t chunk[65536];
  while (g_echo_sent < ECHO_BYTES) {
    size_t k = ECHO_BYTES - g_echo_sent < sizeof chunk ? (size_t)(ECHO_BYTES - g_echo_sent) : sizeof chunk;
    size_t i;
    ssize_t n;
    for (i = 0; i < k; ++i) chunk[i] = echo_byte(g_echo_sent + i);
    n = TIMED(arti_try_send(g_echo, chunk, k));
    if (n == -EAGAIN) {
      ++g_echo_eagain;
      return;
    }
    if (n <= 0) FAIL("echo try_send: %zd (%s)", n, arti_last_error());
    g_echo_sent += (uint64_t)n;
    if ((size_t)n < k) {
      ++g_echo_eagain; /* short write: counts as hitting the bound */
      return;
    }
  }
}

static void echo_recv(void) {
  uint8_t buf[65536];
  for (;;) {
    ssize_t n = TIMED(arti_try_recv(g_echo, buf, sizeof buf)), i;
    if (n == -EAGAIN) return;
    if (n <= 0) FAIL("echo try_recv: %zd (%s) after %llu bytes", n, arti_last_error(),
                     (unsigned long long)g_echo_recvd);
    for (i = 0; i < n; ++i)
      if (buf[i] != echo_byte(g_echo_recvd + (uint64_t)i)) FAIL("echo byte %llu differs", (unsigned long long)(g_echo_recvd + (uint64_t)i));
    g_echo_recvd += (uint64_t)n;
    if (g_echo_recvd == ECHO_BYTES) {
      fprintf(stderr, "echo: %u bytes back intact; %d EAGAIN/short sends, %d WRITABLE events\n", ECHO_BYTES,
              g_echo_eagain, g_echo_writable);
      TIMED((arti_close_stream(g_echo), 0));
      g_echo = NULL;
      g_echo_done = 1;
      ++g_done;
      return;
    }
  }
}

static void fetch_drain(int idx) {
  struct fetch *f = &g_f[idx];
  uint8_t buf[65536];
  ssize_t ready = TIMED(arti_stream_recv_ready(f->s));
  if (ready < 0) FAIL("recv_ready: %zd", ready);
  if ((size_t)ready > g_rx_max_seen) g_rx_max_seen = (size_t)ready;
  if ((size_t)ready > ARTI_STREAM_BUFFER_MAX) FAIL("stream %d buffers %zd bytes", idx, ready);
  for (;;) {
    ssize_t n = TIMED(arti_try_recv(f->s, buf, sizeof buf));
    if (n == -EAGAIN) return;
    if (n < 0) FAIL("stream %d: try_recv %zd (%s)", idx, n, arti_last_error());
    if (n == 0) {
      char why[256];
      if (!http_resp_check(&f->r, g_size, g_sha, why, sizeof why)) FAIL("stream %d: %s", idx, why);
      TIMED((arti_close_stream(f->s), 0));
      f->s = NULL;
      f->done = 1;
      ++g_done;
      return;
    }
    http_resp_feed(&f->r, buf, (size_t)n);
  }
}

/* Even streams: our own queue, an isolation key per pair of streams; odd
 * streams: the client's default queue. */
static int open_fetch(int i) {
  if (i % 2 == 0) {
    char user[16];
    snprintf(user, sizeof user, "u%d", i % 4);
    return arti_connect_async_ex(g_client, g_queue, g_host, g_port, user, "p", (uint64_t)i, &g_f[i].s);
  }
  return arti_connect_async(g_client, g_host, g_port, (uint64_t)i, &g_f[i].s);
}

static void handle(const struct arti_completion *c) {
  if (c->tag == ECHO_TAG) {
    if (g_echo_done) return;
    if (c->stream != g_echo) FAIL("echo completion names another stream");
    switch (c->event) {
      case ARTI_EV_CONNECTED:
        if (c->result != 0) FAIL("echo connect: %d", c->result);
        echo_send();
        break;
      case ARTI_EV_WRITABLE:
        ++g_echo_writable;
        echo_send();
        break;
      case ARTI_EV_READABLE: echo_recv(); break;
      case ARTI_EV_CLOSED: FAIL("echo stream closed early: %d", c->result);
      default: FAIL("unknown event %d", c->event);
    }
    return;
  }
  if (c->tag >= NFETCH) FAIL("bad tag %llu", (unsigned long long)c->tag);
  struct fetch *f = &g_f[c->tag];
  /* Closed while handling an earlier completion of the same batch: the
   * queue purged its later ones, those already taken are ours to drop. */
  if (f->done) return;
  if (c->stream != f->s) FAIL("completion for stream %llu names another handle", (unsigned long long)c->tag);
  switch (c->event) {
    case ARTI_EV_CONNECTED: {
      char req[512];
      ssize_t n;
      if (c->result != 0) {
        char why[512];
        arti_stream_error(f->s, why, sizeof why);
        /* A test-network exit that has not yet learnt a fresh relay refuses
         * with END MISC for a few seconds after start: open it again. */
        if (c->result == -ECONNREFUSED && strstr(why, "END MISC") && f->retries < 5) {
          int idx = (int)c->tag, rc;
          ++f->retries;
          ++g_retries;
          fprintf(stderr, "stream %d: %s; retrying\n", idx, why);
          TIMED((arti_close_stream(f->s), 0));
          f->s = NULL;
          rc = TIMED(open_fetch(idx));
          if (rc != 0) FAIL("connect_async %d: %d (%s)", idx, rc, arti_last_error());
          break;
        }
        FAIL("stream %llu connect: %d (%s)", (unsigned long long)c->tag, c->result, why);
      }
      if (f->connected) FAIL("second CONNECTED");
      f->connected = 1;
      snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", g_path, g_host);
      n = TIMED(arti_try_send(f->s, (const uint8_t *)req, strlen(req)));
      if (n != (ssize_t)strlen(req)) FAIL("try_send request: %zd", n);
      break;
    }
    case ARTI_EV_READABLE:
      if (!f->connected) FAIL("READABLE before CONNECTED");
      if (c->tag == 0 && f->deferred_since == 0) {
        f->deferred_since = now_ms(); /* leave it: the buffer must fill and stop */
        break;
      }
      if (c->tag == 0 && now_ms() - f->deferred_since < DEFER_MS) break;
      fetch_drain((int)c->tag);
      break;
    case ARTI_EV_WRITABLE: break;
    case ARTI_EV_CLOSED:
      if (c->result != 0) FAIL("stream %llu ended with %d", (unsigned long long)c->tag, c->result);
      break;
    default: FAIL("unknown event %d", c->event);
  }
}

int main(int argc, char **argv) {
  void *client, *q;
  int ep, i, total = NFETCH + 1;
  double start, deadline;
  struct epoll_event ev;
  if (argc != 8) {
    fprintf(stderr, "usage: %s CONFIG_DIR HOST PORT PATH SIZE SHA256 ECHO_PORT\n", argv[0]);
    return 2;
  }
  g_host = argv[2];
  g_path = argv[4];
  g_size = strtoull(argv[5], NULL, 10);
  g_sha = argv[6];
  client = arti_init(argv[1], NULL);
  if (!client) FAIL("arti_init: %s", arti_last_error());
  q = arti_queue_create();
  if (!q) FAIL("arti_queue_create: %s", arti_last_error());

  ep = epoll_create1(EPOLL_CLOEXEC);
  ev.events = EPOLLIN;
  ev.data.u32 = 0;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, arti_event_fd(client), &ev) != 0) FAIL("epoll_ctl");
  ev.data.u32 = 1;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, arti_queue_fd(q), &ev) != 0) FAIL("epoll_ctl");

  start = now_ms();
  g_client = client;
  g_queue = q;
  g_port = (uint16_t)atoi(argv[3]);
  for (i = 0; i < NFETCH; ++i) {
    int rc;
    http_resp_init(&g_f[i].r);
    rc = TIMED(open_fetch(i));
    if (rc != 0 || !g_f[i].s) FAIL("connect_async %d: %d (%s)", i, rc, arti_last_error());
  }
  if (TIMED(arti_connect_async_ex(client, q, g_host, (uint16_t)atoi(argv[7]), NULL, NULL, ECHO_TAG, &g_echo)) != 0)
    FAIL("connect_async echo: %s", arti_last_error());
  fprintf(stderr, "%d connects started in %.1f ms\n", total, now_ms() - start);

  deadline = start + 240000.0;
  while (g_done < total) {
    struct epoll_event evs[2];
    int n = epoll_wait(ep, evs, 2, 100), k;
    if (now_ms() > deadline) FAIL("timed out: %d of %d streams done", g_done, total);
    if (n < 0 && errno != EINTR) FAIL("epoll_wait");
    for (k = 0; k < n; ++k) {
      struct arti_completion c[64];
      int m, j;
      do {
        m = evs[k].data.u32 == 0 ? TIMED(arti_poll_completions(client, c, 64)) : TIMED(arti_queue_poll(q, c, 64));
        if (m < 0) FAIL("poll: %d", m);
        for (j = 0; j < m; ++j) handle(&c[j]);
      } while (m == 64);
    }
    /* Stream 0, left unread: once its time is up its buffer must be full
     * (the runtime stopped taking data), then it is read to the end. */
    if (g_f[0].deferred_since > 0 && !g_f[0].done && now_ms() - g_f[0].deferred_since >= DEFER_MS) {
      static int checked;
      if (!checked) {
        ssize_t r = arti_stream_recv_ready(g_f[0].s);
        checked = 1;
        fprintf(stderr, "stream 0 unread for %.0f ms: %zd bytes buffered\n", DEFER_MS, r);
        if (r != ARTI_STREAM_BUFFER_MAX && (uint64_t)r < g_size)
          FAIL("stream 0 buffered %zd bytes, expected the bound %d", r, ARTI_STREAM_BUFFER_MAX);
      }
      fetch_drain(0);
    }
  }
  fprintf(stderr, "all %d streams done in %.0f ms (%d connect retries); slowest API call %.2f ms; largest rx buffer %zu\n",
          total, now_ms() - start, g_retries, g_max_call_ms, g_rx_max_seen);
  if (g_echo_eagain == 0) FAIL("the send buffer never filled (%u bytes sent)", ECHO_BYTES);
  if (g_echo_writable == 0) FAIL("no WRITABLE event after -EAGAIN");
  if (g_max_call_ms > MAX_CALL_MS) FAIL("an API call took %.1f ms", g_max_call_ms);
  for (i = 0; i < NFETCH; ++i)
    if (!g_f[i].done) FAIL("stream %d not done", i);
  if (arti_queue_destroy(q) != 0) FAIL("queue_destroy: %s", arti_last_error());
  close(ep);
  arti_shutdown(client);
  printf("capi_async: OK\n");
  return 0;
}
