// The Tor client as one object: its own runtime thread (an Asio io_context,
// the role tokio plays for arti), the directory (bootstrap, verification,
// cache), guards, channels and a pool of circuits, and stream requests from
// the front ends (SOCKS, C API, VPP). Front ends either run coroutines on
// executor() or call the thread-safe methods.
#pragma once
#include <asio.hpp>
#include <asio/ssl.hpp>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "control/control.h"
#include "runtime/circuit.h"

namespace tc::runtime {

struct ClientConfig {
  std::vector<std::string> dir_authority_lines;  // tor's DirAuthority syntax
  bool test_network = false;                     // like TestingTorNetwork: no /16 or family rule
  bool public_network = false;                   // the built-in authorities; never in tests
  std::string config_dir;                        // state: guards
  std::string cache_dir;                         // consensus, certificates, microdescriptors
  std::chrono::seconds max_circuit_dirtiness{600};
  proto::HandshakeType handshake = proto::HandshakeType::kNtor;
  // Ask exits for congestion control (prop 324) when the consensus's cc_alg
  // turns it on; false keeps the fixed SENDME windows everywhere.
  bool congestion_control = true;
  // Link each exit circuit with a second one to the same exit (conflux,
  // prop 329) when the exit supports it, congestion control is on and the
  // consensus's cfx_enabled is not 0: the exit then sends over both.
  bool conflux = true;
};

// Streams whose isolation keys differ never share a circuit (tor's
// IsolateSOCKSAuth: SOCKS credentials are part of the key).
struct IsolationKey {
  std::string username;
  std::string password;
  bool operator==(const IsolationKey &) const = default;
};

struct BootstrapState {
  int percent = 0;
  std::string phase = "starting";
};

class TorClient : public std::enable_shared_from_this<TorClient> {
 public:
  static Result<std::shared_ptr<TorClient>> create(ClientConfig cfg);
  ~TorClient();

  // Starts the runtime thread and the bootstrap; returns at once.
  void start();
  // Stops everything and joins the runtime thread. Idempotent.
  void stop();

  asio::any_io_executor executor() { return io_.get_executor(); }
  asio::io_context &io_context() { return io_; }

  // --- on the runtime thread (coroutines) ---
  // Opens a stream to host:port through a fitting circuit (reused or new),
  // retrying on another circuit if an exit refuses it.
  asio::awaitable<Result<std::shared_ptr<TorStream>>> connect(std::string host, uint16_t port, IsolationKey iso);
  asio::awaitable<Result<std::vector<cell::ResolvedAnswer>>> resolve(std::string host, IsolationKey iso);
  // Waits until a usable directory is there (Bootstrapped 100%).
  asio::awaitable<Status> wait_bootstrapped(std::chrono::milliseconds timeout);

  // --- thread-safe ---
  BootstrapState bootstrap_state() const;
  control::StatusSnapshot status_snapshot();
  std::vector<control::CircuitInfo> circuit_snapshot();

 private:
  explicit TorClient(ClientConfig cfg);
  struct Impl;
  ClientConfig cfg_;
  mutable asio::io_context io_;
  std::unique_ptr<asio::ssl::context> tls_;
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::unique_ptr<Impl> impl_;
};

}  // namespace tc::runtime
