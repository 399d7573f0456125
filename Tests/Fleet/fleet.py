#!/usr/bin/env python3
"""A fleet on one broker (`make fleet`, and a small one in `make test`).

AGENTS agents run on this machine, each with its own three simulated SDM630 meters on Modbus TCP
(one metersim serves them all), polled once a second, each with its own store. Half of them
connect to the head-end's mosquitto directly; the other half to a second mosquitto that bridges
`meteragent/#` to the first (what a clustered or bridged broker does): the agents speak only
standard MQTT, so where their broker sends their messages is the broker's business. A head-end
subscriber (paho-mqtt, QoS 1) on the first broker de-duplicates records by (gateway, seq).

After the agents end, every sequence number each of them assigned must be accounted for: received
by the head-end, or still in that agent's store (`meteragent buffer export`); no store may have
dropped anything. Prints the broker's message rate at the head-end and each agent's cost (CPU per
hour, peak RSS); exits non-zero when anything is missing.

usage: fleet.py BUILD_DIR   (env FLEET_AGENTS, default 200; FLEET_SECONDS, default 60;
FLEET_PORT_BASE, default 20000: the meters' ports on 127.0.0.1)
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import paho.mqtt.client as mqtt

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RELEASE = os.path.join(os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build")), "release")
AGENT = os.path.join(RELEASE, "meteragent")
SIM = os.path.join(RELEASE, "metersim")
PROFILES = os.path.join(ROOT, "Hardware", "profiles")
AGENTS = int(os.environ.get("FLEET_AGENTS", "200"))
SECONDS = int(os.environ.get("FLEET_SECONDS", "60"))
PORT_BASE = int(os.environ.get("FLEET_PORT_BASE", "20000"))
METERS = 3
WORK = tempfile.mkdtemp(prefix="meteragent-fleet-")
# The record arrays of the uplink's batches (DESIGN.md, uplink topics).
BATCH_KEYS = ("readings", "events", "results")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, what):
    deadline = time.time() + 10
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit("%s ended at start" % what)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit("%s did not listen on 127.0.0.1:%d" % (what, port))


def start_broker(name, bridge_to=None):
    """mosquitto on 127.0.0.1 only; with `bridge_to`, bridging meteragent/# both ways to that port."""
    port = free_port()
    conf = os.path.join(WORK, name + ".conf")
    with open(conf, "w") as f:
        f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\n" % port)
        if os.getuid() == 0:
            f.write("user root\n")
        if bridge_to:
            f.write("connection fleet-bridge\naddress 127.0.0.1:%d\ntopic meteragent/# both 1\n"
                    "cleansession false\nbridge_protocol_version mqttv311\n" % bridge_to)
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen([binary, "-c", conf], stdout=subprocess.DEVNULL, stderr=open(os.path.join(WORK, name + ".log"), "w"))
    wait_for_port(port, proc, "mosquitto (%s)" % name)
    return proc, port


def start_simulator():
    scenario = os.path.join(WORK, "scenario.yaml")
    with open(scenario, "w") as f:
        f.write("profiles: %s\ntcp:\n  - {port: %d, count: %d, devices: [{unit: 1, profile: eastron-sdm630, model: electricity}]}\n"
                % (PROFILES, PORT_BASE, AGENTS * METERS))
    proc = subprocess.Popen([SIM, scenario], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        line = proc.stdout.readline().strip()
        if line == "ready":
            return proc
        if proc.poll() is not None:
            break
    proc.kill()
    sys.exit("metersim did not start with %d meters" % (AGENTS * METERS))


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class HeadEnd:
    """Subscribes to every gateway's records; keeps the sequence numbers received per gateway."""

    def __init__(self, port):
        self.lock = threading.Lock()
        self.seqs = {}
        self.messages = 0
        self.duplicates = 0
        self.first_message = None
        self.last_message = None
        self.subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fleet-head-end", clean_session=False)
        self.client.on_connect = lambda c, u, f, r, p=None: c.subscribe([("meteragent/+/" + k, 1) for k in BATCH_KEYS])
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self.received
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not self.subscribed.wait(10):
            sys.exit("the head-end did not subscribe")

    def received(self, client, userdata, message):
        batch = json.loads(message.payload)
        items = next((batch[k] for k in BATCH_KEYS if k in batch), [])
        now = time.monotonic()
        with self.lock:
            self.messages += 1
            self.first_message = self.first_message or now
            self.last_message = now
            got = self.seqs.setdefault(batch["gateway"], set())
            for item in items:
                if item["seq"] in got:
                    self.duplicates += 1
                got.add(item["seq"])

    def stop(self):
        self.client.loop_stop()
        self.client.disconnect()


def site(index, broker_port):
    gateway = "gw-%03d" % index
    ports = [PORT_BASE + index * METERS + m for m in range(METERS)]
    path = os.path.join(WORK, gateway + ".yaml")
    with open(path, "w") as f:
        f.write("profiles: %s\ngateway: %s\nbuses:\n" % (PROFILES, gateway))
        f.writelines("  - {id: tcp-%d, type: tcp, host: 127.0.0.1, port: %d}\n" % (p, p) for p in ports)
        f.write("devices:\n")
        f.writelines("  - {id: meter-%d, bus: tcp-%d, unit: 1, profile: eastron-sdm630, poll_interval: 1s}\n" % (p, p) for p in ports)
        f.write("mqtt: {host: 127.0.0.1, port: %d}\n" % broker_port)
    return gateway, path


def peak_rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def accounted(gateway, store, received):
    """What of the agent's sequence numbers is neither received nor still stored, and its drops."""
    stats = json.loads(subprocess.run([AGENT, "buffer", "stats", "--store", store, "--json"],
                                      capture_output=True, text=True, check=True).stdout)
    export = subprocess.run([AGENT, "buffer", "export", "--store", store], capture_output=True, text=True, check=True)
    stored = {json.loads(line)["seq"] for line in export.stdout.splitlines() if line.startswith("{")}
    assigned = set(range(1, stats["next_seq"]))
    return sorted(assigned - received - stored), stats["dropped"], len(assigned)


def main():
    for binary in (AGENT, SIM):
        if not os.access(binary, os.X_OK):
            sys.exit("%s is missing: make release first" % binary)
    head_broker, head_port = start_broker("head-end")
    edge_broker, edge_port = start_broker("bridged", bridge_to=head_port)
    sim = start_simulator()
    head_end = HeadEnd(head_port)
    agents = []
    try:
        started = time.monotonic()
        for index in range(AGENTS):
            # Every other agent goes through the bridged broker.
            gateway, path = site(index, edge_port if index % 2 else head_port)
            store = os.path.join(WORK, gateway + ".db")
            env = dict(os.environ, METERAGENT_CONTROL_SOCKET=os.path.join(WORK, gateway + ".sock"))
            proc = subprocess.Popen([AGENT, "run", path, "--duration", str(SECONDS), "--store", store],
                                    stdout=subprocess.DEVNULL, stderr=open(os.path.join(WORK, gateway + ".log"), "w"), env=env)
            agents.append({"gateway": gateway, "store": store, "proc": proc, "rss": 0})
        running = list(agents)
        while running:
            for agent in running:
                agent["rss"] = max(agent["rss"], peak_rss_kb(agent["proc"].pid))
            time.sleep(1)
            still = []
            for agent in running:
                pid, status, usage = os.wait4(agent["proc"].pid, os.WNOHANG)
                if pid == 0:
                    still.append(agent)
                else:
                    agent["proc"].returncode = os.waitstatus_to_exitcode(status)
                    agent["cpu"] = usage.ru_utime + usage.ru_stime
            running = still
            if time.monotonic() - started > SECONDS + 120:
                for agent in running:
                    agent["proc"].kill()
                sys.exit("%d agents did not end within 120 s of their --duration" % len(running))
        time.sleep(2)  # the last PUBACKed batches on their way through the bridge
    finally:
        head_end.stop()
        stop(sim)
        stop(edge_broker)
        stop(head_broker)

    failures = []
    assigned_total = 0
    for agent in agents:
        if agent["proc"].returncode != 0:
            failures.append("%s exited with %d (log: %s.log)" % (agent["gateway"], agent["proc"].returncode, agent["gateway"]))
            continue
        missing, dropped, assigned = accounted(agent["gateway"], agent["store"], head_end.seqs.get(agent["gateway"], set()))
        assigned_total += assigned
        if missing:
            failures.append("%s: %d sequence numbers neither received nor stored, first %s" % (agent["gateway"], len(missing), missing[:5]))
        if dropped:
            failures.append("%s: its store dropped %d records" % (agent["gateway"], dropped))
        if assigned < SECONDS * METERS:
            failures.append("%s: only %d records in %d s" % (agent["gateway"], assigned, SECONDS))

    received = sum(len(s) for s in head_end.seqs.values())
    span = max((head_end.last_message or 0) - (head_end.first_message or 0), 1e-9)
    cpu = sorted(a.get("cpu", 0) for a in agents)
    rss = sorted(a["rss"] for a in agents)
    print("fleet: %d agents (%d through a bridged broker), %d SDM630 meters on Modbus TCP at 1 Hz, %d s"
          % (AGENTS, AGENTS // 2, AGENTS * METERS, SECONDS))
    print("fleet.head_end %d messages (%.0f/s), %d records received (%.0f/s), %d duplicates; %d records assigned, the rest still stored"
          % (head_end.messages, head_end.messages / span, received, received / span, head_end.duplicates, assigned_total))
    print("fleet.per_agent cpu median %.2f s (%.1f s per hour), max %.2f s; peak RSS median %.1f MB, max %.1f MB"
          % (cpu[len(cpu) // 2], cpu[len(cpu) // 2] / SECONDS * 3600, cpu[-1], rss[len(rss) // 2] / 1024, rss[-1] / 1024))
    if failures:
        print("\n".join(failures[:20]), file=sys.stderr)
        sys.exit("fleet: %d problems (logs and stores kept in %s)" % (len(failures), WORK))
    shutil.rmtree(WORK, ignore_errors=True)
    print("fleet: every sequence number of every agent received or still stored, nothing dropped")


if __name__ == "__main__":
    main()
