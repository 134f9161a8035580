/* SPDX-License-Identifier: Apache-2.0 */
/* tor_client.c - registration, main and per-thread state, the tor { }
 * startup stanza, and the functions the CLI and the binary API share. */

#include <vnet/vnet.h>
#include <vnet/plugin/plugin.h>
#include <vpp/app/version.h>
#include <vlib/file.h>
#include <vlib/unix/unix.h>

#include <tor_client/tor_client.h>

#include <errno.h>
#include <time.h>

tor_client_main_t tor_client_main;

/* ---- the tor { } stanza ---------------------------------------------------
 *
 * VPP's startup.conf reader folds every line break into a space and drops
 * '#' comments before any plugin sees its stanza, while the library's
 * parser (the same one torclientd uses) is line-based: "dir-authority"
 * takes the rest of its line. So the line breaks are put back here, before
 * each keyword of the stanza, and the library then parses (and validates)
 * the text exactly as it parses torclientd's file. Only the line structure
 * is decided here; the keywords themselves are checked by the library. */

static const char *tor_stanza_no_arg[] = {
  "enabled", "disabled", "test-network", "public-network",
};
static const char *tor_stanza_one_arg[] = {
  "socks-port",	   "socks-address", "config-dir",
  "cache-dir",	   "cli-socket",    "log-level",
  "log-file",	   "safe-logging",  "max-connections",
  "max-circuit-dirtiness", "per-client-rate",
};

static int
tor_stanza_keyword_kind (const u8 *tok)
{
  for (int i = 0; i < ARRAY_LEN (tor_stanza_no_arg); i++)
    if (!strcmp ((char *) tok, tor_stanza_no_arg[i]))
      return 0;
  for (int i = 0; i < ARRAY_LEN (tor_stanza_one_arg); i++)
    if (!strcmp ((char *) tok, tor_stanza_one_arg[i]))
      return 1;
  if (!strcmp ((char *) tok, "dir-authority"))
    return 2;
  return -1;
}

/* Splits the folded stanza body into its lines (a vector of C-string
 * vectors). Returns the number of lines. */
int
tor_client_stanza_restore_lines (const u8 *flat, u8 ***lines_out)
{
  u8 **toks = 0, **lines = 0;
  const u8 *p = flat, *end = flat + vec_len (flat);

  while (p < end)
    {
      while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
	p++;
      const u8 *b = p;
      while (p < end && !(*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
	p++;
      if (p > b)
	{
	  u8 *t = 0;
	  vec_add (t, b, p - b);
	  vec_add1 (t, 0);
	  vec_add1 (toks, t);
	}
    }

  for (u32 i = 0; i < vec_len (toks);)
    {
      u8 *line = 0;
      int kind = tor_stanza_keyword_kind (toks[i]);
      line = format (line, "%s", toks[i++]);
      if (kind == 1 && i < vec_len (toks))
	line = format (line, " %s", toks[i++]);
      else if (kind == 2)
	{
	  /* nickname first (it may look like anything), then up to the next
	   * keyword: flags, address:port, fingerprint. */
	  if (i < vec_len (toks))
	    line = format (line, " %s", toks[i++]);
	  while (i < vec_len (toks) && tor_stanza_keyword_kind (toks[i]) < 0)
	    line = format (line, " %s", toks[i++]);
	}
      vec_add1 (line, 0);
      vec_add1 (lines, line);
    }

  for (u32 i = 0; i < vec_len (toks); i++)
    vec_free (toks[i]);
  vec_free (toks);
  *lines_out = lines;
  return vec_len (lines);
}

/* The stanza text for the library, with config-dir / cache-dir replaced by
 * the ones set at run time. */
static u8 *
tor_client_stanza_text (void)
{
  tor_client_main_t *tcm = &tor_client_main;
  u8 *s = 0;

  for (u32 i = 0; i < vec_len (tcm->stanza_lines); i++)
    {
      char *l = (char *) tcm->stanza_lines[i];
      if (tcm->config_dir && !strncmp (l, "config-dir ", 11))
	continue;
      if (tcm->cache_dir && !strncmp (l, "cache-dir ", 10))
	continue;
      s = format (s, "%s\n", l);
    }
  if (tcm->config_dir)
    s = format (s, "config-dir %v\n", tcm->config_dir);
  if (tcm->cache_dir)
    s = format (s, "cache-dir %v\n", tcm->cache_dir);
  vec_add1 (s, 0);
  return s;
}

static clib_error_t *
tor_client_config (vlib_main_t *vm, unformat_input_t *input)
{
  tor_client_main_t *tcm = &tor_client_main;
  u8 *flat = 0;

  /* The body between the braces, as VPP's reader left it. */
  if (input->buffer && input->index < vec_len (input->buffer))
    vec_add (flat, input->buffer + input->index,
	     vec_len (input->buffer) - input->index);
  input->index = vec_len (input->buffer);

  tcm->stanza_found = 1;
  tor_client_stanza_restore_lines (flat, &tcm->stanza_lines);
  vec_free (flat);

  /* What the plugin itself acts on; bad values are reported by the library
   * when the client starts (with the line of the restored stanza). */
  for (u32 i = 0; i < vec_len (tcm->stanza_lines); i++)
    {
      unformat_input_t li;
      u32 port, n;
      unformat_init_string (&li, (char *) tcm->stanza_lines[i],
			    strlen ((char *) tcm->stanza_lines[i]));
      if (unformat (&li, "enabled"))
	tcm->enabled_at_start = 1;
      else if (unformat (&li, "disabled"))
	tcm->enabled_at_start = 0;
      else if (unformat (&li, "socks-port %u", &port))
	{
	  if (port == 0 || port > 65535)
	    {
	      unformat_free (&li);
	      return clib_error_return (
		0, "tor: socks-port: expected a port number 1-65535, got %u",
		port);
	    }
	  tcm->socks_port = port;
	}
      else if (unformat (&li, "socks-address %U", unformat_ip46_address,
			 &tcm->socks_address, IP46_TYPE_ANY))
	tcm->socks_address_is_ip4 = ip46_address_is_ip4 (&tcm->socks_address);
      else if (unformat (&li, "max-connections %u", &n))
	tcm->max_connections = n;
      unformat_free (&li);
    }
  return 0;
}

VLIB_CONFIG_FUNCTION (tor_client_config, "tor");

/* ---- the client ---------------------------------------------------------- */

static clib_error_t *
tor_client_queue_ready (clib_file_t *f)
{
  extern void tor_socks5_handle_completions (u32 thread_index);
  tor_socks5_handle_completions ((u32) f->private_data);
  return 0;
}

/* Per-thread completion queues and their eventfds, once. */
static int
tor_client_queues_init (void)
{
  tor_client_main_t *tcm = &tor_client_main;
  for (u32 t = 0; t < vec_len (tcm->per_thread_data); t++)
    {
      tor_client_per_thread_t *ptd = vec_elt_at_index (tcm->per_thread_data, t);
      if (ptd->queue)
	continue;
      ptd->queue = arti_queue_create ();
      if (!ptd->queue)
	{
	  tor_client_error ("cannot create a completion queue: %s",
			    arti_last_error ());
	  return VNET_API_ERROR_INIT_FAILED;
	}
      clib_file_t template = {
	.read_function = tor_client_queue_ready,
	.file_descriptor = arti_queue_fd (ptd->queue),
	.private_data = t,
	.polling_thread_index = t,
	/* the queue owns its eventfd */
	.dont_close = 1,
	.description = format (0, "tor-client completions thread %u", t),
      };
      ptd->clib_file_index = clib_file_add (&file_main, &template);
      tor_socks5_thread_init (t);
    }
  return 0;
}

static void
tor_client_queues_free (void)
{
  tor_client_main_t *tcm = &tor_client_main;

  for (u32 t = 0; t < vec_len (tcm->per_thread_data); t++)
    {
      tor_client_per_thread_t *ptd = vec_elt_at_index (tcm->per_thread_data, t);
      if (!ptd->queue)
	continue;
      clib_file_del_by_index (&file_main, ptd->clib_file_index);
      /* streams first: a queue with streams bound to it is -EBUSY */
      tor_socks5_thread_free (t);
      if (arti_queue_destroy (ptd->queue) == 0)
	ptd->queue = 0;
    }
}

/* Starts the Tor client from the stanza (or from the directories set with
 * `tor client config dir`), if it is not running. Main thread. */
int
tor_client_ensure_started (void)
{
  tor_client_main_t *tcm = &tor_client_main;
  char err[512] = { 0 };
  int rv;

  if (tcm->client)
    return 0;
  if ((rv = tor_client_queues_init ()))
    return rv;

  if (tcm->stanza_found)
    {
      u8 *text = tor_client_stanza_text ();
      tcm->client = arti_init_with_config ((char *) text, err, sizeof (err));
      vec_free (text);
    }
  else if (tcm->config_dir)
    {
      /* No stanza: config_dir/torclient.conf holds it, as for arti_init. */
      u8 *cd = format (0, "%v%c", tcm->config_dir, 0);
      u8 *kd = tcm->cache_dir ? format (0, "%v%c", tcm->cache_dir, 0) : 0;
      tcm->client = arti_init ((char *) cd, (char *) kd);
      if (!tcm->client)
	snprintf (err, sizeof (err), "%s", arti_last_error ());
      vec_free (cd);
      vec_free (kd);
    }
  else
    {
      tor_client_error ("no tor { } stanza in the startup configuration and "
			"no `tor client config dir`");
      return VNET_API_ERROR_FEATURE_DISABLED;
    }
  if (!tcm->client)
    {
      tor_client_error ("cannot start the Tor client: %s", err);
      return VNET_API_ERROR_INIT_FAILED;
    }
  tcm->dirs_pending = 0;
  return 0;
}

static void
tor_client_stop (void)
{
  tor_client_main_t *tcm = &tor_client_main;

  tor_socks5_close_all ();
  if (tcm->client)
    {
      /* Joins the runtime thread: main thread only, never a worker. */
      arti_shutdown (tcm->client);
      tcm->client = 0;
    }
}

/* ---- the functions behind the CLI and the API ------------------------------ */

int
tor_client_enable (u16 port)
{
  tor_client_main_t *tcm = &tor_client_main;
  int rv;

  if (port == 0)
    port = tcm->is_enabled ? tcm->socks_port :
			     (tcm->socks_port ? tcm->socks_port : 9050);
  if (tcm->is_enabled && port == tcm->socks_port)
    return 0;

  /* New directories take effect at the next start of the client: when the
   * listener is closed and nothing uses the client, that is now. */
  if (tcm->client && tcm->dirs_pending && !tcm->is_enabled &&
      tor_socks5_n_sessions () == 0)
    tor_client_stop ();

  if ((rv = tor_client_ensure_started ()))
    return rv;

  if ((rv = tor_socks5_listen (port)))
    return rv; /* the old listener, if any, stays */
  tcm->socks_port = port;
  tcm->is_enabled = 1;
  return 0;
}

int
tor_client_disable (void)
{
  tor_client_main_t *tcm = &tor_client_main;

  if (!tcm->is_enabled)
    return 0;
  tor_socks5_unlisten ();
  /* Open streams end with the listener, as in torclientd. */
  tor_socks5_close_all ();
  tcm->is_enabled = 0;
  return 0;
}

static int
tor_client_make_private_dir (const char *dir)
{
  struct stat st;
  char *copy, *p;

  if (!dir || !*dir)
    return VNET_API_ERROR_INVALID_VALUE;
  if (stat (dir, &st) == 0)
    {
      if (!S_ISDIR (st.st_mode))
	{
	  tor_client_error ("%s: exists and is not a directory", dir);
	  return VNET_API_ERROR_INVALID_VALUE;
	}
      return 0;
    }
  copy = strdup (dir);
  for (p = copy + 1; *p; p++)
    if (*p == '/')
      {
	*p = 0;
	mkdir (copy, 0700);
	*p = '/';
      }
  free (copy);
  if (mkdir (dir, 0700) != 0 && errno != EEXIST)
    {
      tor_client_error ("%s: mkdir: %s", dir, strerror (errno));
      return VNET_API_ERROR_SYSCALL_ERROR_1;
    }
  return 0;
}

int
tor_client_set_dirs (const char *config_dir, const char *cache_dir)
{
  tor_client_main_t *tcm = &tor_client_main;
  int rv;

  if (config_dir && *config_dir)
    {
      if ((rv = tor_client_make_private_dir (config_dir)))
	return rv;
      vec_reset_length (tcm->config_dir);
      tcm->config_dir = format (tcm->config_dir, "%s", config_dir);
      tcm->dirs_pending = 1;
    }
  if (cache_dir && *cache_dir)
    {
      if ((rv = tor_client_make_private_dir (cache_dir)))
	return rv;
      vec_reset_length (tcm->cache_dir);
      tcm->cache_dir = format (tcm->cache_dir, "%s", cache_dir);
      tcm->dirs_pending = 1;
    }
  return 0;
}

/* ---- status ---------------------------------------------------------------- */

static u8 *
tor_client_text (int circuits)
{
  tor_client_main_t *tcm = &tor_client_main;
  u8 *s = 0;
  int n;

  if (!tcm->client)
    return format (0, circuits ? "No open circuits.\n" :
				 "Tor client: disabled\n");
  n = circuits ? arti_circuits_text (tcm->client, 0, 0) :
		 arti_status_text (tcm->client, tcm->is_enabled,
				   tcm->socks_port, 0, 0);
  if (n < 0)
    return format (0, "error: %s\n", arti_last_error ());
  vec_validate (s, n);
  n = circuits ? arti_circuits_text (tcm->client, (char *) s, n + 1) :
		 arti_status_text (tcm->client, tcm->is_enabled,
				   tcm->socks_port, (char *) s, n + 1);
  if (n < 0)
    {
      vec_free (s);
      return format (0, "error: %s\n", arti_last_error ());
    }
  vec_set_len (s, clib_min ((u32) n, vec_len (s) - 1));
  return s;
}

u8 *
tor_client_status_text (void)
{
  return tor_client_text (0);
}

u8 *
tor_client_circuits_text (void)
{
  return tor_client_text (1);
}

/* The binary API's numbers, from the library's structured snapshot (the
 * same numbers `show tor status` formats). */
int
tor_client_status_get (tor_client_status_t *st)
{
  tor_client_main_t *tcm = &tor_client_main;
  struct arti_status as;
  int rv;

  clib_memset (st, 0, sizeof (*st));
  st->enabled = tcm->is_enabled;
  st->socks_port = tcm->socks_port;
  st->socks_sessions = tor_socks5_n_sessions ();
  st->socks_refused = tor_socks5_n_refused ();
  if (!tcm->client)
    return 0;
  if ((rv = arti_get_status (tcm->client, &as)) < 0)
    {
      tor_client_error ("arti_get_status: %s", arti_last_error ());
      return VNET_API_ERROR_UNSPECIFIED;
    }
  st->bootstrap_percent = clib_max (0, as.bootstrap_percent);
  snprintf ((char *) st->bootstrap_phase, sizeof (st->bootstrap_phase), "%s",
	    as.bootstrap_phase);
  st->consensus_valid_after = as.consensus_valid_after;
  st->consensus_valid_until = as.consensus_valid_until;
  st->relays_known = as.relays_known;
  st->guards = as.guards;
  st->open_circuits = as.open_circuits;
  st->open_streams = as.open_streams;
  st->bytes_in = as.bytes_in;
  st->bytes_out = as.bytes_out;
  return 0;
}

tor_client_circuit_t *
tor_client_circuits_get (void)
{
  tor_client_main_t *tcm = &tor_client_main;
  tor_client_circuit_t *v = 0, *ci;
  struct arti_circuit_info *infos = 0, *a;
  int n;

  if (!tcm->client)
    return 0;
  /* Circuits can open between the two calls: ask again until all fit. */
  n = arti_get_circuits (tcm->client, 0, 0);
  while (n > 0)
    {
      int got;
      vec_validate (infos, n - 1);
      got = arti_get_circuits (tcm->client, infos, n);
      if (got <= n)
	{
	  n = got;
	  break;
	}
      n = got;
    }
  if (n < 0)
    {
      tor_client_error ("arti_get_circuits: %s", arti_last_error ());
      vec_free (infos);
      return 0;
    }
  for (a = infos; a < infos + n; a++)
    {
      vec_add2 (v, ci, 1);
      ci->circuit_id = a->circuit_id;
      snprintf ((char *) ci->state, sizeof (ci->state), "%s", a->state);
      ci->age_seconds = a->age_seconds;
      ci->n_hops = a->n_hops;
      snprintf ((char *) ci->path, sizeof (ci->path), "%s", a->path);
      ci->streams = a->streams;
      ci->bytes_in = a->bytes_in;
      ci->bytes_out = a->bytes_out;
    }
  vec_free (infos);
  return v;
}

/* ---- registration ------------------------------------------------------------- */

/* Starts what the stanza asks for, once the main loop runs (the session
 * layer and every thread's epoll exist by then). */
static uword
tor_client_process (vlib_main_t *vm, vlib_node_runtime_t *rt, vlib_frame_t *f)
{
  tor_client_main_t *tcm = &tor_client_main;

  if (!tcm->stanza_found)
    return 0;
  if (tor_client_ensure_started ())
    {
      clib_warning ("tor_client: %v", tcm->last_error);
      return 0;
    }
  if (tcm->enabled_at_start && tor_client_enable (tcm->socks_port))
    clib_warning ("tor_client: %v", tcm->last_error);
  return 0;
}

VLIB_REGISTER_NODE (tor_client_process_node) = {
  .function = tor_client_process,
  .type = VLIB_NODE_TYPE_PROCESS,
  .name = "tor-client-process",
};

static clib_error_t *
tor_client_init (vlib_main_t *vm)
{
  tor_client_main_t *tcm = &tor_client_main;

  tcm->vlib_main = vm;
  tcm->socks_port = 9050;
  tcm->max_connections = 1024;
  tcm->app_index = APP_INVALID_INDEX;
  tcm->listener_handle = SESSION_INVALID_HANDLE;
  tcm->fifo_size = 256 << 10;
  vec_validate_aligned (tcm->per_thread_data,
			vlib_get_thread_main ()->n_vlib_mains - 1,
			CLIB_CACHE_LINE_BYTES);
  return 0;
}

VLIB_INIT_FUNCTION (tor_client_init);

/* VPP is going down: leave its sessions to it (the session layer may be
 * gone already), end every Tor stream, stop the runtime thread, free the
 * queues. */
static clib_error_t *
tor_client_exit (vlib_main_t *vm)
{
  tor_client_main_t *tcm = &tor_client_main;

  tcm->is_enabled = 0;
  for (u32 t = 0; t < vec_len (tcm->per_thread_data); t++)
    tor_socks5_release_streams (t);
  if (tcm->client)
    {
      arti_shutdown (tcm->client);
      tcm->client = 0;
    }
  tor_client_queues_free ();
  return 0;
}

VLIB_MAIN_LOOP_EXIT_FUNCTION (tor_client_exit);

VLIB_PLUGIN_REGISTER () = {
  .version = VPP_BUILD_VER,
  .description = "Tor client (SOCKS5 over the Tor network)",
};
