// Authority key certificates (src/netdoc/cert.h): parse_authority_certs and
// AuthorityCert::parse on the input; every certificate that parses has its
// signatures and times checked (what a client does before trusting it).
#include "fuzz_util.h"
#include "netdoc/cert.h"

using namespace tc;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::string_view text = fuzz::as_text(data, size);
  // 2022-11-19 10:30 UTC, when the seed certificates were current.
  constexpr int64_t kNow = 1668853800;
  auto certs = netdoc::parse_authority_certs(text);
  if (!certs) FUZZ_NOTE("certs: %s", certs.error().to_string().c_str());
  if (certs) {
    for (const auto &c : *certs) {
      auto st = c.check_signatures();
      FUZZ_NOTE("cert: signatures %s", st.ok() ? "good" : st.error().to_string().c_str());
      fuzz::consume(c.check_time(kNow));
    }
  }
  auto one = netdoc::AuthorityCert::parse(text);
  if (one) fuzz::consume(one->verify(kNow));
  return 0;
}
