// torclientd -c FILE: the Tor client as a daemon. Reads the `tor { }`
// stanza, starts the TorClient (its own runtime thread), the SOCKS listener
// on that runtime and the CLI socket on the main thread, logs bootstrap
// progress, and shuts down cleanly on SIGINT/SIGTERM.
//
// Exit codes: 0 clean shutdown, 1 runtime failure (a port or socket could
// not be opened, the client could not be created), 2 usage or config error.
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "app/cli_server.h"
#include "app/socks_server.h"
#include "control/control.h"
#include "daemon/config.h"
#include "runtime/client.h"
#include "util/log.h"

namespace {

using namespace tc;

void usage(FILE *f) {
  std::fprintf(f,
               "usage: torclientd -c FILE [--foreground]\n"
               "  -c, --config FILE   configuration file holding a `tor { ... }` stanza\n"
               "  --foreground        run in the foreground (the default and only mode)\n"
               "  -h, --help          this text\n");
}

// mkdir -p; new directories get mode 0700 (they hold the client's state).
Status make_private_dirs(const std::string &dir) {
  if (dir.empty()) return Error(ErrorKind::kInvalidArgument, "empty directory name");
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return Error(ErrorKind::kIo, dir + ": exists and is not a directory");
    if (st.st_mode & 0077) LOG_WARN("%s is accessible by other users (mode %03o)", dir.c_str(), st.st_mode & 0777);
    return {};
  }
  size_t slash = dir.find_last_of('/');
  if (slash != std::string::npos && slash > 0) TC_TRY_VOID(make_private_dirs(dir.substr(0, slash)));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return Error(ErrorKind::kIo, dir + ": mkdir: " + std::strerror(errno));
  return {};
}

struct Daemon {
  config::TorConfig cfg;
  std::shared_ptr<runtime::TorClient> client;
  std::shared_ptr<app::SocksServer> socks;
  // Set by `tor client config dir|cache-dir`; used at the next start.
  std::string pending_config_dir, pending_cache_dir;

  control::Reply handle(const control::Command &cmd) {
    using control::Reply;
    if (std::holds_alternative<control::ShowStatus>(cmd)) {
      control::StatusSnapshot s = client->status_snapshot();
      s.enabled = socks->enabled();
      s.socks_port = socks->port();
      return Reply{true, control::format_status(s)};
    }
    if (std::holds_alternative<control::ShowCircuits>(cmd))
      return Reply{true, control::format_circuits(client->circuit_snapshot())};
    if (auto *e = std::get_if<control::ClientEnable>(&cmd)) {
      if (!e->port && socks->enabled())
        return Reply{true, "Tor client already enabled, SOCKS port " + std::to_string(socks->port()) + "\n"};
      auto st = socks->enable(e->port);
      if (!st) return Reply{false, st.error().message() + "\n"};
      return Reply{true, "Tor client enabled, SOCKS port " + std::to_string(socks->port()) + "\n"};
    }
    if (std::holds_alternative<control::ClientDisable>(cmd)) {
      if (!socks->enabled()) return Reply{true, "Tor client already disabled\n"};
      socks->disable();
      return Reply{true, "Tor client disabled\n"};
    }
    if (auto *d = std::get_if<control::ConfigDir>(&cmd)) {
      auto st = make_private_dirs(d->dir);
      if (!st) return Reply{false, "config dir: " + st.error().message() + "\n"};
      pending_config_dir = d->dir;
      // TorClient takes its directories at creation; the running client
      // keeps its own. TODO(lead): a TorClient restart/reconfigure hook.
      return Reply{true, "Config dir set to " + d->dir + " (takes effect at the next start)\n"};
    }
    if (auto *d = std::get_if<control::ConfigCacheDir>(&cmd)) {
      auto st = make_private_dirs(d->dir);
      if (!st) return Reply{false, "cache dir: " + st.error().message() + "\n"};
      pending_cache_dir = d->dir;
      return Reply{true, "Cache dir set to " + d->dir + " (takes effect at the next start)\n"};
    }
    return Reply{false, "unsupported command\n"};
  }
};

int run(const std::string &config_path) {
  auto loaded = config::load_file(config_path);
  if (!loaded) {
    std::fprintf(stderr, "torclientd: %s\n", loaded.error().message().c_str());
    return 2;
  }
  Daemon d;
  d.cfg = std::move(*loaded);
  if (!d.cfg.stanza_found) {
    std::fprintf(stderr, "torclientd: %s: no `tor { ... }` stanza\n", config_path.c_str());
    return 2;
  }
  if (auto st = config::validate(d.cfg, config_path); !st) {
    std::fprintf(stderr, "torclientd: %s\n", st.error().message().c_str());
    return 2;
  }
  log::set_level(d.cfg.log_level);
  log::set_safe_logging(d.cfg.safe_logging);
  if (!d.cfg.log_file.empty()) log::set_file(d.cfg.log_file);
  for (const auto &w : d.cfg.warnings) LOG_WARN("%s", w.c_str());

  for (const std::string *dir : {&d.cfg.config_dir, &d.cfg.cache_dir}) {
    if (auto st = make_private_dirs(*dir); !st) {
      LOG_ERR("%s", st.error().message().c_str());
      return 1;
    }
  }

  runtime::ClientConfig cc;
  cc.dir_authority_lines = d.cfg.dir_authorities;
  cc.test_network = d.cfg.test_network;
  cc.public_network = d.cfg.public_network;
  cc.config_dir = d.cfg.config_dir;
  cc.cache_dir = d.cfg.cache_dir;
  cc.max_circuit_dirtiness = std::chrono::seconds(d.cfg.max_circuit_dirtiness);
  cc.congestion_control = d.cfg.congestion_control;
  cc.conflux = d.cfg.conflux;
  auto created = runtime::TorClient::create(std::move(cc));
  if (!created) {
    LOG_ERR("cannot create the Tor client: %s", created.error().message().c_str());
    return 1;
  }
  d.client = std::move(*created);
  LOG_NOTICE("torclientd starting%s", d.cfg.test_network ? " (test network)" : "");
  d.client->start();

  app::SocksOptions so;
  so.address = d.cfg.socks_address;
  so.port = d.cfg.socks_port;
  so.max_connections = d.cfg.max_connections;
  so.per_client_rate = d.cfg.per_client_rate;
  d.socks = app::SocksServer::create(app::tor_client_backend(d.client), so);
  if (d.cfg.enabled) {
    if (auto st = d.socks->enable(); !st) {
      LOG_ERR("%s", st.error().message().c_str());
      d.client->stop();
      return 1;
    }
  } else {
    LOG_NOTICE("SOCKS listener disabled (tor { enabled } not set); `tor client enable` opens it");
  }

  asio::io_context io;  // the control plane: CLI, signals, progress
  app::CliOptions co;
  co.path = d.cfg.cli_socket;
  auto cli = app::CliServer::start(io.get_executor(), co,
                                   [&d](const control::Command &c) { return d.handle(c); });
  if (!cli) {
    LOG_ERR("%s", cli.error().message().c_str());
    d.socks->disable();
    d.client->stop();
    return 1;
  }

  // Bootstrap progress: the directory code logs each "Bootstrapped N%
  // (phase)" step at notice level; here we only say when we are ready.
  asio::steady_timer progress(io);
  int last_percent = -1;
  std::string last_phase;
  std::function<void()> poll = [&] {
    auto b = d.client->bootstrap_state();
    if (b.percent != last_percent || b.phase != last_phase) {
      last_percent = b.percent;
      last_phase = b.phase;
      LOG_DEBUG("bootstrap state: %d%% (%s)", b.percent, b.phase.c_str());
    }
    if (b.percent >= 100) {
      if (d.socks->enabled())
        LOG_NOTICE("Tor client ready: SOCKS listener on port %u", static_cast<unsigned>(d.socks->port()));
      else
        LOG_NOTICE("Tor client ready (SOCKS listener disabled)");
      return;
    }
    progress.expires_after(std::chrono::milliseconds(200));
    progress.async_wait([&](std::error_code ec) {
      if (!ec) poll();
    });
  };
  poll();

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](std::error_code ec, int sig) {
    if (ec) return;
    LOG_NOTICE("Received %s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    (*cli)->stop();
    progress.cancel();
    io.stop();
  });
  // Blocked in main() until now (so an early SIGTERM waits for us);
  // threads started since inherit the mask, so signals come here.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  io.run();

  d.socks->disable();
  // Give the sessions a moment to send their END cells and FINs.
  for (int i = 0; i < 50 && d.socks->stats().active > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  d.client->stop();
  LOG_NOTICE("torclientd stopped");
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  std::string config_path;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "-c" || a == "--config") && i + 1 < argc) {
      config_path = argv[++i];
    } else if (a == "--foreground") {
      // the only mode
    } else if (a == "-h" || a == "--help") {
      usage(stdout);
      return 0;
    } else {
      std::fprintf(stderr, "torclientd: unexpected argument '%s'\n", a.c_str());
      usage(stderr);
      return 2;
    }
  }
  if (config_path.empty()) {
    usage(stderr);
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  // SIGINT/SIGTERM go to the asio signal_set on the main thread: block
  // them before the runtime thread starts so it never takes them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return run(config_path);
}
