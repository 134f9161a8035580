// The directory document meta-format (dir-spec §1.2): a document is a
// sequence of items, each a keyword line with arguments, optionally followed
// by one PEM-style object. The tokenizer hands out views into the document
// text without copying; the typed parsers (certificates, consensus,
// microdescriptors) sit on top of it.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/bytes.h"
#include "util/error.h"

namespace tc::netdoc {

using Sha1Digest = std::array<uint8_t, 20>;
using Sha256Digest = std::array<uint8_t, 32>;

// One item: "keyword args NL [object]".
struct Item {
  std::string_view keyword;
  std::string_view args;          // after the keyword and its whitespace, no NL
  std::string_view object_label;  // "RSA PUBLIC KEY"; empty if no object
  std::string_view object_body;   // the base64 lines between BEGIN and END
  size_t line = 0;                // 1-based line number of the keyword line
  size_t start = 0;               // offset of the keyword line in the document
  size_t line_end = 0;            // offset just past the keyword line's NL
  size_t end = 0;                 // offset just past the item (object included)

  bool has_object() const { return !object_label.empty(); }
  // The decoded object bytes (base64, newlines ignored).
  Result<Bytes> object_bytes() const;
  // Arguments split on SP/TAB. Allocates; hot paths use ArgReader.
  std::vector<std::string_view> split_args() const;
  size_t arg_count() const;
};

// "line 12 (fingerprint): <message>"
Error item_error(const Item &item, std::string_view message, ErrorKind kind = ErrorKind::kMalformed);

// Walks arguments without allocating.
class ArgReader {
 public:
  explicit ArgReader(std::string_view args) : rest_(args) {}
  // Next whitespace-separated argument; nullopt at the end.
  std::optional<std::string_view> next();
  // Everything not yet read, leading whitespace removed.
  std::string_view rest();
  bool done();

 private:
  std::string_view rest_;
};

struct TokenizerOptions {
  bool allow_annotations = false;  // "@keyword" lines (cached microdescriptors)
  size_t first_line = 1;           // line number of the first line of the text
  const char *what = "document";   // prefix for error messages
};

class Tokenizer {
 public:
  explicit Tokenizer(std::string_view text, TokenizerOptions opts = {})
      : text_(text), opts_(opts), line_(opts.first_line) {}
  // Reads the next item into `out`; false at the end of the document.
  Result<bool> next(Item &out);
  size_t offset() const { return pos_; }
  size_t line() const { return line_; }

 private:
  Error error_at(size_t line, std::string msg) const;
  std::string_view text_;
  TokenizerOptions opts_;
  size_t pos_ = 0;
  size_t line_;
};

// Multiplicity and shape rules for the known keywords of one document
// section (dir-spec §1.2 "Exactly once", "At most once", ...). Unknown
// keywords are ignored, as the spec requires.
enum class ObjectRule : uint8_t { kNone, kRequired, kOptional };
struct KeywordRule {
  std::string_view keyword;
  uint16_t min_count;  // 0: optional, 1: required
  uint16_t max_count;  // 1: at most once; kAny: any number
  uint16_t min_args;
  ObjectRule object;
  static constexpr uint16_t kAny = 0xffff;
};

class SectionChecker {
 public:
  static constexpr size_t kMaxRules = 32;
  explicit SectionChecker(std::span<const KeywordRule> rules, std::string_view section)
      : rules_(rules), section_(section) {}
  // Index of the matching rule, or -1 for an unknown keyword (to be ignored).
  // Fails on too many occurrences, too few arguments, or a wrong object.
  Result<int> see(const Item &item);
  // Fails if a required keyword never appeared; `line` is where the section starts.
  Status finish(size_t line) const;
  void reset() { counts_.fill(0); }
  uint16_t count(size_t rule) const { return counts_[rule]; }

 private:
  std::span<const KeywordRule> rules_;
  std::string_view section_;
  std::array<uint16_t, kMaxRules> counts_{};
};

// Times in documents are "YYYY-MM-DD HH:MM:SS" in UTC; we use seconds since
// the Unix epoch.
Result<int64_t> parse_iso_time(std::string_view date, std::string_view time);
Result<int64_t> parse_iso_time(std::string_view date_space_time);
std::string format_iso_time(int64_t t);

// Fixed-size decoders that do not allocate. Base64 accepts missing padding.
bool base64_decode_exact(std::string_view in, uint8_t *out, size_t n);
bool hex_decode_exact(std::string_view in, uint8_t *out, size_t n);
template <size_t N>
std::optional<std::array<uint8_t, N>> base64_array(std::string_view in) {
  std::array<uint8_t, N> a{};
  if (!base64_decode_exact(in, a.data(), N)) return std::nullopt;
  return a;
}
template <size_t N>
std::optional<std::array<uint8_t, N>> hex_array(std::string_view in) {
  std::array<uint8_t, N> a{};
  if (!hex_decode_exact(in, a.data(), N)) return std::nullopt;
  return a;
}

// Decimal numbers with range checks; no sign unless min < 0.
bool parse_int64(std::string_view s, int64_t min, int64_t max, int64_t *out);
// Dotted-quad IPv4, host byte order.
bool parse_ipv4(std::string_view s, uint32_t *out);
// "[v6addr]:port" or "a.b.c.d:port".
struct AddrPort {
  bool is_ipv6 = false;
  uint32_t ipv4 = 0;
  std::array<uint8_t, 16> ipv6{};
  uint16_t port = 0;
};
bool parse_addr_port(std::string_view s, AddrPort *out);
std::string format_ipv4(uint32_t a);
std::string format_ipv6(const std::array<uint8_t, 16> &a);

}  // namespace tc::netdoc
