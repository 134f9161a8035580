// A channel (tor-spec §2, §4): one TLS connection to a relay's ORPort,
// with the link handshake done and the relay's identity verified. It owns
// the socket, reads and dispatches cells to circuits by circuit id, and
// batches outgoing cells into few TLS writes.
//
// TLS is OpenSSL driven directly on the non-blocking socket (a small BIO
// that calls recv/send), asio only says when the socket is ready. Each
// wake-up drains everything the relay has sent, up to a budget, before
// the writer runs: the SENDMEs and other replies of that batch leave in one
// TLS write instead of one per record.
#pragma once
#include <asio.hpp>
#include <asio/ssl.hpp>
#include <openssl/ssl.h>

#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "cell/cell.h"
#include "runtime/event.h"
#include "util/bytes.h"
#include "util/error.h"

namespace tc::runtime {

// Whoever owns a circuit id on this channel gets its cells.
class CellSink {
 public:
  virtual ~CellSink() = default;
  // The cell lies in the channel's read buffer, valid for this call only;
  // the sink may decrypt it in place.
  virtual void on_cell(cell::CellView c) = 0;
  // The channel closed: the circuit is gone.
  virtual void on_channel_closed(const Error &why) = 0;
};

namespace detail {
// The TLS BIO's view of a channel's socket: its fd, and what the last
// recv/send said (for error messages).
struct SocketBioState {
  int fd = -1;
  int last_errno = 0;
  bool eof = false;
};
}  // namespace detail

struct ChannelTarget {
  std::string nickname;
  std::string address;  // IPv4 literal
  uint16_t port = 0;
  std::array<uint8_t, 20> rsa_id{};
  std::optional<std::array<uint8_t, 32>> ed_id;  // checked when known
};

class Channel : public std::enable_shared_from_this<Channel> {
 public:
  // Connects, runs the link handshake (§4) and checks the relay is the one
  // expected; then starts the reader and writer.
  static asio::awaitable<Result<std::shared_ptr<Channel>>> open(asio::any_io_executor ex, asio::ssl::context &tls,
                                                                 ChannelTarget target,
                                                                 std::chrono::seconds timeout);
  ~Channel();

  const ChannelTarget &target() const { return target_; }
  asio::any_io_executor executor() const { return ex_; }
  uint16_t link_protocol() const { return link_protocol_; }
  bool is_open() const { return !closed_; }

  // A fresh circuit id (§5.1.1: random, high bit set by the initiator on v4+).
  uint32_t allocate_circ_id();
  void attach(uint32_t circ_id, std::weak_ptr<CellSink> sink);
  void detach(uint32_t circ_id);
  size_t circuit_count() const { return sinks_.size(); }

  void send(const cell::Cell &c);
  // Bytes queued but not yet handed to TLS (for backpressure decisions).
  size_t queued_bytes() const { return out_.size() + (writing_.size() - write_off_); }
  void close(const Error &why);

  uint64_t bytes_read() const { return bytes_read_; }
  uint64_t bytes_written() const { return bytes_written_; }

 private:
  Channel(asio::any_io_executor ex, asio::ssl::context &tls, ChannelTarget target);
  asio::awaitable<Status> handshake();
  void quick_ack();
  // Non-blocking TLS steps: the result of one SSL_*_ex call.
  enum class TlsIo { kDone, kWantRead, kWantWrite, kFailed };
  TlsIo tls_step(int ret, const char *what, std::string &why);
  asio::awaitable<Status> tls_wait(TlsIo io);
  asio::awaitable<Result<size_t>> tls_read_some(uint8_t *buf, size_t len);
  asio::awaitable<Status> tls_write_all(ByteSpan data);
  asio::awaitable<void> read_loop();
  void flush();
  void dispatch(cell::CellView c);
  void drain_done();  // end of one read drain: let dispatch()'s cached sink go

  asio::any_io_executor ex_;
  asio::ip::tcp::socket sock_;
  detail::SocketBioState bio_state_;
  struct SslFree {
    void operator()(SSL *s) const { SSL_free(s); }
  };
  std::unique_ptr<SSL, SslFree> ssl_;
  ChannelTarget target_;
  uint16_t link_protocol_ = 0;
  bool closed_ = false;
  Bytes in_;
  size_t in_start_ = 0;
  Bytes out_;
  Bytes writing_;          // handed to SSL_write_ex, from write_off_ on
  size_t last_drain_ = 0;  // bytes the reader's previous drain took (read_loop)
  size_t write_off_ = 0;
  bool flush_posted_ = false;
  bool writer_waiting_ = false;  // the socket was full: a wait for writability is pending
  std::unordered_map<uint32_t, std::weak_ptr<CellSink>> sinks_;
  // dispatch()'s sink of the last cell, held until the drain ends.
  uint32_t cached_circ_id_ = 0;
  std::shared_ptr<CellSink> cached_sink_;
  uint64_t bytes_read_ = 0, bytes_written_ = 0;
};

// A TLS client context as Tor's link protocol needs it: no certificate
// verification by TLS (relays' certificates are self-signed; identity is
// proven by the CERTS cell instead, §4.2), TLS 1.2+.
std::unique_ptr<asio::ssl::context> make_tls_context();

}  // namespace tc::runtime
