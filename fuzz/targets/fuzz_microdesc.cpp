// Microdescriptors (src/netdoc/microdesc.h): parse_microdescs (strict),
// parse_microdescs_lenient (what the client uses on a fetched batch), the
// onion key of each, and PortPolicy::parse on the whole input (the "p"
// summary syntax) with a to_string round trip.
#include "fuzz_util.h"
#include "netdoc/microdesc.h"

using namespace tc;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::string_view text = fuzz::as_text(data, size);
  auto strict = netdoc::parse_microdescs(text);
  auto lenient = netdoc::parse_microdescs_lenient(text);
  if (strict) FUZZ_CHECK(lenient.errors.empty() && lenient.microdescs.size() == strict->size());
  FUZZ_NOTE("microdescs: %zu parsed, %zu errors, strict %s", lenient.microdescs.size(), lenient.errors.size(),
            strict ? "ok" : strict.error().to_string().c_str());
  for (const auto &md : lenient.microdescs) {
    if (!md.onion_key_der.empty()) fuzz::consume(md.onion_key());
    fuzz::consume(md.ipv4_policy.allows(443));
    fuzz::consume(md.lists_in_family(netdoc::Sha1Digest{}, "x"));
  }
  auto policy = netdoc::PortPolicy::parse(text);
  if (policy) {
    auto again = netdoc::PortPolicy::parse(policy->to_string());
    FUZZ_CHECK(again.ok());
    for (uint32_t port : {1u, 22u, 80u, 443u, 65535u}) FUZZ_CHECK(again->allows(static_cast<uint16_t>(port)) ==
                                                                  policy->allows(static_cast<uint16_t>(port)));
  }
  return 0;
}
