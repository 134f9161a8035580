// Directory authority lines in tor's torrc syntax ("DirAuthority", also our
// config's "dir-authority"):
//   nickname [flags...] address:dirport fingerprint
// flags: orport=N v3ident=HEX40 ipv6=[addr]:port weight=N no-v2 v1 hs no-hs
// bridge. The fingerprint is 40 hex digits, possibly in groups of 4.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "netdoc/tokenize.h"

namespace tc::netdoc {

struct DirAuthority {
  std::string nickname;
  std::string address;  // as written (IPv4 dotted quad)
  uint32_t ipv4 = 0;
  uint16_t dir_port = 0;
  uint16_t or_port = 0;
  std::optional<Sha1Digest> v3ident;  // absent for bridge authorities
  Sha1Digest rsa_identity{};          // the relay identity fingerprint
  std::optional<AddrPort> ipv6;
  double weight = 1.0;
  bool bridge = false;
  bool v2 = true;
  bool hs = true;
  std::vector<std::string> unknown_flags;  // tor warns and ignores these

  static Result<DirAuthority> parse(std::string_view line);
  std::string to_string() const;
};

// The v3 identities of the authorities that sign consensuses.
std::vector<Sha1Digest> v3_identities(const std::vector<DirAuthority> &auths);

}  // namespace tc::netdoc
