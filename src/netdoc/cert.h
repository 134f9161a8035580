// Directory authority key certificates (dir-spec §3.1): an authority's
// long-term identity key certifies a medium-term signing key, which signs
// consensus documents.
#pragma once
#include <optional>
#include <string_view>
#include <vector>

#include "crypto/crypto.h"
#include "netdoc/tokenize.h"

namespace tc::netdoc {

struct AuthorityCert {
  Sha1Digest fingerprint{};  // the "fingerprint" line: the authority's v3 identity
  int64_t published = 0;     // dir-key-published
  int64_t expires = 0;       // dir-key-expires
  crypto::RsaPublicKey identity_key;
  crypto::RsaPublicKey signing_key;
  Sha1Digest signing_key_digest{};  // SHA-1 of the signing key's DER, as in directory-signature lines
  std::optional<AddrPort> dir_address;
  Bytes crosscert;      // dir-key-crosscert signature
  Bytes certification;  // dir-key-certification signature
  // SHA-1 of the text from "dir-key-certificate-version" through the newline
  // after "dir-key-certification" (dir-spec §1.3): what the identity key signed.
  Sha1Digest signed_digest{};
  size_t first_line = 1;  // where this certificate starts in the text it came from

  // One certificate. Structure only; call verify() before trusting it.
  static Result<AuthorityCert> parse(std::string_view text, size_t first_line = 1);

  // The identity key hashes to `fingerprint`, the signing key cross-certifies
  // the identity, and the identity key signs the document.
  Status check_signatures() const;
  // Published no later than now + skew, not expired at now.
  Status check_time(int64_t now, int64_t skew = kDefaultSkew) const;
  Status verify(int64_t now) const;
  bool is_valid_at(int64_t now) const { return verify(now).ok(); }

  // Tolerated clock skew on dir-key-published (spec: implementations MAY
  // tolerate some skew).
  static constexpr int64_t kDefaultSkew = 24 * 60 * 60;
};

// A concatenation of certificates, as served at /tor/keys/all and cached in
// "cached-certs". Any malformed certificate fails the whole parse (with its
// line number); signatures are not checked here.
Result<std::vector<AuthorityCert>> parse_authority_certs(std::string_view text);

}  // namespace tc::netdoc
