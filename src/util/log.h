// Logging with levels. Safe logging is on by default: anything that could
// identify a client or its destination goes through safe(), which hides it
// unless safe logging was turned off (like tor's SafeLogging).
#pragma once
#include <string>
#include <string_view>

namespace tc::log {

enum class Level { kDebug = 0, kInfo = 1, kNotice = 2, kWarn = 3, kErr = 4 };

void set_level(Level l);
Level level();
bool parse_level(std::string_view s, Level *out);
void set_safe_logging(bool on);
bool safe_logging();
// Where lines go: stderr by default; a file path switches to appending to it.
void set_file(const std::string &path);

void write(Level l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// "[scrubbed]" under safe logging, else the text itself.
std::string safe(std::string_view sensitive);

}  // namespace tc::log

#define TC_LOG(lvl, ...)                                               \
  do {                                                                 \
    if (static_cast<int>(lvl) >= static_cast<int>(::tc::log::level())) \
      ::tc::log::write(lvl, __VA_ARGS__);                              \
  } while (0)
#define LOG_DEBUG(...) TC_LOG(::tc::log::Level::kDebug, __VA_ARGS__)
#define LOG_INFO(...) TC_LOG(::tc::log::Level::kInfo, __VA_ARGS__)
#define LOG_NOTICE(...) TC_LOG(::tc::log::Level::kNotice, __VA_ARGS__)
#define LOG_WARN(...) TC_LOG(::tc::log::Level::kWarn, __VA_ARGS__)
#define LOG_ERR(...) TC_LOG(::tc::log::Level::kErr, __VA_ARGS__)
