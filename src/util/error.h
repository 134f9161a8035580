// Errors as values: every fallible call returns Result<T>, carrying an Error
// with a kind and a human-readable message that says what and where.
#pragma once
#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace tc {

enum class ErrorKind {
  kMalformed,     // bad bytes from outside (cell, document, SOCKS request, config)
  kProtocol,      // a peer violated the protocol
  kCrypto,        // a signature, digest or handshake check failed
  kTimeout,
  kClosed,        // the channel / circuit / stream is gone
  kRefused,       // a peer refused (END reason, DESTROY, ...)
  kIo,
  kNotFound,
  kInvalidArgument,
  kExhausted,     // a limit was reached
  kInternal,
};

const char *error_kind_name(ErrorKind k);

class Error {
 public:
  Error(ErrorKind kind, std::string message) : kind_(kind), message_(std::move(message)) {}
  ErrorKind kind() const { return kind_; }
  const std::string &message() const { return message_; }
  // "context: message": adds where the error happened as it travels outward.
  Error context(const std::string &where) const & {
    Error e(kind_, where + ": " + message_);
    e.code_ = code_;
    return e;
  }
  Error context(const std::string &where) && {
    message_ = where + ": " + message_;
    return std::move(*this);
  }
  std::string to_string() const { return std::string(error_kind_name(kind_)) + ": " + message_; }
  // A protocol-specific code travelling with the error, e.g. the RELAY_END
  // reason (tor-spec §6.3) that refused a stream; 0 when none.
  int code() const { return code_; }
  Error with_code(int c) && {
    code_ = c;
    return std::move(*this);
  }

 private:
  ErrorKind kind_;
  std::string message_;
  int code_ = 0;
};

inline Error make_error(ErrorKind k, std::string msg) { return Error(k, std::move(msg)); }

template <typename T>
class [[nodiscard]] Result {
 public:
  // An empty result is an error; Asio needs default-constructible results.
  Result() : v_(std::in_place_index<1>, Error(ErrorKind::kInternal, "no result")) {}
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error err) : v_(std::in_place_index<1>, std::move(err)) {}  // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T &value() & { assert(ok()); return std::get<0>(v_); }
  const T &value() const & { assert(ok()); return std::get<0>(v_); }
  T &&value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T &operator*() & { return value(); }
  const T &operator*() const & { return value(); }
  T *operator->() { return &value(); }
  const T *operator->() const { return &value(); }
  const Error &error() const & { assert(!ok()); return std::get<1>(v_); }
  Error &&error() && { assert(!ok()); return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error err) : err_(std::move(err)), has_err_(true) {}  // NOLINT
  bool ok() const { return !has_err_; }
  explicit operator bool() const { return ok(); }
  const Error &error() const & { assert(has_err_); return err_; }
  Error &&error() && { assert(has_err_); return std::move(err_); }

 private:
  Error err_{ErrorKind::kInternal, ""};
  bool has_err_ = false;
};

using Status = Result<void>;

}  // namespace tc

// Propagate an error: TC_TRY(auto x, expr) / TC_TRY_VOID(expr).
#define TC_CONCAT_INNER(a, b) a##b
#define TC_CONCAT(a, b) TC_CONCAT_INNER(a, b)
#define TC_TRY_IMPL(tmp, decl, expr)          \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return std::move(tmp).error(); \
  decl = std::move(tmp).value()
#define TC_TRY(decl, expr) TC_TRY_IMPL(TC_CONCAT(tc_try_, __LINE__), decl, expr)
#define TC_TRY_VOID(expr)                                  \
  do {                                                     \
    auto tc_try_void_ = (expr);                            \
    if (!tc_try_void_.ok()) return std::move(tc_try_void_).error(); \
  } while (0)

// The same for coroutines (co_return).
#define TC_CO_TRY_IMPL(tmp, decl, expr)          \
  auto tmp = (expr);                             \
  if (!tmp.ok()) co_return std::move(tmp).error(); \
  decl = std::move(tmp).value()
#define TC_CO_TRY(decl, expr) TC_CO_TRY_IMPL(TC_CONCAT(tc_cotry_, __LINE__), decl, expr)
#define TC_CO_TRY_VOID(expr)                                  \
  do {                                                        \
    auto tc_cotry_void_ = (expr);                             \
    if (!tc_cotry_void_.ok()) co_return std::move(tc_cotry_void_).error(); \
  } while (0)
