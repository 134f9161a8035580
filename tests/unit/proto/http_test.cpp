// Directory HTTP responses (dir-spec §6): the real public microdesc
// consensus, compressed here with each library the way a directory cache
// sends it (deflate = zlib stream, x-zstd, x-tor-lzma = xz), must come back
// byte for byte; a body that is corrupt, truncated or bigger than allowed
// is refused with an error that says so.
#include "proto/http.h"
#include "shared_testdata.h"

#include <gtest/gtest.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

namespace tc::proto {
namespace {

Bytes read_consensus() {
  std::ifstream f(tc::testing::public_network_dir() + "/cached-microdesc-consensus",
                  std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  return Bytes(s.begin(), s.end());
}

Bytes deflate(const Bytes &in) {
  uLongf n = compressBound(in.size());
  Bytes out(n);
  EXPECT_EQ(compress2(out.data(), &n, in.data(), in.size(), 9), Z_OK);
  out.resize(n);
  return out;
}

Bytes zstd(const Bytes &in) {
  Bytes out(ZSTD_compressBound(in.size()));
  size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 9);
  EXPECT_FALSE(ZSTD_isError(n));
  out.resize(n);
  return out;
}

Bytes xz(const Bytes &in) {
  Bytes out(lzma_stream_buffer_bound(in.size()));
  size_t pos = 0;
  EXPECT_EQ(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC64, nullptr, in.data(), in.size(), out.data(), &pos, out.size()),
            LZMA_OK);
  out.resize(pos);
  return out;
}

// The document as a directory cache may send it, by Content-Encoding.
std::vector<std::pair<const char *, Bytes>> compressed(const Bytes &doc) {
  return {{"deflate", deflate(doc)}, {"x-zstd", zstd(doc)}, {"x-tor-lzma", xz(doc)}};
}

Bytes response(std::string_view encoding, const Bytes &body) {
  std::string head = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n";
  if (!encoding.empty()) head += "Content-Encoding: " + std::string(encoding) + "\r\n";
  head += "\r\n";
  Bytes raw(head.begin(), head.end());
  raw.insert(raw.end(), body.begin(), body.end());
  return raw;
}

TEST(DirHttp, RealConsensusInEveryEncodingComesBackExactly) {
  TC_REQUIRE_TESTDATA();
  Bytes doc = read_consensus();
  ASSERT_GT(doc.size(), 1000000u) << "test data missing";
  const std::pair<const char *, Bytes> cases[] = {
      {"", doc}, {"identity", doc}, {"deflate", deflate(doc)}, {"x-zstd", zstd(doc)}, {"x-tor-lzma", xz(doc)}};
  for (const auto &[enc, body] : cases) {
    auto r = parse_http_response(response(enc, body));
    ASSERT_TRUE(r.ok()) << enc << ": " << r.error().to_string();
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(r->body == doc) << enc << ": " << r->body.size() << " bytes instead of " << doc.size();
  }
}

TEST(DirHttp, BodiesBeyondTheLimitAreRefused) {
  TC_REQUIRE_TESTDATA();
  Bytes doc = read_consensus();
  ASSERT_FALSE(doc.empty()) << "test data missing";
  for (const auto &[enc, body] : compressed(doc)) {
    auto r = decode_content(enc, body, doc.size() - 1);  // one byte short
    ASSERT_FALSE(r.ok()) << enc;
    EXPECT_EQ(r.error().kind(), ErrorKind::kExhausted) << enc << ": " << r.error().to_string();
    auto ok = decode_content(enc, body, doc.size());
    ASSERT_TRUE(ok.ok()) << enc << ": " << ok.error().to_string();
  }
}

TEST(DirHttp, CorruptOrTruncatedBodiesAreRefused) {
  TC_REQUIRE_TESTDATA();
  Bytes doc = read_consensus();
  ASSERT_FALSE(doc.empty()) << "test data missing";
  for (const auto &[enc, body] : compressed(doc)) {
    Bytes truncated(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(body.size() / 2));
    auto t = decode_content(enc, truncated, 64u << 20);
    EXPECT_FALSE(t.ok()) << enc << ": half a body decoded";
    Bytes junk = body;
    for (size_t i = 0; i < 64 && i < junk.size(); ++i) junk[i] ^= 0x5a;  // the header and first block
    auto j = decode_content(enc, junk, 64u << 20);
    EXPECT_FALSE(j.ok() && j->size() == doc.size() && *j == doc) << enc << ": a corrupt body decoded as the original";
    if (!j.ok()) {
      EXPECT_FALSE(j.error().message().empty());
    }
  }
  auto u = parse_http_response(response("x-gzip-ish", doc));
  ASSERT_FALSE(u.ok());
  EXPECT_NE(u.error().message().find("x-gzip-ish"), std::string::npos) << u.error().message();
}

}  // namespace
}  // namespace tc::proto
