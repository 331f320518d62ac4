#include "timesync/netstamp/interface.hpp"

#include <linux/ethtool.h>
#include <linux/net_tstamp.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace timesync::netstamp {
namespace {

constexpr uint32_t bit(int n) { return uint32_t{1} << n; }

}  // namespace

bool InterfaceTimestamping::software_tx() const {
  return (so_timestamping & SOF_TIMESTAMPING_TX_SOFTWARE) != 0;
}

bool InterfaceTimestamping::software_rx() const {
  return (so_timestamping & SOF_TIMESTAMPING_RX_SOFTWARE) != 0;
}

bool InterfaceTimestamping::hardware() const { return hardware_missing().empty(); }

std::string InterfaceTimestamping::hardware_missing() const {
  std::string missing;
  const auto add = [&missing](const char* what) {
    if (!missing.empty()) missing += ", ";
    missing += what;
  };
  if (phc_index < 0) add("no PTP hardware clock (phc_index -1)");
  if ((so_timestamping & SOF_TIMESTAMPING_TX_HARDWARE) == 0 || (tx_types & bit(HWTSTAMP_TX_ON)) == 0) {
    add("no hardware transmit stamps");
  }
  if ((so_timestamping & SOF_TIMESTAMPING_RX_HARDWARE) == 0) {
    add("no hardware receive stamps");
  } else if ((rx_filters & bit(HWTSTAMP_FILTER_ALL)) == 0) {
    add("no hardware receive filter for all packets (HWTSTAMP_FILTER_ALL)");
  }
  if ((so_timestamping & SOF_TIMESTAMPING_RAW_HARDWARE) == 0) add("no raw hardware stamp reporting");
  if (missing.empty()) return "";
  return "interface '" + name + "' cannot timestamp in hardware: " + missing + " [" + describe() + "]";
}

std::string InterfaceTimestamping::describe() const {
  static constexpr struct {
    uint32_t flag;
    const char* name;
  } kFlags[] = {
      {SOF_TIMESTAMPING_TX_HARDWARE, "hardware-tx"}, {SOF_TIMESTAMPING_TX_SOFTWARE, "software-tx"},
      {SOF_TIMESTAMPING_RX_HARDWARE, "hardware-rx"}, {SOF_TIMESTAMPING_RX_SOFTWARE, "software-rx"},
      {SOF_TIMESTAMPING_SOFTWARE, "software"},       {SOF_TIMESTAMPING_RAW_HARDWARE, "raw-hardware"},
  };
  std::string s = name + ": phc " + std::to_string(phc_index) + ";";
  for (const auto& f : kFlags) {
    if ((so_timestamping & f.flag) != 0) {
      s += " ";
      s += f.name;
    }
  }
  char tail[64];
  std::snprintf(tail, sizeof tail, "; tx_types 0x%x; rx_filters 0x%x", tx_types, rx_filters);
  return s + tail;
}

Result<InterfaceTimestamping> query_interface(int fd, std::string_view name) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    return Status(Errc::kInvalidArgument, "bad interface name '" + std::string(name) + "'");
  }
  InterfaceTimestamping caps;
  caps.name = std::string(name);
  ethtool_ts_info info{};
  info.cmd = ETHTOOL_GET_TS_INFO;
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  ifr.ifr_data = reinterpret_cast<char*>(&info);
  if (ioctl(fd, SIOCETHTOOL, &ifr) != 0) {
    const int err = errno;
    if (err == ENODEV) {
      return Status(Errc::kNoSuchInterface, "no interface '" + caps.name + "' in this network namespace");
    }
    // Kernels before 6.11 answer EOPNOTSUPP for drivers without get_ts_info:
    // nothing is known, so nothing is claimed.
    if (err == EOPNOTSUPP) return caps;
    return system_error("ETHTOOL_GET_TS_INFO on '" + caps.name + "'", err);
  }
  caps.phc_index = info.phc_index;
  caps.so_timestamping = info.so_timestamping;
  caps.tx_types = info.tx_types;
  caps.rx_filters = info.rx_filters;
  return caps;
}

Result<InterfaceTimestamping> query_interface(std::string_view name) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return system_error("socket", errno);
  Result<InterfaceTimestamping> r = query_interface(fd, name);
  ::close(fd);
  return r;
}

}  // namespace timesync::netstamp
