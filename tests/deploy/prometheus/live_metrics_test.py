#!/usr/bin/env python3
"""The alert rules against what the real daemons export.

alerts_test.yml checks the rules on hand-written series; this test checks that
those series are what timesync-master and timesync-agent actually expose: metric
names, label names and values, units (max_error_seconds is alarm.max_error_us in
seconds), and behaviour. It runs a master and an agent over loopback with
metrics on, scrapes both once the agent serves timestamps (healthy) and the
agent again after the master is stopped (outage), then feeds each snapshot, held
for 10 minutes, to `promtool test rules` with ../../../deploy/prometheus/alerts.yml
(annotations removed: their text is alerts_test.yml's business):
  healthy -> no alert at all;
  outage  -> TimesyncOutOfSync and TimesyncMasterUnreachable (seen by the agent,
             and by Prometheus as up == 0), nothing else; none before `for:`.

  live_metrics_test.py --master BIN --agent BIN [--promtool promtool]
"""

import argparse
import json
import math
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

try:
    import yaml
except ImportError:
    # The python3 CTest found may lack PyYAML; Debian's has it (python3-yaml).
    if Path(sys.executable).resolve() != Path("/usr/bin/python3").resolve():
        os.execv("/usr/bin/python3", ["/usr/bin/python3", __file__, *sys.argv[1:]])
    raise

ALERTS = Path(__file__).resolve().parents[3] / "deploy" / "prometheus" / "alerts.yml"
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print(f"FAIL: {message}", file=sys.stderr)
    return condition


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(address):
    """The timesync_* samples of one endpoint: [(name, {labels}, value)]."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=2) as r:
        text = r.read().decode()
    samples = []
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if not m or not m[1].startswith("timesync_"):
            continue
        try:
            value = float(m[3])
        except ValueError:
            continue
        samples.append((m[1], dict(LABEL.findall(m[2] or "")), value))
    return samples


def value(samples, name, **labels):
    for n, l, v in samples:
        if n == name and all(l.get(k) == x for k, x in labels.items()):
            return v
    return None


def wait_for(what, predicate, timeout):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except OSError:
            pass
        time.sleep(0.2)
    check(False, f"timed out after {timeout} s waiting for {what}")
    return None


def series_lines(samples, job, instance):
    out = []
    for name, labels, v in samples:
        if not math.isfinite(v):
            continue
        labels = dict(labels, job=job, instance=instance)
        body = ",".join(f"{k}={json.dumps(x)}" for k, x in sorted(labels.items()))
        # 41 samples at 15 s: 10 minutes.
        out.append({"series": f"{name}{{{body}}}", "values": f"{v!r}x40"})
    return out


def up(job, instance, v):
    return {"series": f'up{{instance="{instance}",job="{job}"}}', "values": f"{v}x40"}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--master", required=True)
    parser.add_argument("--agent", required=True)
    parser.add_argument("--promtool", default="promtool")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="timesync-live-metrics-") as t:
        tmp = Path(t)
        ports = {k: free_port() for k in ("master", "master_metrics", "agent", "agent_metrics")}
        master_metrics = f"127.0.0.1:{ports['master_metrics']}"
        agent_metrics = f"127.0.0.1:{ports['agent_metrics']}"
        (tmp / "master.yaml").write_text(
            f'role: master\nid: coordinator\nlisten: "127.0.0.1:{ports["master"]}"\n'
            f'metrics: {{listen: "{master_metrics}"}}\n')
        (tmp / "client.yaml").write_text(
            f'role: client\nid: camera\nmaster: "127.0.0.1:{ports["master"]}"\n'
            f'listen: "127.0.0.1:{ports["agent"]}"\nsegment: "{tmp}/segment"\n'
            # A short unreachable_after_s keeps the outage phase short; it
            # must exceed poll.max_s.
            f'poll: {{max_s: 0.25}}\n'
            f'alarm: {{max_error_us: 1000, unreachable_after_s: 0.5}}\n'
            f'metrics: {{listen: "{agent_metrics}"}}\n')
        logs = {n: open(tmp / f"{n}.log", "w") for n in ("master", "agent")}
        master = subprocess.Popen([args.master, "--config", tmp / "master.yaml"],
                                  stdout=logs["master"], stderr=subprocess.STDOUT)
        agent = subprocess.Popen([args.agent, "--config", tmp / "client.yaml"],
                                 stdout=logs["agent"], stderr=subprocess.STDOUT)
        try:
            healthy_agent = wait_for(
                "the agent to serve timestamps",
                lambda: (lambda s: s if value(s, "timesync_agent_synchronized") == 1 else None)(
                    scrape(agent_metrics)), 30)
            healthy_master = scrape(master_metrics)
            master.terminate()
            master.wait(timeout=10)
            outage_agent = wait_for(
                "the agent's master_unreachable alarm",
                lambda: (lambda s: s if value(s, "timesync_agent_alarm_active",
                                              reason="master_unreachable") == 1 else None)(
                    scrape(agent_metrics)), 15)
        finally:
            for p in (master, agent):
                if p.poll() is None:
                    p.terminate()
                    try:
                        p.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        p.kill()
            for f in logs.values():
                f.close()
            for n in ("master", "agent"):
                print(f"--- {n}.log\n" + (tmp / f"{n}.log").read_text()[-3000:])
        if not (healthy_agent and outage_agent):
            return 1

        # Units and meanings the rules rely on.
        check(value(healthy_agent, "timesync_agent_max_error_seconds") == 0.001,
              "timesync_agent_max_error_seconds is not alarm.max_error_us (1000) in seconds")
        check(value(healthy_agent, "timesync_agent_info", master=f"127.0.0.1:{ports['master']}") == 1,
              "timesync_agent_info has no master label with the configured master")
        check(value(outage_agent, "timesync_agent_synchronized") == 0,
              "the agent still says synchronized with its alarm raised")

        # Every metric and label matcher alerts.yml uses exists in a snapshot.
        rules = yaml.safe_load(ALERTS.read_text())
        exported = healthy_agent + healthy_master + outage_agent
        for group in rules["groups"]:
            for rule in group["rules"]:
                for name, matchers in re.findall(r"(timesync_[a-z_]+)(?:\{([^}]*)\})?", rule["expr"]):
                    wanted = dict(LABEL.findall(matchers))
                    check(value(exported, name, **wanted) is not None,
                          f"{rule['alert']}: {name}{{{matchers}}} is not exported by the daemons")
                rule.pop("annotations", None)
        (tmp / "rules.yml").write_text(yaml.safe_dump(rules))

        agent_job, agent_inst = "timesync-agent", "camera:7461"
        master_job, master_inst = "timesync-master", "coordinator:7460"
        names = ["TimesyncOutOfSync", "TimesyncErrorBoundHigh", "TimesyncMasterUnreachable",
                 "TimesyncFailedOver", "TimesyncSplitBrain",
                 "TimesyncAgentDown", "TimesyncTargetsMissing"]

        def expect(t, fired):
            return [{"eval_time": t, "alertname": n,
                     "exp_alerts": [{"exp_labels": l} for l in fired.get(n, [])]} for n in names]

        agent_labels = {"job": agent_job, "instance": agent_inst}
        tests = {
            "rule_files": ["rules.yml"],
            "evaluation_interval": "15s",
            "tests": [
                {"name": "healthy daemons", "interval": "15s",
                 "input_series": series_lines(healthy_agent, agent_job, agent_inst)
                 + series_lines(healthy_master, master_job, master_inst)
                 + [up(agent_job, agent_inst, 1), up(master_job, master_inst, 1)],
                 "alert_rule_test": expect("10m", {})},
                {"name": "master stopped", "interval": "15s",
                 "input_series": series_lines(outage_agent, agent_job, agent_inst)
                 + [up(agent_job, agent_inst, 1), up(master_job, master_inst, 0)],
                 "alert_rule_test": expect("45s", {}) + expect("10m", {
                     "TimesyncOutOfSync": [dict(agent_labels, severity="critical")],
                     "TimesyncMasterUnreachable": [
                         dict(agent_labels, severity="critical", seen_by="agent"),
                         {"job": master_job, "instance": master_inst, "severity": "critical",
                          "seen_by": "prometheus"}],
                 })},
            ],
        }
        (tmp / "live_test.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
        proc = subprocess.run([args.promtool, "test", "rules", tmp / "live_test.yml"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        print(proc.stdout)
        check(proc.returncode == 0, "promtool test rules on the daemons' metrics failed")

    if failures:
        print(f"\n{len(failures)} check(s) failed:", *failures, sep="\n  ", file=sys.stderr)
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
