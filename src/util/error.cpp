#include "util/error.h"

namespace tc {

const char *error_kind_name(ErrorKind k) {
  switch (k) {
    case ErrorKind::kMalformed: return "malformed";
    case ErrorKind::kProtocol: return "protocol";
    case ErrorKind::kCrypto: return "crypto";
    case ErrorKind::kTimeout: return "timeout";
    case ErrorKind::kClosed: return "closed";
    case ErrorKind::kRefused: return "refused";
    case ErrorKind::kIo: return "io";
    case ErrorKind::kNotFound: return "not found";
    case ErrorKind::kInvalidArgument: return "invalid argument";
    case ErrorKind::kExhausted: return "exhausted";
    case ErrorKind::kInternal: return "internal";
  }
  return "unknown";
}

}  // namespace tc
