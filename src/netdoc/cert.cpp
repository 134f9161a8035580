#include "netdoc/cert.h"

namespace tc::netdoc {

namespace {

enum CertRule : int {
  kVersion,
  kDirAddress,
  kFingerprint,
  kIdentityKey,
  kPublished,
  kExpires,
  kSigningKey,
  kCrosscert,
  kCertification,
};
constexpr KeywordRule kCertRules[] = {
    {"dir-key-certificate-version", 1, 1, 1, ObjectRule::kNone},
    {"dir-address", 0, 1, 1, ObjectRule::kNone},
    {"fingerprint", 1, 1, 1, ObjectRule::kNone},
    {"dir-identity-key", 1, 1, 0, ObjectRule::kRequired},
    {"dir-key-published", 1, 1, 2, ObjectRule::kNone},
    {"dir-key-expires", 1, 1, 2, ObjectRule::kNone},
    {"dir-signing-key", 1, 1, 0, ObjectRule::kRequired},
    {"dir-key-crosscert", 1, 1, 0, ObjectRule::kRequired},
    {"dir-key-certification", 1, 1, 0, ObjectRule::kRequired},
};

Result<crypto::RsaPublicKey> item_rsa_key(const Item &item) {
  if (item.object_label != "RSA PUBLIC KEY")
    return item_error(item, "expected an RSA PUBLIC KEY object, got '" + std::string(item.object_label) + "'");
  TC_TRY(Bytes der, item.object_bytes());
  auto key = crypto::RsaPublicKey::from_pkcs1_der(der);
  if (!key.ok()) return item_error(item, key.error().message());
  if (key->bits() < 1024) return item_error(item, "RSA key shorter than 1024 bits");
  return std::move(key).value();
}

Result<int64_t> item_time(const Item &item) {
  ArgReader r(item.args);
  auto d = r.next(), t = r.next();
  auto v = parse_iso_time(d.value_or(""), t.value_or(""));
  if (!v.ok()) return item_error(item, v.error().message());
  return *v;
}

}  // namespace

Result<AuthorityCert> AuthorityCert::parse(std::string_view text, size_t first_line) {
  Tokenizer tok(text, {.allow_annotations = false, .first_line = first_line, .what = "key certificate"});
  SectionChecker rules(kCertRules, "key certificate");
  Item item;
  std::optional<Item> items[std::size(kCertRules)];
  bool first = true;
  bool after_certification = false;
  for (;;) {
    TC_TRY(bool more, tok.next(item));
    if (!more) break;
    if (after_certification)
      return item_error(item, "item after dir-key-certification (which must be last, dir-spec §3.1)");
    TC_TRY(int idx, rules.see(item));
    if (first && idx != kVersion)
      return item_error(item, "a key certificate must start with dir-key-certificate-version");
    first = false;
    if (idx < 0) continue;  // unknown keyword: ignored (dir-spec §1.2)
    items[idx] = item;
    if (idx == kCertification) after_certification = true;
  }
  if (first) return Error(ErrorKind::kMalformed, "key certificate: empty document");
  TC_TRY_VOID(rules.finish(first_line));

  const Item &ver = *items[kVersion];
  if (ver.args != "3") return item_error(ver, "unsupported key certificate version '" + std::string(ver.args) + "'");

  const Item &fp_item = *items[kFingerprint];
  auto fp = hex_array<20>(ArgReader(fp_item.args).next().value_or(""));
  if (!fp) return item_error(fp_item, "fingerprint must be 40 hex digits");

  std::optional<AddrPort> dir_address;
  if (items[kDirAddress]) {
    AddrPort ap;
    if (!parse_addr_port(ArgReader(items[kDirAddress]->args).next().value_or(""), &ap))
      return item_error(*items[kDirAddress], "bad IP:port");
    dir_address = ap;
  }
  TC_TRY(int64_t published, item_time(*items[kPublished]));
  TC_TRY(int64_t expires, item_time(*items[kExpires]));
  TC_TRY(auto identity, item_rsa_key(*items[kIdentityKey]));
  TC_TRY(auto signing, item_rsa_key(*items[kSigningKey]));

  const Item &cc = *items[kCrosscert];
  if (cc.object_label != "ID SIGNATURE" && cc.object_label != "SIGNATURE")
    return item_error(cc, "expected an ID SIGNATURE object, got '" + std::string(cc.object_label) + "'");
  TC_TRY(Bytes crosscert, cc.object_bytes());
  const Item &cert_item = *items[kCertification];
  if (cert_item.object_label != "SIGNATURE")
    return item_error(cert_item, "expected a SIGNATURE object, got '" + std::string(cert_item.object_label) + "'");
  if (!cert_item.args.empty()) return item_error(cert_item, "takes no arguments");
  TC_TRY(Bytes certification, cert_item.object_bytes());

  // Signed: from the initial item through the NL after the signature keyword.
  const Item &first_item = ver;
  crypto::Sha1Digest signed_digest =
      crypto::sha1(as_bytes(text.substr(first_item.start, cert_item.line_end - first_item.start)));
  crypto::Sha1Digest signing_digest = signing.fingerprint();

  return AuthorityCert{
      .fingerprint = *fp,
      .published = published,
      .expires = expires,
      .identity_key = std::move(identity),
      .signing_key = std::move(signing),
      .signing_key_digest = signing_digest,
      .dir_address = dir_address,
      .crosscert = std::move(crosscert),
      .certification = std::move(certification),
      .signed_digest = signed_digest,
      .first_line = first_line,
  };
}

Status AuthorityCert::check_signatures() const {
  const std::string where = "key certificate at line " + std::to_string(first_line) + " (" +
                            hex_encode(fingerprint, true) + ")";
  crypto::Sha1Digest id_digest = identity_key.fingerprint();
  if (id_digest != fingerprint)
    return Error(ErrorKind::kCrypto, where + ": dir-identity-key hashes to " + hex_encode(id_digest, true) +
                                         ", not to the fingerprint line");
  // dir-spec §3.1: the signing key signs the SHA-1 digest of the identity key.
  if (!signing_key.verify_digest(id_digest, crosscert))
    return Error(ErrorKind::kCrypto, where + ": dir-key-crosscert is not a signature of the identity digest "
                                             "by the signing key");
  if (!identity_key.verify_digest(signed_digest, certification))
    return Error(ErrorKind::kCrypto, where + ": dir-key-certification signature does not verify with the "
                                             "identity key");
  return {};
}

Status AuthorityCert::check_time(int64_t now, int64_t skew) const {
  const std::string where = "key certificate at line " + std::to_string(first_line) + " (" +
                            hex_encode(fingerprint, true) + ")";
  if (now > expires)
    return Error(ErrorKind::kCrypto, where + ": expired at " + format_iso_time(expires) + " (now " +
                                         format_iso_time(now) + ")");
  if (published > now + skew)
    return Error(ErrorKind::kCrypto, where + ": published in the future (" + format_iso_time(published) +
                                         ", now " + format_iso_time(now) + ")");
  if (expires <= published)
    return Error(ErrorKind::kCrypto, where + ": expires before it was published");
  return {};
}

Status AuthorityCert::verify(int64_t now) const {
  TC_TRY_VOID(check_time(now));
  return check_signatures();
}

Result<std::vector<AuthorityCert>> parse_authority_certs(std::string_view text) {
  std::vector<AuthorityCert> out;
  Tokenizer tok(text, {.allow_annotations = false, .first_line = 1, .what = "key certificates"});
  Item item;
  bool in_cert = false;
  size_t start = 0, start_line = 0;
  for (;;) {
    TC_TRY(bool more, tok.next(item));
    if (!more) break;
    if (item.keyword == "dir-key-certificate-version") {
      if (in_cert) return item_error(item, "new certificate before the previous one's dir-key-certification");
      in_cert = true;
      start = item.start;
      start_line = item.line;
    } else if (!in_cert) {
      return item_error(item, "expected dir-key-certificate-version");
    } else if (item.keyword == "dir-key-certification") {
      TC_TRY(AuthorityCert c, AuthorityCert::parse(text.substr(start, item.end - start), start_line));
      out.push_back(std::move(c));
      in_cert = false;
    }
  }
  if (in_cert)
    return Error(ErrorKind::kMalformed, "key certificates: certificate at line " + std::to_string(start_line) +
                                            " has no dir-key-certification");
  return out;
}

}  // namespace tc::netdoc
