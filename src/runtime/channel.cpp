#include "runtime/channel.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
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
// How much one wake-up of the reader may take from TLS before it lets the
// other channels and the writers run.
constexpr size_t kDrainBudget = 64 * 1024;
// A drain smaller than this (three cells and their TLS framing) is not bulk
// data: the next segment is ACKed at once (read_loop).
constexpr size_t kQuickAckBelow = 1600;

// A BIO over a non-blocking TCP socket: recv/send with MSG_NOSIGNAL (a
// relay that resets the connection must not kill the process with SIGPIPE,
// whoever embeds us), EAGAIN as "retry", and the errno kept for messages.
struct SocketBio {
  static int write_ex(BIO *b, const char *data, size_t len, size_t *written) {
    auto *st = static_cast<detail::SocketBioState *>(BIO_get_data(b));
    BIO_clear_retry_flags(b);
    for (;;) {
      ssize_t n = ::send(st->fd, data, len, MSG_NOSIGNAL);
      if (n >= 0) {
        *written = static_cast<size_t>(n);
        return 1;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        BIO_set_retry_write(b);
      else
        st->last_errno = errno;  // only real failures: a kept EAGAIN would mislabel a later TLS error
      return 0;
    }
  }
  static int read_ex(BIO *b, char *data, size_t len, size_t *read) {
    auto *st = static_cast<detail::SocketBioState *>(BIO_get_data(b));
    BIO_clear_retry_flags(b);
    for (;;) {
      ssize_t n = ::recv(st->fd, data, len, 0);
      if (n > 0) {
        *read = static_cast<size_t>(n);
        return 1;
      }
      if (n == 0) {
        st->eof = true;
        return 0;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        BIO_set_retry_read(b);
      else
        st->last_errno = errno;
      return 0;
    }
  }
  static long ctrl(BIO *, int cmd, long, void *) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }
  static int create(BIO *b) {
    BIO_set_init(b, 1);
    return 1;
  }
  static const BIO_METHOD *method() {
    static BIO_METHOD *m = [] {
      BIO_METHOD *bm = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "torclient socket");
      BIO_meth_set_write_ex(bm, write_ex);
      BIO_meth_set_read_ex(bm, read_ex);
      BIO_meth_set_ctrl(bm, ctrl);
      BIO_meth_set_create(bm, create);
      return bm;
    }();
    return m;
  }
};

std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}
}  // namespace

std::unique_ptr<asio::ssl::context> make_tls_context() {
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
  ctx->set_verify_mode(asio::ssl::verify_none);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  return ctx;
}

Channel::Channel(asio::any_io_executor ex, asio::ssl::context &tls, ChannelTarget target)
    : ex_(ex), sock_(ex), ssl_(SSL_new(tls.native_handle())), target_(std::move(target)) {}

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
      c->bio_state_.fd = -1;  // a later TLS call must not reach a reused fd number
      c->sock_.close(ignore);
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
    ch->bio_state_.fd = -1;
    ch->sock_.close(ignore);
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
  (void)::setsockopt(sock_.native_handle(), IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
#endif
}

namespace {
// SSL_get_error reads the thread's error queue: before each SSL call it must
// hold only that call's errors. Peeking first is cheaper than clearing an
// already empty queue, which is the case for nearly every read.
inline void clear_tls_errors() {
  if (ERR_peek_error() != 0) ERR_clear_error();
}
}  // namespace

Channel::TlsIo Channel::tls_step(int ret, const char *what, std::string &why) {
  if (ret == 1) return TlsIo::kDone;
  switch (SSL_get_error(ssl_.get(), ret)) {
    case SSL_ERROR_WANT_READ:
      return TlsIo::kWantRead;
    case SSL_ERROR_WANT_WRITE:
      return TlsIo::kWantWrite;
    case SSL_ERROR_ZERO_RETURN:
      why = std::string(what) + ": relay closed the TLS session";
      return TlsIo::kFailed;
    default:
      break;
  }
  std::string ssl_errors = openssl_errors();
  if (bio_state_.eof)
    why = std::string(what) + ": connection closed by relay";
  else if (bio_state_.last_errno != 0)
    why = std::string(what) + ": " + std::strerror(bio_state_.last_errno);
  else
    why = std::string(what) + ": TLS error";
  if (!ssl_errors.empty() && !bio_state_.eof) why += " (" + ssl_errors + ")";
  return TlsIo::kFailed;
}

awaitable<Status> Channel::tls_wait(TlsIo io) {
  std::error_code ec;
  co_await sock_.async_wait(io == TlsIo::kWantWrite ? asio::socket_base::wait_write : asio::socket_base::wait_read,
                            asio::redirect_error(use_awaitable, ec));
  if (ec) co_return Error(ErrorKind::kIo, ec.message());
  co_return Status{};
}

// One TLS read: whatever one record gave, waiting for the socket if needed.
awaitable<Result<size_t>> Channel::tls_read_some(uint8_t *buf, size_t len) {
  for (;;) {
    clear_tls_errors();
    size_t n = 0;
    std::string why;
    TlsIo io = tls_step(SSL_read_ex(ssl_.get(), buf, len, &n), "TLS read", why);
    if (io == TlsIo::kDone) co_return n;
    if (io == TlsIo::kFailed) co_return Error(ErrorKind::kIo, why);
    TC_CO_TRY_VOID(co_await tls_wait(io));
  }
}

awaitable<Status> Channel::tls_write_all(ByteSpan data) {
  size_t off = 0;
  while (off < data.size()) {
    clear_tls_errors();
    size_t n = 0;
    std::string why;
    TlsIo io = tls_step(SSL_write_ex(ssl_.get(), data.data() + off, data.size() - off, &n), "TLS write", why);
    if (io == TlsIo::kDone) {
      off += n;
      continue;
    }
    if (io == TlsIo::kFailed) co_return Error(ErrorKind::kIo, why);
    TC_CO_TRY_VOID(co_await tls_wait(io));
  }
  co_return Status{};
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
  if (!ssl_) co_return Error(ErrorKind::kCrypto, "SSL_new failed: " + openssl_errors());
  co_await sock_.async_connect({addr, target_.port}, asio::redirect_error(use_awaitable, ec));
  if (ec) co_return Error(ErrorKind::kIo, "TCP connect: " + ec.message());
  LOG_DEBUG("channel to %s: TCP connected after %lld ms", target_.nickname.c_str(), ms());
  sock_.set_option(asio::ip::tcp::no_delay(true), ec);
  sock_.non_blocking(true, ec);
  if (ec) co_return Error(ErrorKind::kIo, "socket: " + ec.message());
  bio_state_.fd = sock_.native_handle();
  BIO *bio = BIO_new(SocketBio::method());
  if (!bio) co_return Error(ErrorKind::kCrypto, "BIO_new failed: " + openssl_errors());
  BIO_set_data(bio, &bio_state_);
  SSL_set_bio(ssl_.get(), bio, bio);  // the SSL owns the BIO now
  // Read ahead: one recv takes whatever the kernel holds, up to 64 KiB,
  // instead of a header and then a body per record.
  SSL_set_read_ahead(ssl_.get(), 1);
  SSL_set_default_read_buffer_len(ssl_.get(), kReadChunk);
  SSL_set_connect_state(ssl_.get());
  for (;;) {
    clear_tls_errors();
    std::string why;
    TlsIo io = tls_step(SSL_do_handshake(ssl_.get()), "TLS handshake", why);
    if (io == TlsIo::kDone) break;
    if (io == TlsIo::kFailed) co_return Error(ErrorKind::kIo, why);
    TC_CO_TRY_VOID(co_await tls_wait(io));
  }
  LOG_DEBUG("channel to %s: TLS up after %lld ms (%s, %s)", target_.nickname.c_str(), ms(),
            SSL_get_version(ssl_.get()), SSL_get_cipher_name(ssl_.get()));

  // §4.1: VERSIONS first, with 2-byte circuit ids whatever comes later.
  Bytes hello;
  cell::encode_var_cell(cell::make_versions_cell(kOurLinkVersions), 0, hello);
  if (auto st = co_await tls_write_all(hello); !st) co_return std::move(st).error().context("sending VERSIONS");
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
    auto got = co_await tls_read_some(in_.data() + have, in_.size() - have);
    if (!got) co_return std::move(got).error().context("reading link handshake");
    size_t n = *got;
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
  X509 *peer = SSL_get1_peer_certificate(ssl_.get());
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
  if (auto st = co_await tls_write_all(out); !st) co_return std::move(st).error().context("sending NETINFO");
  bytes_written_ += out.size();
  LOG_DEBUG("channel to %s: open after %lld ms", target_.nickname.c_str(), ms());
  in_start_ = have;  // leftover bytes (none expected) stay for the read loop
  co_return Status{};
}

awaitable<void> Channel::read_loop() {
  auto self = shared_from_this();
  cell::VarCell var;
  size_t have = in_start_;
  std::optional<Error> why;
  while (!closed_ && !why) {
    // Drain: every record TLS has (read ahead fills its buffer with one
    // recv), dispatching cells as they complete, until the socket is empty
    // or the budget is spent.
    size_t drained = 0;
    TlsIo io = TlsIo::kDone;
    while (!closed_ && drained < kDrainBudget) {
      if (in_.size() - have < 4096) in_.resize(std::max(in_.size() * 2, have + kReadChunk));
      clear_tls_errors();
      size_t n = 0;
      std::string err;
      io = tls_step(SSL_read_ex(ssl_.get(), in_.data() + have, in_.size() - have, &n), "TLS read", err);
      if (io == TlsIo::kFailed) {
        why = Error(ErrorKind::kClosed, "channel to " + target_.nickname + " closed: " + err);
        break;
      }
      if (io != TlsIo::kDone) break;
      bytes_read_ += n;
      drained += n;
      have += n;
      size_t pos = 0;
      while (!closed_) {
        // Zero-copy: a fixed cell is decrypted and parsed where it lies in
        // in_ (nothing resizes or moves in_ until the drain's dispatch ends).
        auto d = cell::decode_cell_in_place(MutableByteSpan(in_.data() + pos, have - pos), link_protocol_, var);
        if (!d) {
          why = std::move(d).error().context("channel to " + target_.nickname);
          break;
        }
        if (d->kind == cell::Decoded::kNone) break;
        pos += d->consumed;
        if (d->fixed) dispatch(*d->fixed);
        // Variable-length cells after the handshake (VPADDING, ...) are ignored.
      }
      if (why) break;
      if (pos > 0) {
        std::memmove(in_.data(), in_.data() + pos, have - pos);
        have -= pos;
      }
    }
    drain_done();
    if (closed_ || why) break;
    if (io == TlsIo::kDone) {
      // Budget spent with data left: let others run, then go on.
      co_await asio::post(ex_, use_awaitable);
      continue;
    }
    // After a small read (an EXTENDED2, a CONNECTED: up to three cells),
    // ACK at once: the relay sends its next small segment only once the
    // last one is ACKed (Nagle), and our delayed ACK holds that up to 40 ms.
    // While streams ran, our loopback circuit builds took 48 ms at p50 with
    // it and 20 ms without. Only after two small reads in a row: a channel
    // carrying bulk data has full segments, which Nagle does not hold back,
    // and keeps delayed ACKs (fewer ACKs, less CPU).
    if (drained < kQuickAckBelow && last_drain_ < kQuickAckBelow) quick_ack();
    last_drain_ = drained;
    if (auto st = co_await tls_wait(io); !st)
      why = Error(ErrorKind::kClosed, "channel to " + target_.nickname + " closed: " + st.error().message());
  }
  close(why ? *why : Error(ErrorKind::kClosed, "channel closed"));
}

void Channel::dispatch(cell::CellView c) {
  if (c.circ_id == 0) return;  // PADDING and other link-level cells
  // The cells of one drain mostly belong to one circuit: the sink found for
  // the last cell stays locked until the drain ends (drain_done) instead of
  // a map lookup and a weak_ptr lock per cell. detach() only unmarks it, so
  // a sink that detaches itself inside on_cell is not freed under its feet.
  if (c.circ_id != cached_circ_id_ || !cached_sink_) {
    auto it = sinks_.find(c.circ_id);
    if (it == sinks_.end()) return;  // a circuit we already forgot; §5.4 cells may cross
    auto sink = it->second.lock();
    if (!sink) {
      sinks_.erase(it);
      return;
    }
    cached_sink_ = std::move(sink);
    cached_circ_id_ = c.circ_id;
  }
  cached_sink_->on_cell(c);
}

void Channel::drain_done() {
  cached_circ_id_ = 0;
  cached_sink_.reset();
}

uint32_t Channel::allocate_circ_id() {
  for (;;) {
    uint32_t id = crypto::random_u32() | 0x80000000u;
    if (!sinks_.count(id)) return id;
  }
}

void Channel::attach(uint32_t circ_id, std::weak_ptr<CellSink> sink) {
  if (circ_id == cached_circ_id_) cached_circ_id_ = 0;
  sinks_[circ_id] = std::move(sink);
}
void Channel::detach(uint32_t circ_id) {
  if (circ_id == cached_circ_id_) cached_circ_id_ = 0;
  sinks_.erase(circ_id);
}

void Channel::send(const cell::Cell &c) {
  if (closed_) return;
  cell::encode_cell(c, link_protocol_, out_);
  // Posted, never run inline: the reader drains a whole batch of records
  // first, and every cell queued meanwhile (SENDMEs, ...) leaves in one
  // TLS write.
  if (!flush_posted_ && !writer_waiting_) {
    flush_posted_ = true;
    asio::post(ex_, [self = shared_from_this()] { self->flush(); });
  }
}

void Channel::flush() {
  flush_posted_ = false;
  if (closed_ || writer_waiting_) return;
  for (;;) {
    if (write_off_ == writing_.size()) {
      writing_.clear();
      write_off_ = 0;
      if (out_.empty()) return;
      writing_.swap(out_);
    }
    clear_tls_errors();
    size_t n = 0;
    std::string why;
    // After WANT_WRITE the retry passes the same bytes, as SSL_write_ex requires.
    TlsIo io = tls_step(SSL_write_ex(ssl_.get(), writing_.data() + write_off_, writing_.size() - write_off_, &n),
                        "TLS write", why);
    if (io == TlsIo::kDone) {
      write_off_ += n;
      bytes_written_ += n;
      continue;
    }
    if (io == TlsIo::kFailed) {
      close(Error(ErrorKind::kClosed, "channel to " + target_.nickname + ": write failed: " + why));
      return;
    }
    writer_waiting_ = true;
    asio::co_spawn(
        ex_,
        [self = shared_from_this(), io]() -> awaitable<void> {
          auto st = co_await self->tls_wait(io);
          self->writer_waiting_ = false;
          if (!st) {
            self->close(Error(ErrorKind::kClosed,
                              "channel to " + self->target_.nickname + ": write failed: " + st.error().message()));
            co_return;
          }
          self->flush();
        },
        asio::detached);
    return;
  }
}

void Channel::close(const Error &why) {
  if (closed_) return;
  closed_ = true;
  LOG_INFO("%s", why.message().c_str());
  std::error_code ignore;
  bio_state_.fd = -1;  // a later TLS call must not reach a reused fd number
  sock_.close(ignore);
  // Every circuit on the channel is gone (§5.4): fail them and their streams.
  auto sinks = std::move(sinks_);
  sinks_.clear();
  cached_circ_id_ = 0;  // the sink itself is let go when the drain ends
  for (auto &[id, weak] : sinks)
    if (auto s = weak.lock()) s->on_channel_closed(why);
}

}  // namespace tc::runtime
