/* libtorclient's C API (usable from C and C++; link -ltorclient).
 *
 * Two families of calls over the same client and stream objects:
 *
 *  - Blocking (the design's arti_* functions): arti_init, arti_connect,
 *    arti_send, arti_recv, arti_close_stream, arti_shutdown. Thread-safe; a
 *    call may wait for the network.
 *
 *  - Non-blocking, for event loops that must never block (VPP workers):
 *    arti_connect_async[_ex], arti_try_send, arti_try_recv, completion
 *    queues with an eventfd each (arti_queue_*, or the client's default
 *    queue through arti_event_fd / arti_poll_completions). These calls only
 *    take short internal locks; the Tor runtime thread does the work and
 *    reports back through the queue.
 *
 * Errors are negative errno values (<errno.h>); arti_last_error() gives a
 * thread-local human-readable message for the last failed call on this
 * thread. No C++ exception ever leaves these functions.
 *
 * Error codes used:
 *   -EINVAL        a NULL / empty / malformed argument, or a pointer that is
 *                  not a handle of the right kind (checked by a magic
 *                  number: a best-effort check, not a licence to pass
 *                  freed handles)
 *   -ENOTCONN      the stream is still connecting (try_send / try_recv)
 *   -EAGAIN        would block (try_send: send buffer full; try_recv: nothing
 *                  buffered yet)
 *   -ETIMEDOUT     connect: bootstrap, circuit or stream attempt timed out;
 *                  or the exit answered END reason TIMEOUT
 *   -ECONNREFUSED  connect: the exit refused (END reason CONNECTREFUSED, DONE
 *                  or MISC before CONNECTED)
 *   -EHOSTUNREACH  connect: the exit could not resolve or route to the
 *                  destination (END reason RESOLVEFAILED, NOROUTE)
 *   -EACCES        connect: the exit's policy forbids it (END reason EXITPOLICY)
 *   -ENETUNREACH   connect: no usable circuit / exit, or the circuit died
 *   -ECONNRESET    recv: the stream failed (circuit destroyed, END reason
 *                  CONNRESET or another error reason after data flowed)
 *   -EPIPE         send: the stream has ended or failed
 *   -ESHUTDOWN     the stream's client was shut down
 *   -EBUSY         arti_queue_destroy: streams are still bound to the queue
 *   -ENOMEM, -EIO  resource exhaustion / anything else
 */
#ifndef TORCLIENT_H
#define TORCLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h> /* ssize_t */

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define ARTI_API __attribute__((visibility("default")))
#else
#define ARTI_API
#endif

/* Per stream, at most this many bytes accepted by send/try_send wait for the
 * Tor stream's flow-control window (send backpressure), and at most this many
 * received bytes are buffered for recv/try_recv before the library stops
 * taking data from the Tor stream (which then stops sending SENDMEs, so the
 * exit stops too). */
#define ARTI_STREAM_BUFFER_MAX (256 * 1024)

/* ---------------------------------------------------------------------------
 * Client lifetime
 * ------------------------------------------------------------------------- */

/* Starts a client. Reads `config_dir`/torclient.conf if it exists: the same
 * `tor { ... }` stanza as torclientd's file (dir-authority, test-network,
 * public-network, log-level, ...). `config_dir` (state: guards) and
 * `cache_dir` (directory documents) override config-dir / cache-dir of the
 * stanza; `cache_dir` may be NULL (then `config_dir`/cache). Both are
 * created (mode 0700) if missing. Returns at once; the bootstrap runs in the
 * background (arti_connect waits for it). Returns NULL on error; see
 * arti_last_error(). */
ARTI_API void *arti_init(const char *config_dir, const char *cache_dir);

/* The same with the whole configuration as text: either a file's text
 * holding a `tor { ... }` stanza (other stanzas are skipped) or just the
 * stanza's body ("dir-authority ...\n test-network\n config-dir /x ...").
 * On error returns NULL and, if `err` is not NULL, writes a NUL-terminated
 * message (truncated to `errlen`) there as well as to arti_last_error(). */
ARTI_API void *arti_init_with_config(const char *tor_stanza_text, char *err, size_t errlen);

/* Stops the client: every stream still open ends (its waiters and queues see
 * -ESHUTDOWN / an ARTI_EV_CLOSED event), the runtime thread is joined and the
 * client handle is freed. Stream handles stay valid until
 * arti_close_stream(). Must not run concurrently with other calls on the
 * same client handle. NULL is ignored. */
ARTI_API void arti_shutdown(void *client);

/* Thread-local message for the last failed call on this thread ("" if
 * none). Valid until the next call on this thread. */
ARTI_API const char *arti_last_error(void);

/* ---------------------------------------------------------------------------
 * Blocking streams
 * ------------------------------------------------------------------------- */

/* Opens a stream to addr:port (a host name, resolved by the exit, never
 * locally; or an IPv4 / IPv6 literal, brackets optional) through the Tor
 * network. Waits for the bootstrap (up to 60 s) and for the exit's
 * CONNECTED. On success returns 0 and stores the stream in *stream; on
 * failure returns a negative errno (list above) and stores NULL. */
ARTI_API int arti_connect(void *client, const char *addr, uint16_t port, void **stream);

/* Queues all `len` bytes for sending, waiting while the stream's send buffer
 * is full. Returns `len`; or, if the stream ends or fails first, the bytes
 * queued so far if any, else -EPIPE / -ESHUTDOWN. Queued bytes are
 * delivered in order; an error after queuing shows on a later call. */
ARTI_API ssize_t arti_send(void *stream, const uint8_t *data, size_t len);

/* Waits until data is there and returns 1..len bytes; 0 at the end of the
 * stream (the exit sent END) once all data was read, or when len == 0;
 * a negative errno if the stream failed (-ECONNRESET, -ESHUTDOWN). */
ARTI_API ssize_t arti_recv(void *stream, uint8_t *buf, size_t len);

/* Closes the stream and frees the handle (for streams from either family,
 * connected or not, failed or not; exactly once per stream). Data already
 * accepted by send is still written to the Tor stream before its END cell
 * (best effort). Queued events of this stream are removed from its queue,
 * so after this returns no arti_queue_poll returns one naming the handle
 * (completions the caller took earlier, e.g. later entries of the batch it
 * is handling, are the caller's to skip). Must not run
 * concurrently with another call on the same stream. NULL is ignored. */
ARTI_API void arti_close_stream(void *stream);

/* ---------------------------------------------------------------------------
 * Non-blocking streams and completion queues
 * ------------------------------------------------------------------------- */

/* Event kinds in arti_completion.event. */
enum arti_event {
  /* arti_connect_async finished: result 0 (stream open, writable) or a
   * negative errno (the stream is dead; still close it). Exactly one per
   * stream, before any other event of that stream. */
  ARTI_EV_CONNECTED = 1,
  /* Data (or the end) can be read: call arti_try_recv until -EAGAIN.
   * Edge-triggered: after one READABLE no other comes until the caller has
   * called arti_try_recv again. result 0. */
  ARTI_EV_READABLE = 2,
  /* arti_try_send returned -EAGAIN or a short count earlier and at least
   * half of the send buffer is free again. result 0. */
  ARTI_EV_WRITABLE = 3,
  /* The Tor stream ended (result 0: END from the exit) or failed (result a
   * negative errno). Data still buffered can be read with arti_try_recv,
   * which then returns 0 or the error. At most one per stream; not sent for
   * a connect that failed (CONNECTED carries that) or after
   * arti_close_stream. */
  ARTI_EV_CLOSED = 4,
};

struct arti_completion {
  uint64_t tag;   /* the user_tag given when the stream was opened */
  void *stream;   /* the stream handle */
  int32_t event;  /* enum arti_event */
  int32_t result; /* 0 or a negative errno */
};

/* A completion queue with its own eventfd. Give each event-loop thread its
 * own queue (e.g. one per VPP thread) and bind the streams it serves to it;
 * only the runtime thread produces into a queue, any number of threads may
 * drain it (one at a time is the intended use). A queue may serve streams of
 * several clients. Returns NULL on error (arti_last_error()). */
ARTI_API void *arti_queue_create(void);

/* The queue's eventfd (non-blocking, close-on-exec; owned by the queue: do
 * not close or read it). It is readable exactly while the queue holds
 * completions (level-triggered; fine with epoll EPOLLIN). -EINVAL on a bad
 * handle. */
ARTI_API int arti_queue_fd(void *queue);

/* Moves up to `max` completions, oldest first, into out[]. Returns their
 * number (0 if none: never waits) or -EINVAL. */
ARTI_API int arti_queue_poll(void *queue, struct arti_completion *out, int max);

/* Frees the queue and its eventfd. -EBUSY (and nothing freed) while streams
 * bound to it are not closed yet; 0 on success; -EINVAL on a bad handle. */
ARTI_API int arti_queue_destroy(void *queue);

/* The client's default queue (used by arti_connect_async): its eventfd and
 * its poll. Same semantics as arti_queue_fd / arti_queue_poll. */
ARTI_API int arti_event_fd(void *client);
ARTI_API int arti_poll_completions(void *client, struct arti_completion *out, int max);

/* Starts opening a stream to addr:port and returns at once: 0 and the new
 * stream in *stream_out (its events go to the client's default queue, each
 * completion carrying `user_tag`), or a negative errno (-EINVAL, -ESHUTDOWN,
 * -ENOMEM) and *stream_out = NULL. The outcome arrives as ARTI_EV_CONNECTED.
 * Always arti_close_stream() the stream eventually. */
ARTI_API int arti_connect_async(void *client, const char *addr, uint16_t port, uint64_t user_tag,
                                void **stream_out);

/* The same, binding the stream to `queue` (NULL: the client's default queue)
 * and isolating it: streams whose (iso_username, iso_password) differ never
 * share a circuit, as tor's IsolateSOCKSAuth does for SOCKS credentials
 * (NULL counts as ""). */
ARTI_API int arti_connect_async_ex(void *client, void *queue, const char *addr, uint16_t port,
                                   const char *iso_username, const char *iso_password,
                                   uint64_t user_tag, void **stream_out);

/* Queues up to `len` bytes without waiting: returns how many were taken
 * (1..len; fewer than len when the send buffer filled up, then an
 * ARTI_EV_WRITABLE follows once space frees), -EAGAIN if none fit, -ENOTCONN
 * while connecting, -EPIPE once the stream ended or failed (-ESHUTDOWN after
 * arti_shutdown; the connect's error if it never opened), 0 if len == 0. */
ARTI_API ssize_t arti_try_send(void *stream, const uint8_t *data, size_t len);

/* Takes up to `len` buffered bytes without waiting: returns 1..len; -EAGAIN
 * when nothing is buffered yet (an ARTI_EV_READABLE follows when something
 * arrives); 0 at the end of the stream (or len == 0); a negative errno if the
 * stream failed; -ENOTCONN while connecting. */
ARTI_API ssize_t arti_try_recv(void *stream, uint8_t *buf, size_t len);

/* Bytes arti_try_send would take now (0 while connecting or after the end),
 * and bytes buffered for arti_try_recv now; -EINVAL on a bad handle. */
ARTI_API ssize_t arti_stream_send_space(void *stream);
ARTI_API ssize_t arti_stream_recv_ready(void *stream);

/* Why the stream failed (connect or later), as text: like snprintf (buf may
 * be NULL when buflen is 0), returns the full length; "" (0) if it did
 * not fail; negative errno on a bad argument. */
ARTI_API int arti_stream_error(void *stream, char *buf, size_t buflen);

/* ---------------------------------------------------------------------------
 * Status (blocking for a moment: asks the runtime thread)
 * ------------------------------------------------------------------------- */

/* Bootstrap progress 0..100, or -EINVAL. */
ARTI_API int arti_bootstrap_percent(void *client);

/* The text of `show tor status` / `show tor circuits` (the same output as
 * torclientctl), with `enabled` and `socks_port` supplied by the front end.
 * Like snprintf: writes at most buflen-1 bytes plus a NUL (buf may be NULL
 * when buflen is 0) and returns the full length; negative errno on error. */
ARTI_API int arti_status_text(void *client, int enabled, uint16_t socks_port, char *buf,
                              size_t buflen);
ARTI_API int arti_circuits_text(void *client, char *buf, size_t buflen);

/* The same numbers as plain structs, for front ends that report them in
 * their own format (the VPP plugin's binary API). Strings are NUL-terminated
 * and truncated to fit. */
struct arti_status {
  int32_t bootstrap_percent;         /* 0..100 */
  char bootstrap_phase[64];          /* e.g. "done", "loading microdescriptors" */
  uint64_t consensus_valid_after;    /* unix time; 0 when there is no consensus */
  uint64_t consensus_valid_until;    /* unix time */
  uint32_t relays_known;             /* relays in the current consensus */
  uint32_t guards;                   /* guards in use */
  uint32_t open_circuits;
  uint32_t open_streams;
  uint64_t bytes_in;                 /* stream bytes received from Tor */
  uint64_t bytes_out;                /* stream bytes sent into Tor */
};
/* 0, or -EINVAL (bad handle or out == NULL), -ESHUTDOWN. */
ARTI_API int arti_get_status(void *client, struct arti_status *out);

struct arti_circuit_info {
  uint32_t circuit_id;
  char state[16];                    /* "building", "open", "closing" */
  uint64_t age_seconds;
  uint8_t n_hops;
  char path[512];                    /* "nick~FPR8 > nick~FPR8 > ..." as in show tor circuits */
  uint32_t streams;
  uint64_t bytes_in;
  uint64_t bytes_out;
};
/* Fills at most `max` entries (out may be NULL when max is 0) and returns
 * the number of circuits there are, in the order of `show tor circuits`;
 * negative errno on error. */
ARTI_API int arti_get_circuits(void *client, struct arti_circuit_info *out, int max);

/* ---------------------------------------------------------------------------
 * SOCKS handshake without I/O: the server side that torclientd uses (SOCKS4,
 * SOCKS4a, SOCKS5 with RFC 1929 username/password, Tor's RESOLVE [F0] and
 * RESOLVE_PTR [F1], the "not an HTTP proxy" page), for front ends that own
 * their sockets (the VPP plugin). Hostnames are never resolved. A handle is
 * used by one thread at a time; these calls never block.
 * ------------------------------------------------------------------------- */

/* Largest reply arti_socks_feed produces in one call (the HTTP page). */
#define ARTI_SOCKS_REPLY_MAX 1024

enum arti_socks_feed_result {
  ARTI_SOCKS_MORE = 0, /* send the reply (if any), feed more bytes */
  ARTI_SOCKS_DONE = 1  /* send the reply (if any); the request is complete */
};

struct arti_socks_request {
  uint8_t version;    /* 4 or 5 */
  uint8_t command;    /* 0x01 CONNECT, 0xF0 RESOLVE, 0xF1 RESOLVE_PTR */
  char host[256];     /* hostname, or the address as text ("10.0.0.1", "2001:db8::1") */
  uint16_t port;      /* host order */
  uint8_t has_auth;   /* SOCKS5 username/password, or a SOCKS4 user id */
  char username[256]; /* NUL-terminated (isolation: see arti_connect_async_ex) */
  char password[256];
};

/* A new handshake, or NULL (arti_last_error()). Free with arti_socks_free. */
ARTI_API void *arti_socks_new(void);
ARTI_API void arti_socks_free(void *hs);

/* Feeds bytes the client sent (any split). Bytes to send back now are
 * written to reply (reply_cap >= ARTI_SOCKS_REPLY_MAX), their count to
 * *reply_len. Returns ARTI_SOCKS_MORE, ARTI_SOCKS_DONE, or -EPROTO when the
 * client's bytes are refused: send the reply (a SOCKS error or the HTTP
 * page; may be empty) and close; arti_last_error() says what and where.
 * -EINVAL on bad arguments or a feed after DONE / -EPROTO. */
ARTI_API int arti_socks_feed(void *hs, const uint8_t *data, size_t len, uint8_t *reply,
                             size_t reply_cap, size_t *reply_len);

/* After ARTI_SOCKS_DONE: the request (0), or -EINVAL. A username or
 * password containing NUL bytes, or a credential longer than 255 bytes, is
 * refused by arti_socks_feed, so the C strings here are exact. */
ARTI_API int arti_socks_get_request(void *hs, struct arti_socks_request *out);

/* After ARTI_SOCKS_DONE: bytes the client sent after its request
 * (optimistic data): *data points into the handle (valid until
 * arti_socks_free); returns their count. */
ARTI_API ssize_t arti_socks_leftover(void *hs, const uint8_t **data);

/* The answer to a CONNECT in the request's own SOCKS version: result 0
 * (succeeded) or the negative errno a connect reported (mapped to SOCKS5's
 * REP codes as listed above: -ECONNREFUSED -> 5, -EHOSTUNREACH -> 4,
 * -ENETUNREACH -> 3, -ETIMEDOUT -> 6, -EACCES -> 2, -EOPNOTSUPP -> 7
 * (command not supported), anything else -> 1; SOCKS4: granted/rejected).
 * Writes at most cap bytes (cap >= 22 always suffices); returns the count
 * or -EINVAL. */
ARTI_API ssize_t arti_socks_connect_reply(void *hs, int result, uint8_t *buf, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* TORCLIENT_H */
