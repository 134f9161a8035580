// An IPv4 or IPv6 address as raw network-order bytes, as cells carry them
// (NETINFO §4.5, CONNECTED §6.2, END §6.3, RESOLVED §6.4, EXTEND2 §5.1.2).
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "util/bytes.h"

namespace tc::cell {

struct IpAddress {
  enum class Family : uint8_t { kV4, kV6 };
  Family family = Family::kV4;
  std::array<uint8_t, 16> bytes{};  // IPv4 uses the first 4

  static IpAddress v4(const std::array<uint8_t, 4> &a);
  static IpAddress v6(const std::array<uint8_t, 16> &a);
  // From 4 or 16 raw bytes; nullopt for any other length.
  static std::optional<IpAddress> from_bytes(ByteSpan raw);
  // Dotted quad, or IPv6 text with or without surrounding brackets.
  static std::optional<IpAddress> parse(std::string_view text);

  bool is_v4() const { return family == Family::kV4; }
  bool is_v6() const { return family == Family::kV6; }
  // The 4 or 16 address bytes.
  ByteSpan span() const { return {bytes.data(), is_v4() ? size_t{4} : size_t{16}}; }
  std::array<uint8_t, 4> v4_bytes() const { return {bytes[0], bytes[1], bytes[2], bytes[3]}; }
  // "1.2.3.4" or "2001:db8::1" (no brackets).
  std::string to_string() const;

  bool operator==(const IpAddress &o) const;
};

}  // namespace tc::cell
