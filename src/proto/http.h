// The HTTP/1.0 subset Tor's directory protocol uses (dir-spec §6): build a
// GET request, parse a complete response, undo its Content-Encoding
// (deflate, x-zstd, x-tor-lzma). No I/O.
#pragma once
#include <map>
#include <string>
#include <string_view>

#include "util/bytes.h"
#include "util/error.h"

namespace tc::proto {

struct HttpResponse {
  int status = 0;
  std::string reason;
  std::map<std::string, std::string> headers;  // lower-cased names
  Bytes body;                                  // decoded
};

std::string make_dir_request(std::string_view path, std::string_view host = "");
// `raw` is everything the server sent until it closed the connection.
Result<HttpResponse> parse_http_response(ByteSpan raw, size_t max_body = 64u << 20);
// Decodes a body by its Content-Encoding (identity, deflate, x-zstd, x-tor-lzma).
Result<Bytes> decode_content(std::string_view encoding, ByteSpan body, size_t max_out);

}  // namespace tc::proto
