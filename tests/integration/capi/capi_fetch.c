/* The blocking C API end to end, from C:
 *   capi_fetch CONFIG_DIR HTTP_HOST HTTP_PORT PATH SIZE SHA256 CLOSED_PORT
 * arti_init(CONFIG_DIR) (torclient.conf written by run_capi.py), then three
 * threads each fetch PATH over their own stream and check size + sha256;
 * a connect to CLOSED_PORT must fail with -ECONNREFUSED; bad arguments give
 * -EINVAL; arti_shutdown. Exit status 0 on success. */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include "capi_common.h"
#include "torclient.h"

static void *g_client;
static const char *g_host, *g_path, *g_sha;
static uint16_t g_port;
static uint64_t g_size;

static void *fetch(void *arg) {
  void *s = NULL;
  char req[512];
  uint8_t buf[16384];
  struct http_resp r;
  char why[256];
  ssize_t n;
  double t0 = now_ms();
  int rc, tries = 0;
  (void)arg;
  /* A test-network exit that has not yet learnt a fresh relay refuses with
   * END MISC for a few seconds after start: try again. */
  while ((rc = arti_connect(g_client, g_host, g_port, &s)) == -ECONNREFUSED && strstr(arti_last_error(), "END MISC") &&
         ++tries < 6) {
    fprintf(stderr, "connect: %s; retrying\n", arti_last_error());
    sleep(1);
  }
  if (rc != 0 || !s) FAIL("arti_connect: %d (%s)", rc, arti_last_error());
  fprintf(stderr, "connected in %.0f ms\n", now_ms() - t0);
  snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", g_path, g_host);
  n = arti_send(s, (const uint8_t *)req, strlen(req));
  if (n != (ssize_t)strlen(req)) FAIL("arti_send: %zd (%s)", n, arti_last_error());
  http_resp_init(&r);
  for (;;) {
    n = arti_recv(s, buf, sizeof buf);
    if (n < 0) FAIL("arti_recv: %zd (%s)", n, arti_last_error());
    if (n == 0) break;
    http_resp_feed(&r, buf, (size_t)n);
  }
  /* At the end recv keeps returning 0; send fails with -EPIPE. */
  if (arti_recv(s, buf, sizeof buf) != 0) FAIL("recv after EOF is not 0");
  if (arti_send(s, buf, 1) != -EPIPE) FAIL("send after EOF is not -EPIPE");
  if (!http_resp_check(&r, g_size, g_sha, why, sizeof why)) FAIL("%s", why);
  fprintf(stderr, "fetched %s: %llu bytes, sha256 ok, %.0f ms\n", g_path, (unsigned long long)r.body_len,
          now_ms() - t0);
  arti_close_stream(s);
  return NULL;
}

int main(int argc, char **argv) {
  pthread_t th[3];
  void *s = (void *)1;
  int i, rc;
  char status[4096];
  if (argc != 8) {
    fprintf(stderr, "usage: %s CONFIG_DIR HOST PORT PATH SIZE SHA256 CLOSED_PORT\n", argv[0]);
    return 2;
  }
  g_host = argv[2];
  g_port = (uint16_t)atoi(argv[3]);
  g_path = argv[4];
  g_size = strtoull(argv[5], NULL, 10);
  g_sha = argv[6];

  g_client = arti_init(argv[1], NULL);
  if (!g_client) FAIL("arti_init: %s", arti_last_error());

  if (arti_connect(g_client, NULL, 80, &s) != -EINVAL || s != NULL) FAIL("NULL addr not -EINVAL");
  if (arti_connect(g_client, g_host, 0, &s) != -EINVAL) FAIL("port 0 not -EINVAL");

  for (i = 0; i < 3; ++i)
    if (pthread_create(&th[i], NULL, fetch, NULL) != 0) FAIL("pthread_create");
  for (i = 0; i < 3; ++i) pthread_join(th[i], NULL);

  rc = arti_connect(g_client, g_host, (uint16_t)atoi(argv[7]), &s);
  if (rc != -ECONNREFUSED || s != NULL)
    FAIL("connect to a closed port: %d (%s), expected -ECONNREFUSED", rc, arti_last_error());
  fprintf(stderr, "closed port: -ECONNREFUSED (%s)\n", arti_last_error());

  if (arti_bootstrap_percent(g_client) != 100) FAIL("bootstrap percent is not 100");
  if (arti_status_text(g_client, 1, 9050, status, sizeof status) <= 0) FAIL("status text");
  {
    /* The structured snapshot agrees with what this test did. */
    struct arti_status st;
    struct arti_circuit_info ci[16];
    int n, k, hops_ok = 0;
    if (arti_get_status(g_client, &st) != 0) FAIL("arti_status: %s", arti_last_error());
    if (st.bootstrap_percent != 100 || strcmp(st.bootstrap_phase, "done") != 0)
      FAIL("arti_status: bootstrap %d (%s)", st.bootstrap_percent, st.bootstrap_phase);
    if (st.relays_known < 7) FAIL("arti_status: %u relays known", st.relays_known);
    if (st.consensus_valid_after == 0 || st.consensus_valid_until <= st.consensus_valid_after)
      FAIL("arti_status: consensus times %llu..%llu", (unsigned long long)st.consensus_valid_after,
           (unsigned long long)st.consensus_valid_until);
    if (st.bytes_in < 3 * g_size) FAIL("arti_status: bytes_in %llu < %llu", (unsigned long long)st.bytes_in,
                                       (unsigned long long)(3 * g_size));
    n = arti_get_circuits(g_client, ci, 16);
    if (n < 1) FAIL("arti_circuits: %d (%s)", n, arti_last_error());
    for (k = 0; k < n && k < 16; ++k) {
      const char *p = ci[k].path;
      int sep = 0;
      while ((p = strstr(p, " > ")) != NULL) { ++sep; p += 3; }
      if (ci[k].n_hops == 3 && sep == 2 && strcmp(ci[k].state, "open") == 0) ++hops_ok;
    }
    if (hops_ok == 0) FAIL("arti_circuits: no open 3-hop circuit among %d", n);
    printf("arti_status: %u relays, %u circuits, %llu bytes in; arti_circuits: %d (first: %s)\n",
           st.relays_known, st.open_circuits, (unsigned long long)st.bytes_in, n, ci[0].path);
  }
  printf("%s", status);
  arti_shutdown(g_client);
  printf("capi_fetch: OK\n");
  return 0;
}
