// torclientd's CLI endpoint: a unix-domain stream socket speaking
// tc_control's wire encoding ("<command>\n" in, "OK|ERR <len>\n<text>" out,
// several requests per connection allowed). The socket file is created
// with mode 0600 (only the daemon's user may drive it); its directory is
// created with 0700 when missing.
//
// Threads: everything runs on the executor given to start() (torclientd
// uses its main thread, apart from the Tor runtime thread); stop() must be
// called there too. The handler runs on that thread and may block briefly.
#pragma once
#include <asio.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>

#include "control/control.h"
#include "util/error.h"

namespace tc::app {

using CommandHandler = std::function<control::Reply(const control::Command &)>;

// Parses one request line and runs it: a parse error becomes an ERR reply
// carrying the parser's message; `help` is answered here.
control::Reply run_command_line(std::string_view line, const CommandHandler &handler);

struct CliOptions {
  std::string path;                                  // socket file
  size_t max_clients = 16;                           // concurrent CLI connections
  std::chrono::milliseconds idle_timeout{60000};     // per connection, between requests
};

class CliConnection;

class CliServer : public std::enable_shared_from_this<CliServer> {
 public:
  // Binds and listens. Refuses a path that exists and is not a socket, or
  // a socket some live process still listens on; a stale one is replaced.
  static Result<std::shared_ptr<CliServer>> start(asio::any_io_executor ex, CliOptions opts, CommandHandler handler);
  ~CliServer();
  CliServer(const CliServer &) = delete;
  CliServer &operator=(const CliServer &) = delete;

  // Closes the listener and every connection and removes the socket file.
  void stop();
  const std::string &path() const { return opts_.path; }

 private:
  friend class CliConnection;
  CliServer(asio::any_io_executor ex, CliOptions opts, CommandHandler handler);
  Status listen();
  asio::awaitable<void> accept_loop();

  asio::any_io_executor ex_;
  CliOptions opts_;
  CommandHandler handler_;
  asio::local::stream_protocol::acceptor acceptor_;
  std::unordered_set<CliConnection *> conns_;
  bool stopped_ = false;
};

}  // namespace tc::app
