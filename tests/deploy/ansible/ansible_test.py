#!/usr/bin/env python3
"""Tests of the Ansible roll-out in deploy/ansible (CTest label deploy).

  ansible_test.py syntax                      syntax check + builtin-only modules
  ansible_test.py check-mode {deb,apt}        --check --diff against this machine
  ansible_test.py render --agent B --master B render every example host, validate
  ansible_test.py render-invalid --agent B --master B
                                              a bad inventory value is refused

Everything Ansible writes (its home, local and "remote" temp directories) and
every file the tests create lives in one temporary directory that is removed at
the end, so a run leaves nothing behind and does not depend on ~/.ansible.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import yaml
except ImportError:
    # The python3 CTest found may not be the one Ansible runs on; that one has
    # PyYAML (ansible-core needs it): run this script with it instead.
    _ansible = shutil.which("ansible-playbook")
    _python = open(_ansible).readline()[2:].strip().split()[0] if _ansible else ""
    if not _python or Path(_python).resolve() == Path(sys.executable).resolve():
        raise
    os.execv(_python, [_python, __file__, *sys.argv[1:]])

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parents[2]
ANSIBLE_DIR = SOURCE / "deploy" / "ansible"
EXAMPLE_INVENTORY = ANSIBLE_DIR / "inventory.example.yml"
CHECK_INVENTORY = HERE / "inventory.check.yml"
PLAYBOOK = ANSIBLE_DIR / "site.yml"

RECAP = re.compile(
    r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
    r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)\s+"
    r"skipped=(?P<skipped>\d+)\s+rescued=(?P<rescued>\d+)\s+ignored=(?P<ignored>\d+)",
    re.M)

failures = []


def check(condition, message):
    """Records a failed assertion and goes on, so one run reports them all."""
    if not condition:
        failures.append(message)
        print(f"FAIL: {message}", file=sys.stderr)
    return condition


def ansible_env(tmp):
    env = dict(os.environ)
    env.update({
        "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"),
        "ANSIBLE_HOME": str(tmp / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-local"),
        # With a local connection the "remote" side is this machine too.
        "ANSIBLE_REMOTE_TEMP": str(tmp / "ansible-remote"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_STDOUT_CALLBACK": "default",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
    })
    return env


def run(cmd, tmp, expect_rc=0):
    """Runs a command, prints its output (CTest shows it on failure)."""
    print("$ " + " ".join(str(c) for c in cmd), flush=True)
    proc = subprocess.run([str(c) for c in cmd], env=ansible_env(tmp), cwd=tmp,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=120)
    print(proc.stdout, flush=True)
    if expect_rc is not None:
        check(proc.returncode == expect_rc,
              f"{Path(str(cmd[0])).name} exited {proc.returncode}, expected {expect_rc}")
    return proc


def recap(output):
    return {m["host"]: {k: int(v) for k, v in m.groupdict().items() if k != "host"}
            for m in RECAP.finditer(output)}


def make_pki(tmp, hosts):
    """A throw-away CA and one certificate per host, as timesync_tls_src_dir
    expects: ca.crt, HOST.crt, HOST.key (EC keys: fast)."""
    pki = tmp / "pki"
    pki.mkdir()

    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=pki, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1",
            "-subj", "/CN=timesync test CA")
    for host in hosts:
        (pki / f"{host}.ext").write_text(f"subjectAltName=DNS:{host},DNS:{host}.local\n")
        openssl("req", *ec, "-keyout", f"{host}.key", "-out", f"{host}.csr", "-subj", f"/CN={host}")
        openssl("x509", "-req", "-in", f"{host}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{host}.crt", "-days", "1", "-extfile", f"{host}.ext")
    return pki


def make_debs(tmp, packages, version="0.1.0-1"):
    """Stand-ins for CPack's packages, named as it names them
    (NAME_VERSION-RELEASE_ARCH.deb, cmake/Packaging.cmake). Check mode never
    installs them; they only need to exist on the controller."""
    debs = tmp / "debs"
    debs.mkdir()
    for pkg in packages:
        root = tmp / "debroot" / pkg
        (root / "DEBIAN").mkdir(parents=True)
        (root / "DEBIAN" / "control").write_text(
            f"Package: {pkg}\nVersion: {version}\nArchitecture: all\n"
            "Maintainer: timesync tests <tests@invalid>\n"
            "Description: stand-in for the check-mode test\n")
        subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root),
                        str(debs / f"{pkg}_{version}_all.deb")],
                       check=True, stdout=subprocess.DEVNULL)
    return debs


def installed_version(pkg):
    proc = subprocess.run(["dpkg-query", "--show", "--showformat=${db:Status-Status} ${Version}", pkg],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    status, _, version = proc.stdout.partition(" ")
    return version if proc.returncode == 0 and status == "installed" else None


def inventory_hosts(tmp, inventory):
    """hostvars and groups as Ansible itself reads the inventory."""
    proc = run(["ansible-inventory", "-i", inventory, "--list"], tmp)
    data = json.loads(proc.stdout[proc.stdout.index("{"):])
    hostvars = data["_meta"]["hostvars"]
    return (hostvars, data.get("timesync_master", {}).get("hosts", []),
            data.get("timesync_agents", {}).get("hosts", []))


# ---------------------------------------------------------------- syntax

# Keys of a task that are not its module.
TASK_KEYWORDS = {
    "name", "when", "loop", "loop_control", "register", "notify", "tags", "vars",
    "changed_when", "failed_when", "check_mode", "diff", "become", "become_user",
    "no_log", "ignore_errors", "delegate_to", "run_once", "listen", "environment",
    "with_items", "until", "retries", "delay", "block", "rescue", "always", "args",
}


def modules_of(tasks):
    for task in tasks or []:
        for section in ("block", "rescue", "always"):
            yield from modules_of(task.get(section))
        actions = [k for k in task if k not in TASK_KEYWORDS]
        if "block" not in task:
            check(len(actions) == 1, f"task {task.get('name')!r}: cannot tell its module: {actions}")
        yield from ((task.get("name"), a) for a in actions)


def test_syntax(tmp):
    run(["ansible-playbook", "-i", EXAMPLE_INVENTORY, "--syntax-check", PLAYBOOK], tmp)
    # Only ansible-core is installed on the controller: every module must be
    # an ansible.builtin one, spelled with its full name.
    files = sorted(ANSIBLE_DIR.glob("roles/*/tasks/*.yml")) + \
        sorted(ANSIBLE_DIR.glob("roles/*/handlers/*.yml"))
    count = 0
    for f in files:
        for name, module in modules_of(yaml.safe_load(f.read_text())):
            count += 1
            check(module.startswith("ansible.builtin."),
                  f"{f.relative_to(ANSIBLE_DIR)}: task {name!r} uses {module}, not ansible.builtin.*")
    check(count >= 20, f"found only {count} tasks in {len(files)} files")
    for play in yaml.safe_load(PLAYBOOK.read_text()):
        check(play.get("become") is True, f"play {play['name']!r} must become root")


# ------------------------------------------------------------ check mode

def test_check_mode(tmp, source):
    """--check --diff with this machine as master and agent. It must finish
    with failed=0 while changing nothing, and report honestly what a real run
    would do."""
    packages = ["timesync-master", "libtimesync0", "timesync-agent"]
    # dpkg stands for a package that is installed already (it always is): in
    # check mode, apt must leave it alone, while a .deb of another version
    # would replace it. It is only ever "installed" in check mode.
    dpkg_version = installed_version("dpkg")
    check(dpkg_version is not None, "dpkg is not installed?")
    pki = make_pki(tmp, ["localhost"])
    extra = {"timesync_tls_src_dir": str(pki),
             "timesync_agent_packages": ["libtimesync0", "timesync-agent", "dpkg"]}
    if source == "deb":
        extra["timesync_deb_dir"] = str(make_debs(tmp, packages + ["dpkg"]))
    (tmp / "extra.json").write_text(json.dumps(extra))

    watched = [Path("/etc/timesync"), Path("/var/cache/timesync-deploy"),
               Path("/etc/apt/sources.list.d/timesync.list")]
    before = {p: p.exists() for p in watched}

    proc = run(["ansible-playbook", "-i", CHECK_INVENTORY, PLAYBOOK, "--check", "--diff",
                "-e", f"@{tmp / 'extra.json'}"], tmp)
    out = proc.stdout
    hosts = recap(out)
    check(set(hosts) == {"localhost"}, f"PLAY RECAP hosts: {sorted(hosts)}")
    r = hosts.get("localhost", {})
    check(r.get("failed") == 0 and r.get("unreachable") == 0, f"PLAY RECAP localhost: {r}")

    # Nothing may have been written.
    for p in watched:
        check(p.exists() == before[p], f"check mode changed {p}: existed {before[p]}, now {p.exists()}")

    # The report: what a real run would install and start, from dpkg's answer.
    for pkg in packages:
        if installed_version(pkg) is None:
            expected = f"would install {pkg}" + (f" from {pkg}_0.1.0-1_all.deb" if source == "deb" else "")
            check(f'"msg": "{expected}"' in out, f"no report {expected!r}")
    if source == "deb":
        expected = f"would install dpkg from dpkg_0.1.0-1_all.deb over installed version {dpkg_version}"
        check(f'"msg": "{expected}"' in out, f"no report {expected!r}")
    else:
        check("would install dpkg" not in out, "an installed package was reported as to be installed")
    for pkg in ("timesync-master", "timesync-agent"):
        if installed_version(pkg) is None:
            check(f'"msg": "would enable and start {pkg}.service"' in out,
                  f"no report that {pkg}.service would be enabled and started")
    check(r.get("changed", 0) > 0, "a machine without timesync must show changes")

    # The diffs show the configs a real run would write, built from the
    # inventory: the agent's master is the master host's address and port.
    for line in ['+role: master', '+listen: "0.0.0.0:7450"', '+  listen: "127.0.0.1:7460"',
                 '+role: client', '+master: "[::1]:7450"', '+  max_s: 2',
                 '+  offset_ns: -350', '+  listen: "127.0.0.1:7461"',
                 '+  server_name: "localhost"', '+  client_ca_file: "/etc/timesync/tls/client-ca.crt"',
                 '+  key_file: "/etc/timesync/tls/agent.key"']:
        check(line in out.splitlines(), f"the --diff output lacks the line {line!r}")
    # --diff must never print a private key.
    check("PRIVATE KEY" not in out, "a private key appeared in the --diff output")

    if source == "deb":
        # A package missing from timesync_deb_dir stops the host with its name,
        # before anything would be copied or installed.
        (Path(extra["timesync_deb_dir"]) / "libtimesync0_0.1.0-1_all.deb").unlink()
        proc = run(["ansible-playbook", "-i", CHECK_INVENTORY, PLAYBOOK, "--check",
                    "-e", f"@{tmp / 'extra.json'}"], tmp, expect_rc=2)
        check(recap(proc.stdout).get("localhost", {}).get("failed") == 1,
              f"missing .deb: PLAY RECAP {recap(proc.stdout)}")
        check("must hold exactly one libtimesync0_VERSION_ARCH.deb; found none" in proc.stdout,
              "missing .deb: no message naming libtimesync0")
        check("would install libtimesync0" not in proc.stdout,
              "missing .deb: the agent's packages were still reported as installable")


# ---------------------------------------------------------------- render

# Inventory variable -> (section or None, key) in the rendered file.
AGENT_KEYS = {
    "timesync_agent_listen": (None, "listen"),
    "timesync_agent_segment": (None, "segment"),
    "timesync_agent_log_level": (None, "log_level"),
    "timesync_agent_poll_min_s": ("poll", "min_s"),
    "timesync_agent_poll_max_s": ("poll", "max_s"),
    "timesync_agent_poll_rpc_timeout_s": ("poll", "rpc_timeout_s"),
    "timesync_agent_poll_burst": ("poll", "burst"),
    "timesync_agent_alarm_max_error_us": ("alarm", "max_error_us"),
    "timesync_agent_alarm_clear_ratio": ("alarm", "clear_ratio"),
    "timesync_agent_alarm_unreachable_after_s": ("alarm", "unreachable_after_s"),
    "timesync_agent_alarm_void_after_s": ("alarm", "void_after_s"),
    "timesync_agent_calibration_offset_ns": ("calibration", "offset_ns"),
    "timesync_agent_metrics_listen": ("metrics", "listen"),
}
AGENT_SECTIONS = {"timesync_agent_filter": "filter", "timesync_agent_servo": "servo",
                  "timesync_agent_bound": "bound"}
MASTER_KEYS = {
    "timesync_master_timebase": (None, "timebase"),
    "timesync_master_realtime_step_threshold_ms": (None, "realtime_step_threshold_ms"),
    "timesync_master_error_ns": (None, "master_error_ns"),
    "timesync_master_worker_threads": (None, "worker_threads"),
    "timesync_master_log_level": (None, "log_level"),
    "timesync_master_metrics_listen": ("metrics", "listen"),
}
# Inventory variables that do not map one to one to a key.
OTHER_VARS = {"timesync_master_address", "timesync_master_port", "timesync_deb_dir",
              "timesync_tls_enabled", "timesync_tls_mutual", "timesync_tls_src_dir"}


def render(tmp, inventory, pki, agent, master, out_dir):
    """Runs the real roles' config tasks (--tags config: TLS files and the
    validated template) for every host, into out_dir/HOST instead of
    /etc/timesync, as the current user, without services."""
    extra = {
        "ansible_connection": "local",
        "ansible_become": False,
        # The modules run on the Python that runs Ansible here.
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "timesync_config_dir": str(out_dir) + "/{{ inventory_hostname }}",
        "timesync_manage_services": False,
        "timesync_tls_src_dir": str(pki),
        "timesync_agent_bin": str(agent),
        "timesync_master_bin": str(master),
        # Files owned by whoever runs the test (no root, no `timesync` group).
        "timesync_file_owner": subprocess.check_output(["id", "-un"], text=True).strip(),
        "timesync_file_group": subprocess.check_output(["id", "-gn"], text=True).strip(),
        "timesync_agent_tls_group": subprocess.check_output(["id", "-gn"], text=True).strip(),
        "timesync_master_tls_group": subprocess.check_output(["id", "-gn"], text=True).strip(),
    }
    (tmp / "render.json").write_text(json.dumps(extra))
    return run(["ansible-playbook", "-i", inventory, PLAYBOOK, "--tags", "config",
                "-e", f"@{tmp / 'render.json'}"], tmp, expect_rc=None)


def lookup(config, section, key):
    node = config if section is None else (config.get(section) or {})
    return node.get(key, "<absent>")


def check_master_file(path, host, hv, master_bin):
    proc = subprocess.run([str(master_bin), "--config", str(path), "--check-config"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print(f"timesync-master --check-config {path}: exit {proc.returncode} {proc.stdout.strip()}")
    check(proc.returncode == 0, f"{host}: timesync-master --check-config exited {proc.returncode}")
    cfg = yaml.safe_load(path.read_text())
    check(cfg.get("role") == "master" and cfg.get("id") == host, f"{host}: role/id {cfg}")
    check(cfg.get("listen") == f"0.0.0.0:{hv.get('timesync_master_port', 7450)}",
          f"{host}: listen {cfg.get('listen')}")
    for var, (section, key) in MASTER_KEYS.items():
        if var in hv:
            check(lookup(cfg, section, key) == hv[var],
                  f"{host}: {var}={hv[var]!r} rendered as {lookup(cfg, section, key)!r}")
    if hv.get("timesync_tls_enabled"):
        for key in ("cert_file", "key_file") + (("client_ca_file",) if hv.get("timesync_tls_mutual") else ()):
            check(Path(lookup(cfg, "tls", key)).is_file(), f"{host}: tls.{key} is not an installed file")
    return set(v for v in hv if v.startswith("timesync_master_"))


def check_agent_file(path, host, hv, master_host, master_hv, agent_bin):
    proc = subprocess.run([str(agent_bin), "--config", str(path), "--check-config"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print(f"timesync-agent --check-config {path}: exit {proc.returncode} {proc.stdout.strip()}")
    check(proc.returncode == 0, f"{host}: timesync-agent --check-config exited {proc.returncode}")
    cfg = yaml.safe_load(path.read_text())
    check(cfg.get("role") == "client" and cfg.get("id") == host, f"{host}: role/id {cfg}")
    # Built from the master host's inventory entry, not written anywhere for
    # the agent.
    address = master_hv.get("timesync_master_address", master_hv.get("ansible_host", master_host))
    expected = f"{address}:{master_hv.get('timesync_master_port', 7450)}"
    check(cfg.get("master") == expected, f"{host}: master {cfg.get('master')!r}, expected {expected!r}")
    for var, (section, key) in AGENT_KEYS.items():
        if var in hv:
            check(lookup(cfg, section, key) == hv[var],
                  f"{host}: {var}={hv[var]!r} rendered as {lookup(cfg, section, key)!r}")
    for var, section in AGENT_SECTIONS.items():
        if var in hv:
            check(cfg.get(section) == hv[var], f"{host}: {var} rendered as {cfg.get(section)!r}")
    if hv.get("timesync_tls_enabled"):
        keys = ("ca_file",) + (("cert_file", "key_file") if hv.get("timesync_tls_mutual") else ())
        for key in keys:
            check(Path(lookup(cfg, "tls", key)).is_file(), f"{host}: tls.{key} is not an installed file")
        key_file = Path(lookup(cfg, "tls", "key_file"))
        if key_file.is_file():
            check(oct(key_file.stat().st_mode & 0o777) == "0o640", f"{host}: key mode {oct(key_file.stat().st_mode)}")
    return set(v for v in hv if v.startswith("timesync_agent_"))


def test_render(tmp, agent_bin, master_bin):
    hostvars, masters, agents = inventory_hosts(tmp, EXAMPLE_INVENTORY)
    check(len(masters) == 1 and len(agents) >= 2, f"example inventory: masters {masters}, agents {agents}")
    pki = make_pki(tmp, masters + agents)
    out_dir = tmp / "etc"

    proc = render(tmp, EXAMPLE_INVENTORY, pki, agent_bin, master_bin, out_dir)
    check(proc.returncode == 0, f"render run exited {proc.returncode}")
    first = recap(proc.stdout)
    check(set(first) == set(masters + agents), f"PLAY RECAP hosts {sorted(first)}")
    for host, r in first.items():
        check(r["failed"] == 0 and r["changed"] > 0, f"first run, {host}: {r}")

    # Each rendered file through the real program, and against the inventory.
    covered = set()
    for host in masters:
        path = out_dir / host / "master.yaml"
        if check(path.is_file(), f"{path} was not rendered"):
            covered |= check_master_file(path, host, hostvars[host], master_bin)
    for host in agents:
        path = out_dir / host / "client.yaml"
        if check(path.is_file(), f"{path} was not rendered"):
            covered |= check_agent_file(path, host, hostvars[host], masters[0],
                                        hostvars[masters[0]], agent_bin)
    # Every variable the example inventory sets must be checked above: a new
    # one needs its line in AGENT_KEYS/MASTER_KEYS.
    used = {v for hv in hostvars.values() for v in hv if v.startswith("timesync_")}
    known = set(AGENT_KEYS) | set(AGENT_SECTIONS) | set(MASTER_KEYS) | OTHER_VARS
    check(used <= known, f"inventory variables this test does not check: {sorted(used - known)}")

    # Idempotent: the same inventory again changes nothing.
    proc = render(tmp, EXAMPLE_INVENTORY, pki, agent_bin, master_bin, out_dir)
    second = recap(proc.stdout)
    for host in masters + agents:
        r = second.get(host, {})
        check(r.get("failed") == 0 and r.get("changed") == 0, f"second run, {host}: {r}")


def test_render_invalid(tmp, agent_bin, master_bin):
    """One agent gets an out-of-range poll interval in the inventory: its
    template task must fail validation and leave no client.yaml; the other
    hosts are unaffected."""
    hostvars, masters, agents = inventory_hosts(tmp, EXAMPLE_INVENTORY)
    bad, good = agents[-1], agents[0]
    inventory = yaml.safe_load(EXAMPLE_INVENTORY.read_text())
    inventory["all"]["children"]["timesync_agents"]["hosts"][bad]["timesync_agent_poll_min_s"] = 0.001
    bad_inventory = tmp / "inventory.bad.yml"
    bad_inventory.write_text(yaml.safe_dump(inventory))
    pki = make_pki(tmp, masters + agents)
    out_dir = tmp / "etc"

    proc = render(tmp, bad_inventory, pki, agent_bin, master_bin, out_dir)
    check(proc.returncode != 0, "a run with an out-of-range poll.min_s succeeded")
    r = recap(proc.stdout)
    check(r.get(bad, {}).get("failed") == 1, f"{bad}: {r.get(bad)}")
    for host in [good] + masters:
        check(r.get(host, {}).get("failed") == 0, f"{host}: {r.get(host)}")
    # The agent's own message, naming the key and the range, reaches the log.
    check(re.search(r"key 'poll\.min_s': 0\.001 is out of range \[0\.01, 60\]", proc.stdout) is not None,
          "the validation error does not name poll.min_s and its range")
    check(not (out_dir / bad / "client.yaml").exists(), f"{bad}: the invalid client.yaml was installed")
    check((out_dir / good / "client.yaml").is_file(), f"{good}: client.yaml missing")
    check((out_dir / masters[0] / "master.yaml").is_file(), f"{masters[0]}: master.yaml missing")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="test", required=True)
    sub.add_parser("syntax")
    cm = sub.add_parser("check-mode")
    cm.add_argument("source", choices=["deb", "apt"])
    for name in ("render", "render-invalid"):
        p = sub.add_parser(name)
        p.add_argument("--agent", required=True, type=Path)
        p.add_argument("--master", required=True, type=Path)
    args = parser.parse_args()

    for tool in ("ansible-playbook", "ansible-inventory", "openssl", "dpkg-deb"):
        if shutil.which(tool) is None:
            print(f"{tool} not found: scripts/deps.sh installs it (ansible-core, openssl, dpkg-dev)",
                  file=sys.stderr)
            return 1

    with tempfile.TemporaryDirectory(prefix="timesync-ansible-") as t:
        tmp = Path(t)
        if args.test == "syntax":
            test_syntax(tmp)
        elif args.test == "check-mode":
            test_check_mode(tmp, args.source)
        elif args.test == "render":
            test_render(tmp, args.agent.resolve(), args.master.resolve())
        else:
            test_render_invalid(tmp, args.agent.resolve(), args.master.resolve())

    if failures:
        print(f"\n{len(failures)} check(s) failed:", *failures, sep="\n  ", file=sys.stderr)
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
