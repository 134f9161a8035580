#include "socks/socks.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace tc::socks {

namespace {

std::string hex_byte(uint8_t b) {
  char s[8];
  std::snprintf(s, sizeof s, "0x%02X", b);
  return s;
}

// Hostnames go to the exit verbatim; refuse bytes that no DNS name or
// address literal contains and that would confuse logs and BEGIN cells
// (NUL terminates the address in a BEGIN cell, tor-spec §6.2).
bool hostname_ok(ByteSpan name) {
  return std::none_of(name.begin(), name.end(), [](uint8_t c) { return c < 0x20 || c == 0x7F; });
}

uint16_t get_u16(const Bytes &b, size_t at) { return static_cast<uint16_t>((b[at] << 8) | b[at + 1]); }

}  // namespace

const char *command_name(Command c) {
  switch (c) {
    case Command::kConnect: return "CONNECT";
    case Command::kResolve: return "RESOLVE";
    case Command::kResolvePtr: return "RESOLVE_PTR";
  }
  return "?";
}

const char *socks5_reply_name(Socks5Reply r) {
  switch (r) {
    case Socks5Reply::kSucceeded: return "succeeded";
    case Socks5Reply::kGeneralFailure: return "general SOCKS server failure";
    case Socks5Reply::kNotAllowed: return "connection not allowed by ruleset";
    case Socks5Reply::kNetUnreachable: return "network unreachable";
    case Socks5Reply::kHostUnreachable: return "host unreachable";
    case Socks5Reply::kConnectionRefused: return "connection refused";
    case Socks5Reply::kTtlExpired: return "TTL expired";
    case Socks5Reply::kCommandNotSupported: return "command not supported";
    case Socks5Reply::kAddressTypeNotSupported: return "address type not supported";
  }
  return "unknown";
}

// ---- Address ---------------------------------------------------------------

Address Address::ipv4(std::array<uint8_t, 4> a) {
  Address r;
  r.type = Type::kIpv4;
  std::copy(a.begin(), a.end(), r.ip.begin());
  return r;
}
Address Address::ipv6(std::array<uint8_t, 16> a) {
  Address r;
  r.type = Type::kIpv6;
  r.ip = a;
  return r;
}
Address Address::host(std::string name) {
  Address r;
  r.type = Type::kHostname;
  r.hostname = std::move(name);
  return r;
}

std::string Address::to_string() const {
  char s[INET6_ADDRSTRLEN];
  switch (type) {
    case Type::kIpv4:
      inet_ntop(AF_INET, ip.data(), s, sizeof s);
      return s;
    case Type::kIpv6:
      inet_ntop(AF_INET6, ip.data(), s, sizeof s);
      return s;
    case Type::kHostname:
      return hostname;
  }
  return {};
}

bool Address::operator==(const Address &o) const {
  if (type != o.type) return false;
  switch (type) {
    case Type::kIpv4: return std::equal(ip.begin(), ip.begin() + 4, o.ip.begin());
    case Type::kIpv6: return ip == o.ip;
    case Type::kHostname: return hostname == o.hostname;
  }
  return false;
}

// ---- Handshake -------------------------------------------------------------

Error Handshake::fail(Bytes reply, ErrorKind kind, std::string msg) {
  state_ = State::kFailed;
  failure_reply_ = std::move(reply);
  return Error(kind, "SOCKS: " + std::move(msg));
}

Bytes Handshake::take_leftover() {
  if (state_ != State::kDone) return {};
  Bytes out;
  out.swap(buf_);
  return out;
}

Result<Handshake::Step> Handshake::feed(ByteSpan data) {
  if (state_ == State::kDone)
    return Error(ErrorKind::kInvalidArgument, "SOCKS: handshake already complete");
  if (state_ == State::kFailed)
    return Error(ErrorKind::kInvalidArgument, "SOCKS: handshake already failed");
  buf_.insert(buf_.end(), data.begin(), data.end());

  Step step;
  while (state_ != State::kDone) {
    auto r = parse_one(step);
    if (!r.ok()) {
      // Replies to earlier messages in this same read go out first.
      step.reply.insert(step.reply.end(), failure_reply_.begin(), failure_reply_.end());
      failure_reply_ = std::move(step.reply);
      return std::move(r).error();
    }
    if (*r == Parse::kNeedMore) break;
  }
  if (state_ == State::kDone) {
    step.done = true;
    return step;
  }
  if (buf_.size() > kMaxBufferedInput) {
    Bytes reply = std::move(step.reply);
    // Nothing legitimate is this long; answer in the client's dialect if known.
    if (state_ == State::kSocks5Request) {
      Bytes r5 = socks5_reply(Socks5Reply::kGeneralFailure);
      reply.insert(reply.end(), r5.begin(), r5.end());
    } else if (state_ == State::kSocks4) {
      Bytes r4 = socks4_reply(false);
      reply.insert(reply.end(), r4.begin(), r4.end());
    }
    return fail(std::move(reply), ErrorKind::kExhausted,
                "more than " + std::to_string(kMaxBufferedInput) +
                    " bytes buffered without a complete message");
  }
  return step;
}

Result<Handshake::Parse> Handshake::parse_one(Step &step) {
  switch (state_) {
    case State::kStart: {
      if (buf_.empty()) return Parse::kNeedMore;
      uint8_t v = buf_[0];
      if (v == 4) {
        state_ = State::kSocks4;
        return Parse::kProgress;
      }
      if (v == 5) {
        state_ = State::kSocks5Methods;
        return Parse::kProgress;
      }
      // socks-extensions.txt §4: GET/HEAD/POST/PUT/CONNECT means a client
      // configured to use us as an HTTP proxy; tell the user in HTML.
      if (v == 'G' || v == 'H' || v == 'P' || v == 'C') {
        auto page = http_not_a_proxy_response();
        return fail(Bytes(page.begin(), page.end()), ErrorKind::kMalformed,
                    "HTTP request on the SOCKS port (this is a SOCKS proxy, not an HTTP proxy)");
      }
      return fail({}, ErrorKind::kMalformed,
                  "unrecognized version byte " + hex_byte(v) + " (expected 4 or 5)");
    }
    case State::kSocks4: return parse_socks4();
    case State::kSocks5Methods: return parse_socks5_methods(step);
    case State::kSocks5Auth: return parse_socks5_auth(step);
    case State::kSocks5Request: return parse_socks5_request();
    case State::kDone:
    case State::kFailed: break;
  }
  return Parse::kNeedMore;
}

// SOCKS4: VN=4 CD DSTPORT(2) DSTIP(4) USERID NUL; SOCKS4a puts 0.0.0.x
// (x != 0) in DSTIP and appends HOSTNAME NUL.
Result<Handshake::Parse> Handshake::parse_socks4() {
  if (buf_.size() < 2) return Parse::kNeedMore;
  uint8_t cd = buf_[1];
  if (cd != static_cast<uint8_t>(Command::kConnect) && cd != static_cast<uint8_t>(Command::kResolve)) {
    // BIND (2) is not supported (socks-extensions.txt §1.1); RESOLVE_PTR is SOCKS5 only.
    return fail(socks4_reply(false), ErrorKind::kProtocol,
                "unsupported SOCKS4 command " + hex_byte(cd));
  }
  if (buf_.size() < 8) return Parse::kNeedMore;
  uint16_t port = get_u16(buf_, 2);
  std::array<uint8_t, 4> ip{buf_[4], buf_[5], buf_[6], buf_[7]};

  auto field_end = [&](size_t from) -> std::optional<size_t> {
    auto it = std::find(buf_.begin() + static_cast<ptrdiff_t>(from), buf_.end(), uint8_t{0});
    if (it == buf_.end()) return std::nullopt;
    return static_cast<size_t>(it - buf_.begin());
  };
  auto uid_end = field_end(8);
  if (!uid_end) {
    if (buf_.size() - 8 > kMaxSocks4Field)
      return fail(socks4_reply(false), ErrorKind::kMalformed,
                  "SOCKS4 user id longer than " + std::to_string(kMaxSocks4Field) + " bytes");
    return Parse::kNeedMore;
  }
  if (*uid_end - 8 > kMaxSocks4Field)
    return fail(socks4_reply(false), ErrorKind::kMalformed,
                "SOCKS4 user id longer than " + std::to_string(kMaxSocks4Field) + " bytes");

  Request req;
  req.version = 4;
  req.command = static_cast<Command>(cd);
  req.port = port;
  std::string uid(buf_.begin() + 8, buf_.begin() + static_cast<ptrdiff_t>(*uid_end));
  if (!uid.empty()) req.auth = Credentials{std::move(uid), {}};
  size_t consumed = *uid_end + 1;

  bool is4a = ip[0] == 0 && ip[1] == 0 && ip[2] == 0 && ip[3] != 0;
  if (is4a) {
    size_t host_start = consumed;
    auto host_end = field_end(host_start);
    if (!host_end) {
      if (buf_.size() - host_start > kMaxSocks4Field)
        return fail(socks4_reply(false), ErrorKind::kMalformed,
                    "SOCKS4a hostname longer than " + std::to_string(kMaxSocks4Field) + " bytes");
      return Parse::kNeedMore;
    }
    size_t len = *host_end - host_start;
    if (len == 0) return fail(socks4_reply(false), ErrorKind::kMalformed, "SOCKS4a: empty hostname");
    if (len > kMaxSocks4Field)
      return fail(socks4_reply(false), ErrorKind::kMalformed,
                  "SOCKS4a hostname longer than " + std::to_string(kMaxSocks4Field) + " bytes");
    ByteSpan name(buf_.data() + host_start, len);
    if (!hostname_ok(name))
      return fail(socks4_reply(false), ErrorKind::kMalformed,
                  "SOCKS4a hostname contains control characters");
    req.socks4a = true;
    req.address = Address::host(std::string(as_string_view(name)));
    consumed = *host_end + 1;
  } else {
    req.address = Address::ipv4(ip);
  }
  request_ = std::move(req);
  buf_.erase(buf_.begin(), buf_.begin() + static_cast<ptrdiff_t>(consumed));
  state_ = State::kDone;
  return Parse::kProgress;
}

// RFC 1928 §3: VER=5 NMETHODS METHODS...; we answer VER METHOD.
Result<Handshake::Parse> Handshake::parse_socks5_methods(Step &step) {
  if (buf_.size() < 2) return Parse::kNeedMore;
  size_t n = buf_[1];
  if (n == 0) return fail({5, 0xFF}, ErrorKind::kMalformed, "SOCKS5: client offered no methods");
  if (buf_.size() < 2 + n) return Parse::kNeedMore;
  bool noauth = false, userpass = false;
  for (size_t i = 0; i < n; ++i) {
    if (buf_[2 + i] == 0x00) noauth = true;
    if (buf_[2 + i] == 0x02) userpass = true;
  }
  buf_.erase(buf_.begin(), buf_.begin() + static_cast<ptrdiff_t>(2 + n));
  // Prefer username/password when offered, as tor does, so that the
  // credentials can isolate streams (IsolateSOCKSAuth).
  if (userpass) {
    step.reply.insert(step.reply.end(), {5, 0x02});
    auth_chosen_ = true;
    state_ = State::kSocks5Auth;
  } else if (noauth) {
    step.reply.insert(step.reply.end(), {5, 0x00});
    state_ = State::kSocks5Request;
  } else {
    // RFC 1928 §3: X'FF' NO ACCEPTABLE METHODS; the client must close.
    return fail({5, 0xFF}, ErrorKind::kRefused,
                "SOCKS5: client offered neither no-auth (0x00) nor username/password (0x02)");
  }
  return Parse::kProgress;
}

// RFC 1929 §2: VER=1 ULEN UNAME PLEN PASSWD; we answer VER STATUS. Tor
// accepts empty username and password (socks-extensions.txt §1.1).
Result<Handshake::Parse> Handshake::parse_socks5_auth(Step &step) {
  if (buf_.empty()) return Parse::kNeedMore;
  if (buf_[0] != 0x01)
    return fail({0x01, 0x01}, ErrorKind::kMalformed,
                "SOCKS5 username/password: bad sub-negotiation version " + hex_byte(buf_[0]) +
                    " (expected 0x01)");
  if (buf_.size() < 2) return Parse::kNeedMore;
  size_t ulen = buf_[1];
  if (buf_.size() < 2 + ulen + 1) return Parse::kNeedMore;
  size_t plen = buf_[2 + ulen];
  size_t total = 3 + ulen + plen;
  if (buf_.size() < total) return Parse::kNeedMore;
  Credentials c;
  c.username.assign(buf_.begin() + 2, buf_.begin() + static_cast<ptrdiff_t>(2 + ulen));
  c.password.assign(buf_.begin() + static_cast<ptrdiff_t>(3 + ulen),
                    buf_.begin() + static_cast<ptrdiff_t>(total));
  request_.auth = std::move(c);
  buf_.erase(buf_.begin(), buf_.begin() + static_cast<ptrdiff_t>(total));
  step.reply.insert(step.reply.end(), {0x01, 0x00});
  state_ = State::kSocks5Request;
  return Parse::kProgress;
}

// RFC 1928 §4: VER=5 CMD RSV ATYP DST.ADDR DST.PORT.
Result<Handshake::Parse> Handshake::parse_socks5_request() {
  if (buf_.empty()) return Parse::kNeedMore;
  // socks-extensions.txt §1.1: tor accepts a username/password message even
  // when no-auth was chosen (broken clients send it anyway).
  if (buf_[0] == 0x01 && !auth_chosen_ && !request_.auth) {
    state_ = State::kSocks5Auth;
    return Parse::kProgress;
  }
  if (buf_[0] != 0x05)
    return fail(socks5_reply(Socks5Reply::kGeneralFailure), ErrorKind::kMalformed,
                "SOCKS5 request: bad version byte " + hex_byte(buf_[0]) + " (expected 0x05)");
  if (buf_.size() < 2) return Parse::kNeedMore;
  uint8_t cmd = buf_[1];
  if (cmd != 0x01 && cmd != 0xF0 && cmd != 0xF1) {
    const char *what = cmd == 0x02 ? " (BIND)" : cmd == 0x03 ? " (UDP ASSOCIATE)" : "";
    return fail(socks5_reply(Socks5Reply::kCommandNotSupported), ErrorKind::kProtocol,
                "unsupported SOCKS5 command " + hex_byte(cmd) + what);
  }
  if (buf_.size() < 4) return Parse::kNeedMore;
  // RSV (buf_[2]) is ignored, as most servers do.
  uint8_t atyp = buf_[3];
  size_t addr_len;
  size_t addr_off = 4;
  if (atyp == 0x01) {
    addr_len = 4;
  } else if (atyp == 0x04) {
    addr_len = 16;
  } else if (atyp == 0x03) {
    if (buf_.size() < 5) return Parse::kNeedMore;
    addr_len = buf_[4];
    addr_off = 5;
    if (addr_len == 0)
      return fail(socks5_reply(Socks5Reply::kGeneralFailure), ErrorKind::kMalformed,
                  "SOCKS5 request: empty hostname");
  } else {
    return fail(socks5_reply(Socks5Reply::kAddressTypeNotSupported), ErrorKind::kProtocol,
                "unsupported SOCKS5 address type " + hex_byte(atyp));
  }
  size_t total = addr_off + addr_len + 2;
  if (buf_.size() < total) return Parse::kNeedMore;

  Request req;
  req.version = 5;
  req.command = static_cast<Command>(cmd);
  req.auth = std::move(request_.auth);
  ByteSpan a(buf_.data() + addr_off, addr_len);
  if (atyp == 0x01) {
    req.address = Address::ipv4({a[0], a[1], a[2], a[3]});
  } else if (atyp == 0x04) {
    std::array<uint8_t, 16> ip6;
    std::copy(a.begin(), a.end(), ip6.begin());
    req.address = Address::ipv6(ip6);
  } else {
    if (!hostname_ok(a))
      return fail(socks5_reply(Socks5Reply::kGeneralFailure), ErrorKind::kMalformed,
                  "SOCKS5 request: hostname contains control characters");
    req.address = Address::host(std::string(as_string_view(a)));
  }
  req.port = get_u16(buf_, addr_off + addr_len);
  request_ = std::move(req);
  buf_.erase(buf_.begin(), buf_.begin() + static_cast<ptrdiff_t>(total));
  state_ = State::kDone;
  return Parse::kProgress;
}

// ---- Replies ---------------------------------------------------------------

Bytes socks5_reply(Socks5Reply rep, const Address &bound, uint16_t bound_port) {
  Writer w;
  w.u8(5);
  w.u8(static_cast<uint8_t>(rep));
  w.u8(0);
  switch (bound.type) {
    case Address::Type::kIpv4:
      w.u8(0x01);
      w.bytes(ByteSpan(bound.ip.data(), 4));
      break;
    case Address::Type::kIpv6:
      w.u8(0x04);
      w.bytes(ByteSpan(bound.ip.data(), 16));
      break;
    case Address::Type::kHostname: {
      size_t len = std::min<size_t>(bound.hostname.size(), 255);
      w.u8(0x03);
      w.u8(static_cast<uint8_t>(len));
      w.bytes(std::string_view(bound.hostname).substr(0, len));
      break;
    }
  }
  w.u16(bound_port);
  return w.take();
}

Bytes socks4_reply(bool granted, std::array<uint8_t, 4> ip, uint16_t port) {
  Writer w;
  w.u8(0);  // VN is 0 in replies
  w.u8(granted ? kSocks4Granted : kSocks4Rejected);
  w.u16(port);
  w.bytes(ByteSpan(ip.data(), ip.size()));
  return w.take();
}

Bytes connect_reply(const Request &req, Socks5Reply rep, const Address &bound, uint16_t bound_port) {
  if (req.version == 4) return socks4_reply(rep == Socks5Reply::kSucceeded);
  return socks5_reply(rep, bound, bound_port);
}

Bytes resolve_reply(const Request &req, const Address &answer) {
  if (req.version == 4) {
    if (answer.type != Address::Type::kIpv4) return socks4_reply(false);
    return socks4_reply(true, {answer.ip[0], answer.ip[1], answer.ip[2], answer.ip[3]}, 0);
  }
  if (answer.is_hostname() && (answer.hostname.empty() || answer.hostname.size() > 255))
    return socks5_reply(Socks5Reply::kHostUnreachable);
  return socks5_reply(Socks5Reply::kSucceeded, answer, 0);
}

Bytes resolve_failed_reply(const Request &req, Socks5Reply rep) {
  if (req.version == 4) return socks4_reply(false);
  if (rep == Socks5Reply::kSucceeded) rep = Socks5Reply::kGeneralFailure;
  return socks5_reply(rep);
}

Socks5Reply end_reason_to_socks5_reply(uint8_t end_reason) {
  switch (end_reason) {
    case 0: return Socks5Reply::kSucceeded;
    case 1: return Socks5Reply::kGeneralFailure;       // MISC
    case 2: return Socks5Reply::kHostUnreachable;      // RESOLVEFAILED
    case 3: return Socks5Reply::kConnectionRefused;    // CONNECTREFUSED
    case 4: return Socks5Reply::kNotAllowed;           // EXITPOLICY
    case 5: return Socks5Reply::kGeneralFailure;       // DESTROY
    // DONE before CONNECTED: the exit closed before the stream opened.
    case 6: return Socks5Reply::kConnectionRefused;    // DONE
    case 7: return Socks5Reply::kTtlExpired;           // TIMEOUT
    case 8: return Socks5Reply::kHostUnreachable;      // NOROUTE
    case 9: return Socks5Reply::kGeneralFailure;       // HIBERNATING
    case 10: return Socks5Reply::kGeneralFailure;      // INTERNAL
    case 11: return Socks5Reply::kGeneralFailure;      // RESOURCELIMIT
    case 12: return Socks5Reply::kConnectionRefused;   // CONNRESET
    case 13: return Socks5Reply::kGeneralFailure;      // TORPROTOCOL
    case 14: return Socks5Reply::kGeneralFailure;      // NOTDIRECTORY
    default: return Socks5Reply::kGeneralFailure;
  }
}

std::string_view http_not_a_proxy_response() {
  static constexpr std::string_view kPage =
      "HTTP/1.0 501 Tor is not an HTTP Proxy\r\n"
      "Content-Type: text/html; charset=iso-8859-1\r\n"
      "\r\n"
      "<html>\n"
      "<head>\n"
      "<title>This is a SOCKS Proxy, Not An HTTP Proxy</title>\n"
      "</head>\n"
      "<body>\n"
      "<h1>This is a SOCKS proxy, not an HTTP proxy.</h1>\n"
      "<p>\n"
      "It appears you have configured your web browser to use this Tor port as\n"
      "an HTTP proxy. This is not correct: this port is a SOCKS proxy. Please\n"
      "configure your client accordingly.\n"
      "</p>\n"
      "</body>\n"
      "</html>\n";
  return kPage;
}

}  // namespace tc::socks
