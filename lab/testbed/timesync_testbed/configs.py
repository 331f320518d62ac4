"""The master's and the agents' YAML, built as nested dicts.

Overrides are "a.b=value" strings, as --set and --master-set take them; the
daemons' own --check-config judges the result (ConfigError carries its
file:line message).
"""
import subprocess

from .network import AGENT_PORT, MASTER_PORT, MASTER_UDP_PORT, PROXY_PORT, UDP_PROXY_PORT, Network

# Agent i's crystal: (frequency ppm, initial offset s).
CRYSTALS = [(35.0, 0.25), (-20.0, -1.5), (12.5, 0.8), (-48.0, 3.0), (5.0, -0.1), (-7.5, 12.0)]
AGENT_NAMES = ["camera", "sensor", "lidar", "radar", "imu", "gnss"]
MAX_AGENTS = 24


class ConfigError(Exception):
    pass


def crystal(i):
    """Agent i's (frequency ppm, initial offset s): the table, then generated
    ones that are the same on every run (a fixed LCG, not `random`)."""
    if i < len(CRYSTALS):
        return CRYSTALS[i]
    x = (1103515245 * (i + 7) + 12345) % 2**31
    y = (1103515245 * x + 12345) % 2**31
    return (round((x / 2**31 - 0.5) * 100, 2), round((y / 2**31 - 0.5) * 10, 3))


def agent_name(i):
    return AGENT_NAMES[i] if i < len(AGENT_NAMES) else f"som{i + 1}"


def segment_path(i):
    """Agent i's segment in a scenario run (one agent per SoM)."""
    return f"/dev/shm/timesync-tsb-som{i + 1}"


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def apply_overrides(cfg, overrides):
    """Sets each "a.b=value" in the nested dict cfg (creating sections)."""
    for o in overrides:
        key, _, value = o.partition("=")
        *parents, leaf = key.split(".")
        node = cfg
        for k in parents:
            node = node.setdefault(k, {})
        node[leaf] = value
    return cfg


def to_yaml(cfg, indent=""):
    out = ""
    for k, v in cfg.items():
        if isinstance(v, dict):
            out += f"{indent}{k}:\n" + to_yaml(v, indent + "  ")
        elif isinstance(v, (list, tuple)):  # a flow sequence of quoted strings
            out += f"{indent}{k}: [" + ", ".join(f'"{x}"' for x in v) + "]\n"
        else:
            text = "true" if v is True else "false" if v is False else str(v)
            out += f'{indent}{k}: "{text}"\n' if ":" in text else f"{indent}{k}: {text}\n"
    return out


def master_yaml(overrides=()):
    """The master's configuration; overrides are "a.b=value" as for agents."""
    cfg = {"role": "master", "id": "coordinator", "listen": f"0.0.0.0:{MASTER_PORT}",
           "timebase": "monotonic", "udp": {"listen": f"0.0.0.0:{MASTER_UDP_PORT}"}}
    return to_yaml(apply_overrides(cfg, overrides))


def agent_base(name, master_target, listen, segment, freq_ppm, offset_s, sim_seed,
               poll_min_s=0.1, max_error_us=5000, udp_target=None):
    """An agent on a simulated crystal (frequency, initial offset, 2 ppb/sqrt(s)
    wander) derived from the host's CLOCK_MONOTONIC_RAW. udp_target: where its
    UDP exchanges go when not to the port the master offers (a proxy)."""
    cfg = {
        "role": "client", "id": name, "master": master_target, "listen": listen, "segment": segment,
        "poll": {"min_s": poll_min_s, "max_s": 1.0, "rpc_timeout_s": 0.5},
        "alarm": {"max_error_us": max_error_us, "clear_ratio": 0.8, "unreachable_after_s": 3,
                  "void_after_s": 10},
        "sim_clock": {"enabled": True, "initial_offset_s": offset_s, "freq_ppm": freq_ppm,
                      "wander_ppb_per_sqrt_s": 2, "seed": sim_seed},
    }
    if udp_target:
        cfg["udp"] = {"master": udp_target}
    return cfg


def agent_config(i, master_target, sc, duration, overrides=(), calibration_ns=None, udp_target=None,
                 crystal_index=None, name=None):
    """Scenario agent i's configuration as nested dicts; overrides are "a.b=value".
    crystal_index: whose crystal (frequency, offset and wander seed) it runs,
    by default its own; name: its id, by default the crystal's name."""
    k = i if crystal_index is None else crystal_index
    freq, offset = crystal(k)
    cfg = agent_base(name or agent_name(k), master_target, f"{Network.agent_ip(i)}:{AGENT_PORT}",
                     segment_path(i), freq, offset, k + 1, udp_target=udp_target)
    if sc.drift_step_ppm:
        cfg["sim_clock"].update({"step_every_s": round(duration * 0.4, 3), "step_ppm": sc.drift_step_ppm})
    if calibration_ns is not None:
        cfg["calibration"] = {"offset_ns": int(round(calibration_ns))}
    return apply_overrides(cfg, overrides)


def check_config(binary, path):
    """The daemon's own verdict on a file (a bad --set is reported here, with
    its file:line message)."""
    r = subprocess.run([binary, "--config", path, "--check-config"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise ConfigError(r.stderr.strip())


def proxy_argvs(bed, opts, seed=1):
    """The netem proxies in front of the master (run in its namespace): TCP for
    gRPC and UDP for the UDP exchanges, with the same impairment, so either
    transport crosses it. Agents then use MASTER_IP:PROXY_PORT as `master` and
    MASTER_IP:UDP_PROXY_PORT as `udp.master`."""
    return [("proxy", proxy_argv(bed, opts, f"0.0.0.0:{PROXY_PORT}", f"127.0.0.1:{MASTER_PORT}", seed=seed)),
            ("udp-proxy", proxy_argv(bed, opts, f"0.0.0.0:{UDP_PROXY_PORT}", f"127.0.0.1:{MASTER_UDP_PORT}",
                                     udp=True, seed=seed + 1000))]


def proxy_argv(bed, opts, listen, connect, udp=False, seed=1):
    """timesync-netem-proxy with opts {"delay_up_ms": 1, "schedule": "...", ...}."""
    argv = [bed.bin["proxy"], "--listen", listen, "--connect", connect, "--seed", str(seed)]
    if udp:
        argv.append("--udp")
    for k, v in opts.items():
        argv += ["--" + k.replace("_", "-"), str(v)]
    return argv
