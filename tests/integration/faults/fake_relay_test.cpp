// Channels to fake "relays" (tests/integration/faults/fake_relay.py: TLS
// servers that send junk or stall) fail with a clear error within the
// channel timeout, while a real circuit on the same runtime keeps fetching
// (issue 8). Run by test_fake_relay.py, which starts the fake relays and
// passes their ports in FAKE_RELAY_PORTS ("mode=port,mode=port,...").
#include <gtest/gtest.h>

#include <asio.hpp>
#include <map>
#include <sstream>

#include "crypto/crypto.h"
#include "runtime/channel.h"
#include "runtime/circuit.h"
#include "runtime/directory.h"
#include "testnet_env.h"
#include "util/log.h"

using namespace tc;
using namespace tc::runtime;
using asio::awaitable;
using namespace std::chrono_literals;

namespace {

constexpr std::chrono::seconds kChannelTimeout{5};

std::map<std::string, uint16_t> fake_ports() {
  std::map<std::string, uint16_t> out;
  const char *e = std::getenv("FAKE_RELAY_PORTS");
  if (!e) return out;
  std::stringstream ss(e);
  std::string item;
  while (std::getline(ss, item, ',')) {
    auto eq = item.find('=');
    if (eq != std::string::npos) out[item.substr(0, eq)] = static_cast<uint16_t>(std::stoi(item.substr(eq + 1)));
  }
  return out;
}

struct Outcome {
  bool done = false;
  std::optional<Error> error;  // the channel's error (it must fail)
  std::chrono::milliseconds took{0};
};

proto::RelayTarget target_of(const path::Relay &r) {
  proto::RelayTarget t;
  t.nickname = std::string(r.rs->nickname);
  t.rsa_id = r.rs->rsa_identity;
  t.ed_id = r.md->ed25519_id;
  t.ntor_onion_key = *r.md->ntor_onion_key;
  uint32_t a = r.rs->ipv4;
  t.ipv4 = {uint8_t(a >> 24), uint8_t(a >> 16), uint8_t(a >> 8), uint8_t(a)};
  t.or_port = r.rs->or_port;
  return t;
}

// Bootstrap, one 3-hop circuit, GET /1M; returns the body's sha256 (hex).
awaitable<Result<std::string>> real_fetch(asio::ssl::context &tls, const testnet::Testnet &net) {
  auto ex = co_await asio::this_coro::executor;
  DirectoryOptions o;
  for (auto &l : net.dir_authority_lines) {
    auto a = netdoc::DirAuthority::parse(l);
    if (!a) co_return a.error();
    o.authorities.push_back(*a);
  }
  o.path_options.test_network = true;
  o.path_options.enforce_distinct_subnets = false;
  auto dir = std::make_shared<Directory>(ex, o);
  TC_CO_TRY_VOID(co_await dir->refresh(std::time(nullptr), nullptr));
  auto nd = dir->netdir();
  if (!nd) co_return Error(ErrorKind::kNotFound, "no netdir after bootstrap");
  auto rng = path::system_random();
  auto p = nd->choose_path(net.http_port, rng);
  if (!p) co_return p.error();
  std::vector<proto::RelayTarget> hops{target_of(*p->guard), target_of(*p->middle), target_of(*p->exit)};
  ChannelTarget ct{hops[0].nickname, "127.0.0.1", hops[0].or_port, hops[0].rsa_id, hops[0].ed_id};
  auto ch = co_await Channel::open(ex, tls, ct, 20s);
  if (!ch) co_return ch.error();
  auto circ = co_await TorCircuit::build(*ch, hops, proto::HandshakeType::kNtor, 15000ms);
  if (!circ) co_return circ.error();
  auto s = co_await (*circ)->open_stream("127.0.0.1", net.http_port, 0, 30000ms);
  if (!s) co_return s.error();
  std::string req = "GET /1M HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  TC_CO_TRY_VOID(co_await (*s)->write(as_bytes(req)));
  std::string all;
  std::vector<uint8_t> buf(65536);
  for (;;) {
    auto n = co_await (*s)->read_some(buf);
    if (!n) co_return n.error();
    if (*n == 0) break;
    all.append(reinterpret_cast<const char *>(buf.data()), *n);
  }
  (*s)->close();
  (*circ)->destroy();
  (*ch)->close(Error(ErrorKind::kClosed, "test done"));
  auto e = all.find("\r\n\r\n");
  if (e == std::string::npos) co_return Error(ErrorKind::kProtocol, "no HTTP header end");
  co_return hex_encode(crypto::sha256(as_bytes(std::string_view(all).substr(e + 4))));
}

TEST(Faults, FakeRelaysFailCleanlyWhileRealTrafficFlows) {
  auto net = testnet::load_testnet();
  auto ports = fake_ports();
  if (net.dir.empty() || ports.empty()) GTEST_SKIP() << "run through test_fake_relay.py (ctest faults.fake_relay)";
  asio::io_context io;
  auto tls = make_tls_context();
  std::map<std::string, Outcome> outcomes;
  for (auto &[mode, port] : ports) {
    Outcome *out = &outcomes[mode];
    ChannelTarget ct{"fake-" + mode, "127.0.0.1", port, {}, std::nullopt};
    ct.rsa_id.fill(0xAB);
    asio::co_spawn(
        io,
        [&io, &tls, ct, out]() -> awaitable<void> {
          auto t0 = std::chrono::steady_clock::now();
          auto ch = co_await Channel::open(io.get_executor(), *tls, ct, kChannelTimeout);
          out->took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
          if (ch) {
            (*ch)->close(Error(ErrorKind::kClosed, "test"));
          } else {
            out->error = ch.error();
          }
          out->done = true;
        },
        asio::detached);
  }
  auto fetched = asio::co_spawn(io, real_fetch(*tls, net), asio::use_future);
  // Everything must finish by itself: no operation left pending (a hang).
  io.run_for(120s);
  EXPECT_TRUE(io.stopped()) << "operations still pending after 120 s";

  ASSERT_EQ(fetched.wait_for(0s), std::future_status::ready);
  auto sha = fetched.get();
  ASSERT_TRUE(sha.ok()) << sha.error().to_string();
  EXPECT_EQ(*sha, net.files.at("1M").sha256);

  for (auto &[mode, o] : outcomes) {
    ASSERT_TRUE(o.done) << mode << ": Channel::open never returned";
    ASSERT_TRUE(o.error.has_value()) << mode << ": a channel to a fake relay opened";
    std::printf("fake relay %-14s -> %s error after %lld ms: %s\n", mode.c_str(),
                std::string(error_kind_name(o.error->kind())).c_str(), static_cast<long long>(o.took.count()),
                o.error->to_string().c_str());
    EXPECT_LE(o.took, kChannelTimeout + 2s) << mode;
    EXPECT_FALSE(o.error->message().empty()) << mode;
    if (mode == "stall" || mode == "tcp-stall") {
      EXPECT_EQ(o.error->kind(), ErrorKind::kTimeout) << mode << ": " << o.error->to_string();
    } else {
      // Junk is refused on parsing, not by waiting for the deadline.
      EXPECT_NE(o.error->kind(), ErrorKind::kTimeout) << mode << ": " << o.error->to_string();
      EXPECT_LT(o.took, kChannelTimeout) << mode;
    }
  }
}

}  // namespace
