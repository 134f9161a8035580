/* Compiled as C11: the header must be plain C. */
#include "torclient.h"

#include <errno.h>

int capi_c_null_checks(void);

int capi_c_null_checks(void) {
  struct arti_completion c[2];
  void *s = (void *)1;
  uint8_t b[4];
  int bad = 0;
  if (arti_connect(NULL, "example.com", 80, &s) != -EINVAL || s != NULL) bad |= 1;
  if (arti_send(NULL, b, sizeof b) != -EINVAL) bad |= 2;
  if (arti_recv(NULL, b, sizeof b) != -EINVAL) bad |= 4;
  if (arti_poll_completions(NULL, c, 2) != -EINVAL) bad |= 8;
  arti_close_stream(NULL);
  arti_shutdown(NULL);
  return bad;
}
