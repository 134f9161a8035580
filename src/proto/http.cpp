#include "proto/http.h"

#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cctype>

namespace tc::proto {

std::string make_dir_request(std::string_view path, std::string_view host) {
  std::string r = "GET ";
  r += path;
  r += " HTTP/1.0\r\n";
  if (!host.empty()) {
    r += "Host: ";
    r += host;
    r += "\r\n";
  }
  r += "Accept-Encoding: deflate, x-zstd, x-tor-lzma, identity\r\n\r\n";
  return r;
}

static Error too_big(size_t max_out) {
  return Error(ErrorKind::kExhausted, "decompressed body exceeds " + std::to_string(max_out) + " bytes");
}

static Result<Bytes> inflate_zlib(ByteSpan in, size_t max_out) {
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) return Error(ErrorKind::kInternal, "inflateInit failed");
  Bytes out(std::min<size_t>(std::max<size_t>(in.size() * 4, 4096), max_out));
  zs.next_in = const_cast<Bytef *>(in.data());
  zs.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  size_t produced = 0;
  while (rc != Z_STREAM_END) {
    if (produced == out.size()) {
      if (out.size() >= max_out) {
        inflateEnd(&zs);
        return too_big(max_out);
      }
      out.resize(std::min(out.size() * 2, max_out));
    }
    zs.next_out = out.data() + produced;
    zs.avail_out = static_cast<uInt>(out.size() - produced);
    rc = inflate(&zs, Z_NO_FLUSH);
    produced = out.size() - zs.avail_out;
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) break;  // truncated input
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      inflateEnd(&zs);
      return Error(ErrorKind::kMalformed, std::string("deflate body: ") + (zs.msg ? zs.msg : "corrupt"));
    }
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) return Error(ErrorKind::kMalformed, "deflate body: truncated");
  out.resize(produced);
  return out;
}

static Result<Bytes> decode_zstd(ByteSpan in, size_t max_out) {
  ZSTD_DStream *ds = ZSTD_createDStream();
  Bytes out;
  Bytes chunk(ZSTD_DStreamOutSize());
  ZSTD_inBuffer ib{in.data(), in.size(), 0};
  size_t rc = 1;
  while (ib.pos < ib.size) {
    ZSTD_outBuffer ob{chunk.data(), chunk.size(), 0};
    rc = ZSTD_decompressStream(ds, &ob, &ib);
    if (ZSTD_isError(rc)) {
      ZSTD_freeDStream(ds);
      return Error(ErrorKind::kMalformed, std::string("zstd body: ") + ZSTD_getErrorName(rc));
    }
    out.insert(out.end(), chunk.begin(), chunk.begin() + static_cast<ptrdiff_t>(ob.pos));
    if (out.size() > max_out) {
      ZSTD_freeDStream(ds);
      return too_big(max_out);
    }
    if (ob.pos == 0 && rc != 0 && ib.pos == ib.size) break;
  }
  ZSTD_freeDStream(ds);
  if (rc != 0) return Error(ErrorKind::kMalformed, "zstd body: truncated");
  return out;
}

static Result<Bytes> decode_lzma(ByteSpan in, size_t max_out) {
  lzma_stream ls = LZMA_STREAM_INIT;
  if (lzma_auto_decoder(&ls, 64u << 20, 0) != LZMA_OK) return Error(ErrorKind::kInternal, "lzma init failed");
  Bytes out(std::min<size_t>(std::max<size_t>(in.size() * 4, 4096), max_out));
  ls.next_in = in.data();
  ls.avail_in = in.size();
  lzma_ret rc = LZMA_OK;
  size_t produced = 0;
  while (rc != LZMA_STREAM_END) {
    if (produced == out.size()) {
      if (out.size() >= max_out) {
        lzma_end(&ls);
        return too_big(max_out);
      }
      out.resize(std::min(out.size() * 2, max_out));
    }
    ls.next_out = out.data() + produced;
    ls.avail_out = out.size() - produced;
    rc = lzma_code(&ls, ls.avail_in ? LZMA_RUN : LZMA_FINISH);
    produced = out.size() - ls.avail_out;
    if (rc != LZMA_OK && rc != LZMA_STREAM_END) {
      lzma_end(&ls);
      return Error(ErrorKind::kMalformed, "lzma body: corrupt or truncated (code " + std::to_string(rc) + ")");
    }
  }
  lzma_end(&ls);
  out.resize(produced);
  return out;
}

Result<Bytes> decode_content(std::string_view encoding, ByteSpan body, size_t max_out) {
  if (encoding.empty() || encoding == "identity") {
    if (body.size() > max_out) return too_big(max_out);
    return Bytes(body.begin(), body.end());
  }
  if (encoding == "deflate") return inflate_zlib(body, max_out);
  if (encoding == "x-zstd") return decode_zstd(body, max_out);
  if (encoding == "x-tor-lzma") return decode_lzma(body, max_out);
  return Error(ErrorKind::kMalformed, "unsupported Content-Encoding '" + std::string(encoding) + "'");
}

Result<HttpResponse> parse_http_response(ByteSpan raw, size_t max_body) {
  std::string_view text = as_string_view(raw);
  size_t hdr_end = text.find("\r\n\r\n");
  size_t sep = 4;
  if (hdr_end == std::string_view::npos) {
    hdr_end = text.find("\n\n");
    sep = 2;
  }
  if (hdr_end == std::string_view::npos) return Error(ErrorKind::kMalformed, "HTTP response: no end of headers");
  std::string_view head = text.substr(0, hdr_end);
  HttpResponse r;
  size_t eol = head.find('\n');
  std::string_view status_line = head.substr(0, eol);
  if (!status_line.empty() && status_line.back() == '\r') status_line.remove_suffix(1);
  if (status_line.size() < 12 || status_line.substr(0, 5) != "HTTP/")
    return Error(ErrorKind::kMalformed, "HTTP response: bad status line '" + std::string(status_line.substr(0, 40)) + "'");
  size_t sp = status_line.find(' ');
  if (sp == std::string_view::npos || sp + 4 > status_line.size() || !std::isdigit(static_cast<unsigned char>(status_line[sp + 1])))
    return Error(ErrorKind::kMalformed, "HTTP response: bad status code");
  r.status = std::stoi(std::string(status_line.substr(sp + 1, 3)));
  if (sp + 5 <= status_line.size()) r.reason = std::string(status_line.substr(sp + 5));
  while (eol != std::string_view::npos) {
    size_t start = eol + 1;
    eol = head.find('\n', start);
    std::string_view line = head.substr(start, eol == std::string_view::npos ? std::string_view::npos : eol - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return Error(ErrorKind::kMalformed, "HTTP response: header without ':'");
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    r.headers[name] = std::string(value);
  }
  ByteSpan body = raw.subspan(hdr_end + sep);
  std::string enc;
  if (auto it = r.headers.find("content-encoding"); it != r.headers.end()) enc = it->second;
  auto decoded = decode_content(enc, body, max_body);
  if (!decoded) return std::move(decoded).error().context("HTTP body");
  r.body = std::move(*decoded);
  return r;
}

}  // namespace tc::proto
