#include "runtime/dirclient.h"

namespace tc::runtime {

using asio::awaitable;
using asio::use_awaitable;

namespace {
constexpr size_t kMaxResponse = 64u << 20;

Result<proto::HttpResponse> finish(const Bytes &raw, const std::string &path) {
  auto r = proto::parse_http_response(raw, kMaxResponse);
  if (!r) return std::move(r).error().context("GET " + path);
  if (r->status != 200)
    return Error(r->status == 404 ? ErrorKind::kNotFound : ErrorKind::kRefused,
                 "GET " + path + ": HTTP " + std::to_string(r->status) + " " + r->reason);
  return r;
}
}  // namespace

awaitable<Result<proto::HttpResponse>> http_get_dirport(asio::any_io_executor ex, std::string address, uint16_t port,
                                                         std::string path, std::chrono::milliseconds timeout,
                                                         std::chrono::milliseconds first_byte_timeout,
                                                         std::shared_ptr<DirCancel> cancel) {
  std::error_code ec;
  auto addr = asio::ip::make_address(address, ec);
  if (ec) co_return Error(ErrorKind::kInvalidArgument, "bad directory address '" + address + "'");
  if (cancel && cancel->cancelled) co_return Error(ErrorKind::kClosed, "GET " + path + ": cancelled");
  asio::ip::tcp::socket sock(ex);
  auto start = std::chrono::steady_clock::now();
  // One timer: first the connect + first-byte deadline, then (once the
  // answer has begun) the deadline for the whole response.
  asio::steady_timer deadline(ex, std::min(timeout, first_byte_timeout));
  bool timed_out = false, first_byte = false;
  auto on_deadline = [&](std::error_code e) {
    if (!e) {
      timed_out = true;
      std::error_code ignore;
      sock.close(ignore);
    }
  };
  deadline.async_wait(on_deadline);
  if (cancel)
    cancel->hook = [&sock] {
      std::error_code ignore;
      sock.close(ignore);
    };
  Bytes raw;
  co_await sock.async_connect({addr, port}, asio::redirect_error(use_awaitable, ec));
  if (!ec) {
    std::string req = proto::make_dir_request(path, address);
    co_await asio::async_write(sock, asio::buffer(req), asio::redirect_error(use_awaitable, ec));
  }
  uint8_t buf[16384];
  Status result;
  while (!ec) {
    size_t n = co_await sock.async_read_some(asio::buffer(buf), asio::redirect_error(use_awaitable, ec));
    if (n > 0 && !first_byte && !timed_out) {
      first_byte = true;
      if (timeout > first_byte_timeout) {
        deadline.expires_at(start + timeout);  // cancels the first wait (its handler sees the abort)
        deadline.async_wait(on_deadline);
      }
    }
    raw.insert(raw.end(), buf, buf + n);
    if (raw.size() > kMaxResponse) {
      result = Error(ErrorKind::kExhausted, "GET " + path + ": response too large");
      break;
    }
  }
  if (cancel) cancel->hook = nullptr;
  deadline.cancel();
  // Let the timer's handler run before the socket and flags leave scope.
  co_await asio::post(ex, use_awaitable);
  if (!result) co_return std::move(result).error();
  if (cancel && cancel->cancelled) co_return Error(ErrorKind::kClosed, "GET " + path + ": cancelled");
  if (timed_out)
    co_return Error(ErrorKind::kTimeout, first_byte ? "GET " + path + ": no complete answer in time"
                                                    : "GET " + path + ": no answer in time");
  if (ec != asio::error::eof) co_return Error(ErrorKind::kIo, "GET " + path + ": " + ec.message());
  co_return finish(raw, path);
}

awaitable<Result<proto::HttpResponse>> http_get_begindir(std::shared_ptr<TorCircuit> circ, std::string path,
                                                          std::chrono::milliseconds timeout,
                                                          std::chrono::milliseconds open_timeout) {
  auto stream_r = co_await circ->open_dir_stream(std::min(timeout, open_timeout));
  if (!stream_r) co_return std::move(stream_r).error().context("BEGIN_DIR for " + path);
  auto stream = *stream_r;
  std::string req = proto::make_dir_request(path);
  auto st = co_await stream->write(as_bytes(req));
  if (!st) co_return std::move(st).error().context("GET " + path);
  Bytes raw;
  uint8_t buf[16384];
  // The whole response is bounded by `timeout` as well.
  auto ex = circ->channel()->executor();
  asio::steady_timer deadline(ex, timeout);
  bool timed_out = false;
  deadline.async_wait([&, weak = std::weak_ptr<TorStream>(stream)](std::error_code e) {
    if (e) return;
    timed_out = true;
    if (auto s = weak.lock()) s->failed(Error(ErrorKind::kTimeout, "GET " + path + ": no complete answer in time"));
  });
  Status result;
  for (;;) {
    auto n = co_await stream->read_some(buf);
    if (!n) {
      result = std::move(n).error();
      break;
    }
    if (*n == 0) break;
    raw.insert(raw.end(), buf, buf + *n);
    if (raw.size() > kMaxResponse) {
      result = Error(ErrorKind::kExhausted, "GET " + path + ": response too large");
      break;
    }
  }
  deadline.cancel();
  co_await asio::post(ex, use_awaitable);
  stream->close();
  if (!result) co_return std::move(result).error();
  co_return finish(raw, path);
}

}  // namespace tc::runtime
