// Directory fetches (dir-spec §6): HTTP/1.0 GET over a BEGIN_DIR stream
// (the normal way; relays in tor 0.4.9 have no DirPort) or, as a fallback,
// over plain TCP to an authority's DirPort.
#pragma once
#include <asio.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "proto/http.h"
#include "runtime/circuit.h"

namespace tc::runtime {

// Lets another coroutine abandon a request in flight (the losers of a race
// between authorities). Same thread only, like everything on the runtime.
struct DirCancel {
  bool cancelled = false;
  std::function<void()> hook;  // set by the request while it runs
  void cancel() {
    cancelled = true;
    if (hook) hook();
  }
};

// `first_byte_timeout` bounds the connect plus the wait for the first byte
// of the answer (a frozen authority accepts TCP and never answers); the
// whole response must arrive within `timeout`.
asio::awaitable<Result<proto::HttpResponse>> http_get_dirport(asio::any_io_executor ex, std::string address,
                                                               uint16_t port, std::string path,
                                                               std::chrono::milliseconds timeout,
                                                               std::chrono::milliseconds first_byte_timeout,
                                                               std::shared_ptr<DirCancel> cancel = nullptr);
// `open_timeout` bounds the BEGIN_DIR stream's opening; `timeout` the whole
// response.
asio::awaitable<Result<proto::HttpResponse>> http_get_begindir(std::shared_ptr<TorCircuit> circ, std::string path,
                                                                std::chrono::milliseconds timeout,
                                                                std::chrono::milliseconds open_timeout);

}  // namespace tc::runtime
