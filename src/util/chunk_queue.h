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
        chunks_.push_back(std::make_unique<Chunk>());
        tail_ = 0;
      }
      size_t n = std::min(data.size(), kChunk - tail_);
      std::memcpy(chunks_.back()->data() + tail_, data.data(), n);
      tail_ += n;
      size_ += n;
      data = data.subspan(n);
    }
  }

  // Moves up to out.size() bytes out; returns how many.
  size_t read(MutableByteSpan out) {
    size_t done = 0;
    while (done < out.size() && size_ > 0) {
      size_t end = chunks_.size() == 1 ? tail_ : kChunk;
      size_t n = std::min(out.size() - done, end - head_);
      std::memcpy(out.data() + done, chunks_.front()->data() + head_, n);
      head_ += n;
      done += n;
      size_ -= n;
      if (head_ == end) {  // the front chunk is used up: give it back
        chunks_.pop_front();
        head_ = 0;
        if (chunks_.empty()) tail_ = 0;
      }
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
