#include "util/log.h"

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <sys/time.h>

namespace tc::log {
namespace {
std::atomic<Level> g_level{Level::kNotice};
std::atomic<bool> g_safe{true};
std::mutex g_mu;
FILE *g_out = nullptr;
const char *level_name(Level l) {
  switch (l) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kNotice: return "notice";
    case Level::kWarn: return "warn";
    case Level::kErr: return "err";
  }
  return "?";
}
}  // namespace

void set_level(Level l) { g_level = l; }
Level level() { return g_level; }
bool parse_level(std::string_view s, Level *out) {
  static const std::pair<const char *, Level> names[] = {
      {"debug", Level::kDebug}, {"info", Level::kInfo}, {"notice", Level::kNotice},
      {"warn", Level::kWarn},   {"err", Level::kErr},   {"error", Level::kErr}};
  for (auto &[n, l] : names)
    if (s == n) {
      *out = l;
      return true;
    }
  return false;
}
void set_safe_logging(bool on) { g_safe = on; }
bool safe_logging() { return g_safe; }
void set_file(const std::string &path) {
  std::lock_guard lk(g_mu);
  FILE *f = std::fopen(path.c_str(), "a");
  if (!f) return;
  if (g_out && g_out != stderr) std::fclose(g_out);
  g_out = f;
  setvbuf(g_out, nullptr, _IOLBF, 0);
}

void write(Level l, const char *fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  struct timeval tv;
  gettimeofday(&tv, nullptr);
  struct tm tm;
  gmtime_r(&tv.tv_sec, &tm);
  char ts[32];
  std::strftime(ts, sizeof ts, "%b %d %H:%M:%S", &tm);
  std::lock_guard lk(g_mu);
  FILE *out = g_out ? g_out : stderr;
  std::fprintf(out, "%s.%03d [%s] %s\n", ts, static_cast<int>(tv.tv_usec / 1000), level_name(l), msg);
}

std::string safe(std::string_view sensitive) {
  if (g_safe) return "[scrubbed]";
  return std::string(sensitive);
}

}  // namespace tc::log
