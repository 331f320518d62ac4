"""chrony as the reference: `chronyd -x` server (master namespace) and client
(the first SoM), never touching the host's clock."""
import os
import re
import subprocess
import threading
import time

from .configs import write
from .network import CHRONY_PROXY_PORT, MASTER_IP


def chrony_confs(work, sc):
    server = (f"pidfile {work}/chrony-server.pid\nbindcmdaddress /\ncmdport 0\n"
              "local stratum 1\nallow all\n")
    port = CHRONY_PROXY_PORT if sc.proxy else 123
    # The client's command socket lets the test bed ask for its estimate of the
    # system clock's offset (chronyc tracking); chronyd wants its directory private.
    os.makedirs(f"{work}/chrony", mode=0o700, exist_ok=True)
    client = (f"pidfile {work}/chrony-client.pid\nbindcmdaddress {work}/chrony/chronyd.sock\n"
              f"cmdport 0\nport 0\nserver {MASTER_IP} port {port} iburst minpoll -2 maxpoll -2\n"
              f"logdir {work}/chrony\nlog measurements\n")
    write(f"{work}/chrony-server.conf", server)
    write(f"{work}/chrony-client.conf", client)


class ChronyTracker(threading.Thread):
    """Polls `chronyc tracking` of the client 4 times a second. With -x chronyd
    never corrects the clock, and client and server share this host's clock, so
    its "System time" (its estimate of how far the system clock is off) IS its
    error against the truth: the figure comparable to timesync's true error."""

    def __init__(self, sock, settle_s):
        super().__init__(daemon=True)
        self.sock, self.settle_s = sock, settle_s
        self.samples = []  # (t since start, |system time| in us), from settle_s after the first source
        # Every answer from the first source on: (host CLOCK_MONOTONIC_RAW ns,
        # system time in us (signed), chrony's own bound in us: root delay / 2
        # + root dispersion, what it reports as its maximum error).
        self.raw = []
        self.synced_raw_ns = None  # the first answer with a source
        self.stop = threading.Event()

    def run(self):
        t0 = time.monotonic()
        synced_at = None
        while not self.stop.wait(0.25):
            r = subprocess.run(["chronyc", "-h", self.sock, "-c", "tracking"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            f = r.stdout.strip().split(",")
            # Stratum 0 (field 2): not synchronised to the server yet.
            if r.returncode != 0 or len(f) < 5 or f[2] == "0":
                continue
            raw = time.clock_gettime_ns(time.CLOCK_MONOTONIC_RAW)
            now = time.monotonic() - t0
            synced_at = now if synced_at is None else synced_at
            self.synced_raw_ns = self.synced_raw_ns or raw
            try:
                bound = (abs(float(f[10])) / 2 + float(f[11])) * 1e6 if len(f) > 11 else None
            except ValueError:
                bound = None
            self.raw.append((raw, float(f[4]) * 1e6, bound))
            if now - synced_at >= self.settle_s:
                self.samples.append((now, abs(float(f[4])) * 1e6))


def chrony_offsets_us(work):
    """|offset| of every valid measurement chronyd logged, in us."""
    path = f"{work}/chrony/measurements.log"
    out = []
    if not os.path.exists(path):
        return out
    for line in open(path):
        f = line.split()
        if len(f) > 12 and re.match(r"\d{4}-\d\d-\d\d", f[0]):
            out.append(abs(float(f[11])) * 1e6)
    return out
