"""The bed's network: a hub namespace with a bridge, the master's namespace
(tsb-master, 10.213.0.1), optionally a standby master's (tsb-standby,
10.213.0.2), and the SoMs' (tsb-som1, 10.213.0.11, ...), joined by veth pairs,
so every exchange crosses a real network stack.

A SoM namespace holds one agent by default; Network(agents, per_som=k) puts k
agents in each (each with its own port and segment), because creating a
namespace costs about half a second and a storm wants dozens of agents.
Everything is named tsb-*; cleanup_all() removes whatever a run left behind.
"""
import os
import signal
import time

from .processes import remove_cpu_cgroups, sh

PREFIX = "tsb-"
HUB = PREFIX + "hub"
MASTER_NS = PREFIX + "master"
SUBNET = "10.213.0"
MASTER_IP = SUBNET + ".1"
STANDBY_NS = PREFIX + "standby"  # a second master, a standby of the first (Network(standby=True))
STANDBY_IP = SUBNET + ".2"
MASTER_PORT = 17450
MASTER_UDP_PORT = 17452  # the master's UDP exchanges (transport udp or auto)
PROXY_PORT = 17460       # the netem proxy in front of MASTER_PORT (TCP)...
UDP_PROXY_PORT = 17462   # ... and in front of MASTER_UDP_PORT, with the same impairment
CHRONY_PROXY_PORT = 11123
MASTER_METRICS_PORT = 17470  # the master's Prometheus text, when a command asks for it (127.0.0.1)
AGENT_PORT = 17451  # the first agent of a SoM; the next ones count up
MAX_SOMS = 200      # 10.213.0.11 .. 10.213.0.210
SEGMENT_PREFIX = "timesync-" + PREFIX  # /dev/shm/timesync-tsb-*
WIRE_FILE = "timesync-wire-tsb"        # the probes' simulated wire


def netns_list():
    out = sh("ip", "netns", "list", check=False)
    return [line.split()[0] for line in out.splitlines() if line.startswith(PREFIX)]


def kill_namespace_processes(ns):
    for _ in range(50):
        pids = [int(p) for p in sh("ip", "netns", "pids", ns, check=False).split()]
        if not pids:
            return
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.02)


def cleanup_all():
    """Removes every tsb-* namespace (killing what runs in it), segment,
    the probes' wire and the tsb-* cpu cgroups."""
    for ns in netns_list():
        kill_namespace_processes(ns)
        sh("ip", "netns", "del", ns, check=False)
    remove_cpu_cgroups(PREFIX)
    for f in os.listdir("/dev/shm"):
        if f.startswith(SEGMENT_PREFIX) or f == WIRE_FILE:
            os.unlink(os.path.join("/dev/shm", f))


def som_ns(k):
    return f"{PREFIX}som{k + 1}"


def som_ip(k):
    return f"{SUBNET}.{11 + k}"


class Network:
    """The hub with its bridge, the master namespace and one per SoM."""

    def __init__(self, agents, per_som=1, standby=False):
        self.agents, self.per_som, self.standby = agents, per_som, standby
        self.soms = (agents + per_som - 1) // per_som
        if self.soms > MAX_SOMS:
            raise ValueError(f"{agents} agents at {per_som} per SoM need more than {MAX_SOMS} SoMs")

    # Agent i's namespace, address and port.
    def ns(self, i):
        return som_ns(i // self.per_som)

    def ip(self, i):
        return som_ip(i // self.per_som)

    def port(self, i):
        return AGENT_PORT + i % self.per_som

    # One agent per SoM (the scenarios and the probes).
    @staticmethod
    def agent_ns(i):
        return som_ns(i)

    @staticmethod
    def agent_ip(i):
        return som_ip(i)

    def up(self):
        sh("ip", "netns", "add", HUB)
        sh("ip", "-n", HUB, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", HUB, "link", "set", "br0", "up")
        nodes = [(MASTER_NS, MASTER_IP, "m")] + ([(STANDBY_NS, STANDBY_IP, "b")] if self.standby else [])
        nodes += [(som_ns(k), som_ip(k), f"s{k + 1}") for k in range(self.soms)]
        for ns, ip, tag in nodes:
            sh("ip", "netns", "add", ns)
            host_end = f"{PREFIX}{tag}h"
            # Both ends are created inside their namespaces: nothing touches the host's.
            sh("ip", "-n", HUB, "link", "add", host_end, "type", "veth", "peer", "name", "eth0",
               "netns", ns)
            sh("ip", "-n", HUB, "link", "set", host_end, "master", "br0", "up")
            sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")

    @staticmethod
    def link_of(ns):
        """The hub's end of a namespace's veth (its port on the bridge)."""
        tag = {MASTER_NS: "m", STANDBY_NS: "b"}.get(ns) or "s" + ns[len(PREFIX) + 3:]
        return f"{PREFIX}{tag}h"

    def set_link(self, ns, up):
        """Cuts (up False) or restores a namespace's link to the bridge: the
        hub's end of its veth goes down, so nothing crosses either way and
        its open TCP connections stall instead of closing."""
        sh("ip", "-n", HUB, "link", "set", self.link_of(ns), "up" if up else "down")

    def down(self):
        cleanup_all()
