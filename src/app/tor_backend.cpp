// SocksBackend over the real TorClient: kept apart from socks_server.cpp so
// that programs and tests which never use it do not need TorClient linked.
#include "app/socks_server.h"

namespace tc::app {
namespace {

class TorClientBackend final : public SocksBackend {
 public:
  explicit TorClientBackend(std::shared_ptr<runtime::TorClient> c) : client_(std::move(c)) {}
  asio::any_io_executor executor() override { return client_->executor(); }
  asio::awaitable<Result<std::shared_ptr<runtime::TorStream>>> connect(std::string host, uint16_t port,
                                                                      runtime::IsolationKey iso) override {
    co_return co_await client_->connect(std::move(host), port, std::move(iso));
  }
  asio::awaitable<Result<std::vector<cell::ResolvedAnswer>>> resolve(std::string host,
                                                                    runtime::IsolationKey iso) override {
    co_return co_await client_->resolve(std::move(host), std::move(iso));
  }

 private:
  std::shared_ptr<runtime::TorClient> client_;
};

}  // namespace

std::shared_ptr<SocksBackend> tor_client_backend(std::shared_ptr<runtime::TorClient> client) {
  return std::make_shared<TorClientBackend>(std::move(client));
}

}  // namespace tc::app
