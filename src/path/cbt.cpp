#include "path/cbt.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>

namespace tc::path {

namespace {
constexpr uint32_t kMaxBuildMs = 10 * 60 * 1000;  // anything longer is not a build time
}

void CircuitBuildTimes::add(ms t) {
  auto v = static_cast<uint32_t>(std::clamp<int64_t>(t.count(), 1, kMaxBuildMs));
  samples_.push_back(v);
  while (samples_.size() > kMaxSamples) samples_.pop_front();
  recent_.push_back(false);
  while (recent_.size() > kRecentCount) recent_.pop_front();
}

void CircuitBuildTimes::add_timeout() {
  recent_.push_back(true);
  while (recent_.size() > kRecentCount) recent_.pop_front();
  if (recent_.size() < kRecentCount) return;
  size_t timeouts = static_cast<size_t>(std::count(recent_.begin(), recent_.end(), true));
  if (timeouts * 10 > recent_.size() * 9) {
    samples_.clear();
    recent_.clear();
  }
}

std::optional<CircuitBuildTimes::Fit> CircuitBuildTimes::fit() const {
  if (samples_.size() < kMinSamples) return std::nullopt;
  // Histogram of 10 ms bins; the kNumModes most frequent, ties to the
  // earlier bin; Xm is the count-weighted average of their midpoints.
  std::map<uint32_t, size_t> bins;
  for (uint32_t s : samples_) ++bins[s / kBinWidthMs];
  std::vector<std::pair<uint32_t, size_t>> v(bins.begin(), bins.end());
  std::stable_sort(v.begin(), v.end(), [](auto &a, auto &b) { return a.second > b.second; });
  if (v.size() > kNumModes) v.resize(kNumModes);
  double weighted = 0, count = 0;
  for (auto &[bin, n] : v) {
    weighted += (bin * kBinWidthMs + kBinWidthMs / 2.0) * static_cast<double>(n);
    count += static_cast<double>(n);
  }
  double xm = weighted / count;
  // alpha = n / (Sum ln(max(Xm, x_i)) - n ln(Xm))
  double sum = 0;
  for (uint32_t s : samples_) sum += std::log(std::max(xm, static_cast<double>(s)));
  double n = static_cast<double>(samples_.size());
  double denom = sum - n * std::log(xm);
  double alpha = denom > 0 ? n / denom : INFINITY;  // all at or below Xm: no tail
  return Fit{xm, alpha};
}

std::optional<CircuitBuildTimes::ms> CircuitBuildTimes::estimate() const {
  auto f = fit();
  if (!f) return std::nullopt;
  // F(q) = Xm / (1-q)^(1/alpha), capped at the largest observed build time.
  double t = std::isinf(f->alpha) ? f->xm_ms : f->xm_ms / std::pow(1.0 - kQuantile, 1.0 / f->alpha);
  double max_seen = *std::max_element(samples_.begin(), samples_.end());
  t = std::min(t, max_seen);
  return ms(static_cast<int64_t>(std::ceil(t)));
}

CircuitBuildTimes::ms CircuitBuildTimes::timeout() const {
  auto e = estimate();
  if (!e) return kCeiling;
  return std::clamp(*e, kFloor, kCeiling);
}

std::string CircuitBuildTimes::serialize() const {
  std::string out = "circuit-build-times";
  for (uint32_t s : samples_) out += " " + std::to_string(s);
  out += "\n";
  return out;
}

CircuitBuildTimes CircuitBuildTimes::parse(std::string_view text, std::vector<std::string> *problems) {
  CircuitBuildTimes c;
  auto problem = [&](std::string p) {
    if (problems) problems->push_back(std::move(p));
  };
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    if (line.empty()) continue;
    constexpr std::string_view kw = "circuit-build-times";
    if (line.substr(0, kw.size()) != kw || (line.size() > kw.size() && line[kw.size()] != ' ')) {
      problem("unknown line '" + std::string(line.substr(0, 40)) + "'");
      continue;
    }
    std::string_view rest = line.substr(kw.size());
    size_t i = 0;
    while (i < rest.size()) {
      while (i < rest.size() && rest[i] == ' ') ++i;
      size_t j = i;
      while (j < rest.size() && rest[j] != ' ') ++j;
      if (j == i) break;
      std::string_view tok = rest.substr(i, j - i);
      uint32_t v = 0;
      auto [p, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), v);
      if (ec != std::errc() || p != tok.data() + tok.size() || v == 0 || v > kMaxBuildMs)
        problem("bad build time '" + std::string(tok.substr(0, 20)) + "'");
      else
        c.add(ms(v));
      i = j;
    }
  }
  c.recent_.clear();  // outcomes are not persisted
  return c;
}

}  // namespace tc::path
