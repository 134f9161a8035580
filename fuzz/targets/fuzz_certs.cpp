// CERTS cells and Ed25519 certificates (src/crypto/link_certs.h,
// tor_cert.h). The same input goes to:
//   parse_certs_cell, then per entry parse_tor_cert + verify_tor_cert
//   (types 4-6) or parse_rsa_ed_crosscert (type 7);
//   validate_relay_certs with the TLS certificate captured together with the
//   seed CERTS payload (tests/unit/handshake/data), "as of" its capture time,
//   so mutations of the real payload get deep into the validation;
//   parse_tor_cert / parse_rsa_ed_crosscert on the whole input.
#include <ctime>

#include "crypto/link_certs.h"
#include "crypto/tor_cert.h"
#include "fuzz_util.h"

using namespace tc;

namespace {
std::string g_tls_cert;
time_t g_now = 0;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  g_tls_cert = fuzz::source_file("tests/unit/handshake/data/tls_cert.der");
  g_now = static_cast<time_t>(std::stoll(fuzz::source_file("tests/unit/handshake/data/capture_time.txt")));
  return 0;
}

static void one_cert(ByteSpan body) {
  auto c = crypto::parse_tor_cert(body);
  if (!c) {
    FUZZ_NOTE("tor cert: %s", c.error().to_string().c_str());
    return;
  }
  FUZZ_CHECK(c->signed_part.size() + 64 == body.size());
  auto st = verify_tor_cert(*c, {}, g_now);
  FUZZ_NOTE("tor cert type %d: %s", c->cert_type, st.ok() ? "good" : st.error().to_string().c_str());
  fuzz::consume(verify_tor_cert(*c, c->certified_key, g_now));
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ByteSpan in(data, size);
  auto entries = crypto::parse_certs_cell(in);
  if (entries) {
    for (const auto &e : *entries) {
      FUZZ_CHECK(e.body.data() >= in.data() && e.body.data() + e.body.size() <= in.data() + in.size());
      if (e.cert_type >= crypto::kCertsTypeEdIdSigning && e.cert_type <= crypto::kCertsTypeEdSigningAuth)
        one_cert(e.body);
      else if (e.cert_type == crypto::kCertsTypeRsaEdCross)
        fuzz::consume(crypto::parse_rsa_ed_crosscert(e.body));
    }
    auto id = crypto::validate_relay_certs(in, as_bytes(g_tls_cert), g_now);
    FUZZ_NOTE("certs cell: %zu entries, validation %s", entries->size(),
              id ? "good" : id.error().to_string().c_str());
    fuzz::consume(id);
  }
  one_cert(in);
  fuzz::consume(crypto::parse_rsa_ed_crosscert(in));
  return 0;
}
