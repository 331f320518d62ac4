#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/<harness>/ (small files, checked in).

Run from anywhere: python3 fuzz/corpus/make_seeds.py. Each seed is a valid
input of its harness's format (see the comment at the top of each harness),
so the fuzzer starts from what the code accepts and mutates from there.
The regress-* files are not written here: they are inputs that once found a
bug (docs/fuzzing.md), kept so every run replays them.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def put(harness, name, data):
    d = os.path.join(HERE, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def varint(v):
    v &= (1 << 64) - 1
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


# ---- fuzz_config: [role byte: odd master, even client][YAML]
def config_seeds():
    for name, role in [("client.yaml", 0), ("master.yaml", 1), ("demo/camera.yaml", 0),
                       ("demo/sensor.yaml", 0), ("demo/master.yaml", 1)]:
        with open(os.path.join(ROOT, "config", name), "rb") as f:
            put("fuzz_config", name.replace("/", "-"), bytes([role]) + f.read())
    small = {
        "client-min": (0, b"role: client\nmaster: m:7450\n"),
        "client-flow": (0, b"role: client\nmaster: \"[::1]:7450\"\npoll: {min_s: 0.25, max_s: 8}\n"
                           b"alarm: {unreachable_after_s: 9, void_after_s: 20}\n"
                           b"tls: {server_name: m}\nid: \"cam\\tera\"\n"),
        "client-errors": (0, b"role: client\nmaster: m\npol:\n  min_s: fast\n---\nrole: client\n"),
        "master-min": (1, b"role: master\nid: m1\nbeacon: {rate_hz: 20, max_streams: 4}\n"
                          b"udp: {timestamping: hardware, interface: eth0}\n"
                          b"metrics: {listen: \"0.0.0.0:7460\"}\n"),
        "master-anchors": (1, b"role: master\nsim_clock: &a {enabled: true}\nudp: *a\n"),
    }
    for name, (role, text) in small.items():
        put("fuzz_config", name, bytes([role]) + text)


# ---- fuzz_wire: [mode][value u64 LE][bytes]; mode bit 0: build-then-XOR
MAGIC = 0x54535544


def header(ptype, length, seq, flags=0):
    return struct.pack(">IBBBBHHIQ", MAGIC, 1, ptype, flags, 0, length, 0, 0, seq)


def wire_seeds():
    seq = 0x0123456789ABCDEF
    value = struct.pack("<Q", seq)
    req = header(1, 112, seq) + bytes(88)
    resp = header(2, 64, seq) + struct.pack(">qQQQB", 1_000_000_000, 7, 9, 250, 1) + bytes(7)
    fup = header(3, 48, seq) + struct.pack(">qQQ", 1_000_050_000, 7, 300)
    sealed_req = (header(1, 168, seq, flags=1) + struct.pack(">H", 72) + bytes(6) + bytes(72)
                  + bytes(36) + bytes(28))
    put("fuzz_wire", "request", b"\x00" + value + req)
    put("fuzz_wire", "response", b"\x00" + value + resp)
    put("fuzz_wire", "follow-up", b"\x00" + value + fup)
    put("fuzz_wire", "sealed-request-zero-cookie", b"\x00" + value + sealed_req)
    # Built by the harness, unchanged: plain and sealed request, response, follow-up.
    for mode in (0x01, 0x03, 0x05, 0x07, 0x09, 0x0B, 0x29, 0x2B):
        put("fuzz_wire", "built-%02x" % mode, bytes([mode]) + value)
    put("fuzz_wire", "built-07-bitflip", bytes([0x07]) + value + bytes(40) + b"\x01")


# ---- fuzz_segment: [mode][t i64 LE][file]; mode bit 0 forces a valid header
def utc(flags, offset, as_of, error, rate, rate_error, tai, next_leap, next_tai):
    """The slot's UTC section (layout version 2), 64 bytes with its reserved words."""
    u = struct.pack("<qqQqQqiiII", offset, as_of, error, rate, rate_error, next_leap, tai, next_tai,
                    flags, 0) + bytes(32)
    assert len(u) == 96
    return u


NO_UTC = utc(0, 0, 0, 0, 0, 0, 0, 0, 0)


def slot(gen, status, as_of, void_after, ref_local, ref_sync, freq, bound, growth, max_err,
         name=b"coordinator", utc_section=NO_UTC):
    s = struct.pack("<QQqqqqqQQQIIQ", gen, 5, as_of, void_after, ref_local, ref_sync, freq, bound,
                    growth, max_err, status, 0, 0xABCDEF)
    s += name.ljust(64, b"\x00") + utc_section
    assert len(s) == 256
    return s


def segment(latest, slots):
    head = struct.pack("<IIIIQ", 0x4E595354, 2, 576, 4242, latest) + bytes(40)
    return head + b"".join(slots)


def segment_seeds():
    good = slot(2, 1, 10**9, 11 * 10**9, 10**9, 2 * 10**9, 1 << 30, 1000, 1000, 10**6)
    with_utc = slot(2, 1, 10**9, 11 * 10**9, 10**9, 2 * 10**9, 1 << 30, 1000, 1000, 10**6,
                    utc_section=utc(3, 1_700_000_000 * 10**9, 2 * 10**9, 5000, -2000, 3000, 37,
                                    1_800_000_000, 38))
    empty = bytes(256)
    t_ok = struct.pack("<q", 2 * 10**9)
    t_stale = struct.pack("<q", 20 * 10**9)
    put("fuzz_segment", "synchronized", b"\x00" + t_ok + segment(1, [empty, good]))
    put("fuzz_segment", "synchronized-utc", b"\x00" + t_ok + segment(1, [empty, with_utc]))
    put("fuzz_segment", "stale", b"\x00" + t_stale + segment(1, [empty, good]))
    put("fuzz_segment", "holdover-slot0", b"\x00" + t_ok + segment(2, [
        slot(4, 2, 10**9, 11 * 10**9, 10**9, 2 * 10**9, -(1 << 40), 5000, 50000, 10**7), empty]))
    put("fuzz_segment", "never-published", b"\x00" + t_ok + segment(0, [empty, empty]))
    put("fuzz_segment", "odd-generation", b"\x00" + t_ok + segment(1, [empty, slot(3, 1, 0, 1, 0, 0,
                                                                              0, 0, 0, 1)]))
    put("fuzz_segment", "truncated", b"\x00" + t_ok + segment(1, [empty, good])[:100])
    put("fuzz_segment", "forced-header", b"\x01" + t_ok + bytes(16) + struct.pack("<Q", 1) +
        bytes(40) + empty + good)


# ---- fuzz_time_service: [mode: %3 == 0 GetTime, 1 StreamTime, 2 GetUdpSession][request]
def service_seeds():
    get = (b"\x08" + varint(123_456_789) + b"\x10" + varint(42) + b"\x1a" + bytes([6]) +
           b"camera")
    put("fuzz_time_service", "get-time", b"\x00" + get)
    put("fuzz_time_service", "get-time-long-id", b"\x00" + b"\x1a" + varint(300) + b"x" * 300)
    put("fuzz_time_service", "get-time-negative-t0", b"\x00" + b"\x08" + varint(-5))
    for name, rate in [("stream-default", None), ("stream-5hz", 5.0), ("stream-min", 0.1),
                       ("stream-tiny", 1e-300), ("stream-nan", float("nan"))]:
        body = b"\x0a\x06sensor"
        if rate is not None:
            body += b"\x11" + struct.pack("<d", rate)
        put("fuzz_time_service", name, b"\x01" + body)
        put("fuzz_time_service", name + "-fast-master", b"\x22" + body)
    put("fuzz_time_service", "stream-disabled", b"\x10" + b"\x0a\x01x")
    put("fuzz_time_service", "udp-session", b"\x02" + b"\x0a\x06camera")


if __name__ == "__main__":
    config_seeds()
    wire_seeds()
    segment_seeds()
    service_seeds()
