"""legs: where a GetTime round trip's time goes, over the bed's veth link,
beside a plain TCP ping-pong (the floor any user-space exchange sees)."""
import os
import subprocess
import sys

from .configs import master_yaml, write
from .network import MASTER_IP, MASTER_NS, MASTER_PORT, Network, cleanup_all
from .processes import Proc, die, signals_held


def register(add_command):
    lg = add_command("legs", cmd_legs, "where a GetTime round trip's time goes")
    lg.add_argument("--count", type=int, default=2000)


def cmd_legs(bed, args, out):
    return legs(bed, args.count, out)


# A TCP ping-pong with the same timestamps as grpc_legs: the floor any
# user-space exchange over this link sees, gRPC or not.
PINGPONG_SERVER = """
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 17470)); s.listen(); c, _ = s.accept()
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
while c.recv(64):
    c.sendall(str(time.clock_gettime_ns(time.CLOCK_MONOTONIC_RAW)).encode())
"""
PINGPONG_CLIENT = """
import socket, sys, time
n, pause = int(sys.argv[1]), float(sys.argv[2]) / 1e3
for _ in range(100):
    try:
        c = socket.create_connection(("@MASTER_IP@", 17470)); break
    except OSError:
        time.sleep(0.05)
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
up, down = [], []
for _ in range(n):
    t0 = time.clock_gettime_ns(time.CLOCK_MONOTONIC_RAW); c.sendall(b"x")
    t1 = int(c.recv(64)); t3 = time.clock_gettime_ns(time.CLOCK_MONOTONIC_RAW)
    up.append((t1 - t0) / 1e3); down.append((t3 - t1) / 1e3); time.sleep(pause)
asym = sorted((u - d) / 2 for u, d in zip(up, down)); up.sort(); down.sort()
print("  python TCP ping-pong, p50: request leg %.1f us, answer leg %.1f us, (up - down) / 2 %.1f us"
      % (up[n // 2], down[n // 2], asym[n // 2]))
""".replace("@MASTER_IP@", MASTER_IP)


def legs(bed, count, out):
    """Splits GetTime round trips over the veth link into their legs: lone
    exchanges 10 ms apart and back-to-back ones, beside a plain TCP ping-pong."""
    legs_bin = os.path.join(bed.build, "bench", "grpc_legs")
    if not os.access(legs_bin, os.X_OK):
        die(f"{legs_bin} missing: build with TIMESYNC_BUILD_BENCH=ON")
    cleanup_all()
    net = Network(1)
    procs = []
    try:
        net.up()
        write(f"{out}/master.yaml", master_yaml())
        procs.append(Proc("master", MASTER_NS, [bed.bin["master"], "--config", f"{out}/master.yaml"],
                          f"{out}/master.log"))
        procs.append(Proc("pingpong", MASTER_NS, [sys.executable, "-c", PINGPONG_SERVER], f"{out}/pingpong.log"))
        som = Network.agent_ns(0)
        for interval in (10, 0):
            print(f"GetTime, one exchange every {interval} ms ({'lone' if interval else 'back to back'}):",
                  flush=True)
            r = subprocess.run(["ip", "netns", "exec", som, legs_bin, "--target", f"{MASTER_IP}:{MASTER_PORT}",
                                "--count", str(count), "--interval-ms", str(interval)],
                               stdout=subprocess.PIPE, text=True)
            print(r.stdout, end="", flush=True)
            if r.returncode != 0:
                return 1
        print("baseline, one exchange every 10 ms:", flush=True)
        subprocess.run(["ip", "netns", "exec", som, sys.executable, "-c", PINGPONG_CLIENT,
                        str(min(count, 1000)), "10"], check=True)
    finally:
        with signals_held():
            for p in reversed(procs):
                p.stop()
            net.down()
    return 0

