// The YAML configuration loader on arbitrary text, both roles (the first byte
// picks one). Whatever the text, the loader answers with a configuration or
// one error line: no crash, no exception, no hang, and (issue 17) an error
// that names the file, quotes at most a short excerpt and carries no control
// characters, so a hostile file cannot forge log lines.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "timesync/config/config.hpp"

namespace {

template <class T>
void check(const timesync::config::Loaded<T>& r) {
  if (r.ok() != r.error.empty()) std::abort();
  if (r.ok()) return;
  if (r.error.rfind("fuzz.yaml:", 0) != 0) std::abort();
  // Excerpts are short: key names and values quoted at most ~40 characters
  // (escaped, so up to 4 bytes each), plus the fixed text around them.
  if (r.error.size() > 1024) std::abort();
  for (const char c : r.error) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) {
    check(timesync::config::parse_master(text, "fuzz.yaml"));
  } else {
    check(timesync::config::parse_client(text, "fuzz.yaml"));
  }
  return 0;
}
