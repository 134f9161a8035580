// Cells and relay messages (src/cell/cell.h, relay.h).
//
// Input byte 0 selects the mode:
//   bit 7 clear: a channel's byte stream; bits 0-1 pick the link protocol
//     (0 = before VERSIONS, 3, 4, 5). Every decoded cell is re-encoded (must
//     give the same bytes back) and its body parsed by command; RELAY cells
//     are unpacked and their body parsed by relay command.
//   bit 7 set: the rest is one relay-message body (or a 509-byte cell
//     payload) for the parser picked by bits 0-3, so the fuzzer need not
//     build a whole cell to reach a body parser.
#include <cstring>

#include "cell/cell.h"
#include "cell/relay.h"
#include "fuzz_util.h"

using namespace tc;
using namespace tc::cell;

namespace {

void parse_relay_body(uint8_t which, ByteSpan body) {
  switch (which % 9) {
    case 0: {
      auto r = parse_begin(body);
      if (r) {
        // make_begin_body keeps the address and port.
        auto again = parse_begin(make_begin_body(r->address, r->port, r->flags));
        FUZZ_CHECK(again.ok() && again->port == r->port && again->flags == r->flags);
      }
      break;
    }
    case 1: {
      auto r = parse_connected(body);
      if (r && r->address) fuzz::consume(r->address->to_string());
      break;
    }
    case 2: {
      auto r = parse_end(body);
      if (r) fuzz::consume(end_reason_name(r->reason));
      break;
    }
    case 3: {
      auto r = parse_resolved(body);
      if (r) {
        auto again = parse_resolved(make_resolved_body(*r));
        FUZZ_CHECK(again.ok() && again->size() == r->size());
      }
      break;
    }
    case 4:
      fuzz::consume(parse_sendme(body));
      break;
    case 5: {
      auto r = parse_extend2(body);
      if (r) {
        // Re-encode only what fits one relay body (make_extend2_body asserts
        // that): it always writes the IPv4 specifier, the parser need not see one.
        const size_t len = 1 + 8 + 22 + (r->link.ed_id ? 34 : 0) + (r->link.ipv6 ? 20 : 0) + 4 + r->hdata.size();
        if (len <= kRelayBodyMax) {
          auto again = parse_extend2(make_extend2_body(r->link, r->handshake_type, r->hdata));
          FUZZ_CHECK(again.ok() && again->handshake_type == r->handshake_type && again->hdata == r->hdata &&
                     again->link.rsa_id == r->link.rsa_id && again->link.ed_id == r->link.ed_id);
        }
      }
      break;
    }
    case 6:
      fuzz::consume(parse_extended2(body));
      break;
    case 7:
      fuzz::consume(parse_truncated(body));
      break;
    case 8:
      fuzz::consume(parse_versions(body));
      break;
  }
}

void parse_payload(uint8_t which, const CellPayload &p) {
  switch (which % 4) {
    case 0: {
      auto n = parse_netinfo(p);
      if (n) {
        fuzz::consume(n->other_address());
        fuzz::consume(n->my_ip_addresses());
      }
      break;
    }
    case 1:
      fuzz::consume(parse_create2(p));
      break;
    case 2:
      fuzz::consume(parse_created2(p));
      break;
    case 3: {
      auto m = unpack_relay_payload(p);
      if (m) {
        FUZZ_CHECK(m->body.size() <= kRelayBodyMax);
        CellPayload again{};
        pack_relay_payload(m->command, m->stream_id, m->body, again);
        auto m2 = unpack_relay_payload(again);
        FUZZ_CHECK(m2.ok() && m2->command == m->command && m2->stream_id == m->stream_id &&
                   m2->body.size() == m->body.size());
      }
      break;
    }
  }
}

void relay_cell(const CellPayload &p) {
  auto m = unpack_relay_payload(p);
  if (!m) return;
  FUZZ_CHECK(m->body.size() <= kRelayBodyMax);
  fuzz::consume(relay_command_name(m->command));
  switch (m->command) {
    case RelayCommand::kBegin: parse_relay_body(0, m->body); break;
    case RelayCommand::kConnected: parse_relay_body(1, m->body); break;
    case RelayCommand::kEnd: parse_relay_body(2, m->body); break;
    case RelayCommand::kResolved: parse_relay_body(3, m->body); break;
    case RelayCommand::kSendme: parse_relay_body(4, m->body); break;
    case RelayCommand::kExtend2: parse_relay_body(5, m->body); break;
    case RelayCommand::kExtended2: parse_relay_body(6, m->body); break;
    case RelayCommand::kTruncated: parse_relay_body(7, m->body); break;
    default: break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  ByteSpan in(data + 1, size - 1);

  if (mode & 0x80) {
    if (mode & 0x40) {
      CellPayload p{};
      std::memcpy(p.data(), in.data(), std::min(in.size(), p.size()));
      parse_payload(mode, p);
    } else {
      // A relay body is at most 498 bytes (tor-spec §6.1).
      parse_relay_body(mode & 0x0f, in.first(std::min(in.size(), kRelayBodyMax)));
    }
    return 0;
  }

  static constexpr uint16_t kLinkProtocols[4] = {0, 3, 4, 5};
  const uint16_t link = kLinkProtocols[mode & 3];
  Cell fixed;
  VarCell var;
  Bytes reencoded;
  while (!in.empty()) {
    auto d = decode_cell(in, link, fixed, var);
    FUZZ_CHECK(d.ok());  // 0, 3, 4, 5 are all supported
    {
      // The channel's zero-copy decoder frames the same bytes the same way
      // and views the same payload in place.
      Bytes mut(in.begin(), in.end());
      VarCell var2;
      auto z = decode_cell_in_place(mut, link, var2);
      FUZZ_CHECK(z.ok() && z->kind == d->kind && z->consumed == d->consumed);
      FUZZ_CHECK(z->fixed.has_value() == (d->kind == Decoded::kFixed));
      if (z->fixed)
        FUZZ_CHECK(z->fixed->circ_id == fixed.circ_id && z->fixed->command == fixed.command &&
                   z->fixed->payload.data() == mut.data() + (d->consumed - kCellPayloadLen) &&
                   std::memcmp(z->fixed->payload.data(), fixed.payload.data(), kCellPayloadLen) == 0);
      if (d->kind == Decoded::kVar) FUZZ_CHECK(var2.command == var.command && var2.payload == var.payload);
    }
    if (d->kind == Decoded::kNone) {
      FUZZ_CHECK(d->consumed == 0);
      break;
    }
    FUZZ_CHECK(d->consumed > 0 && d->consumed <= in.size());
    reencoded.clear();
    if (d->kind == Decoded::kFixed) {
      FUZZ_CHECK(d->consumed == fixed_cell_len(link));
      encode_cell(fixed, link, reencoded);
      switch (fixed.command) {
        case CellCommand::kNetinfo: parse_payload(0, fixed.payload); break;
        case CellCommand::kCreate2: parse_payload(1, fixed.payload); break;
        case CellCommand::kCreated2: parse_payload(2, fixed.payload); break;
        case CellCommand::kRelay:
        case CellCommand::kRelayEarly: relay_cell(fixed.payload); break;
        case CellCommand::kDestroy: fuzz::consume(destroy_reason_name(destroy_reason(fixed.payload))); break;
        default: break;
      }
    } else {
      encode_var_cell(var, link, reencoded);
      if (var.command == CellCommand::kVersions) {
        auto v = parse_versions(var.payload);
        if (v) {
          static constexpr uint16_t kOurs[] = {3, 4, 5};
          fuzz::consume(choose_link_protocol(kOurs, *v));
        }
      }
    }
    FUZZ_CHECK(reencoded.size() == d->consumed &&
               std::memcmp(reencoded.data(), in.data(), d->consumed) == 0);
    fuzz::consume(cell_command_name(d->kind == Decoded::kFixed ? fixed.command : var.command));
    in = in.subspan(d->consumed);
  }
  return 0;
}
