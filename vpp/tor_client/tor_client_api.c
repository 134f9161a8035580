/* SPDX-License-Identifier: Apache-2.0 */
/* tor_client_api.c - binary API handlers: thin decoders over the functions
 * in tor_client.c (the CLI calls the same ones). */

#include <vnet/vnet.h>
#include <vlibmemory/api.h>
#include <vnet/format_fns.h>
#include <vlibapi/api.h>

#include <tor_client/tor_client.h>
#include <tor_client/tor_client.api_enum.h>
#include <tor_client/tor_client.api_types.h>

#define REPLY_MSG_ID_BASE tcm->msg_id_base
#include <vlibapi/api_helper_macros.h>

/* A NUL-terminated copy into a zeroed fixed-size API string. */
static void
tor_client_api_strcpy (u8 *dst, size_t dst_size, const u8 *src,
		       size_t src_size)
{
  size_t n = strnlen ((const char *) src, src_size);
  clib_memcpy (dst, src, clib_min (n, dst_size - 1));
  dst[clib_min (n, dst_size - 1)] = 0;
}

static void
vl_api_tor_client_enable_disable_t_handler (
  vl_api_tor_client_enable_disable_t *mp)
{
  tor_client_main_t *tcm = &tor_client_main;
  vl_api_tor_client_enable_disable_reply_t *rmp;
  int rv;

  if (mp->enable)
    rv = tor_client_enable (clib_net_to_host_u16 (mp->port));
  else
    rv = tor_client_disable ();
  if (rv)
    clib_warning ("tor_client: %v", tcm->last_error);

  REPLY_MACRO (VL_API_TOR_CLIENT_ENABLE_DISABLE_REPLY);
}

static void
vl_api_tor_client_set_dirs_t_handler (vl_api_tor_client_set_dirs_t *mp)
{
  tor_client_main_t *tcm = &tor_client_main;
  vl_api_tor_client_set_dirs_reply_t *rmp;
  char config_dir[sizeof (mp->config_dir) + 1];
  char cache_dir[sizeof (mp->cache_dir) + 1];
  int rv;

  /* Fixed-size strings: not necessarily NUL-terminated on the wire. */
  clib_memcpy (config_dir, mp->config_dir, sizeof (mp->config_dir));
  config_dir[sizeof (mp->config_dir)] = 0;
  clib_memcpy (cache_dir, mp->cache_dir, sizeof (mp->cache_dir));
  cache_dir[sizeof (mp->cache_dir)] = 0;

  rv = tor_client_set_dirs (config_dir, cache_dir);
  if (rv)
    clib_warning ("tor_client: %v", tcm->last_error);

  REPLY_MACRO (VL_API_TOR_CLIENT_SET_DIRS_REPLY);
}

static void
vl_api_tor_client_status_t_handler (vl_api_tor_client_status_t *mp)
{
  tor_client_main_t *tcm = &tor_client_main;
  vl_api_tor_client_status_reply_t *rmp;
  tor_client_status_t st;
  int rv = tor_client_status_get (&st);

  REPLY_MACRO2_ZERO (VL_API_TOR_CLIENT_STATUS_REPLY, ({
		       rmp->enabled = st.enabled;
		       rmp->socks_port = clib_host_to_net_u16 (st.socks_port);
		       rmp->bootstrap_percent = st.bootstrap_percent;
		       tor_client_api_strcpy (rmp->bootstrap_phase,
					      sizeof (rmp->bootstrap_phase),
					      st.bootstrap_phase,
					      sizeof (st.bootstrap_phase));
		       rmp->consensus_valid_after =
			 clib_host_to_net_u64 (st.consensus_valid_after);
		       rmp->consensus_valid_until =
			 clib_host_to_net_u64 (st.consensus_valid_until);
		       rmp->relays_known = clib_host_to_net_u32 (st.relays_known);
		       rmp->guards = clib_host_to_net_u32 (st.guards);
		       rmp->open_circuits =
			 clib_host_to_net_u32 (st.open_circuits);
		       rmp->open_streams = clib_host_to_net_u32 (st.open_streams);
		       rmp->bytes_in = clib_host_to_net_u64 (st.bytes_in);
		       rmp->bytes_out = clib_host_to_net_u64 (st.bytes_out);
		       rmp->socks_sessions =
			 clib_host_to_net_u32 (st.socks_sessions);
		       rmp->socks_refused =
			 clib_host_to_net_u64 (st.socks_refused);
		     }));
}

static void
tor_client_send_circuit_details (vl_api_registration_t *reg, u32 context,
				 tor_client_circuit_t *c)
{
  tor_client_main_t *tcm = &tor_client_main;
  vl_api_tor_client_circuit_details_t *rmp;

  rmp = vl_msg_api_alloc_zero (sizeof (*rmp));
  rmp->_vl_msg_id =
    clib_host_to_net_u16 (VL_API_TOR_CLIENT_CIRCUIT_DETAILS + tcm->msg_id_base);
  rmp->context = context;
  rmp->circuit_id = clib_host_to_net_u32 (c->circuit_id);
  tor_client_api_strcpy (rmp->state, sizeof (rmp->state), c->state,
			 sizeof (c->state));
  rmp->age_seconds = clib_host_to_net_u64 (c->age_seconds);
  rmp->n_hops = c->n_hops;
  tor_client_api_strcpy (rmp->path, sizeof (rmp->path), c->path,
			 sizeof (c->path));
  rmp->streams = clib_host_to_net_u32 (c->streams);
  rmp->bytes_in = clib_host_to_net_u64 (c->bytes_in);
  rmp->bytes_out = clib_host_to_net_u64 (c->bytes_out);
  vl_api_send_msg (reg, (u8 *) rmp);
}

static void
vl_api_tor_client_circuit_dump_t_handler (vl_api_tor_client_circuit_dump_t *mp)
{
  vl_api_registration_t *reg;
  tor_client_circuit_t *v, *c;

  reg = vl_api_client_index_to_registration (mp->client_index);
  if (!reg)
    return;
  v = tor_client_circuits_get ();
  vec_foreach (c, v)
    tor_client_send_circuit_details (reg, mp->context, c);
  vec_free (v);
}

/* set up the API message handling tables */
#include <tor_client/tor_client.api.c>

static clib_error_t *
tor_client_api_hookup (vlib_main_t *vm)
{
  tor_client_main_t *tcm = &tor_client_main;
  tcm->msg_id_base = setup_message_id_table ();
  return 0;
}

VLIB_API_INIT_FUNCTION (tor_client_api_hookup);
