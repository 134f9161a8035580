// The operator CLI (src/control/control.h): parse_command on each line
// (an accepted command must round-trip through format_command, as the
// header promises), and the socket framing decoders decode_request /
// decode_reply on the whole input as a byte stream.
#include "control/control.h"
#include "fuzz_util.h"

using namespace tc;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::string_view text = fuzz::as_text(data, size);

  std::string_view rest = text;
  while (!rest.empty()) {
    const size_t nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    auto c = control::parse_command(line);
    if (!c) {
      FUZZ_NOTE("command: %s", c.error().to_string().c_str());
      continue;
    }
    FUZZ_NOTE("command: %s", control::format_command(*c).c_str());
    const std::string canon = control::format_command(*c);
    auto again = control::parse_command(canon);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(*again == *c);
    auto req = control::encode_request(canon);
    FUZZ_CHECK(req.ok());
  }

  std::string buf(text);
  for (;;) {
    const size_t before = buf.size();
    auto r = control::decode_request(buf);
    if (!r || !*r) break;
    FUZZ_CHECK(buf.size() < before);  // progress: a message was consumed
    FUZZ_CHECK((*r)->size() <= control::kMaxRequestLine);
    FUZZ_NOTE("request: %s", (*r)->c_str());
  }
  buf.assign(text);
  for (;;) {
    const size_t before = buf.size();
    auto r = control::decode_reply(buf);
    if (!r || !*r) break;
    FUZZ_CHECK(buf.size() < before);
    FUZZ_CHECK((*r)->text.size() <= control::kMaxReplyText);
    FUZZ_NOTE("reply: %s %zu bytes", (*r)->ok ? "OK" : "ERR", (*r)->text.size());
    // Re-encoding gives a frame that decodes to the same reply.
    std::string frame = control::encode_reply(**r);
    auto back = control::decode_reply(frame);
    FUZZ_CHECK(back.ok() && back->has_value() && **back == **r && frame.empty());
  }
  return 0;
}
