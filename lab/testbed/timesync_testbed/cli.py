"""The command line: global options, one subcommand per family module, the
root check, the bed's lock, and cleanup whatever happens."""
import argparse
import os
import shutil
import sys
import tempfile

import timesync_testbed
from . import bench, compare, failover, honesty, legs, servo_compare, start_error, transports
from .configs import MAX_AGENTS, ConfigError
from .network import cleanup_all
from .probes import ProbeError
from .processes import Bed, Interrupted, catch_signals, die, signals_held, take_lock
from .scenarios import SCENARIOS

DEFAULT_BUILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "build", "default")
FAMILIES = (bench, transports, failover, compare, legs, start_error, servo_compare, honesty)


def parser():
    ap = argparse.ArgumentParser(prog="timesync-testbed", description=timesync_testbed.__doc__.split("\n\n")[0],
                                 epilog=timesync_testbed.__doc__.split("\n\n")[1] + "\n\n"
                                 + timesync_testbed.__doc__.split("\n\n")[2],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=DEFAULT_BUILD)
    ap.add_argument("--out", default=None, help="output directory (default: a new one in /tmp)")
    ap.add_argument("--agents", type=int, default=None, help="agents (default: the command's)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override an agent config key, e.g. servo.freq_time_constant_s=32")
    ap.add_argument("--master-set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a master config key, e.g. beacon.rate_hz=50")
    sub = ap.add_subparsers(dest="cmd", required=True)

    def add_command(name, func, help_text, agents=2, max_agents=MAX_AGENTS, lock_wait=False):
        p = sub.add_parser(name, help=help_text, description=help_text)
        # Also accepted after the command (as the former standalone scripts
        # took them); SUPPRESS keeps a value given before it.
        p.add_argument("--build-dir", default=argparse.SUPPRESS)
        p.add_argument("--out", default=argparse.SUPPRESS)
        p.add_argument("--agents", type=int, default=argparse.SUPPRESS)
        if lock_wait:
            p.add_argument("--lock-wait", type=float, default=1800,
                           help="wait this long for another test bed run to finish")
        p.set_defaults(func=func, default_agents=agents, max_agents=max_agents)
        return p

    for family in FAMILIES:
        family.register(add_command)
    sub.add_parser("cleanup", help="remove whatever a killed run left behind")
    sub.add_parser("list", help="the scenarios")
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    if args.cmd == "list":
        for s in SCENARIOS:
            print(f"{s.name:14s} {s.title}")
        return 0
    if os.geteuid() != 0:
        die("needs root: it creates network namespaces and veth pairs (try: sudo "
            + " ".join(sys.argv) + ")", 77)
    if args.cmd != "cleanup":
        args.agents = args.agents or args.default_agents
        if not 1 <= args.agents <= args.max_agents:
            die(f"--agents must be 1 to {args.max_agents}", 64)
    lock = take_lock(getattr(args, "lock_wait", 0))
    catch_signals()
    try:
        if args.cmd == "cleanup":
            cleanup_all()
            return 0
        if shutil.which("ip") is None:
            die("missing tools: ip")
        bed = Bed(args.build_dir)
        out = args.out or tempfile.mkdtemp(prefix=f"timesync-{args.cmd}-")
        os.makedirs(out, exist_ok=True)
        return args.func(bed, args, out)
    except Interrupted as e:
        print(f"timesync-testbed: interrupted ({e}); cleaned up", file=sys.stderr)
        return 130
    except ConfigError as e:
        print(f"timesync-testbed: configuration rejected: {e}", file=sys.stderr)
        return 78
    except ProbeError as e:
        print(f"timesync-testbed: the probe observer did not start: {e}", file=sys.stderr)
        return 1
    except RuntimeError as e:  # a program of the bed failed (ip, a daemon that would not start)
        print(f"timesync-testbed: {e}", file=sys.stderr)
        return 1
    finally:
        with signals_held():
            cleanup_all()
        lock.close()
