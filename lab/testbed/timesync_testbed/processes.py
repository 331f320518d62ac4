"""Processes the bed starts, signals, the bed's lock, and the binaries it runs.

Every process runs in a session of its own, so stopping it stops what it
started too. Teardown holds SIGINT/SIGTERM/SIGHUP (delivered afterwards), so a
Ctrl-C never leaves half a bed behind.
"""
import fcntl
import os
import re
import signal
import subprocess
import sys
import time

LOCK_PATH = "/run/timesync-testbed.lock"
CGROUP_CPU = "/sys/fs/cgroup/cpu"  # cgroup v1 cpu controller


class Interrupted(Exception):
    pass


def on_signal(signum, _frame):
    raise Interrupted(signal.Signals(signum).name)


HELD = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


def catch_signals():
    for s in HELD:
        signal.signal(s, on_signal)


class signals_held:
    """Teardown must finish: a Ctrl-C during it is delivered afterwards."""

    def __enter__(self):
        signal.pthread_sigmask(signal.SIG_BLOCK, HELD)

    def __exit__(self, *exc):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD)


def die(msg, code=1):
    print(f"timesync-testbed: {msg}", file=sys.stderr)
    sys.exit(code)


def sh(*argv, check=True):
    r = subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {r.stderr.strip() or r.returncode}")
    return r.stdout


def take_lock(wait_s=0.0):
    """The bed's lock (one bed at a time); waits up to wait_s for another run."""
    lock = open(LOCK_PATH, "w")
    deadline = time.monotonic() + wait_s
    announced = False
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return lock
        except BlockingIOError:
            if time.monotonic() >= deadline:
                die(f"another test bed is running (it holds {LOCK_PATH})")
            if not announced:
                print(f"waiting for {LOCK_PATH} (another test bed run)", flush=True)
                announced = True
            time.sleep(5)


class Proc:
    """A process in namespace ns (None: the host's), logging to log_path.
    cgroup: a cgroup v1 directory the process joins before it execs."""

    def __init__(self, name, ns, argv, log_path, stdout=None, cgroup=None):
        self.name, self.ns, self.argv, self.log_path = name, ns, argv, log_path
        cmd = (["ip", "netns", "exec", ns] if ns else []) + argv
        self.log = open(log_path, "a")
        join = None
        if cgroup:
            def join():
                with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
                    f.write(str(os.getpid()))
        self.p = subprocess.Popen(cmd, stdout=stdout or self.log, stderr=self.log,
                                  start_new_session=True, preexec_fn=join)

    def alive(self):
        return self.p.poll() is None

    def send(self, sig):
        if self.alive():
            try:
                os.killpg(self.p.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        self.send(sig)
        if sig != signal.SIGCONT:
            self.send(signal.SIGCONT)  # a frozen process must see the signal
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.send(signal.SIGKILL)
            self.p.wait()
        self.log.close()
        return self.p.returncode


def wait_for_text(path, text, timeout_s, proc=None):
    """Bounded wait until the file at path contains text (a program's "ready")."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if text in open(path).read():
                return True
        except OSError:
            pass
        if proc is not None and not proc.alive():
            return False
        time.sleep(0.005)
    return False


def proc_cpu_s(pid):
    """utime + stime of a live process, in seconds (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After "pid (comm)": state is field 3, utime 14 and stime 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def master_served(log_text):
    """(requests, beacons) from the master's last exit line, or (None, None)."""
    m = re.findall(r"stopped after (\d+) requests, (\d+) beacons", log_text)
    return (int(m[-1][0]), int(m[-1][1])) if m else (None, None)


def thread_cpu_s(pid):
    """{tid: CPU time in s} of every thread of a live process ({} once gone):
    the scheduler's run time (schedstat, ns), not utime + stime, whose 10 ms
    ticks are too coarse for a thread that runs microseconds per packet."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                out[int(tid)] = int(f.read().split()[0]) / 1e9
        except (OSError, IndexError, ValueError):
            continue
    return out


SYS_PPOLL = 271  # x86_64


def thread_in_ppoll(pid, tries=40, gap_s=0.005):
    """The thread of pid found most often blocked in ppoll(2), or None: the
    master's UDP service waits there (netstamp's receive), while gRPC's
    threads wait in epoll_wait and futex, the main loop in clock_nanosleep
    and the signal thread in sigtimedwait. Reads /proc/PID/task/TID/syscall
    (root)."""
    hits = {}
    for _ in range(tries):
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            return None
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/syscall") as f:
                    nr = f.read().split()[0]
            except (OSError, IndexError):
                continue
            if nr == str(SYS_PPOLL):
                hits[int(tid)] = hits.get(int(tid), 0) + 1
        time.sleep(gap_s)
    return max(hits, key=hits.get) if hits else None


# ------------------------------------------------------------------ cgroups --

def make_cpu_cgroup(name, quota_us, period_us):
    """A cgroup v1 cpu group limited to quota_us of CPU time per period_us
    (over all its processes together); returns its directory."""
    path = os.path.join(CGROUP_CPU, name)
    if not os.path.isdir(CGROUP_CPU):
        raise RuntimeError(f"{CGROUP_CPU} is not mounted (cgroup v1 cpu controller)")
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "cpu.cfs_period_us"), "w") as f:
        f.write(str(period_us))
    with open(os.path.join(path, "cpu.cfs_quota_us"), "w") as f:
        f.write(str(quota_us))
    return path


def remove_cpu_cgroups(prefix):
    """Kills whatever is left in the cgroups named prefix* and removes them."""
    if not os.path.isdir(CGROUP_CPU):
        return
    for name in os.listdir(CGROUP_CPU):
        path = os.path.join(CGROUP_CPU, name)
        if not name.startswith(prefix) or not os.path.isdir(path):
            continue
        for _ in range(100):
            try:
                pids = [int(p) for p in open(os.path.join(path, "cgroup.procs")).read().split()]
            except OSError:
                pids = []
            for p in pids:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                os.rmdir(path)
                break
            except OSError:
                time.sleep(0.02)


# ----------------------------------------------------------------- binaries --

class Bed:
    """The build's programs the bed runs."""

    def __init__(self, build_dir):
        self.build = os.path.abspath(build_dir)
        b = self.build
        self.bin = {
            "master": os.path.join(b, "server", "timesync-master"),
            "agent": os.path.join(b, "client", "timesync-agent"),
            "ctl": os.path.join(b, "tools", "timesyncctl"),
            "proxy": os.path.join(b, "lab", "netem-proxy", "timesync-netem-proxy"),
            "monitor": os.path.join(b, "lab", "truth-monitor", "timesync-truth-monitor"),
            "probe": os.path.join(b, "tools", "timesync-probe"),
        }
        for path in self.bin.values():
            if not os.access(path, os.X_OK):
                die(f"{path} missing: build first (cmake --preset default && cmake --build --preset default)")

    def path(self, *parts):
        """Another program of the build, or exit naming it."""
        p = os.path.join(self.build, *parts)
        if not os.access(p, os.X_OK):
            die(f"{p} missing: build first")
        return p
