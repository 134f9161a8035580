/* SPDX-License-Identifier: Apache-2.0 */
/* tor_client.h - the tor_client plugin: Tor as a VPP feature.
 *
 * One set of functions (tor_client.c) behind three thin front ends: the
 * startup stanza (tor { }, VLIB_CONFIG_FUNCTION in tor_client.c), the CLI
 * (tor_client_cli.c) and the binary API (tor_client_api.c). The SOCKS5
 * listener is a builtin application on VPP's session layer (tor_socks5.c).
 *
 * Threads. libtorclient runs its own runtime thread (kernel sockets to the
 * relays); it never touches VPP structures. Each VPP thread owns one
 * completion queue of the library (arti_queue_create) whose eventfd is
 * registered with clib_file_add + polling_thread_index, so completions for a
 * session are drained on the thread that owns the session
 * (s->thread_index). VPP threads only call the library's non-blocking
 * functions (arti_connect_async_ex, arti_try_send, arti_try_recv,
 * arti_queue_poll, arti_close_stream). The blocking ones (arti_shutdown,
 * the status text) run on the main thread only, from CLI/API handlers and
 * at exit.
 *
 * Memory. VPP replaces malloc for the whole process, so the Tor runtime
 * thread (and OpenSSL inside it) allocates from VPP's main heap: give it
 * room, e.g. `memory { main-heap-size 2G }` (see vpp/README in the docs).
 */
#ifndef __included_tor_client_h__
#define __included_tor_client_h__

#include <vnet/vnet.h>
#include <vnet/session/session.h>
#include <vnet/session/application.h>
#include <vnet/session/application_interface.h>

#include <torclient.h>

/* SOCKS session states (tor_socks5.c). */
#define foreach_tor_socks_state                                               \
  _ (HANDSHAKE, "handshake")                                                  \
  _ (CONNECTING, "connecting")                                                \
  _ (OPEN, "open")                                                            \
  _ (CLOSED, "closed")

typedef enum
{
#define _(sym, str) TOR_SOCKS_S_##sym,
  foreach_tor_socks_state
#undef _
} tor_socks_state_t;

/* One SOCKS client on VPP's host stack and its Tor stream. Lives in the
 * pool of the VPP thread that owns the session. */
typedef struct
{
  session_handle_t vpp_session_handle;
  void *stream;	     /* libtorclient stream, 0 until connect starts */
  u32 index;	     /* in the per-thread pool */
  u32 generation;    /* in the completion tag, against stale events */
  u8 state;	     /* tor_socks_state_t */
  u8 tor_ended;	     /* ARTI_EV_CLOSED seen, or try_recv gave 0 / error */
  u8 vpp_closed;     /* we asked VPP to close the session */
  u8 want_writable;  /* waiting for ARTI_EV_WRITABLE */
  void *socks;	     /* the library's SOCKS handshake, until the request is whole */
  u8 *early;	     /* bytes sent after the request (optimistic data): go first */
} tor_socks_session_t;

typedef struct
{
  CLIB_CACHE_LINE_ALIGN_MARK (cacheline0);
  tor_socks_session_t *sessions; /* pool */
  void *queue;			 /* arti completion queue of this thread */
  u32 clib_file_index;
  u32 generation;
  u64 n_socks_refused; /* handshakes the SOCKS parser refused */
  u8 *buf; /* scratch between the session fifos and the Tor stream */
  struct arti_completion *completions;
} tor_client_per_thread_t;

typedef struct
{
  /* API message ID base */
  u16 msg_id_base;

  /* libtorclient client, 0 when not started */
  void *client;

  /* Startup stanza, line breaks restored (VPP's config reader folds a
   * stanza into one line), handed to arti_init_with_config. Empty: none. */
  u8 **stanza_lines;
  u8 stanza_found;

  /* Values the plugin itself needs from the stanza (the library parses and
   * validates the whole stanza again, with line numbers in its errors). */
  u8 enabled_at_start;
  u16 socks_port;
  ip46_address_t socks_address;
  u8 socks_address_is_ip4;
  u32 max_connections;

  /* `tor client config dir` / `config cache-dir`: used at the next start */
  u8 *config_dir;
  u8 *cache_dir;
  u8 dirs_pending;

  /* SOCKS listener */
  u8 is_enabled;
  u32 app_index;
  session_handle_t listener_handle;
  u32 fifo_size;
  u32 n_sessions; /* across threads (main thread view, approximate) */

  tor_client_per_thread_t *per_thread_data;

  /* Message of the last failed call, for the CLI and the log */
  u8 *last_error;

  vlib_main_t *vlib_main;
} tor_client_main_t;

extern tor_client_main_t tor_client_main;

/* Return values of the public functions: 0 or a VNET_API_ERROR_* (< 0);
 * tor_client_main.last_error then holds a message. */
int tor_client_enable (u16 port);
int tor_client_disable (void);
int tor_client_set_dirs (const char *config_dir, const char *cache_dir);
int tor_client_ensure_started (void);

/* Status for the binary API (numbers behind `show tor status`). */
typedef struct
{
  u8 enabled;
  u16 socks_port;
  u8 bootstrap_percent;
  u8 bootstrap_phase[64];
  u64 consensus_valid_after;
  u64 consensus_valid_until;
  u32 relays_known;
  u32 guards;
  u32 open_circuits;
  u32 open_streams;
  u64 bytes_in;
  u64 bytes_out;
  u32 socks_sessions;
  u64 socks_refused;
} tor_client_status_t;

typedef struct
{
  u32 circuit_id;
  u8 state[16];
  u64 age_seconds;
  u8 n_hops;
  u8 path[512];
  u32 streams;
  u64 bytes_in;
  u64 bytes_out;
} tor_client_circuit_t;

/* Texts of `show tor status` / `show tor circuits` (vectors, the same
 * output as torclientctl; formatted by the library). */
u8 *tor_client_status_text (void);
u8 *tor_client_circuits_text (void);
int tor_client_status_get (tor_client_status_t *st);
/* Vector of circuits; the caller vec_free()s it. */
tor_client_circuit_t *tor_client_circuits_get (void);

/* tor_socks5.c */
int tor_socks5_listen (u16 port);
void tor_socks5_unlisten (void);
void tor_socks5_close_all (void);
void tor_socks5_thread_init (u32 thread_index);
void tor_socks5_thread_free (u32 thread_index);
void tor_socks5_release_streams (u32 thread_index);
u32 tor_socks5_n_sessions (void);
u64 tor_socks5_n_refused (void);
u8 *format_tor_socks_session (u8 *s, va_list *args);

/* Startup-stanza helpers (tor_client.c), exported for the unit test. */
int tor_client_stanza_restore_lines (const u8 *flat, u8 ***lines_out);

#define tor_client_error(fmt, args...)                                        \
  do                                                                          \
    {                                                                         \
      vec_reset_length (tor_client_main.last_error);                          \
      tor_client_main.last_error =                                            \
	format (tor_client_main.last_error, fmt, ##args);                     \
    }                                                                         \
  while (0)

#endif /* __included_tor_client_h__ */
