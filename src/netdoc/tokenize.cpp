#include "netdoc/tokenize.h"

#include <arpa/inet.h>

#include <cstdio>

namespace tc::netdoc {

namespace {

bool is_keyword_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}
bool is_ws(char c) { return c == ' ' || c == '\t'; }

std::string_view trim_ws(std::string_view s) {
  while (!s.empty() && is_ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ws(s.back())) s.remove_suffix(1);
  return s;
}

std::string printable(std::string_view s, size_t max = 40) {
  std::string out;
  for (char c : s.substr(0, max)) {
    if (c >= 0x20 && c < 0x7f) out.push_back(c);
    else out.append("?");
  }
  if (s.size() > max) out.append("...");
  return out;
}

}  // namespace

Result<Bytes> Item::object_bytes() const {
  if (!has_object()) return item_error(*this, "expected an object after the keyword line");
  auto r = base64_decode(object_body);
  if (!r.ok()) return item_error(*this, "object '" + std::string(object_label) + "': " + r.error().message());
  return std::move(r).value();
}

std::vector<std::string_view> Item::split_args() const {
  std::vector<std::string_view> out;
  ArgReader r(args);
  while (auto a = r.next()) out.push_back(*a);
  return out;
}

size_t Item::arg_count() const {
  size_t n = 0;
  ArgReader r(args);
  while (r.next()) ++n;
  return n;
}

Error item_error(const Item &item, std::string_view message, ErrorKind kind) {
  std::string m = "line " + std::to_string(item.line) + " (" + printable(item.keyword) + "): ";
  m.append(message);
  return Error(kind, std::move(m));
}

std::optional<std::string_view> ArgReader::next() {
  size_t i = 0;
  while (i < rest_.size() && is_ws(rest_[i])) ++i;
  if (i == rest_.size()) {
    rest_ = {};
    return std::nullopt;
  }
  size_t j = i;
  while (j < rest_.size() && !is_ws(rest_[j])) ++j;
  std::string_view a = rest_.substr(i, j - i);
  rest_.remove_prefix(j);
  return a;
}

std::string_view ArgReader::rest() {
  rest_ = trim_ws(rest_);
  return rest_;
}

bool ArgReader::done() { return rest().empty(); }

Error Tokenizer::error_at(size_t line, std::string msg) const {
  return Error(ErrorKind::kMalformed,
               std::string(opts_.what) + ": line " + std::to_string(line) + ": " + msg);
}

Result<bool> Tokenizer::next(Item &out) {
  const size_t n = text_.size();
  while (pos_ < n) {
    size_t nl = text_.find('\n', pos_);
    if (nl == std::string_view::npos) return error_at(line_, "last line has no newline");
    std::string_view line = text_.substr(pos_, nl - pos_);
    // Signatures cover the exact bytes, and authorities sign LF-only text;
    // a CR LF copy (e.g. from a git checkout) cannot verify: say so plainly.
    if (!line.empty() && line.back() == '\r')
      return error_at(line_, "line ends in CR LF; directory documents use LF line endings");
    if (trim_ws(line).empty()) {  // Document ::= (Item | NL)+
      pos_ = nl + 1;
      ++line_;
      continue;
    }
    size_t i = 0;
    if (line[0] == '@') {
      if (!opts_.allow_annotations) return error_at(line_, "annotation line not allowed here");
      i = 1;
    } else if (line[0] == '-') {
      return error_at(line_, "object '" + printable(line) + "' without a keyword line before it");
    }
    while (i < line.size() && is_keyword_char(line[i])) ++i;
    if (i == 0 || (line[0] == '@' && i == 1))
      return error_at(line_, "line does not start with a keyword: '" + printable(line) + "'");
    out.keyword = line.substr(0, i);
    if (i == line.size()) {
      out.args = {};
    } else if (is_ws(line[i])) {
      out.args = trim_ws(line.substr(i));
    } else {
      return error_at(line_, "bad character in keyword '" + printable(line.substr(0, i + 1)) + "'");
    }
    out.line = line_;
    out.start = pos_;
    out.line_end = nl + 1;
    out.object_label = {};
    out.object_body = {};
    pos_ = nl + 1;
    ++line_;

    static constexpr std::string_view kBegin = "-----BEGIN ";
    static constexpr std::string_view kEnd = "-----END ";
    static constexpr std::string_view kDashes = "-----";
    if (text_.substr(pos_, kBegin.size()) == kBegin) {
      size_t bl_end = text_.find('\n', pos_);
      if (bl_end == std::string_view::npos) return error_at(line_, "object BEGIN line has no newline");
      std::string_view begin = text_.substr(pos_, bl_end - pos_);
      if (begin.size() <= kBegin.size() + kDashes.size() || begin.substr(begin.size() - kDashes.size()) != kDashes)
        return error_at(line_, "malformed object BEGIN line '" + printable(begin) + "'");
      std::string_view label = begin.substr(kBegin.size(), begin.size() - kBegin.size() - kDashes.size());
      const size_t begin_line = line_;
      pos_ = bl_end + 1;
      ++line_;
      const size_t body_start = pos_;
      for (;;) {
        if (pos_ >= n) return error_at(begin_line, "object '" + printable(label) + "' has no END line");
        size_t e = text_.find('\n', pos_);
        if (e == std::string_view::npos) return error_at(line_, "object line has no newline");
        std::string_view l = text_.substr(pos_, e - pos_);
        if (!l.empty() && l.back() == '\r')
          return error_at(line_, "line ends in CR LF; directory documents use LF line endings");
        if (l.substr(0, kEnd.size()) == kEnd) {
          if (l.size() != kEnd.size() + label.size() + kDashes.size() ||
              l.substr(kEnd.size(), label.size()) != label || l.substr(l.size() - kDashes.size()) != kDashes)
            return error_at(line_, "object END line '" + printable(l) + "' does not match BEGIN '" +
                                       printable(label) + "'");
          out.object_label = label;
          out.object_body = text_.substr(body_start, pos_ - body_start);
          pos_ = e + 1;
          ++line_;
          break;
        }
        if (!l.empty() && l[0] == '-')
          return error_at(line_, "unexpected line '" + printable(l) + "' inside object");
        pos_ = e + 1;
        ++line_;
      }
    }
    out.end = pos_;
    return true;
  }
  return false;
}

Result<int> SectionChecker::see(const Item &item) {
  for (size_t i = 0; i < rules_.size() && i < kMaxRules; ++i) {
    const KeywordRule &r = rules_[i];
    if (r.keyword != item.keyword) continue;
    if (++counts_[i] > r.max_count) {
      std::string m = "'";
      m.append(r.keyword).append("' may appear at most ").append(std::to_string(r.max_count));
      m.append(" time(s) in the ").append(section_);
      return item_error(item, m);
    }
    if (r.min_args > 0) {
      size_t got = item.arg_count();
      if (got < r.min_args)
        return item_error(item, "needs at least " + std::to_string(r.min_args) + " argument(s), got " +
                                    std::to_string(got));
    }
    if (r.object == ObjectRule::kRequired && !item.has_object())
      return item_error(item, "missing the object that must follow it");
    if (r.object == ObjectRule::kNone && item.has_object())
      return item_error(item, "unexpected object '" + std::string(item.object_label) + "'");
    return static_cast<int>(i);
  }
  return -1;
}

Status SectionChecker::finish(size_t line) const {
  for (size_t i = 0; i < rules_.size() && i < kMaxRules; ++i) {
    if (counts_[i] < rules_[i].min_count)
      return Error(ErrorKind::kMalformed, std::string(section_) + " at line " + std::to_string(line) +
                                              ": missing required '" + std::string(rules_[i].keyword) + "'");
  }
  return {};
}

// ---- times --------------------------------------------------------------

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

bool digits(std::string_view s, size_t at, size_t n, unsigned *out) {
  unsigned v = 0;
  for (size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + static_cast<unsigned>(s[i] - '0');
  }
  *out = v;
  return true;
}

}  // namespace

Result<int64_t> parse_iso_time(std::string_view date, std::string_view time) {
  unsigned y, mo, d, h, mi, s;
  auto bad = [&]() {
    return Error(ErrorKind::kMalformed,
                 "bad time '" + printable(date) + " " + printable(time) + "' (want YYYY-MM-DD HH:MM:SS)");
  };
  if (date.size() != 10 || date[4] != '-' || date[7] != '-' || time.size() != 8 || time[2] != ':' ||
      time[5] != ':')
    return bad();
  if (!digits(date, 0, 4, &y) || !digits(date, 5, 2, &mo) || !digits(date, 8, 2, &d) ||
      !digits(time, 0, 2, &h) || !digits(time, 3, 2, &mi) || !digits(time, 6, 2, &s))
    return bad();
  static constexpr unsigned kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > kDays[mo - 1] || h > 23 || mi > 59 || s > 60) return bad();
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (mo == 2 && d == 29 && !leap) return bad();
  return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

Result<int64_t> parse_iso_time(std::string_view s) {
  size_t sp = s.find(' ');
  if (sp == std::string_view::npos)
    return Error(ErrorKind::kMalformed, "bad time '" + printable(s) + "' (want YYYY-MM-DD HH:MM:SS)");
  return parse_iso_time(s.substr(0, sp), s.substr(sp + 1));
}

std::string format_iso_time(int64_t t) {
  int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
  int64_t rem = t - days * 86400;
  int64_t y;
  unsigned m, d;
  civil_from_days(days, &y, &m, &d);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u %02u:%02u:%02u", static_cast<long long>(y), m, d,
                static_cast<unsigned>(rem / 3600), static_cast<unsigned>(rem / 60 % 60),
                static_cast<unsigned>(rem % 60));
  return buf;
}

// ---- small decoders -----------------------------------------------------

namespace {
struct B64Table {
  int8_t v[256];
  constexpr B64Table() : v() {
    for (int i = 0; i < 256; ++i) v[i] = -1;
    for (int i = 0; i < 26; ++i) {
      v['A' + i] = static_cast<int8_t>(i);
      v['a' + i] = static_cast<int8_t>(26 + i);
    }
    for (int i = 0; i < 10; ++i) v['0' + i] = static_cast<int8_t>(52 + i);
    v[static_cast<unsigned char>('+')] = 62;
    v[static_cast<unsigned char>('/')] = 63;
  }
};
constexpr B64Table kB64;

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

bool base64_decode_exact(std::string_view in, uint8_t *out, size_t n) {
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  // n bytes need ceil(n*8/6) characters; the leftover bits must be zero.
  if (in.size() != (n * 8 + 5) / 6) return false;
  uint32_t acc = 0;
  int bits = 0;
  size_t o = 0;
  for (char c : in) {
    int v = kB64.v[static_cast<unsigned char>(c)];
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = static_cast<uint8_t>(acc >> bits);
    }
  }
  return o == n && (acc & ((1u << bits) - 1)) == 0;
}

bool hex_decode_exact(std::string_view in, uint8_t *out, size_t n) {
  if (in.size() != 2 * n) return false;
  for (size_t i = 0; i < n; ++i) {
    int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

bool parse_int64(std::string_view s, int64_t min, int64_t max, int64_t *out) {
  bool neg = false;
  if (!s.empty() && s[0] == '-' && min < 0) {
    neg = true;
    s.remove_prefix(1);
  }
  if (s.empty() || s.size() > 18) return false;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (neg) v = -v;
  if (v < min || v > max) return false;
  *out = v;
  return true;
}

bool parse_ipv4(std::string_view s, uint32_t *out) {
  uint32_t a = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (s.empty() || s[0] != '.') return false;
      s.remove_prefix(1);
    }
    size_t i = 0;
    unsigned v = 0;
    while (i < s.size() && i < 4 && s[i] >= '0' && s[i] <= '9') v = v * 10 + static_cast<unsigned>(s[i++] - '0');
    if (i == 0 || i > 3 || v > 255 || (i > 1 && s[0] == '0')) return false;
    a = (a << 8) | v;
    s.remove_prefix(i);
  }
  if (!s.empty()) return false;
  *out = a;
  return true;
}

bool parse_addr_port(std::string_view s, AddrPort *out) {
  size_t colon = s.rfind(':');
  if (colon == std::string_view::npos) return false;
  int64_t port;
  if (!parse_int64(s.substr(colon + 1), 0, 65535, &port)) return false;
  std::string_view host = s.substr(0, colon);
  AddrPort r;
  r.port = static_cast<uint16_t>(port);
  if (!host.empty() && host.front() == '[') {
    if (host.size() < 3 || host.back() != ']' || host.size() > 2 + 45) return false;
    char buf[64];
    host = host.substr(1, host.size() - 2);
    host.copy(buf, host.size());
    buf[host.size()] = '\0';
    if (inet_pton(AF_INET6, buf, r.ipv6.data()) != 1) return false;
    r.is_ipv6 = true;
  } else if (!parse_ipv4(host, &r.ipv4)) {
    return false;
  }
  *out = r;
  return true;
}

std::string format_ipv4(uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." + std::to_string((a >> 8) & 255) +
         "." + std::to_string(a & 255);
}

std::string format_ipv6(const std::array<uint8_t, 16> &a) {
  char buf[INET6_ADDRSTRLEN];
  if (!inet_ntop(AF_INET6, a.data(), buf, sizeof buf)) return "?";
  return buf;
}

}  // namespace tc::netdoc
