// What a network interface can timestamp, as its driver tells ethtool
// (ETHTOOL_GET_TS_INFO), and its current hardware timestamping configuration
// (SIOCGHWTSTAMP).
//
// Hardware stamps need three things from the interface: a PTP hardware clock
// (phc_index >= 0, /dev/ptpN), transmit stamping (SOF_TIMESTAMPING_TX_HARDWARE
// and HWTSTAMP_TX_ON) and receive stamping of every packet
// (HWTSTAMP_FILTER_ALL; the PTP-only filters miss our UDP packets, and
// FILTER_NTP_ALL only matches NTP's port 123).
//
// The query runs in the network namespace of the calling thread (or of `fd`).
//
// Thread safety: free functions, safe to call concurrently.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "timesync/netstamp/status.hpp"

namespace timesync::netstamp {

struct InterfaceTimestamping {
  std::string name;
  int phc_index = -1;            // /dev/ptp<phc_index>, or -1 without a hardware clock
  uint32_t so_timestamping = 0;  // SOF_TIMESTAMPING_* bits the driver supports
  uint32_t tx_types = 0;         // bit (1 << HWTSTAMP_TX_*) per supported transmit mode
  uint32_t rx_filters = 0;       // bit (1 << HWTSTAMP_FILTER_*) per supported receive filter

  bool software_tx() const;
  bool software_rx() const;
  // Everything hardware mode needs: a PHC, TX_ON, RX_HARDWARE with FILTER_ALL
  // and RAW_HARDWARE reporting.
  bool hardware() const;
  // Why hardware() is false, naming the interface ("" when it is true).
  std::string hardware_missing() const;
  // "lo: phc -1; software-tx software-rx software; tx_types 0x0; rx_filters 0x0"
  std::string describe() const;
};

// ETHTOOL_GET_TS_INFO on `name`. Errc::kNoSuchInterface when it does not exist.
Result<InterfaceTimestamping> query_interface(std::string_view name);
// The same through an existing socket, so the query sees that socket's namespace.
Result<InterfaceTimestamping> query_interface(int fd, std::string_view name);

}  // namespace timesync::netstamp
