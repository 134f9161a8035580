// Directory HTTP responses (src/proto/http.h): parse_http_response on the
// input with a 1 MiB body limit, and decode_content with every encoding on
// the input as a body (output bounded: decompression bombs must stop at
// max_out).
#include "fuzz_util.h"
#include "proto/http.h"

using namespace tc;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  constexpr size_t kMax = 1u << 20;
  ByteSpan in(data, size);
  auto r = proto::parse_http_response(in, kMax);
  FUZZ_NOTE("http: %s", r ? ("status " + std::to_string(r->status) + ", body " + std::to_string(r->body.size())).c_str()
                           : r.error().to_string().c_str());
  if (r) FUZZ_CHECK(r->body.size() <= kMax);
  for (const char *enc : {"identity", "deflate", "x-zstd", "x-tor-lzma", "gzip"}) {
    auto b = proto::decode_content(enc, in, kMax);
    if (b) FUZZ_CHECK(b->size() <= kMax);
  }
  return 0;
}
