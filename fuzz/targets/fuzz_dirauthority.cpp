// Directory authority lines (src/netdoc/authority.h, torrc DirAuthority
// syntax, also our config's "dir-authority"): every line of the input is
// parsed; an accepted line must survive to_string() -> parse() unchanged.
#include "fuzz_util.h"
#include "netdoc/authority.h"

using namespace tc;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view text = fuzz::as_text(data, size);
  std::vector<netdoc::DirAuthority> auths;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    auto a = netdoc::DirAuthority::parse(line);
    if (!a) {
      FUZZ_NOTE("dirauthority: %s", a.error().to_string().c_str());
      continue;
    }
    FUZZ_NOTE("dirauthority: %s", a->to_string().c_str());
    const std::string canon = a->to_string();
    auto b = netdoc::DirAuthority::parse(canon);
    FUZZ_CHECK(b.ok());
    FUZZ_CHECK(b->to_string() == canon);
    FUZZ_CHECK(b->nickname == a->nickname && b->rsa_identity == a->rsa_identity && b->v3ident == a->v3ident &&
               b->ipv4 == a->ipv4 && b->dir_port == a->dir_port && b->or_port == a->or_port &&
               b->bridge == a->bridge && b->v2 == a->v2);
    auths.push_back(std::move(*a));
  }
  fuzz::consume(netdoc::v3_identities(auths));
  return 0;
}
