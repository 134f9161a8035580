#include "cell/ip_address.h"

#include <arpa/inet.h>

#include <algorithm>

namespace tc::cell {

IpAddress IpAddress::v4(const std::array<uint8_t, 4> &a) {
  IpAddress ip;
  ip.family = Family::kV4;
  std::copy(a.begin(), a.end(), ip.bytes.begin());
  return ip;
}

IpAddress IpAddress::v6(const std::array<uint8_t, 16> &a) {
  IpAddress ip;
  ip.family = Family::kV6;
  ip.bytes = a;
  return ip;
}

std::optional<IpAddress> IpAddress::from_bytes(ByteSpan raw) {
  IpAddress ip;
  if (raw.size() == 4) {
    ip.family = Family::kV4;
  } else if (raw.size() == 16) {
    ip.family = Family::kV6;
  } else {
    return std::nullopt;
  }
  std::copy(raw.begin(), raw.end(), ip.bytes.begin());
  return ip;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  if (text.empty() || text.size() > 45) return std::nullopt;  // INET6_ADDRSTRLEN - 1
  std::string s(text);
  IpAddress ip;
  if (s.find(':') == std::string::npos) {
    if (inet_pton(AF_INET, s.c_str(), ip.bytes.data()) != 1) return std::nullopt;
    ip.family = Family::kV4;
  } else {
    if (inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) != 1) return std::nullopt;
    ip.family = Family::kV6;
  }
  return ip;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (!inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf)) return "?";
  return buf;
}

bool IpAddress::operator==(const IpAddress &o) const {
  if (family != o.family) return false;
  ByteSpan a = span(), b = o.span();
  return std::equal(a.begin(), a.end(), b.begin());
}

}  // namespace tc::cell
