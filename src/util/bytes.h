// Bounds-checked reading and writing of wire formats. One parsing style for
// every format: a Reader can never walk past the end of its buffer; every
// read reports failure instead (C tor's trunnel idea, without the generator).
#pragma once
#include <cstddef>
#include <cstdint>
#include <array>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"

namespace tc {

using Bytes = std::vector<uint8_t>;
using ByteSpan = std::span<const uint8_t>;
using MutableByteSpan = std::span<uint8_t>;

inline ByteSpan as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t *>(s.data()), s.size()};
}
inline std::string_view as_string_view(ByteSpan b) {
  return {reinterpret_cast<const char *>(b.data()), b.size()};
}

class Reader {
 public:
  explicit Reader(ByteSpan data, const char *what = "input") : data_(data), what_(what) {}

  size_t remaining() const { return data_.size() - pos_; }
  size_t position() const { return pos_; }
  bool empty() const { return remaining() == 0; }
  ByteSpan rest() const { return data_.subspan(pos_); }

  Result<uint8_t> u8() {
    if (remaining() < 1) return truncated(1);
    return data_[pos_++];
  }
  Result<uint16_t> u16() {
    if (remaining() < 2) return truncated(2);
    uint16_t v = static_cast<uint16_t>((data_[pos_] << 8) | data_[pos_ + 1]);
    pos_ += 2;
    return v;
  }
  Result<uint32_t> u32() {
    if (remaining() < 4) return truncated(4);
    uint32_t v = (uint32_t{data_[pos_]} << 24) | (uint32_t{data_[pos_ + 1]} << 16) |
                 (uint32_t{data_[pos_ + 2]} << 8) | uint32_t{data_[pos_ + 3]};
    pos_ += 4;
    return v;
  }
  Result<uint64_t> u64() {
    TC_TRY(uint32_t hi, u32());
    TC_TRY(uint32_t lo, u32());
    return (uint64_t{hi} << 32) | lo;
  }
  Result<ByteSpan> take(size_t n) {
    if (remaining() < n) return truncated(n);
    ByteSpan s = data_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  template <size_t N>
  Result<std::array<uint8_t, N>> array() {
    if (remaining() < N) return truncated(N);
    std::array<uint8_t, N> a;
    std::memcpy(a.data(), data_.data() + pos_, N);
    pos_ += N;
    return a;
  }
  Status skip(size_t n) {
    if (remaining() < n) return truncated(n);
    pos_ += n;
    return {};
  }
  // Everything must have been consumed.
  Status expect_end() const {
    if (remaining() != 0)
      return Error(ErrorKind::kMalformed, std::string(what_) + ": " + std::to_string(remaining()) +
                                              " unexpected trailing bytes at offset " +
                                              std::to_string(pos_));
    return {};
  }

 private:
  Error truncated(size_t want) const {
    return Error(ErrorKind::kMalformed, std::string(what_) + ": truncated at offset " +
                                            std::to_string(pos_) + " (need " + std::to_string(want) +
                                            " bytes, have " + std::to_string(remaining()) + ")");
  }
  ByteSpan data_;
  size_t pos_ = 0;
  const char *what_;
};

class Writer {
 public:
  Writer() = default;
  explicit Writer(Bytes &out) : out_(&out) {}
  void u8(uint8_t v) { buf().push_back(v); }
  void u16(uint16_t v) {
    buf().push_back(static_cast<uint8_t>(v >> 8));
    buf().push_back(static_cast<uint8_t>(v));
  }
  void u32(uint32_t v) {
    u16(static_cast<uint16_t>(v >> 16));
    u16(static_cast<uint16_t>(v));
  }
  void u64(uint64_t v) {
    u32(static_cast<uint32_t>(v >> 32));
    u32(static_cast<uint32_t>(v));
  }
  void bytes(ByteSpan b) { buf().insert(buf().end(), b.begin(), b.end()); }
  void bytes(std::string_view s) { bytes(as_bytes(s)); }
  void zeros(size_t n) { buf().insert(buf().end(), n, 0); }
  size_t size() const { return out_ ? out_->size() : own_.size(); }
  // Overwrite a big-endian u16 at an earlier offset (length fields).
  void patch_u16(size_t at, uint16_t v) {
    buf()[at] = static_cast<uint8_t>(v >> 8);
    buf()[at + 1] = static_cast<uint8_t>(v);
  }
  Bytes take() { return std::move(own_); }
  const Bytes &data() const { return out_ ? *out_ : own_; }

 private:
  Bytes &buf() { return out_ ? *out_ : own_; }
  Bytes own_;
  Bytes *out_ = nullptr;
};

// Encodings used by Tor's documents and logs.
std::string hex_encode(ByteSpan b, bool upper = false);
Result<Bytes> hex_decode(std::string_view s);
std::string base64_encode(ByteSpan b, bool pad = true);
// Accepts missing padding and embedded newlines (Tor documents omit '=').
Result<Bytes> base64_decode(std::string_view s);

// Constant-time comparison for secrets and MACs.
bool ct_equal(ByteSpan a, ByteSpan b);
// Wipe key material.
void secure_wipe(void *p, size_t n);

}  // namespace tc
