// SHA-1 (FIPS 180-4), for the leap-second list's integrity hash only: the
// list's format fixes the algorithm. Not for anything that needs security.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace timesync::reference::detail {

std::array<uint32_t, 5> sha1(std::string_view data);

}  // namespace timesync::reference::detail
