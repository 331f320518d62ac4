// PTP management messages as PtpStatus builds and reads them: the GET pmc
// sends, replies made from it, and every way a reply can be refused. The
// datasets' bytes are laid out as linuxptp sends them (IEEE 1588-2008 15.5.3,
// linuxptp's TIME_STATUS_NP). ptp4l itself answering: ptp4l_test.cc.
#include <gtest/gtest.h>

#include <vector>

#include "bytes.hpp"
#include "timesync/reference/ptp_status.hpp"

namespace timesync::reference {
namespace {

constexpr PtpRequestHeader kHeader{0, 0, 4242};

// A RESPONSE to encode_ptp_get(mid, seq) carrying `data`, as ptp4l makes it.
std::vector<uint8_t> response(uint16_t mid, uint16_t seq, const std::vector<uint8_t>& data,
                              uint16_t tlv_type = 0x0001) {
  const auto get = encode_ptp_get(mid, seq, kHeader);
  std::vector<uint8_t> b(get.begin(), get.begin() + 48);
  b[20] = 0xaa;  // source clock identity
  b[27] = 0xbb;
  detail::put16(b, 28, 1);      // source port 1
  detail::put16(b, 42, 4242);   // target: our port
  b[46] = 2;                    // RESPONSE
  std::vector<uint8_t> tlv(4);
  detail::put16(tlv, 0, tlv_type);
  std::vector<uint8_t> value(2);
  detail::put16(value, 0, mid);
  value.insert(value.end(), data.begin(), data.end());
  if (value.size() % 2 != 0) value.push_back(0);
  detail::put16(tlv, 2, static_cast<uint16_t>(value.size()));
  b.insert(b.end(), tlv.begin(), tlv.end());
  b.insert(b.end(), value.begin(), value.end());
  detail::put16(b, 2, static_cast<uint16_t>(b.size()));
  return b;
}

TEST(PtpWire, TheGetPmcSends) {
  const auto b = encode_ptp_get(kPtpMidTimeStatusNp, 0x1234, PtpRequestHeader{24, 1, 777});
  EXPECT_EQ(b[0], 0x1D) << "transportSpecific 1, messageType MANAGEMENT (0xD)";
  EXPECT_EQ(b[1], 2);
  EXPECT_EQ(detail::be16(b, 2), 54);
  EXPECT_EQ(b[4], 24) << "domainNumber";
  EXPECT_EQ(detail::be16(b, 28), 777);
  EXPECT_EQ(detail::be16(b, 30), 0x1234);
  EXPECT_EQ(b[32], 4);
  for (int i = 34; i < 44; ++i) EXPECT_EQ(b[i], 0xFF) << "target: all clocks, all ports";
  EXPECT_EQ(b[44], 0) << "startingBoundaryHops 0, as pmc -b 0";
  EXPECT_EQ(b[46], 0) << "GET";
  EXPECT_EQ(detail::be16(b, 48), 1) << "MANAGEMENT TLV";
  EXPECT_EQ(detail::be16(b, 50), 2);
  EXPECT_EQ(detail::be16(b, 52), 0xC000);
}

TEST(PtpWire, DecodesAResponseAndItsDatasets) {
  // TIME_STATUS_NP: master_offset -1500 ns, ingress 7 s, gmPresent, gmIdentity 01..08.
  std::vector<uint8_t> ts(50);
  detail::put64(ts, 0, static_cast<uint64_t>(int64_t{-1500}));
  detail::put64(ts, 8, 7'000'000'000);
  detail::put32(ts, 38, 1);
  for (int i = 0; i < 8; ++i) ts[42 + i] = static_cast<uint8_t>(i + 1);
  auto reply = decode_ptp_reply(response(kPtpMidTimeStatusNp, 9, ts), 9, kPtpMidTimeStatusNp, kHeader);
  ASSERT_TRUE(reply.ok()) << reply.status().message();
  EXPECT_EQ(reply->source_port, 1);
  EXPECT_EQ(reply->source_clock[0], 0xaa);
  EXPECT_EQ(to_string(reply->source_clock), "aa0000.0000.0000bb");
  auto t = decode_time_status_np(reply->data);
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->master_offset_ns, -1500);
  EXPECT_EQ(t->ingress_time_ns, 7'000'000'000);
  EXPECT_TRUE(t->gm_present);
  EXPECT_EQ(to_string(t->gm_identity), "010203.0405.060708");

  // CURRENT_DATA_SET: stepsRemoved 1, offset 2.5 ns (TimeInterval 2^-16 ns), meanPathDelay 30000 ns.
  std::vector<uint8_t> cds(18);
  detail::put16(cds, 0, 1);
  detail::put64(cds, 2, static_cast<uint64_t>(int64_t{5} << 15));
  detail::put64(cds, 10, static_cast<uint64_t>(int64_t{30000} << 16));
  auto c = decode_current_data_set(cds);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->steps_removed, 1);
  EXPECT_EQ(c->offset_from_master_ns, 2);
  EXPECT_EQ(c->mean_path_delay_ns, 30000);

  // PORT_DATA_SET: port 1 SLAVE.
  std::vector<uint8_t> pds(26);
  detail::put16(pds, 8, 1);
  pds[10] = 9;
  auto p = decode_port_data_set(pds);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->state, PtpPortState::kSlave);
  pds[10] = 0;
  EXPECT_EQ(decode_port_data_set(pds).code(), Errc::kMalformed);
  pds[10] = 11;
  EXPECT_EQ(decode_port_data_set(pds).code(), Errc::kMalformed);

  std::vector<uint8_t> dds(20);
  dds[0] = 0x02;
  detail::put16(dds, 2, 2);
  dds[10] = 0x5a;
  dds[18] = 24;
  auto d = decode_default_data_set(dds);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->slave_only);
  EXPECT_EQ(d->number_ports, 2);
  EXPECT_EQ(d->clock_identity[0], 0x5a);
  EXPECT_EQ(d->domain_number, 24);

  // Short datasets are errors, each naming its dataset.
  EXPECT_NE(decode_time_status_np(std::span(ts).first(49)).status().message().find("TIME_STATUS_NP"), std::string::npos);
  EXPECT_EQ(decode_current_data_set(std::span(cds).first(17)).code(), Errc::kMalformed);
  EXPECT_EQ(decode_default_data_set({}).code(), Errc::kMalformed);
}

TEST(PtpWire, RefusesRepliesThatAreNotTheAnswer) {
  const std::vector<uint8_t> data(50);
  const auto good = response(kPtpMidTimeStatusNp, 9, data);
  ASSERT_TRUE(decode_ptp_reply(good, 9, kPtpMidTimeStatusNp, kHeader).ok());

  struct Case {
    const char* name;
    std::vector<uint8_t> bytes;
    Errc code;
  };
  std::vector<Case> cases;
  cases.push_back({"empty", {}, Errc::kMalformed});
  cases.push_back({"header only", std::vector<uint8_t>(good.begin(), good.begin() + 34), Errc::kMalformed});
  auto b = good;
  b[0] = 0x00;  // Sync
  cases.push_back({"not management", b, Errc::kMalformed});
  b = good;
  b[1] = 1;
  cases.push_back({"PTPv1", b, Errc::kMalformed});
  b = good;
  detail::put16(b, 2, static_cast<uint16_t>(good.size() + 1));
  cases.push_back({"length past the datagram", b, Errc::kMalformed});
  b = good;
  detail::put16(b, 50, 200);
  cases.push_back({"TLV past the message", b, Errc::kMalformed});
  b = good;
  detail::put16(b, 48, 0x0003);
  cases.push_back({"other TLV", b, Errc::kMalformed});
  b = good;
  detail::put16(b, 30, 10);
  cases.push_back({"other sequence", b, Errc::kMismatch});
  b = good;
  b[46] = 0;
  cases.push_back({"a GET (our own request reflected)", b, Errc::kMismatch});
  b = good;
  detail::put16(b, 42, 4243);
  cases.push_back({"another client's answer", b, Errc::kMismatch});
  cases.push_back({"another dataset", response(kPtpMidCurrentDataSet, 9, data), Errc::kMismatch});
  for (const Case& c : cases) {
    auto r = decode_ptp_reply(c.bytes, 9, kPtpMidTimeStatusNp, kHeader);
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.code(), c.code) << c.name << ": " << r.status().message();
    EXPECT_FALSE(r.status().message().empty()) << c.name;
  }
  // Every truncation of a good reply is refused or decoded, never read past.
  for (std::size_t n = 0; n < good.size(); ++n) {
    auto r = decode_ptp_reply(std::span(good).first(n), 9, kPtpMidTimeStatusNp, kHeader);
    EXPECT_FALSE(r.ok()) << n << " bytes";
  }

  // ptp4l's MANAGEMENT_ERROR_STATUS: refused, named.
  auto e = response(kPtpMidTimeStatusNp, 9, {}, 0x0002);
  // The error TLV's value is errorId then managementId: rebuild it.
  e.resize(48);
  std::vector<uint8_t> tlv = {0x00, 0x02, 0x00, 0x08, 0x00, 0x02, 0xC0, 0x00, 0, 0, 0, 0};
  e.insert(e.end(), tlv.begin(), tlv.end());
  detail::put16(e, 2, static_cast<uint16_t>(e.size()));
  auto refused = decode_ptp_reply(e, 9, kPtpMidTimeStatusNp, kHeader);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.code(), Errc::kRefused);
  EXPECT_EQ(refused.status().message(), "ptp4l answered NO_SUCH_ID for TIME_STATUS_NP");
}

TEST(PtpWire, TheErrorBoundOfASlave) {
  PtpDefaultDataSet dds;
  dds.number_ports = 1;
  PtpTimeStatus ts;
  ts.master_offset_ns = -800;
  ts.gm_present = true;
  PtpCurrentDataSet cds;
  cds.mean_path_delay_ns = 10'000;
  const std::vector<PtpPort> slave = {{1, PtpPortState::kSlave, 0}};
  auto r = make_ptp_status_report(dds, ts, cds, slave, PtpErrorParams{1.0, 50});
  EXPECT_TRUE(r.synchronized);
  EXPECT_EQ(r.error_ns, 800 + 10'000 + 50);
  r = make_ptp_status_report(dds, ts, cds, slave, PtpErrorParams{0.1, 0});
  EXPECT_EQ(r.error_ns, 800 + 1'000);

  // No grandmaster, or no slave port: nothing is bounded.
  ts.gm_present = false;
  r = make_ptp_status_report(dds, ts, cds, slave, {});
  EXPECT_FALSE(r.synchronized);
  EXPECT_EQ(r.error_ns, kUnboundedNs);
  ts.gm_present = true;
  r = make_ptp_status_report(dds, ts, cds, {{1, PtpPortState::kMaster, 0}}, {});
  EXPECT_FALSE(r.synchronized);
  EXPECT_EQ(r.port_state, PtpPortState::kMaster);

  // P2P: the slave port's peer delay stands in for a zero meanPathDelay.
  cds.mean_path_delay_ns = 0;
  r = make_ptp_status_report(dds, ts, cds, {{2, PtpPortState::kSlave, 4'000}, {1, PtpPortState::kMaster, 0}}, {});
  EXPECT_EQ(r.mean_path_delay_ns, 4'000);
  EXPECT_EQ(r.ports.front().number, 1) << "sorted by number";
  EXPECT_EQ(r.error_ns, 800 + 4'000);
}

}  // namespace
}  // namespace timesync::reference
