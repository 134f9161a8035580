#include "app/cli_server.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <asio/experimental/as_tuple.hpp>
#include <cerrno>
#include <cstring>

#include "util/log.h"

namespace tc::app {

using asio::local::stream_protocol;

namespace {

constexpr auto kAwait = asio::experimental::as_tuple(asio::use_awaitable);

std::string errno_text(int e) { return std::strerror(e); }

// mkdir -p with mode 0700 for the directories we create.
Status make_dirs(const std::string &dir) {
  if (dir.empty()) return {};
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return Error(ErrorKind::kIo, dir + ": exists and is not a directory");
    return {};
  }
  size_t slash = dir.find_last_of('/');
  if (slash != std::string::npos && slash > 0) TC_TRY_VOID(make_dirs(dir.substr(0, slash)));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return Error(ErrorKind::kIo, dir + ": mkdir: " + errno_text(errno));
  return {};
}

// True if some process accepts connections on the unix socket `path`.
bool socket_is_live(const std::string &path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  bool live = ::connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof sa) == 0;
  ::close(fd);
  return live;
}

}  // namespace

control::Reply run_command_line(std::string_view line, const CommandHandler &handler) {
  auto cmd = control::parse_command(line);
  if (!cmd) return control::Reply{false, cmd.error().message() + "\n"};
  if (std::holds_alternative<control::Help>(*cmd)) return control::Reply{true, control::help_text()};
  control::Reply r = handler(*cmd);
  if (!r.text.empty() && r.text.back() != '\n') r.text += '\n';
  if (r.text.size() > control::kMaxReplyText) {
    r.text.resize(control::kMaxReplyText - 16);
    r.text += "\n[truncated]\n";
  }
  return r;
}

// ------------------------------------------------------------- connection

class CliConnection : public std::enable_shared_from_this<CliConnection> {
 public:
  CliConnection(std::shared_ptr<CliServer> srv, stream_protocol::socket sock)
      : srv_(std::move(srv)), sock_(std::move(sock)), timer_(srv_->ex_) {}
  ~CliConnection() { srv_->conns_.erase(this); }

  static asio::awaitable<void> run(std::shared_ptr<CliConnection> self) { co_await self->main(); }
  void close() {
    std::error_code ec;
    timer_.cancel();
    sock_.close(ec);
  }

 private:
  asio::awaitable<void> main() {
    std::string buf;
    std::array<char, 1024> tmp;
    for (;;) {
      auto req = control::decode_request(buf);
      if (!req) {
        std::string out = control::encode_reply({false, req.error().message() + "\n"});
        (void)co_await asio::async_write(sock_, asio::buffer(out), kAwait);
        break;
      }
      if (*req) {
        LOG_INFO("CLI: %s", req->value().c_str());
        control::Reply r = run_command_line(**req, srv_->handler_);
        std::string out = control::encode_reply(r);
        auto [ec, n] = co_await asio::async_write(sock_, asio::buffer(out), kAwait);
        (void)n;
        if (ec) break;
        continue;
      }
      arm();
      auto [ec, n] = co_await sock_.async_read_some(asio::buffer(tmp), kAwait);
      if (ec) break;
      buf.append(tmp.data(), n);
    }
    close();
  }
  void arm() {
    timer_.expires_after(srv_->opts_.idle_timeout);
    timer_.async_wait([w = weak_from_this()](std::error_code ec) {
      if (ec) return;
      if (auto s = w.lock()) s->close();
    });
  }

  std::shared_ptr<CliServer> srv_;
  stream_protocol::socket sock_;
  asio::steady_timer timer_;
};

// ------------------------------------------------------------- server

CliServer::CliServer(asio::any_io_executor ex, CliOptions opts, CommandHandler handler)
    : ex_(ex), opts_(std::move(opts)), handler_(std::move(handler)), acceptor_(ex) {}

CliServer::~CliServer() = default;

Result<std::shared_ptr<CliServer>> CliServer::start(asio::any_io_executor ex, CliOptions opts,
                                                    CommandHandler handler) {
  std::shared_ptr<CliServer> s(new CliServer(ex, std::move(opts), std::move(handler)));
  TC_TRY_VOID(s->listen());
  asio::co_spawn(s->ex_, s->accept_loop(), [](std::exception_ptr e) {
    if (e) LOG_ERR("CLI: accept loop ended by an exception");
  });
  return s;
}

Status CliServer::listen() {
  const std::string &path = opts_.path;
  if (path.empty()) return Error(ErrorKind::kInvalidArgument, "cli-socket: empty path");
  if (path.size() >= sizeof(sockaddr_un::sun_path))
    return Error(ErrorKind::kInvalidArgument, "cli-socket " + path + ": path longer than " +
                                                  std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes");
  size_t slash = path.find_last_of('/');
  if (slash != std::string::npos && slash > 0) {
    auto st = make_dirs(path.substr(0, slash));
    if (!st) return std::move(st).error().context("cli-socket");
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return Error(ErrorKind::kIo, "cli-socket " + path + ": exists and is not a socket");
    if (socket_is_live(path))
      return Error(ErrorKind::kIo, "cli-socket " + path + ": in use by another process (is torclientd running?)");
    ::unlink(path.c_str());  // stale, from a daemon that died
  }
  std::error_code ec;
  stream_protocol::endpoint ep(path);
  if (acceptor_.open(ep.protocol(), ec); ec)
    return Error(ErrorKind::kIo, "cli-socket " + path + ": socket: " + ec.message());
  // Create the file 0600 from the start (no window where others may connect).
  mode_t old = ::umask(0177);
  acceptor_.bind(ep, ec);
  ::umask(old);
  if (ec) return Error(ErrorKind::kIo, "cli-socket " + path + ": bind: " + ec.message());
  ::chmod(path.c_str(), 0600);
  if (acceptor_.listen(asio::socket_base::max_listen_connections, ec); ec)
    return Error(ErrorKind::kIo, "cli-socket " + path + ": listen: " + ec.message());
  LOG_NOTICE("CLI socket open on %s", path.c_str());
  return {};
}

asio::awaitable<void> CliServer::accept_loop() {
  auto self = shared_from_this();
  for (;;) {
    auto [ec, sock] = co_await acceptor_.async_accept(kAwait);
    if (stopped_) break;
    if (ec) {
      if (ec == asio::error::operation_aborted) break;
      LOG_WARN("CLI: accept failed: %s", ec.message().c_str());
      asio::steady_timer t(ex_, std::chrono::milliseconds(100));
      (void)co_await t.async_wait(kAwait);
      continue;
    }
    if (conns_.size() >= opts_.max_clients) {
      std::string out = control::encode_reply({false, "too many CLI connections\n"});
      std::error_code ignored;
      asio::write(sock, asio::buffer(out), ignored);
      sock.close(ignored);
      continue;
    }
    auto c = std::make_shared<CliConnection>(self, std::move(sock));
    conns_.insert(c.get());
    asio::co_spawn(ex_, CliConnection::run(std::move(c)), [](std::exception_ptr e) {
      if (e) LOG_ERR("CLI: connection ended by an exception");
    });
  }
}

void CliServer::stop() {
  if (stopped_) return;
  stopped_ = true;
  std::error_code ec;
  acceptor_.close(ec);
  std::vector<std::shared_ptr<CliConnection>> open;
  for (CliConnection *c : conns_)
    if (auto sp = c->weak_from_this().lock()) open.push_back(std::move(sp));
  for (auto &c : open) c->close();
  ::unlink(opts_.path.c_str());
}

}  // namespace tc::app
