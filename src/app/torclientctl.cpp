// torclientctl -s SOCKET COMMAND...: sends one CLI command to torclientd
// over its unix socket (tc_control's wire encoding) and prints the reply.
//
// Exit codes: 0 OK reply (printed on stdout), 1 ERR reply (printed on
// stderr), 2 usage error, 3 cannot reach the daemon or a broken reply.
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "control/control.h"

namespace {

void usage(FILE *f) {
  std::fprintf(f,
               "usage: torclientctl [-s SOCKET] COMMAND...\n"
               "  -s, --socket SOCKET  torclientd's CLI socket (default /run/torclient/cli.sock)\n"
               "  -t, --timeout SECS   reply timeout (default 30)\n"
               "Commands (`help` lists them):\n%s",
               tc::control::help_text().c_str());
}

bool write_all(int fd, const std::string &s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = ::send(fd, s.data() + done, s.size() - done, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

int main(int argc, char **argv) {
  std::string socket_path = "/run/torclient/cli.sock";
  long timeout = 30;
  std::string command;
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "-s" || a == "--socket") && i + 1 < argc) {
      socket_path = argv[++i];
    } else if ((a == "-t" || a == "--timeout") && i + 1 < argc) {
      char *end = nullptr;
      timeout = std::strtol(argv[++i], &end, 10);
      if (!end || *end || timeout <= 0) {
        std::fprintf(stderr, "torclientctl: bad timeout '%s'\n", argv[i]);
        return 2;
      }
    } else if (a == "-h" || a == "--help") {
      usage(stdout);
      return 0;
    } else if (a == "--") {
      ++i;
      break;
    } else {
      break;
    }
  }
  for (; i < argc; ++i) {
    if (!command.empty()) command += ' ';
    command += argv[i];
  }
  if (command.empty()) {
    usage(stderr);
    return 2;
  }
  auto req = tc::control::encode_request(command);
  if (!req) {
    std::fprintf(stderr, "torclientctl: %s\n", req.error().message().c_str());
    return 2;
  }

  sockaddr_un sa{};
  if (socket_path.size() >= sizeof sa.sun_path) {
    std::fprintf(stderr, "torclientctl: socket path too long: %s\n", socket_path.c_str());
    return 2;
  }
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, socket_path.c_str(), socket_path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    std::fprintf(stderr, "torclientctl: socket: %s\n", std::strerror(errno));
    return 3;
  }
  if (::connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof sa) != 0) {
    std::fprintf(stderr, "torclientctl: cannot connect to %s: %s (is torclientd running?)\n", socket_path.c_str(),
                 std::strerror(errno));
    ::close(fd);
    return 3;
  }
  timeval tv{};
  tv.tv_sec = timeout;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (!write_all(fd, *req)) {
    std::fprintf(stderr, "torclientctl: sending to %s: %s\n", socket_path.c_str(), std::strerror(errno));
    ::close(fd);
    return 3;
  }
  std::string buf;
  char tmp[65536];
  for (;;) {
    auto r = tc::control::decode_reply(buf);
    if (!r) {
      std::fprintf(stderr, "torclientctl: %s\n", r.error().message().c_str());
      ::close(fd);
      return 3;
    }
    if (*r) {
      ::close(fd);
      const tc::control::Reply &reply = **r;
      std::fwrite(reply.text.data(), 1, reply.text.size(), reply.ok ? stdout : stderr);
      return reply.ok ? 0 : 1;
    }
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        std::fprintf(stderr, "torclientctl: no reply from %s within %ld s\n", socket_path.c_str(), timeout);
      else
        std::fprintf(stderr, "torclientctl: %s closed the connection before replying%s%s\n", socket_path.c_str(),
                     n < 0 ? ": " : "", n < 0 ? std::strerror(errno) : "");
      ::close(fd);
      return 3;
    }
    buf.append(tmp, static_cast<size_t>(n));
  }
}
