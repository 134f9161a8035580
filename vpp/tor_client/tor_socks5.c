/* SPDX-License-Identifier: Apache-2.0 */
/* tor_socks5.c - SOCKS (5 with RFC 1929 auth, 4, 4a) as a builtin
 * application on VPP's session layer, proxying into Tor streams of
 * libtorclient. The handshake is parsed by the library's own SOCKS parser
 * (arti_socks_*, the one torclientd uses), so both front ends accept and
 * refuse exactly the same bytes.
 *
 * Per session: accept -> feed the rx fifo to the handshake ->
 * arti_connect_async_ex on this thread's completion queue -> reply -> copy
 * both ways. Nothing here blocks:
 *  - client -> Tor: rx fifo bytes go to arti_try_send; on -EAGAIN or a
 *    short count they stay in the rx fifo (TCP's window closes) until
 *    ARTI_EV_WRITABLE;
 *  - Tor -> client: arti_try_recv into the tx fifo while it has room; when
 *    it is full we ask for a dequeue notification (the session layer then
 *    calls our tx callback), and the library stops taking data from the Tor
 *    stream (no SENDMEs) once its buffer is full.
 * Completions arrive on the eventfd of the owning thread's queue
 * (tor_client.c registers it with polling_thread_index), so a session is
 * only ever touched by the thread in s->thread_index.
 */

#include <vnet/vnet.h>
#include <vnet/session/application.h>
#include <vnet/session/application_interface.h>
#include <vnet/session/session.h>

#include <tor_client/tor_client.h>

#include <errno.h>

#define TOR_SOCKS5_BUF_SIZE	(64 << 10)
#define TOR_SOCKS5_N_COMPLETIONS 64
#define TOR_SOCKS_CONNECT	0x01 /* the only command carried here */

static inline tor_client_per_thread_t *
tor_socks5_ptd (u32 thread_index)
{
  return vec_elt_at_index (tor_client_main.per_thread_data, thread_index);
}

u8 *
format_tor_socks_session (u8 *s, va_list *args)
{
  tor_socks_session_t *ts = va_arg (*args, tor_socks_session_t *);
  static const char *names[] = {
#define _(sym, str) str,
    foreach_tor_socks_state
#undef _
  };
  return format (s, "[%u] %s%s", ts->index,
		 ts->state < ARRAY_LEN (names) ? names[ts->state] : "?",
		 ts->tor_ended ? " tor-ended" : "");
}

static tor_socks_session_t *
tor_socks5_session_alloc (tor_client_per_thread_t *ptd)
{
  tor_socks_session_t *ts;
  pool_get_zero (ptd->sessions, ts);
  ts->index = ts - ptd->sessions;
  ts->generation = ++ptd->generation;
  ts->vpp_session_handle = SESSION_INVALID_HANDLE;
  return ts;
}

static void
tor_socks5_session_free (tor_client_per_thread_t *ptd, tor_socks_session_t *ts)
{
  if (ts->stream)
    arti_close_stream (ts->stream);
  if (ts->socks)
    arti_socks_free (ts->socks);
  vec_free (ts->early);
  if (CLIB_DEBUG)
    clib_memset (ts, 0xfe, sizeof (*ts));
  pool_put (ptd->sessions, ts);
}

static inline u64
tor_socks5_tag (tor_socks_session_t *ts)
{
  return ((u64) ts->generation << 32) | ts->index;
}

static void
tor_socks5_program_tx (session_t *s)
{
  if (svm_fifo_set_event (s->tx_fifo))
    session_program_tx_io_evt (s->handle, SESSION_IO_EVT_TX);
}

/* Ends both sides. The Tor stream is closed now (its queued completions
 * go with it); the VPP session closes after its tx fifo drained, and our
 * state is freed in the cleanup callback. */
static void
tor_socks5_session_close (tor_socks_session_t *ts)
{
  tor_client_main_t *tcm = &tor_client_main;

  if (ts->stream)
    {
      arti_close_stream (ts->stream);
      ts->stream = 0;
    }
  ts->state = TOR_SOCKS_S_CLOSED;
  if (!ts->vpp_closed && ts->vpp_session_handle != SESSION_INVALID_HANDLE)
    {
      vnet_disconnect_args_t a = {
	.handle = ts->vpp_session_handle,
	.app_index = tcm->app_index,
      };
      ts->vpp_closed = 1;
      vnet_disconnect_session (&a);
    }
}

/* The answer to the request, in its own SOCKS version: result 0 or the
 * connect's negative errno (mapped to a REP code by the library). */
static void
tor_socks5_reply (tor_socks_session_t *ts, session_t *s, int result)
{
  u8 r[32];
  ssize_t n;

  if (!ts->socks)
    return;
  n = arti_socks_connect_reply (ts->socks, result, r, sizeof (r));
  if (n > 0)
    {
      svm_fifo_enqueue (s->tx_fifo, (u32) n, r);
      tor_socks5_program_tx (s);
    }
}

/* ---- Tor -> client ---------------------------------------------------------- */

static void
tor_socks5_pump_from_tor (tor_client_per_thread_t *ptd,
			  tor_socks_session_t *ts, session_t *s)
{
  u32 n_enq = 0;

  while (ts->stream)
    {
      u32 space = svm_fifo_max_enqueue_prod (s->tx_fifo);
      ssize_t n;

      if (space == 0)
	{
	  /* Resume from the tx callback once the transport took some. */
	  svm_fifo_add_want_deq_ntf (s->tx_fifo, SVM_FIFO_WANT_DEQ_NOTIF);
	  break;
	}
      n = arti_try_recv (ts->stream, ptd->buf,
			 clib_min (space, TOR_SOCKS5_BUF_SIZE));
      if (n > 0)
	{
	  svm_fifo_enqueue (s->tx_fifo, (u32) n, ptd->buf);
	  n_enq += n;
	  continue;
	}
      if (n == -EAGAIN)
	break; /* ARTI_EV_READABLE follows */
      /* 0: the exit ended the stream and everything was read; < 0: it
       * failed. Either way the client gets what we have, then FIN. */
      ts->tor_ended = 1;
      if (n_enq)
	tor_socks5_program_tx (s);
      tor_socks5_session_close (ts);
      return;
    }
  if (n_enq)
    tor_socks5_program_tx (s);
}

/* ---- client -> Tor ---------------------------------------------------------- */

static void
tor_socks5_pump_to_tor (tor_client_per_thread_t *ptd, tor_socks_session_t *ts,
			session_t *s)
{
  u32 n_deq = 0;

  /* Optimistic data the handshake read past the request goes first. */
  while (ts->stream && vec_len (ts->early))
    {
      ssize_t n = arti_try_send (ts->stream, ts->early, vec_len (ts->early));
      if (n == -EAGAIN)
	return; /* ARTI_EV_WRITABLE follows */
      if (n < 0)
	{
	  tor_socks5_session_close (ts);
	  return;
	}
      vec_delete (ts->early, (u32) n, 0);
      if (vec_len (ts->early))
	return;
    }

  while (ts->stream)
    {
      u32 avail = svm_fifo_max_dequeue_cons (s->rx_fifo);
      u32 len;
      ssize_t n;

      if (!avail)
	break;
      len = clib_min (avail, TOR_SOCKS5_BUF_SIZE);
      svm_fifo_peek (s->rx_fifo, 0, len, ptd->buf);
      n = arti_try_send (ts->stream, ptd->buf, len);
      if (n > 0)
	{
	  svm_fifo_dequeue_drop (s->rx_fifo, (u32) n);
	  n_deq += n;
	  if ((u32) n < len)
	    break; /* buffer full: ARTI_EV_WRITABLE follows */
	  continue;
	}
      if (n == -EAGAIN)
	break;
      tor_socks5_session_close (ts);
      return;
    }
  /* Reopen TCP's receive window if it had closed. */
  if (n_deq && svm_fifo_needs_deq_ntf (s->rx_fifo, n_deq))
    {
      svm_fifo_clear_deq_ntf (s->rx_fifo);
      session_program_transport_io_evt (s->handle, SESSION_IO_EVT_RX);
    }
}

/* ---- the handshake ---------------------------------------------------------- */

/* Feeds the rx fifo to the library's handshake; once the request is
 * whole, opens the Tor stream. Errors close the session after the reply
 * the parser chose (a SOCKS error, or the "not an HTTP proxy" page). */
static void
tor_socks5_handshake (tor_client_per_thread_t *ptd, tor_socks_session_t *ts,
		      session_t *s)
{
  tor_client_main_t *tcm = &tor_client_main;
  u8 reply[ARTI_SOCKS_REPLY_MAX];
  struct arti_socks_request rq;
  const u8 *early;
  ssize_t n_early;
  size_t reply_len = 0;
  int rv = ARTI_SOCKS_MORE;

  while (rv == ARTI_SOCKS_MORE)
    {
      u32 n = svm_fifo_max_dequeue_cons (s->rx_fifo);
      if (!n)
	return;
      /* The parser buffers what it needs; hand it everything that came. */
      n = clib_min (n, TOR_SOCKS5_BUF_SIZE);
      svm_fifo_dequeue (s->rx_fifo, n, ptd->buf);
      rv = arti_socks_feed (ts->socks, ptd->buf, n, reply, sizeof (reply),
			    &reply_len);
      if (reply_len)
	{
	  svm_fifo_enqueue (s->tx_fifo, (u32) reply_len, reply);
	  tor_socks5_program_tx (s);
	}
      if (rv < 0)
	{
	  /* Counted, not logged: the parser's message may quote the
	   * client's bytes (safe logging). */
	  ptd->n_socks_refused++;
	  tor_socks5_session_close (ts);
	  return;
	}
    }

  if (arti_socks_get_request (ts->socks, &rq) < 0)
    {
      tor_socks5_session_close (ts);
      return;
    }
  if (rq.command != TOR_SOCKS_CONNECT)
    {
      /* RESOLVE / RESOLVE_PTR are torclientd's (socks-extensions.txt §2). */
      tor_socks5_reply (ts, s, -EOPNOTSUPP);
      tor_socks5_session_close (ts);
      return;
    }
  n_early = arti_socks_leftover (ts->socks, &early);
  if (n_early > 0)
    vec_add (ts->early, early, n_early);

  rv = arti_connect_async_ex (tcm->client, ptd->queue, rq.host, rq.port,
			      rq.has_auth ? rq.username : 0,
			      rq.has_auth ? rq.password : 0,
			      tor_socks5_tag (ts), &ts->stream);
  if (rv < 0)
    {
      ts->stream = 0;
      tor_socks5_reply (ts, s, rv);
      tor_socks5_session_close (ts);
      return;
    }
  ts->state = TOR_SOCKS_S_CONNECTING;
  /* Bytes after the request stay in the rx fifo until the stream opens
   * (optimistic data, socks-extensions.txt §5). */
}

/* ---- completions (this thread's queue) ---------------------------------------- */

static void
tor_socks5_completion (tor_client_per_thread_t *ptd,
		       struct arti_completion *c)
{
  u32 index = (u32) c->tag, generation = (u32) (c->tag >> 32);
  tor_socks_session_t *ts;
  session_t *s;

  if (pool_is_free_index (ptd->sessions, index))
    return;
  ts = pool_elt_at_index (ptd->sessions, index);
  if (ts->generation != generation || ts->stream != c->stream)
    return; /* stale: arti_close_stream removes queued events, belt and braces */

  s = session_get_from_handle_if_valid (ts->vpp_session_handle);
  if (!s || ts->state == TOR_SOCKS_S_CLOSED)
    {
      tor_socks5_session_close (ts);
      return;
    }

  switch (c->event)
    {
    case ARTI_EV_CONNECTED:
      tor_socks5_reply (ts, s, c->result < 0 ? c->result : 0);
      if (c->result < 0)
	{
	  tor_socks5_session_close (ts);
	  return;
	}
      ts->state = TOR_SOCKS_S_OPEN;
      arti_socks_free (ts->socks);
      ts->socks = 0;
      tor_socks5_pump_to_tor (ptd, ts, s);
      if (ts->stream)
	tor_socks5_pump_from_tor (ptd, ts, s);
      break;
    case ARTI_EV_READABLE:
      tor_socks5_pump_from_tor (ptd, ts, s);
      break;
    case ARTI_EV_WRITABLE:
      tor_socks5_pump_to_tor (ptd, ts, s);
      break;
    case ARTI_EV_CLOSED:
      /* Buffered data is still readable; try_recv then gives 0 / error. */
      ts->tor_ended = 1;
      tor_socks5_pump_from_tor (ptd, ts, s);
      break;
    }
}

void
tor_socks5_handle_completions (u32 thread_index)
{
  tor_client_per_thread_t *ptd = tor_socks5_ptd (thread_index);
  int n;

  ASSERT (thread_index == vlib_get_thread_index ());
  if (!ptd->queue)
    return;
  while ((n = arti_queue_poll (ptd->queue, ptd->completions,
			       TOR_SOCKS5_N_COMPLETIONS)) > 0)
    for (int i = 0; i < n; i++)
      tor_socks5_completion (ptd, &ptd->completions[i]);
}

/* ---- session layer callbacks ------------------------------------------------ */

static int
tor_socks5_accept_callback (session_t *s)
{
  tor_client_main_t *tcm = &tor_client_main;
  tor_client_per_thread_t *ptd = tor_socks5_ptd (s->thread_index);
  tor_socks_session_t *ts;

  if (!tcm->client || !ptd->queue ||
      tor_socks5_n_sessions () >= tcm->max_connections)
    return -1; /* refused: the session layer resets it */

  ts = tor_socks5_session_alloc (ptd);
  ts->vpp_session_handle = session_handle (s);
  ts->state = TOR_SOCKS_S_HANDSHAKE;
  if (!(ts->socks = arti_socks_new ()))
    {
      tor_socks5_session_free (ptd, ts);
      return -1;
    }
  s->opaque = ts->index;
  s->session_state = SESSION_STATE_READY;
  return 0;
}

static tor_socks_session_t *
tor_socks5_session_of (session_t *s)
{
  tor_client_per_thread_t *ptd = tor_socks5_ptd (s->thread_index);
  if (pool_is_free_index (ptd->sessions, s->opaque))
    return 0;
  return pool_elt_at_index (ptd->sessions, s->opaque);
}

static int
tor_socks5_rx_callback (session_t *s)
{
  tor_client_per_thread_t *ptd = tor_socks5_ptd (s->thread_index);
  tor_socks_session_t *ts = tor_socks5_session_of (s);

  if (!ts)
    return 0;
  switch (ts->state)
    {
    case TOR_SOCKS_S_HANDSHAKE:
      tor_socks5_handshake (ptd, ts, s);
      break;
    case TOR_SOCKS_S_CONNECTING:
      break; /* kept as optimistic data */
    case TOR_SOCKS_S_OPEN:
      tor_socks5_pump_to_tor (ptd, ts, s);
      break;
    default:
      svm_fifo_dequeue_drop_all (s->rx_fifo);
      break;
    }
  return 0;
}

/* The transport took bytes from a tx fifo we had found full. */
static int
tor_socks5_tx_callback (session_t *s)
{
  tor_client_per_thread_t *ptd = tor_socks5_ptd (s->thread_index);
  tor_socks_session_t *ts = tor_socks5_session_of (s);

  if (ts && ts->state == TOR_SOCKS_S_OPEN)
    tor_socks5_pump_from_tor (ptd, ts, s);
  return 0;
}

static void
tor_socks5_disconnect_callback (session_t *s)
{
  tor_socks_session_t *ts = tor_socks5_session_of (s);

  /* The client closed: Tor streams have no half-close, end it. */
  if (ts)
    tor_socks5_session_close (ts);
  else
    {
      vnet_disconnect_args_t a = { .handle = session_handle (s),
				   .app_index = tor_client_main.app_index };
      vnet_disconnect_session (&a);
    }
}

static void
tor_socks5_reset_callback (session_t *s)
{
  tor_socks5_disconnect_callback (s);
}

static void
tor_socks5_cleanup_callback (session_t *s, session_cleanup_ntf_t ntf)
{
  tor_client_per_thread_t *ptd = tor_socks5_ptd (s->thread_index);
  tor_socks_session_t *ts;

  if (ntf == SESSION_CLEANUP_TRANSPORT)
    return;
  if (!(ts = tor_socks5_session_of (s)))
    return;
  tor_socks5_session_free (ptd, ts);
}

static int
tor_socks5_connected_callback (u32 app_index, u32 api_context, session_t *s,
			       session_error_t err)
{
  return -1; /* we never connect through VPP */
}

static int
tor_socks5_add_segment_callback (u32 client_index, u64 segment_handle)
{
  return 0;
}

static int
tor_socks5_del_segment_callback (u32 client_index, u64 segment_handle)
{
  return 0;
}

static session_cb_vft_t tor_socks5_cb_vft = {
  .session_accept_callback = tor_socks5_accept_callback,
  .session_disconnect_callback = tor_socks5_disconnect_callback,
  .session_connected_callback = tor_socks5_connected_callback,
  .add_segment_callback = tor_socks5_add_segment_callback,
  .del_segment_callback = tor_socks5_del_segment_callback,
  .builtin_app_rx_callback = tor_socks5_rx_callback,
  .builtin_app_tx_callback = tor_socks5_tx_callback,
  .session_reset_callback = tor_socks5_reset_callback,
  .session_cleanup_callback = tor_socks5_cleanup_callback,
};

/* ---- listener ----------------------------------------------------------------- */

static int
tor_socks5_attach (void)
{
  tor_client_main_t *tcm = &tor_client_main;
  vnet_app_attach_args_t _a = {}, *a = &_a;
  u64 options[APP_OPTIONS_N_OPTIONS] = {};
  int rv;

  if (tcm->app_index != APP_INVALID_INDEX)
    return 0;

  {
    session_enable_disable_args_t args = {
      .is_en = 1, .rt_engine_type = RT_BACKEND_ENGINE_RULE_TABLE
    };
    vnet_session_enable_disable (vlib_get_main (), &args);
  }

  a->api_client_index = APP_INVALID_INDEX;
  a->name = format (0, "tor-client-socks5");
  a->session_cb_vft = &tor_socks5_cb_vft;
  a->options = options;
  options[APP_OPTIONS_SEGMENT_SIZE] = 256 << 20;
  options[APP_OPTIONS_ADD_SEGMENT_SIZE] = 256 << 20;
  options[APP_OPTIONS_RX_FIFO_SIZE] = tcm->fifo_size;
  options[APP_OPTIONS_TX_FIFO_SIZE] = tcm->fifo_size;
  options[APP_OPTIONS_FLAGS] = APP_OPTIONS_FLAGS_IS_BUILTIN;

  rv = vnet_application_attach (a);
  vec_free (a->name);
  if (rv)
    {
      tor_client_error ("cannot attach to the session layer: %U",
			format_session_error, rv);
      return VNET_API_ERROR_INIT_FAILED;
    }
  tcm->app_index = a->app_index;
  return 0;
}

int
tor_socks5_listen (u16 port)
{
  tor_client_main_t *tcm = &tor_client_main;
  session_endpoint_cfg_t sep = SESSION_ENDPOINT_CFG_NULL;
  vnet_listen_args_t _a = {}, *a = &_a;
  int rv;

  if ((rv = tor_socks5_attach ()))
    return rv;

  sep.transport_proto = TRANSPORT_PROTO_TCP;
  sep.is_ip4 = tcm->socks_address_is_ip4 ||
	       ip46_address_is_zero (&tcm->socks_address);
  sep.ip = tcm->socks_address;
  sep.port = clib_host_to_net_u16 (port);
  a->app_index = tcm->app_index;
  clib_memcpy (&a->sep_ext, &sep, sizeof (sep));

  rv = vnet_listen (a);
  if (rv)
    {
      tor_client_error ("cannot bind SOCKS port %u: %U", port,
			format_session_error, rv);
      return VNET_API_ERROR_ADDRESS_IN_USE;
    }
  /* Moving to another port: the new listener is up, drop the old one. */
  if (tcm->listener_handle != SESSION_INVALID_HANDLE)
    tor_socks5_unlisten ();
  tcm->listener_handle = a->handle;
  return 0;
}

void
tor_socks5_unlisten (void)
{
  tor_client_main_t *tcm = &tor_client_main;
  vnet_unlisten_args_t a = {
    .handle = tcm->listener_handle,
    .app_index = tcm->app_index,
    .wrk_map_index = 0,
  };

  if (tcm->listener_handle == SESSION_INVALID_HANDLE)
    return;
  vnet_unlisten (&a);
  tcm->listener_handle = SESSION_INVALID_HANDLE;
}

/* ---- closing everything --------------------------------------------------------- */

static void
tor_socks5_close_thread (u32 thread_index)
{
  tor_client_per_thread_t *ptd = tor_socks5_ptd (thread_index);
  tor_socks_session_t *ts;
  u32 *indices = 0;

  pool_foreach (ts, ptd->sessions)
    vec_add1 (indices, ts->index);
  for (u32 i = 0; i < vec_len (indices); i++)
    if (!pool_is_free_index (ptd->sessions, indices[i]))
      tor_socks5_session_close (pool_elt_at_index (ptd->sessions, indices[i]));
  vec_free (indices);
}

static void
tor_socks5_close_thread_rpc (void *arg)
{
  tor_socks5_close_thread (pointer_to_uword (arg));
}

/* `tor client disable` and exit: end every session. Main thread; sessions
 * of workers are closed on their own thread. */
void
tor_socks5_close_all (void)
{
  tor_client_main_t *tcm = &tor_client_main;

  for (u32 t = 0; t < vec_len (tcm->per_thread_data); t++)
    {
      if (t == vlib_get_thread_index ())
	tor_socks5_close_thread (t);
      else if (pool_elts (tor_socks5_ptd (t)->sessions))
	session_send_rpc_evt_to_thread (t, tor_socks5_close_thread_rpc,
					uword_to_pointer (t, void *));
    }
}

u32
tor_socks5_n_sessions (void)
{
  tor_client_main_t *tcm = &tor_client_main;
  u32 n = 0;
  for (u32 t = 0; t < vec_len (tcm->per_thread_data); t++)
    n += pool_elts (tor_socks5_ptd (t)->sessions);
  return n;
}

u64
tor_socks5_n_refused (void)
{
  tor_client_main_t *tcm = &tor_client_main;
  u64 n = 0;
  for (u32 t = 0; t < vec_len (tcm->per_thread_data); t++)
    n += tor_socks5_ptd (t)->n_socks_refused;
  return n;
}

void
tor_socks5_thread_init (u32 thread_index)
{
  tor_client_per_thread_t *ptd = tor_socks5_ptd (thread_index);
  if (!ptd->buf)
    vec_validate (ptd->buf, TOR_SOCKS5_BUF_SIZE - 1);
  if (!ptd->completions)
    vec_validate (ptd->completions, TOR_SOCKS5_N_COMPLETIONS - 1);
}

/* Closes the Tor streams of a thread's sessions without touching the VPP
 * sessions (exit). */
void
tor_socks5_release_streams (u32 thread_index)
{
  tor_client_per_thread_t *ptd = tor_socks5_ptd (thread_index);
  tor_socks_session_t *ts;

  pool_foreach (ts, ptd->sessions)
    if (ts->stream)
      {
	arti_close_stream (ts->stream);
	ts->stream = 0;
	ts->state = TOR_SOCKS_S_CLOSED;
      }
}

void
tor_socks5_thread_free (u32 thread_index)
{
  tor_client_per_thread_t *ptd = tor_socks5_ptd (thread_index);

  tor_socks5_release_streams (thread_index);
  vec_free (ptd->buf);
  vec_free (ptd->completions);
}
