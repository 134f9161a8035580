// A FIFO of bytes kept in fixed-size chunks. Memory grows and shrinks by
// whole chunks, all of one size, so a thousand streams that fill up to their
// XOFF allowance and drain again reuse the same blocks; a doubling vector
// per stream leaves every smaller block it outgrew behind in the heap.
#pragma once
#include <algorithm>
#include <array>
#include <cstring>
#include <deque>
#include <memory>
#include <span>

#include "util/bytes.h"

namespace tc {

class ChunkQueue {
 public:
  static constexpr size_t kChunk = 16384;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  void append(ByteSpan data) {
    while (!data.empty()) {
      if (chunks_.empty() || tail_ == kChunk) {
        chunks_.push_back(std::make_unique_for_overwrite<Chunk>());  // no zero fill: every byte is written before it is read
        tail_ = 0;
      }
      size_t n = std::min(data.size(), kChunk - tail_);
      std::memcpy(chunks_.back()->data() + tail_, data.data(), n);
      tail_ += n;
      size_ += n;
      data = data.subspan(n);
    }
  }

  // The bytes at the front, in place, as up to out.size() spans of at most
  // max_bytes in all; returns how many spans. They stay valid until
  // consume() passes them (appending does not move them).
  size_t peek(std::span<ByteSpan> out, size_t max_bytes) const {
    size_t k = 0, off = head_, left = std::min(max_bytes, size_);
    for (size_t i = 0; i < chunks_.size() && k < out.size() && left > 0; ++i) {
      size_t end = i + 1 == chunks_.size() ? tail_ : kChunk;
      size_t n = std::min(left, end - off);
      out[k++] = ByteSpan(chunks_[i]->data() + off, n);
      left -= n;
      off = 0;
    }
    return k;
  }

  // Drops n bytes (at most size()) from the front.
  void consume(size_t n) {
    n = std::min(n, size_);
    while (n > 0) {
      size_t end = chunks_.size() == 1 ? tail_ : kChunk;
      size_t k = std::min(n, end - head_);
      head_ += k;
      size_ -= k;
      n -= k;
      if (head_ == end) {
        chunks_.pop_front();
        head_ = 0;
        if (chunks_.empty()) tail_ = 0;
      }
    }
  }

  // Moves up to out.size() bytes out; returns how many.
  size_t read(MutableByteSpan out) {
    size_t done = 0;
    while (done < out.size() && size_ > 0) {
      size_t end = chunks_.size() == 1 ? tail_ : kChunk;
      size_t n = std::min(out.size() - done, end - head_);
      std::memcpy(out.data() + done, chunks_.front()->data() + head_, n);
      consume(n);
      done += n;
    }
    return done;
  }

 private:
  using Chunk = std::array<uint8_t, kChunk>;
  std::deque<std::unique_ptr<Chunk>> chunks_;
  size_t head_ = 0;  // read offset in the front chunk
  size_t tail_ = 0;  // write offset in the back chunk
  size_t size_ = 0;
};

}  // namespace tc
