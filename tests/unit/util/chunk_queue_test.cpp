// ChunkQueue: bytes come out in order whether read by copy or in place
// (peek + consume, the SOCKS server's zero-copy path), across chunk edges.
#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "util/chunk_queue.h"

namespace tc {
namespace {

Bytes pattern(size_t n, size_t from) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>((from + i) * 131 % 251);
  return b;
}

TEST(ChunkQueue, PeekShowsTheFrontInPlaceAcrossChunks) {
  ChunkQueue q;
  const size_t total = 3 * ChunkQueue::kChunk + 100;
  Bytes all = pattern(total, 0);
  q.append(ByteSpan(all.data(), 5000));
  q.append(ByteSpan(all.data() + 5000, total - 5000));
  ASSERT_EQ(q.size(), total);

  std::array<ByteSpan, 8> spans;
  size_t k = q.peek(spans, 40000);
  ASSERT_EQ(k, 3u);  // 16384 + 16384 + 7232
  size_t seen = 0;
  for (size_t i = 0; i < k; ++i) {
    ASSERT_EQ(Bytes(spans[i].begin(), spans[i].end()), Bytes(all.begin() + seen, all.begin() + seen + spans[i].size()));
    seen += spans[i].size();
  }
  EXPECT_EQ(seen, 40000u);
  // Peeking takes nothing; fewer span slots than chunks stops early.
  EXPECT_EQ(q.size(), total);
  EXPECT_EQ(q.peek(std::span<ByteSpan>(spans.data(), 1), total), 1u);
  EXPECT_EQ(spans[0].size(), ChunkQueue::kChunk);
}

TEST(ChunkQueue, ConsumeThenReadContinuesWhereItStopped) {
  ChunkQueue q;
  const size_t total = 2 * ChunkQueue::kChunk + 777;
  Bytes all = pattern(total, 7);
  q.append(all);
  q.consume(ChunkQueue::kChunk + 10);  // past the first chunk edge
  EXPECT_EQ(q.size(), total - ChunkQueue::kChunk - 10);
  // Appending while spans are out does not move the bytes they show.
  std::array<ByteSpan, 4> spans;
  size_t k = q.peek(spans, 100);
  ASSERT_EQ(k, 1u);
  const uint8_t *before = spans[0].data();
  Bytes more = pattern(ChunkQueue::kChunk, total + 7);
  q.append(more);
  EXPECT_EQ(spans[0].data(), before);
  EXPECT_EQ(spans[0][0], all[ChunkQueue::kChunk + 10]);

  Bytes out(q.size());
  EXPECT_EQ(q.read(out), out.size());
  Bytes want(all.begin() + ChunkQueue::kChunk + 10, all.end());
  want.insert(want.end(), more.begin(), more.end());
  EXPECT_EQ(out, want);
  EXPECT_TRUE(q.empty());
  // Consuming more than there is empties the queue and no more.
  q.append(ByteSpan(all.data(), 10));
  q.consume(1000);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.peek(spans, 100), 0u);
}

}  // namespace
}  // namespace tc
