// Directory fetches (dir-spec §6): HTTP/1.0 GET over a BEGIN_DIR stream
// (the normal way; relays in tor 0.4.9 have no DirPort) or, as a fallback,
// over plain TCP to an authority's DirPort.
#pragma once
#include <asio.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "proto/http.h"
#include "runtime/circuit.h"

namespace tc::runtime {

asio::awaitable<Result<proto::HttpResponse>> http_get_dirport(asio::any_io_executor ex, std::string address,
                                                               uint16_t port, std::string path,
                                                               std::chrono::milliseconds timeout);
asio::awaitable<Result<proto::HttpResponse>> http_get_begindir(std::shared_ptr<TorCircuit> circ, std::string path,
                                                                std::chrono::milliseconds timeout);

}  // namespace tc::runtime
