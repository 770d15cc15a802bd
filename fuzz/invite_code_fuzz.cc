// Invite codes ("evault1/<vault id>/<secret>/<server>", client/sync_client.h): pasted
// from a message by the person joining, so anyone could have written them. Parse must
// refuse with an error or give parts that format back to the same code.
#include <cstdlib>

#include "client/sync_client.h"
#include "crypto/bytes.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace evault;
  auto code = client::ParseInviteCode(fuzz::AsView(data, size));
  if (!code) return 0;
  if (code->secret.size() != 32 || code->server.empty()) std::abort();
  const std::string again = client::FormatInviteCode(code->vault_id_hex, code->secret, code->server);
  auto reparsed = client::ParseInviteCode(again);
  if (!reparsed || reparsed->secret != code->secret || reparsed->server != code->server) std::abort();
  return 0;
}
