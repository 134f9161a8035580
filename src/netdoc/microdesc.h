// Microdescriptors (dir-spec §3.3): the small per-relay documents clients
// fetch by the SHA-256 digest listed in the consensus "m" line.
#pragma once
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/crypto.h"
#include "netdoc/tokenize.h"

namespace tc::netdoc {

// An exit-policy summary ("p"/"p6", dir-spec §3.8.2): accept or reject a
// list of port ranges, for "most addresses".
class PortPolicy {
 public:
  struct Range {
    uint16_t lo, hi;
  };
  PortPolicy() = default;  // accepts nothing: "reject 1-65535"
  static PortPolicy reject_all() { return PortPolicy(); }
  // "accept 80,443,1000-2000" or "reject 1-65535".
  static Result<PortPolicy> parse(std::string_view summary);
  bool allows(uint16_t port) const;
  // Accepts at least one port.
  bool allows_some() const;
  bool is_accept() const { return accept_; }
  const std::vector<Range> &ranges() const { return ranges_; }
  std::string to_string() const;

 private:
  bool accept_ = true;         // with no ranges: accepts nothing
  std::vector<Range> ranges_;  // sorted, non-overlapping
};

struct Microdesc {
  Sha256Digest digest{};  // SHA-256 of the text from its first keyword through its last NL
  Bytes onion_key_der;    // legacy TAP key (PKCS#1 DER); empty if absent
  std::optional<std::array<uint8_t, 32>> ntor_onion_key;  // curve25519
  std::vector<AddrPort> addresses;                        // "a" lines
  // "family": $HEX entries as identities; other entries (nicknames) lower-cased.
  std::vector<Sha1Digest> family_ids;  // sorted
  std::vector<std::string> family_nicknames;
  PortPolicy ipv4_policy;  // "p"; absent means reject all
  PortPolicy ipv6_policy;  // "p6"; absent means reject all
  std::optional<std::array<uint8_t, 32>> ed25519_id;
  std::optional<Sha1Digest> rsa1024_id;
  size_t line = 0;  // first line of this microdescriptor in the input
  // Where its text (the digested part) lies in the input it was split from
  // by parse_microdescs[_lenient] (a response or the cache journal).
  size_t text_offset = 0;
  size_t text_length = 0;

  // `text` is exactly one microdescriptor (no annotations).
  static Result<Microdesc> parse(std::string_view text, size_t first_line = 1);
  // The legacy onion key, if present.
  Result<crypto::RsaPublicKey> onion_key() const;
  bool lists_in_family(const Sha1Digest &id, std::string_view nickname) const;
};

struct MicrodescBatch {
  std::vector<Microdesc> microdescs;
  std::vector<Error> errors;  // microdescriptors that did not parse (skipped)
};

// Splits a concatenation of microdescriptors (a /tor/micro/d/ response or the
// cached-microdescs journal, whose "@" annotation lines are skipped and are
// not part of any digest). Each starts at an "onion-key" line, or at an
// "ntor-onion-key" line not directly after "onion-key" (newer relays omit the
// legacy key). Strict: the first bad microdescriptor fails the whole parse.
Result<std::vector<Microdesc>> parse_microdescs(std::string_view text);
// Lenient: bad microdescriptors are skipped and reported.
MicrodescBatch parse_microdescs_lenient(std::string_view text);

// Compacting the cached-microdescs journal (what tor's
// microdesc_cache_rebuild does): `journal` is the text `mds` were split from
// (their text_offset/text_length point into it). Returns a new journal with
// only the microdescriptors whose digest is in `keep`, each once, in their
// order, without annotations or unparsable parts; and those microdescriptors
// with their offsets pointing into the new text.
struct CompactedJournal {
  std::string text;
  std::vector<Microdesc> microdescs;
};
CompactedJournal compact_microdesc_journal(std::string_view journal, std::vector<Microdesc> mds,
                                           const std::set<Sha256Digest> &keep);

}  // namespace tc::netdoc
