/* Shared by the C API integration programs: HTTP response parsing and
 * SHA-256 over the body (OpenSSL), argument handling. Plain C11. */
#ifndef CAPI_COMMON_H
#define CAPI_COMMON_H

#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FAIL(...)                                   \
  do {                                              \
    fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
    fprintf(stderr, __VA_ARGS__);                   \
    fprintf(stderr, "\n");                          \
    exit(1);                                        \
  } while (0)

/* An HTTP/1.0 response read incrementally: header up to CRLFCRLF (kept),
 * then the body hashed and counted. */
struct http_resp {
  char head[4096];
  size_t head_len;
  int in_body;
  int status;
  uint64_t body_len;
  EVP_MD_CTX *md;
};

static inline void http_resp_init(struct http_resp *r) {
  memset(r, 0, sizeof *r);
  r->md = EVP_MD_CTX_new();
  if (!r->md || EVP_DigestInit_ex(r->md, EVP_sha256(), NULL) != 1) FAIL("EVP init");
}

static inline void http_resp_feed(struct http_resp *r, const uint8_t *p, size_t n) {
  while (n > 0 && !r->in_body) {
    if (r->head_len + 1 >= sizeof r->head) FAIL("HTTP header too long");
    r->head[r->head_len++] = (char)*p++;
    --n;
    r->head[r->head_len] = '\0';
    if (r->head_len >= 4 && memcmp(r->head + r->head_len - 4, "\r\n\r\n", 4) == 0) {
      r->in_body = 1;
      if (sscanf(r->head, "HTTP/%*d.%*d %d", &r->status) != 1) FAIL("bad status line: %s", r->head);
    }
  }
  if (n > 0) {
    r->body_len += n;
    if (EVP_DigestUpdate(r->md, p, n) != 1) FAIL("EVP update");
  }
}

/* 1 if the body has `size` bytes with SHA-256 `hex`; frees the digest. */
static inline int http_resp_check(struct http_resp *r, uint64_t size, const char *hex, char *why, size_t whylen) {
  unsigned char d[32];
  unsigned int dl = 0;
  char got[65];
  int i;
  if (EVP_DigestFinal_ex(r->md, d, &dl) != 1 || dl != 32) FAIL("EVP final");
  EVP_MD_CTX_free(r->md);
  r->md = NULL;
  for (i = 0; i < 32; ++i) snprintf(got + 2 * i, 3, "%02x", d[i]);
  if (r->status != 200) {
    snprintf(why, whylen, "HTTP status %d", r->status);
    return 0;
  }
  if (r->body_len != size) {
    snprintf(why, whylen, "body has %llu bytes, expected %llu", (unsigned long long)r->body_len,
             (unsigned long long)size);
    return 0;
  }
  if (strcmp(got, hex) != 0) {
    snprintf(why, whylen, "sha256 %s, expected %s", got, hex);
    return 0;
  }
  return 1;
}

static inline double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

#endif
