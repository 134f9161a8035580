/* SPDX-License-Identifier: Apache-2.0 */
/* tor_client_cli.c - the operator CLI, a thin unformat layer over the
 * functions in tor_client.c (the binary API calls the same ones).
 *
 *   tor client enable [port N]
 *   tor client disable
 *   tor client config dir DIR
 *   tor client config cache-dir DIR
 *   show tor status
 *   show tor circuits
 *
 * The replies are torclientd's (torclientctl prints the same lines); the
 * `show` texts are formatted by the library (src/control). */

#include <vnet/vnet.h>
#include <vlib/vlib.h>

#include <tor_client/tor_client.h>

static clib_error_t *
tor_client_enable_command_fn (vlib_main_t *vm, unformat_input_t *input,
			      vlib_cli_command_t *cmd)
{
  tor_client_main_t *tcm = &tor_client_main;
  unformat_input_t _line_input, *line_input = &_line_input;
  clib_error_t *error = 0;
  u32 port = 0;
  u8 was_enabled = tcm->is_enabled;
  u16 old_port = tcm->socks_port;

  if (unformat_user (input, unformat_line_input, line_input))
    {
      while (unformat_check_input (line_input) != UNFORMAT_END_OF_INPUT)
	{
	  if (unformat (line_input, "port %u", &port) && port >= 1 &&
	      port <= 65535)
	    ;
	  else
	    {
	      error = clib_error_return (
		0, "expected a port number 1-65535 after 'port', got '%U'",
		format_unformat_error, line_input);
	      unformat_free (line_input);
	      return error;
	    }
	}
      unformat_free (line_input);
    }

  if (was_enabled && (port == 0 || port == old_port))
    {
      vlib_cli_output (vm, "Tor client already enabled, SOCKS port %u",
		       tcm->socks_port);
      return 0;
    }
  if (tor_client_enable ((u16) port))
    return clib_error_return (0, "%v", tcm->last_error);
  vlib_cli_output (vm, "Tor client enabled, SOCKS port %u", tcm->socks_port);
  return 0;
}

VLIB_CLI_COMMAND (tor_client_enable_command, static) = {
  .path = "tor client enable",
  .short_help = "tor client enable [port <1-65535>]",
  .function = tor_client_enable_command_fn,
};

static clib_error_t *
tor_client_disable_command_fn (vlib_main_t *vm, unformat_input_t *input,
			       vlib_cli_command_t *cmd)
{
  tor_client_main_t *tcm = &tor_client_main;

  if (!tcm->is_enabled)
    {
      vlib_cli_output (vm, "Tor client already disabled");
      return 0;
    }
  if (tor_client_disable ())
    return clib_error_return (0, "%v", tcm->last_error);
  vlib_cli_output (vm, "Tor client disabled");
  return 0;
}

VLIB_CLI_COMMAND (tor_client_disable_command, static) = {
  .path = "tor client disable",
  .short_help = "tor client disable",
  .function = tor_client_disable_command_fn,
};

static clib_error_t *
tor_client_config_command_fn (vlib_main_t *vm, unformat_input_t *input,
			      vlib_cli_command_t *cmd)
{
  tor_client_main_t *tcm = &tor_client_main;
  u8 *dir = 0;
  int is_cache = 0;
  clib_error_t *error = 0;

  if (unformat (input, "dir %s", &dir))
    ;
  else if (unformat (input, "cache-dir %s", &dir))
    is_cache = 1;
  else
    return clib_error_return (0, "tor client config dir: expected a directory");
  vec_add1 (dir, 0);

  if (is_cache ? tor_client_set_dirs (0, (char *) dir) :
		 tor_client_set_dirs ((char *) dir, 0))
    error = clib_error_return (0, "%s: %v", is_cache ? "cache dir" : "config dir",
			       tcm->last_error);
  else
    vlib_cli_output (vm, "%s dir set to %s (takes effect at the next start)",
		     is_cache ? "Cache" : "Config", dir);
  vec_free (dir);
  return error;
}

VLIB_CLI_COMMAND (tor_client_config_command, static) = {
  .path = "tor client config",
  .short_help = "tor client config {dir <dir> | cache-dir <dir>}",
  .function = tor_client_config_command_fn,
};

static clib_error_t *
tor_client_show_status_command_fn (vlib_main_t *vm, unformat_input_t *input,
				   vlib_cli_command_t *cmd)
{
  u8 *s = tor_client_status_text ();
  vlib_cli_output (vm, "%v", s);
  vec_free (s);
  return 0;
}

VLIB_CLI_COMMAND (tor_client_show_status_command, static) = {
  .path = "show tor status",
  .short_help = "show tor status",
  .function = tor_client_show_status_command_fn,
};

static clib_error_t *
tor_client_show_circuits_command_fn (vlib_main_t *vm, unformat_input_t *input,
				     vlib_cli_command_t *cmd)
{
  u8 *s = tor_client_circuits_text ();
  vlib_cli_output (vm, "%v", s);
  vec_free (s);
  return 0;
}

VLIB_CLI_COMMAND (tor_client_show_circuits_command, static) = {
  .path = "show tor circuits",
  .short_help = "show tor circuits",
  .function = tor_client_show_circuits_command_fn,
};
