// SOCKS4/4a/5 server handshake (src/socks/socks.h), fed as a client would:
// the first input byte sets the read size (1..256 bytes per feed), the rest
// is the byte stream. Checks: an accepted request can be answered in every
// form; a failed handshake stays failed; buffered input stays bounded.
#include "fuzz_util.h"
#include "socks/socks.h"

using namespace tc;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const size_t chunk = size_t{data[0]} + 1;
  ByteSpan in(data + 1, size - 1);

  socks::Handshake hs;
  size_t pos = 0;
  while (pos < in.size()) {
    const size_t n = std::min(chunk, in.size() - pos);
    auto step = hs.feed(in.subspan(pos, n));
    pos += n;
    if (!step) {
      FUZZ_CHECK(hs.failed());
      FUZZ_NOTE("socks: %s", step.error().to_string().c_str());
      fuzz::consume(hs.failure_reply());
      // Dead handshakes refuse more input.
      FUZZ_CHECK(!hs.feed(in.subspan(0, 0)).ok());
      return 0;
    }
    FUZZ_CHECK(step->reply.size() <= 512);  // method choice / auth status
    if (step->done) {
      FUZZ_CHECK(hs.done());
      const socks::Request &req = hs.request();
      FUZZ_CHECK(req.version == 4 || req.version == 5);
      FUZZ_NOTE("socks%d: %s %s:%u", req.version, socks::command_name(req.command), req.address.to_string().c_str(),
                req.port);
      Bytes leftover = hs.take_leftover();
      fuzz::consume(leftover);
      std::string addr = req.address.to_string();
      fuzz::consume(addr);
      for (uint8_t rep = 0; rep <= 8; ++rep)
        fuzz::consume(socks::connect_reply(req, static_cast<socks::Socks5Reply>(rep)));
      fuzz::consume(socks::resolve_reply(req, req.address));
      fuzz::consume(socks::resolve_reply(req, socks::Address::ipv4({127, 0, 0, 1})));
      fuzz::consume(socks::resolve_failed_reply(req));
      // Anything after done is an error, never a second request.
      FUZZ_CHECK(!hs.feed(in.subspan(0, std::min<size_t>(1, in.size()))).ok());
      return 0;
    }
  }
  return 0;
}
