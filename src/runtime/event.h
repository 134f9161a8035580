// Single-threaded wake-ups for coroutines on the runtime's io_context: a
// waiter co_awaits wait(), a notifier calls notify_all(). Built on a timer
// that never expires by itself, so cancellation wakes every waiter.
#pragma once
#include <asio.hpp>
#include <chrono>

namespace tc::runtime {

class Event {
 public:
  explicit Event(asio::any_io_executor ex) : timer_(ex, asio::steady_timer::time_point::max()) {}
  // Returns after notify_all() or when the deadline passes; true if notified.
  asio::awaitable<bool> wait(std::chrono::steady_clock::duration timeout) {
    uint64_t gen = generation_;
    if (timeout != std::chrono::steady_clock::duration::max()) {
      // A per-wait deadline: a separate timer cancels our wait.
      asio::steady_timer deadline(timer_.get_executor(), timeout);
      bool expired = false;
      deadline.async_wait([this, &expired](std::error_code ec) {
        if (!ec) {
          expired = true;
          timer_.cancel();
        }
      });
      std::error_code ec;
      co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      deadline.cancel();
      // Let the deadline handler run before `expired` leaves scope.
      co_await asio::post(timer_.get_executor(), asio::use_awaitable);
      co_return generation_ != gen || !expired;
    }
    std::error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    co_return true;
  }
  asio::awaitable<void> wait() { co_await wait(std::chrono::steady_clock::duration::max()); }
  void notify_all() {
    ++generation_;
    timer_.cancel();
  }

 private:
  asio::steady_timer timer_;
  uint64_t generation_ = 0;
};

}  // namespace tc::runtime
