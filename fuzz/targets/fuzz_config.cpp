// The `tor { }` configuration stanza (src/daemon/config.h): parse_text on
// the whole input (a file with other stanzas around), and
// parse_stanza_body on it as a stanza's inside.
#include "daemon/config.h"
#include "fuzz_util.h"

using namespace tc;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::string_view text = fuzz::as_text(data, size);
  auto c = config::parse_text(text, "fuzz.conf");
  FUZZ_NOTE("config: %s", c ? (c->stanza_found ? "stanza" : "no stanza") : c.error().to_string().c_str());
  if (c) {
    FUZZ_CHECK(c->max_connections <= config::kMaxConnectionsLimit);
    FUZZ_CHECK(c->max_circuit_dirtiness <= config::kMaxCircuitDirtinessLimit);
    if (c->stanza_found) FUZZ_CHECK(c->socks_port != 0);
  }
  fuzz::consume(config::parse_stanza_body(text, "fuzz.conf", 1));
  return 0;
}
