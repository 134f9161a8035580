#include "runtime/channel.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <ctime>

#include "crypto/crypto.h"
#include "crypto/link_certs.h"
#include "util/log.h"

namespace tc::runtime {

using asio::awaitable;
using asio::use_awaitable;

namespace {
constexpr uint16_t kOurLinkVersions[] = {4, 5};
constexpr size_t kReadChunk = 64 * 1024;
}  // namespace

std::unique_ptr<asio::ssl::context> make_tls_context() {
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
  ctx->set_verify_mode(asio::ssl::verify_none);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  return ctx;
}

Channel::Channel(asio::any_io_executor ex, asio::ssl::context &tls, ChannelTarget target)
    : ex_(ex), tls_(ex, tls), target_(std::move(target)), write_ready_(ex) {}

Channel::~Channel() = default;

awaitable<Result<std::shared_ptr<Channel>>> Channel::open(asio::any_io_executor ex, asio::ssl::context &tls,
                                                          ChannelTarget target, std::chrono::seconds timeout) {
  std::shared_ptr<Channel> ch(new Channel(ex, tls, std::move(target)));
  // One deadline for connect + TLS + link handshake: on expiry the socket is
  // closed and the pending operation fails.
  asio::steady_timer deadline(ex, timeout);
  bool timed_out = false;
  deadline.async_wait([&, weak = std::weak_ptr<Channel>(ch)](std::error_code ec) {
    if (ec) return;
    timed_out = true;
    if (auto c = weak.lock()) {
      std::error_code ignore;
      c->tls_.lowest_layer().close(ignore);
    }
  });
  Status st = co_await ch->handshake();
  deadline.cancel();
  co_await asio::post(ex, use_awaitable);  // let the deadline handler finish
  std::string who = "channel to " + ch->target_.nickname;
  if (timed_out) {
    ch->closed_ = true;
    co_return Error(ErrorKind::kTimeout, who + ": link handshake did not finish in " +
                                             std::to_string(timeout.count()) + " s");
  }
  if (!st) {
    ch->closed_ = true;
    std::error_code ignore;
    ch->tls_.lowest_layer().close(ignore);
    co_return std::move(st).error().context(who);
  }
  asio::co_spawn(ex, [ch]() -> awaitable<void> { co_await ch->read_loop(); }, asio::detached);
  co_return ch;
}

// Linux: ACK at once instead of delaying. A relay writes its VERSIONS,
// CERTS, AUTH_CHALLENGE and NETINFO in more than one segment; with Nagle on
// its side, the later ones wait for our ACK of the first, which a delayed
// ACK holds back for up to 40 ms. The flag does not stick, so it is set
// before each handshake read.
void Channel::quick_ack() {
#ifdef TCP_QUICKACK
  int one = 1;
  (void)::setsockopt(tls_.lowest_layer().native_handle(), IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
#endif
}

awaitable<Status> Channel::handshake() {
  std::error_code ec;
  asio::ip::address addr = asio::ip::make_address(target_.address, ec);
  if (ec) co_return Error(ErrorKind::kInvalidArgument, "bad relay address '" + target_.address + "'");
  auto t0 = std::chrono::steady_clock::now();
  auto ms = [&] {
    return static_cast<long long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count());
  };
  co_await tls_.lowest_layer().async_connect({addr, target_.port}, asio::redirect_error(use_awaitable, ec));
  if (ec) co_return Error(ErrorKind::kIo, "TCP connect: " + ec.message());
  LOG_DEBUG("channel to %s: TCP connected after %lld ms", target_.nickname.c_str(), ms());
  tls_.lowest_layer().set_option(asio::ip::tcp::no_delay(true), ec);
  co_await tls_.async_handshake(asio::ssl::stream_base::client, asio::redirect_error(use_awaitable, ec));
  if (ec) co_return Error(ErrorKind::kIo, "TLS handshake: " + ec.message());
  LOG_DEBUG("channel to %s: TLS up after %lld ms", target_.nickname.c_str(), ms());

  // §4.1: VERSIONS first, with 2-byte circuit ids whatever comes later.
  Bytes hello;
  cell::encode_var_cell(cell::make_versions_cell(kOurLinkVersions), 0, hello);
  co_await asio::async_write(tls_, asio::buffer(hello), asio::redirect_error(use_awaitable, ec));
  if (ec) co_return Error(ErrorKind::kIo, "sending VERSIONS: " + ec.message());
  bytes_written_ += hello.size();

  // Read the responder's VERSIONS, CERTS, AUTH_CHALLENGE and NETINFO (§4).
  std::optional<Bytes> certs_payload;
  bool got_versions = false, got_netinfo = false;
  cell::Cell fixed;
  cell::VarCell var;
  in_.resize(kReadChunk);
  size_t have = 0;
  while (!got_netinfo) {
    quick_ack();
    size_t n = co_await tls_.async_read_some(asio::buffer(in_.data() + have, in_.size() - have),
                                             asio::redirect_error(use_awaitable, ec));
    if (ec) co_return Error(ErrorKind::kIo, "reading link handshake: " + ec.message());
    bytes_read_ += n;
    have += n;
    size_t pos = 0;
    for (;;) {
      auto d = cell::decode_cell(ByteSpan(in_.data() + pos, have - pos), link_protocol_, fixed, var);
      if (!d) co_return std::move(d).error().context("link handshake");
      if (d->kind == cell::Decoded::kNone) break;
      pos += d->consumed;
      if (!got_versions) {
        if (d->kind != cell::Decoded::kVar || var.command != cell::CellCommand::kVersions)
          co_return Error(ErrorKind::kProtocol, "first cell from relay is not VERSIONS");
        TC_CO_TRY(auto theirs, cell::parse_versions(var.payload));
        link_protocol_ = cell::choose_link_protocol(kOurLinkVersions, theirs);
        if (link_protocol_ == 0) co_return Error(ErrorKind::kProtocol, "no link protocol version in common");
        got_versions = true;
        continue;
      }
      if (d->kind == cell::Decoded::kVar) {
        if (var.command == cell::CellCommand::kCerts) {
          if (certs_payload) co_return Error(ErrorKind::kProtocol, "two CERTS cells");
          certs_payload = var.payload;
        } else if (var.command == cell::CellCommand::kAuthChallenge || var.command == cell::CellCommand::kVpadding) {
          // We do not authenticate as a relay: AUTH_CHALLENGE is ignored (§4.3).
        } else {
          co_return Error(ErrorKind::kProtocol, std::string("unexpected ") + cell::cell_command_name(var.command) +
                                                    " during link handshake");
        }
        continue;
      }
      if (fixed.command == cell::CellCommand::kPadding) continue;
      if (fixed.command != cell::CellCommand::kNetinfo)
        co_return Error(ErrorKind::kProtocol, std::string("unexpected ") + cell::cell_command_name(fixed.command) +
                                                  " during link handshake");
      if (!certs_payload) co_return Error(ErrorKind::kProtocol, "NETINFO before CERTS");
      TC_CO_TRY(auto netinfo, cell::parse_netinfo(fixed.payload));
      (void)netinfo;
      got_netinfo = true;
      if (pos != have) co_return Error(ErrorKind::kProtocol, "cells after NETINFO before our NETINFO");
      break;
    }
    if (pos > 0) {
      std::memmove(in_.data(), in_.data() + pos, have - pos);
      have -= pos;
    }
    if (have == in_.size()) co_return Error(ErrorKind::kProtocol, "link handshake cell too large");
  }

  LOG_DEBUG("channel to %s: VERSIONS..NETINFO read after %lld ms", target_.nickname.c_str(), ms());
  // §4.2: the relay proves its identity with CERTS bound to this TLS session.
  X509 *peer = SSL_get1_peer_certificate(tls_.native_handle());
  if (!peer) co_return Error(ErrorKind::kCrypto, "relay presented no TLS certificate");
  unsigned char *der = nullptr;
  int der_len = i2d_X509(peer, &der);
  X509_free(peer);
  if (der_len <= 0) co_return Error(ErrorKind::kCrypto, "cannot encode relay TLS certificate");
  Bytes peer_der(der, der + der_len);
  OPENSSL_free(der);
  auto id = crypto::validate_relay_certs(*certs_payload, peer_der, std::time(nullptr));
  if (!id) co_return std::move(id).error().context("CERTS");
  if (!ct_equal(id->rsa_id, target_.rsa_id))
    co_return Error(ErrorKind::kCrypto, "relay RSA identity is $" + hex_encode(id->rsa_id, true) + ", expected $" +
                                            hex_encode(target_.rsa_id, true));
  if (target_.ed_id && !ct_equal(id->ed_id, *target_.ed_id))
    co_return Error(ErrorKind::kCrypto, "relay Ed25519 identity does not match the expected one");
  target_.ed_id = id->ed_id;

  // Our NETINFO: timestamp 0 as clients do, the relay's address as we see it.
  std::array<uint8_t, 4> their{};
  auto v4 = addr.is_v4() ? addr.to_v4().to_bytes() : asio::ip::address_v4::bytes_type{};
  std::copy(v4.begin(), v4.end(), their.begin());
  Bytes out;
  cell::encode_cell(cell::make_netinfo_cell(0, cell::IpAddress::v4(their)), link_protocol_, out);
  co_await asio::async_write(tls_, asio::buffer(out), asio::redirect_error(use_awaitable, ec));
  if (ec) co_return Error(ErrorKind::kIo, "sending NETINFO: " + ec.message());
  bytes_written_ += out.size();
  LOG_DEBUG("channel to %s: open after %lld ms", target_.nickname.c_str(), ms());
  in_start_ = have;  // leftover bytes (none expected) stay for the read loop
  co_return Status{};
}

awaitable<void> Channel::read_loop() {
  auto self = shared_from_this();
  cell::Cell fixed;
  cell::VarCell var;
  size_t have = in_start_;
  Error why(ErrorKind::kClosed, "channel closed");
  for (;;) {
    if (closed_) co_return;
    std::error_code ec;
    if (in_.size() - have < 4096) in_.resize(std::max(in_.size() * 2, have + kReadChunk));
    size_t n = co_await tls_.async_read_some(asio::buffer(in_.data() + have, in_.size() - have),
                                             asio::redirect_error(use_awaitable, ec));
    if (ec) {
      why = Error(ErrorKind::kClosed, "channel to " + target_.nickname + " closed: " + ec.message());
      break;
    }
    bytes_read_ += n;
    have += n;
    size_t pos = 0;
    bool bad = false;
    while (!closed_) {
      auto d = cell::decode_cell(ByteSpan(in_.data() + pos, have - pos), link_protocol_, fixed, var);
      if (!d) {
        why = std::move(d).error().context("channel to " + target_.nickname);
        bad = true;
        break;
      }
      if (d->kind == cell::Decoded::kNone) break;
      pos += d->consumed;
      if (d->kind == cell::Decoded::kFixed) dispatch(fixed);
      // Variable-length cells after the handshake (VPADDING, ...) are ignored.
    }
    if (bad) break;
    if (pos > 0) {
      std::memmove(in_.data(), in_.data() + pos, have - pos);
      have -= pos;
    }
  }
  close(why);
}

void Channel::dispatch(cell::Cell &c) {
  if (c.circ_id == 0) return;  // PADDING and other link-level cells
  auto it = sinks_.find(c.circ_id);
  if (it == sinks_.end()) return;  // a circuit we already forgot; §5.4 cells may cross
  auto sink = it->second.lock();
  if (!sink) {
    sinks_.erase(it);
    return;
  }
  sink->on_cell(c);
}

uint32_t Channel::allocate_circ_id() {
  for (;;) {
    uint32_t id = crypto::random_u32() | 0x80000000u;
    if (!sinks_.count(id)) return id;
  }
}

void Channel::attach(uint32_t circ_id, std::weak_ptr<CellSink> sink) { sinks_[circ_id] = std::move(sink); }
void Channel::detach(uint32_t circ_id) { sinks_.erase(circ_id); }

void Channel::send(const cell::Cell &c) {
  if (closed_) return;
  cell::encode_cell(c, link_protocol_, out_);
  if (!writer_running_) {
    writer_running_ = true;
    asio::co_spawn(ex_, [self = shared_from_this()]() -> awaitable<void> { co_await self->write_loop(); },
                   asio::detached);
  }
}

awaitable<void> Channel::write_loop() {
  // Everything queued since the last write goes out in one TLS write.
  while (!out_.empty() && !closed_) {
    writing_.swap(out_);
    out_.clear();
    std::error_code ec;
    co_await asio::async_write(tls_, asio::buffer(writing_), asio::redirect_error(use_awaitable, ec));
    if (ec) {
      writer_running_ = false;
      close(Error(ErrorKind::kClosed, "channel to " + target_.nickname + ": write failed: " + ec.message()));
      co_return;
    }
    bytes_written_ += writing_.size();
    writing_.clear();
    write_ready_.notify_all();
  }
  writer_running_ = false;
}

void Channel::close(const Error &why) {
  if (closed_) return;
  closed_ = true;
  LOG_INFO("%s", why.message().c_str());
  std::error_code ignore;
  tls_.lowest_layer().close(ignore);
  // Every circuit on the channel is gone (§5.4): fail them and their streams.
  auto sinks = std::move(sinks_);
  sinks_.clear();
  for (auto &[id, weak] : sinks)
    if (auto s = weak.lock()) s->on_channel_closed(why);
  write_ready_.notify_all();
}

}  // namespace tc::runtime
