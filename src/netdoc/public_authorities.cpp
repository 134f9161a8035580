#include "netdoc/public_authorities.h"

namespace tc::netdoc {

namespace {

// The public network's v3 directory authorities as C tor 0.4.9.11 has them
// built in (its src/app/config/auth_dirs.inc, the list compiled into Debian's
// tor 0.4.9.11-0+deb12u1), written out here as our own table. C tor's list
// also holds the bridge authority "Serge" (flag `bridge`, no v3ident); a
// client that uses no bridges never asks it, so it is not in this table.
//
// Cross-checked by tests/unit/netdoc/public_authorities_test.cpp against the
// real 2022-11-19 consensus and certificates in
// ../shared/testdata/public-network-2022-11/ and, where installed, against the
// strings in the tor binary itself. Since 2022, moria1 and tor26 have new
// v3 identities and relay keys (moria1 also new ports, tor26 a new address),
// Faravahar was replaced by "faravahar" on a new address and keys, and dizum
// moved to a new address; the test names exactly these differences.
constexpr PublicAuthorityEntry kTable[] = {
    {"moria1", "F533C81CEF0BC0267857C99B2F471ADF249FA232", "128.31.0.39", 9231, 9201,
     "1A25C6358DB91342AA51720A5038B72742732498", ""},
    {"tor26", "2F3DF9CA0E5D36F2685A2DA67184EB8DCB8CBA8C", "217.196.147.77", 80, 443,
     "FAA4BCA4A6AC0FB4CA2F8AD5A11D9E122BA894F6", "[2a02:16a8:662:2203::1]:443"},
    {"dizum", "E8A9C45EDE6D711294FADF8E7951F4DE6CA56B58", "45.66.35.11", 80, 443,
     "7EA6EAD6FD83083C538F44038BBFA077587DD755", ""},
    {"gabelmoo", "ED03BB616EB2F60BEC80151114BB25CEF515B226", "131.188.40.189", 80, 443,
     "F2044413DAC2E02E3D6BCF4735A19BCA1DE97281", "[2001:638:a000:4140::ffff:189]:443"},
    {"dannenberg", "0232AF901C31A04EE9848595AF9BB7620D4C5B2E", "193.23.244.244", 80, 443,
     "7BE683E65D48141321C5ED92F075C55364AC7123", "[2001:678:558:1000::244]:443"},
    {"maatuska", "49015F787433103580E3B66A1707A00E60F2D15B", "171.25.193.9", 443, 80,
     "BD6A829255CB08E66FBE7D3748363586E46B3810", "[2001:67c:289c::9]:80"},
    {"longclaw", "23D15D965BC35114467363C165C4F724B64B4F66", "199.58.81.140", 80, 443,
     "74A910646BCEEFBCD2E874FC1DC997430F968145", ""},
    {"bastet", "27102BC123E7AF1D4741AE047E160C91ADC76B21", "204.13.164.118", 80, 443,
     "24E2F139121D4394C54B5BCC368B3B411857C413", "[2620:13:4000:6000::1000:118]:443"},
    {"faravahar", "70849B868D606BAECFB6128C5E3D782029AA394F", "216.218.219.41", 80, 443,
     "E3E42D35F801C9D5AB23584E0025D56FE2B33396", ""},
};

}  // namespace

std::span<const PublicAuthorityEntry> public_authority_table() { return kTable; }

std::string_view public_authority_source() {
  return "C tor 0.4.9.11, src/app/config/auth_dirs.inc (v3 authorities only)";
}

Result<std::vector<DirAuthority>> public_authorities() {
  std::vector<DirAuthority> out;
  for (const auto &e : kTable) {
    auto bad = [&](const char *what) {
      return Error(ErrorKind::kInternal, "built-in authority " + std::string(e.nickname) + ": bad " + what);
    };
    DirAuthority d;
    d.nickname = std::string(e.nickname);
    if (!parse_ipv4(e.address, &d.ipv4)) return bad("address");
    d.address = std::string(e.address);
    d.dir_port = e.dir_port;
    d.or_port = e.or_port;
    auto v3 = hex_array<20>(e.v3ident);
    if (!v3) return bad("v3ident");
    d.v3ident = *v3;
    auto fp = hex_array<20>(e.fingerprint);
    if (!fp) return bad("fingerprint");
    d.rsa_identity = *fp;
    if (!e.ipv6.empty()) {
      AddrPort ap;
      if (!parse_addr_port(e.ipv6, &ap) || !ap.is_ipv6) return bad("ipv6");
      d.ipv6 = ap;
    }
    // C tor's lines carry no flags besides orport/v3ident/ipv6: v2 and hs
    // keep their defaults.
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace tc::netdoc
