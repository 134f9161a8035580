// The public Tor network's directory authorities, built in. Used only when
// the configuration says `public-network` (src/daemon/config.h); nothing in
// this repository's tests, demo or example configs selects it.
#pragma once
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "netdoc/authority.h"

namespace tc::netdoc {

// One row of the table in public_authorities.cpp, as text fields.
struct PublicAuthorityEntry {
  std::string_view nickname;
  std::string_view v3ident;      // 40 hex digits: the authority's v3 signing identity
  std::string_view address;      // IPv4 dotted quad
  uint16_t dir_port;
  uint16_t or_port;
  std::string_view fingerprint;  // 40 hex digits: the relay's RSA identity
  std::string_view ipv6;         // "[addr]:port" or empty
};

// The table itself (for tests that cross-check it).
std::span<const PublicAuthorityEntry> public_authority_table();
// Where the table came from (the C tor version it was taken from).
std::string_view public_authority_source();
// The table as DirAuthority values (what a `dir-authority` line would give).
// The table is fixed and checked by tests, so this cannot fail at run time
// unless the table itself is broken: then an error naming the row.
Result<std::vector<DirAuthority>> public_authorities();

}  // namespace tc::netdoc
