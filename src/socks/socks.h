// Server side of the SOCKS handshake, without I/O: feed the bytes a client
// sends, get back the bytes to answer and, at the end, the Request.
//
// Protocols: SOCKS4 and SOCKS4a (de-facto specs), SOCKS5 (RFC 1928) with
// username/password authentication (RFC 1929), and Tor's extensions
// (torspec socks-extensions.txt): RESOLVE [F0], RESOLVE_PTR [F1], the HTTP
// page for browsers pointed at the SOCKS port (§4), optimistic data (§5:
// bytes after the request are kept as leftover, never dropped).
//
// Hostnames are passed through untouched: they must never be resolved
// locally (that would leak the destination to the local DNS server).
//
// Usage:
//   Handshake hs;
//   auto step = hs.feed(bytes_read);
//   if (!step) { send(hs.failure_reply()); close(); }   // may be empty
//   else { send(step->reply); if (step->done) use hs.request(), hs.take_leftover(); }
// Later, when the stream opens or fails, answer with connect_reply() /
// resolve_reply() / resolve_failed_reply().
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "util/bytes.h"
#include "util/error.h"

namespace tc::socks {

enum class Command : uint8_t {
  kConnect = 0x01,
  kResolve = 0xF0,     // socks-extensions.txt §2 (SOCKS4/4a/5)
  kResolvePtr = 0xF1,  // socks-extensions.txt §2 (SOCKS5 only)
};
const char *command_name(Command c);

// SOCKS5 REP codes (RFC 1928 §6).
enum class Socks5Reply : uint8_t {
  kSucceeded = 0x00,
  kGeneralFailure = 0x01,
  kNotAllowed = 0x02,
  kNetUnreachable = 0x03,
  kHostUnreachable = 0x04,
  kConnectionRefused = 0x05,
  kTtlExpired = 0x06,
  kCommandNotSupported = 0x07,
  kAddressTypeNotSupported = 0x08,
};

// SOCKS4 CD codes in replies.
inline constexpr uint8_t kSocks4Granted = 0x5A;
inline constexpr uint8_t kSocks4Rejected = 0x5B;

struct Address {
  enum class Type : uint8_t { kIpv4, kIpv6, kHostname };
  Type type = Type::kIpv4;
  std::array<uint8_t, 16> ip{};  // first 4 bytes for IPv4, network order
  std::string hostname;          // only for kHostname

  static Address ipv4(std::array<uint8_t, 4> a);
  static Address ipv6(std::array<uint8_t, 16> a);
  static Address host(std::string name);
  bool is_hostname() const { return type == Type::kHostname; }
  // "1.2.3.4", "[2001:db8::1]" style without brackets ("2001:db8::1"), or the hostname.
  std::string to_string() const;
  bool operator==(const Address &o) const;
};

struct Credentials {
  std::string username;  // may contain any bytes; may be empty (tor allows it)
  std::string password;
  bool operator==(const Credentials &o) const = default;
};

struct Request {
  uint8_t version = 5;  // 4 or 5
  bool socks4a = false;  // SOCKS4 with 0.0.0.x + hostname
  Command command = Command::kConnect;
  Address address;
  uint16_t port = 0;
  // SOCKS5: RFC 1929 username/password. SOCKS4/4a: the user id as username
  // (empty password), when non-empty. Used for stream isolation, like tor's
  // IsolateSOCKSAuth.
  std::optional<Credentials> auth;
};

// Input bound: bytes we buffer while the handshake is incomplete. The
// largest legitimate SOCKS5 message is 513 bytes (RFC 1929 auth); SOCKS4
// user ids and hostnames are NUL-terminated, so without a bound a client
// could make us buffer forever.
inline constexpr size_t kMaxBufferedInput = 1024;
// Longest SOCKS4 user id / SOCKS4a hostname we accept (SOCKS5 fields are
// at most 255 by construction).
inline constexpr size_t kMaxSocks4Field = 255;

class Handshake {
 public:
  struct Step {
    Bytes reply;        // send this to the client now (may be empty)
    bool done = false;  // the request is complete: see request(), take_leftover()
  };

  // Feed newly read bytes (any split, any amount). On error the handshake
  // is dead: send failure_reply() (may be empty) and close the connection.
  // Feeding after done or after an error is an error.
  Result<Step> feed(ByteSpan data);

  bool done() const { return state_ == State::kDone; }
  bool failed() const { return state_ == State::kFailed; }
  const Request &request() const { return request_; }
  // Bytes the client sent after its request (optimistic data, §5).
  Bytes take_leftover();
  // Bytes to send before closing after feed() failed: a SOCKS error reply,
  // the "Tor is not an HTTP Proxy" page, or nothing.
  const Bytes &failure_reply() const { return failure_reply_; }

 private:
  enum class State : uint8_t {
    kStart,          // waiting for the version byte
    kSocks4,         // SOCKS4/4a request
    kSocks5Methods,  // SOCKS5 method negotiation
    kSocks5Auth,     // RFC 1929 sub-negotiation (0x02 chosen)
    kSocks5Request,  // SOCKS5 request
    kDone,
    kFailed,
  };
  enum class Parse : uint8_t { kNeedMore, kProgress };

  Result<Parse> parse_one(Step &step);
  Result<Parse> parse_socks4();
  Result<Parse> parse_socks5_methods(Step &step);
  Result<Parse> parse_socks5_auth(Step &step);
  Result<Parse> parse_socks5_request();
  Error fail(Bytes reply, ErrorKind kind, std::string msg);

  State state_ = State::kStart;
  bool auth_chosen_ = false;  // method 0x02 negotiated
  Bytes buf_;                 // unconsumed input
  Request request_;
  Bytes failure_reply_;
};

// ---- Replies ---------------------------------------------------------------

// SOCKS5 reply: VER=5 REP RSV=0 ATYP BND.ADDR BND.PORT (RFC 1928 §6).
// A hostname longer than 255 bytes is truncated to fit.
Bytes socks5_reply(Socks5Reply rep, const Address &bound = Address::ipv4({0, 0, 0, 0}),
                   uint16_t bound_port = 0);
// SOCKS4 reply: VN=0 CD DSTPORT DSTIP (8 bytes).
Bytes socks4_reply(bool granted, std::array<uint8_t, 4> ip = {0, 0, 0, 0}, uint16_t port = 0);

// Answer to a CONNECT in the request's own version: SOCKS5 with `rep` (and
// the bound address, 0.0.0.0:0 by default, as tor does), SOCKS4 with
// granted (rep == kSucceeded) or rejected.
Bytes connect_reply(const Request &req, Socks5Reply rep,
                    const Address &bound = Address::ipv4({0, 0, 0, 0}), uint16_t bound_port = 0);
// Successful RESOLVE / RESOLVE_PTR answer, as tor builds it: SOCKS5 puts the
// answer (IPv4, IPv6 or hostname for PTR) in BND.ADDR with port 0; SOCKS4 can
// only carry IPv4 and answers anything else with "rejected".
Bytes resolve_reply(const Request &req, const Address &answer);
Bytes resolve_failed_reply(const Request &req, Socks5Reply rep = Socks5Reply::kHostUnreachable);

// Tor's RELAY_END reasons (tor-spec §6.3) to the SOCKS5 REP code sent to
// the client, as C tor's stream_end_reason_to_socks5_response (reasons.c).
Socks5Reply end_reason_to_socks5_reply(uint8_t end_reason);
const char *socks5_reply_name(Socks5Reply r);

// The page returned to HTTP clients (socks-extensions.txt §4).
std::string_view http_not_a_proxy_response();

}  // namespace tc::socks
