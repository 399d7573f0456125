#!/usr/bin/env python3
"""MeterAgent benchmarks (`make bench`): prints numbers, asserts nothing about time.

Every figure that has a peer is measured against it in the same run on the same simulators:
pymodbus's client reads the same registers with the same requests as the agent's plan.

usage: bench.py BUILD_DIR   (env BENCH_PORT_BASE moves the 100 meters' ports from 16000 on; BENCH_SECONDS shortens the 60 s runs at 1 Hz, BENCH_BACK_TO_BACK_SECONDS
the 20 s back-to-back run; BENCH_REPORT moves the report, Tests/Benchmarks/BENCHMARKS.md and the
figures as JSON beside it)
"""
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build"))
RELEASE = os.path.join(BUILD, "release")
AGENT = os.path.join(RELEASE, "meteragent")
SIM = os.path.join(RELEASE, "metersim")
STRIPPED = os.path.join(BUILD, "meteragent")
PROFILES = os.path.join(ROOT, "Hardware", "profiles")
PYTHON = os.environ.get("METERAGENT_PYTHON", os.path.join(ROOT, ".venv", "bin", "python"))
RSS_SECONDS = float(os.environ.get("BENCH_SECONDS", "60"))
# The first of the 100 meters' ports on 127.0.0.1.
PORT_BASE = int(os.environ.get("BENCH_PORT_BASE", "16000"))
BACK_TO_BACK_SECONDS = float(os.environ.get("BENCH_BACK_TO_BACK_SECONDS", "20"))
WORK = tempfile.mkdtemp(prefix="meteragent-bench-")
REPORT = os.environ.get("BENCH_REPORT", os.path.join(ROOT, "Tests", "Benchmarks", "BENCHMARKS.md"))
# The agents measured here (one at a time) answer on a control socket of this run's, so that a
# gateway agent running beside the benchmark (`make run`) neither stops them nor is asked by them.
os.environ["METERAGENT_CONTROL_SOCKET"] = os.path.join(WORK, "control.sock")
# Budgets missed in this run; `make bench` fails when there is any.
MISSED = []
# The figures of this run by name, written as JSON beside the report.
FIGURES = {}
# Rows of the summary table printed at the end (the README's benchmark table).
TABLE = []


def row(figure, agent, peer="–", goal="–"):
    TABLE.append((figure, agent, peer, goal))


def budget(ok, what):
    if not ok:
        MISSED.append(what)
    return "ok" if ok else "OVER"


def log(*args):
    print(*args, flush=True)


def start_simulator(scenario):
    path = os.path.join(WORK, "scenario-%d.yaml" % time.monotonic_ns())
    with open(path, "w") as f:
        f.write("profiles: %s\n%s" % (PROFILES, scenario))
    proc = subprocess.Popen([SIM, path], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines = []
    deadline = time.time() + 30
    while time.time() < deadline:
        line = proc.stdout.readline().strip()
        if line == "ready":
            return proc, lines
        if line:
            lines.append(line)
        if proc.poll() is not None:
            break
    proc.kill()
    sys.exit("metersim did not start: %s" % lines)


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def write_site(name, body):
    path = os.path.join(WORK, name)
    with open(path, "w") as f:
        f.write("profiles: %s\ngateway: gw-bench\n%s" % (PROFILES, body))
    return path


def tcp_site(name, ports, interval, mqtt_port=None):
    buses = "".join("  - {id: tcp-%d, type: tcp, host: 127.0.0.1, port: %d, timeout_ms: 2000}\n" % (p, p) for p in ports)
    devices = "".join("  - {id: meter-%d, bus: tcp-%d, unit: 1, profile: eastron-sdm630, poll_interval: %s}\n" % (p, p, interval)
                      for p in ports)
    mqtt = "mqtt: {host: 127.0.0.1, port: %d}\n" % mqtt_port if mqtt_port else ""
    return write_site(name, "buses:\n" + buses + "devices:\n" + devices + mqtt)


def start_broker():
    """mosquitto on a free loopback port; returns (process, port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = os.path.join(WORK, "mosquitto.conf")
    with open(conf, "w") as f:
        # set_tcp_nodelay: a broker that carries commands delivers each at once, not after its
        # client's delayed ACK (mosquitto's default keeps Nagle on).
        f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\n" % port)
        if os.getuid() == 0:
            f.write("user root\n")
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen([binary, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    stop(proc)
    sys.exit("mosquitto did not start on port %d" % port)


def memory_kb(pid):
    """VmHWM (peak RSS), and the current private (anonymous) and file-backed parts of RSS."""
    fields = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmHWM", "RssAnon", "RssFile"):
                    fields[key] = int(rest.split()[0])
    except OSError:
        pass
    return fields.get("VmHWM", 0), fields.get("RssAnon", 0), fields.get("RssFile", 0)


def run_agent(site, seconds, extra=(), stdout=True, env=None):
    """Runs `meteragent run` for `seconds`; returns (readings printed, cpu seconds, peak RSS kB, store path)."""
    out = open(os.path.join(WORK, "agent.out"), "w")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    store = os.path.join(WORK, "outbox-%d.db" % time.monotonic_ns())
    proc = subprocess.Popen([AGENT, "run", site, "--duration", str(seconds), "--store", store]
                            + (["--stdout"] if stdout else []) + list(extra),
                            stdout=out, stderr=subprocess.DEVNULL, env=dict(os.environ, **(env or {})))
    peak = (0, 0, 0)
    while proc.poll() is None:
        sample = memory_kb(proc.pid)
        if sample[0] >= peak[0] and sample[0] > 0:
            peak = sample
        time.sleep(0.2)
    out.close()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    with open(out.name) as f:
        readings = [json.loads(l) for l in f if l.startswith("{")]
    return readings, cpu, peak, store


def start_counter(port):
    """A subscriber counting the readings that reach the broker (broker_counter.py)."""
    ready = os.path.join(WORK, "counter-%d.ready" % time.monotonic_ns())
    proc = subprocess.Popen([PYTHON, os.path.join(ROOT, "Tests", "Benchmarks", "broker_counter.py"), str(port),
                             "meteragent/gw-bench/readings", ready], stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 10
    while not os.path.exists(ready):
        if time.time() > deadline or proc.poll() is not None:
            proc.kill()
            sys.exit("broker_counter.py did not subscribe")
        time.sleep(0.05)
    return proc


def stop_counter(proc):
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    return json.loads(out.strip().splitlines()[-1])


def store_dropped(store):
    r = subprocess.run([AGENT, "buffer", "stats", "--store", store, "--json"], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("buffer stats failed: %s" % r.stderr)
    return json.loads(r.stdout)["dropped"]


def plan_requests(site):
    """The agent's own plan, as `table start count points` lines for the pymodbus peer."""
    text = subprocess.run([AGENT, "plan", site], capture_output=True, text=True, check=True).stdout
    requests, seen = [], set()
    for m in re.finditer(r"device (\S+) .*\n((?:    read .*\n)+)", text):
        for r in re.finditer(r"read (\w+)\s+(0x[0-9A-F]+)\s+count (\d+)\s+fc \d+\s+(.*)", m.group(2)):
            requests.append((r.group(1), r.group(2), r.group(3), len(r.group(4).split(", "))))
        break  # every meter of the site has the same profile
    return text, requests


def footprint():
    size = os.path.getsize(STRIPPED)
    mbpoll = os.path.getsize("/usr/bin/mbpoll")
    log("footprint.binary_bytes %d (%.1f MB stripped, static Swift stdlib; budget 12 MB: %s)"
        % (size, size / 1e6, budget(size <= 12e6, "footprint.binary_bytes")))
    log("footprint.binary_vs_mbpoll %.1fx (mbpoll, a C Modbus tool on a shared libmodbus: %d bytes)" % (size / mbpoll, mbpoll))
    FIGURES["binary_bytes"] = size
    row("stripped static binary", "%.1f MB" % (size / 1e6), "mbpoll %d kB (C, shared libmodbus)" % (mbpoll // 1000), "≤ 12 MB")


def libmodbus_poller():
    """Builds the C peer (one thread, libmodbus) into WORK."""
    binary = os.path.join(WORK, "libmodbus_poller")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libmodbus"], capture_output=True, text=True, check=True).stdout.split()
    subprocess.run(["cc", "-O2", "-o", binary, os.path.join(ROOT, "Tests", "Benchmarks", "libmodbus_poller.c")] + flags, check=True)
    return binary


def peer(command, seconds, interval_s, plan_file, ports):
    """Runs a peer poller; its peak RSS is sampled from /proc like the agent's (a child's own
    ru_maxrss would include the Python process it was forked from)."""
    proc = subprocess.Popen(command + [str(seconds), str(interval_s), plan_file] + [str(p) for p in ports],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    deadline = time.time() + seconds + 120
    while proc.poll() is None and time.time() < deadline:
        peak = max(peak, memory_kb(proc.pid)[0])
        time.sleep(0.2)
    if proc.poll() is None:
        proc.kill()
    out, err = proc.communicate()
    if proc.returncode != 0:
        sys.exit("%s failed: %s" % (command[-1], err))
    result = json.loads(out.strip().splitlines()[-1])
    if result["points"] == 0:
        sys.exit("%s read nothing: %s" % (command[-1], result))
    result["peak_rss_kb"] = peak
    return result


def whole_agent():
    """The workload gateways are compared on: 100 SDM630 meters on Modbus TCP, one port each, polled
    once a second by the whole agent as shipped (release, outbox with sync: full, MQTT QoS 1 to a
    local mosquitto), points counted at the broker; beside it, in the same run, a pymodbus asyncio
    client and a one-thread C libmodbus client reading the same registers with the same requests."""
    ports = list(range(PORT_BASE, PORT_BASE + 100))
    sim, _ = start_simulator("tcp:\n  - {port: %d, count: 100, devices: [{unit: 1, profile: eastron-sdm630, model: electricity}]}\n" % PORT_BASE)
    broker, broker_port = start_broker()
    try:
        site = tcp_site("site-100-mqtt.yaml", ports, "1s", mqtt_port=broker_port)
        _, requests = plan_requests(site)
        plan_file = os.path.join(WORK, "plan.txt")
        with open(plan_file, "w") as f:
            for table, start, count, points in requests:
                f.write("%s %s %s %d\n" % (table, start, count, points))
        points_per_poll = sum(r[3] for r in requests)

        counter = start_counter(broker_port)
        _, cpu, peak, store = run_agent(site, RSS_SECONDS, stdout=False)
        time.sleep(0.5)
        delivered = stop_counter(counter)["readings"]
        hwm, anon, files = peak
        py = peer([PYTHON, os.path.join(ROOT, "Tests", "Benchmarks", "pymodbus_poller.py")], RSS_SECONDS, 1, plan_file, ports)
        c = peer([libmodbus_poller()], RSS_SECONDS, 1000, plan_file, ports)
        agent_cpu = cpu / max(delivered, 1) * 1e4
        py_cpu = py["cpu_seconds"] / py["points"] * 1e4
        c_cpu = c["cpu_seconds"] / c["points"] * 1e4
        offered = points_per_poll * len(ports)
        log("whole.points_per_s at 1 Hz (of %d): agent %.0f delivered at the broker   pymodbus %.0f read   C libmodbus %.0f read"
            % (offered, delivered / RSS_SECONDS, py["points"] / py["seconds"], c["points"] / c["seconds"]))
        log("whole.cpu_s_per_10k_points agent %.3f (read, stored with fsync, forwarded over MQTT QoS 1)   pymodbus %.3f (reads only)   "
            "ratio %.2fx (budget 0.5x: %s)   C libmodbus %.3f: ratio %.2fx (aim 2x)"
            % (agent_cpu, py_cpu, agent_cpu / py_cpu, budget(agent_cpu <= 0.5 * py_cpu, "whole.cpu_s_per_10k_points"), c_cpu, agent_cpu / c_cpu))
        log("whole.rss_peak_kb agent %d (%.1f MB with MQTT on: private %.1f MB, file-backed %.1f MB; budget 12 MB: %s)   pymodbus %d   C libmodbus %d"
            % (hwm, hwm / 1024, anon / 1024, files / 1024, budget(hwm <= 12 * 1024, "whole.rss_peak_kb"), py["peak_rss_kb"], c["peak_rss_kb"]))
        row("points/s delivered at the broker, 100 SDM630 on Modbus TCP at 1 Hz (of %d)" % offered, "%.0f" % (delivered / RSS_SECONDS),
            "pymodbus %.0f, C libmodbus %.0f (reads only)" % (py["points"] / py["seconds"], c["points"] / c["seconds"]))
        row("CPU s per 10,000 points, the same (agent: read, stored with fsync, MQTT QoS 1)", "%.3f" % agent_cpu,
            "pymodbus %.3f (%.2fx), C libmodbus %.3f (%.2fx)" % (py_cpu, agent_cpu / py_cpu, c_cpu, agent_cpu / c_cpu), "≤ 0.5x pymodbus")
        row("peak RSS, the same, MQTT on", "%.1f MB (private %.1f, file-backed %.1f)" % (hwm / 1024, anon / 1024, files / 1024),
            "pymodbus %.1f MB, C libmodbus %.1f MB" % (py["peak_rss_kb"] / 1024, c["peak_rss_kb"] / 1024), "≤ 12 MB")
        FIGURES.update({"points_per_s_1hz": delivered / RSS_SECONDS, "points_offered_1hz": offered,
                        "pymodbus_points_per_s_1hz": py["points"] / py["seconds"], "libmodbus_points_per_s_1hz": c["points"] / c["seconds"],
                        "cpu_s_per_10k": agent_cpu, "pymodbus_cpu_s_per_10k": py_cpu, "libmodbus_cpu_s_per_10k": c_cpu,
                        "rss_kb_1hz": hwm, "pymodbus_rss_kb": py["peak_rss_kb"], "libmodbus_rss_kb": c["peak_rss_kb"]})

        # Allocations per delivered point, counted by an LD_PRELOAD shim in two runs of different
        # length: their difference leaves out what starting and stopping allocate.
        shim = os.path.join(WORK, "count_allocations.so")
        subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", shim, os.path.join(ROOT, "Tests", "Benchmarks", "count_allocations.c"), "-ldl"],
                       check=True)
        counted = []
        for seconds in (5, 15):
            out = os.path.join(WORK, "allocations-%d" % seconds)
            counter = start_counter(broker_port)
            run_agent(site, seconds, stdout=False, env={"LD_PRELOAD": shim, "COUNT_ALLOCATIONS_OUT": out})
            time.sleep(0.5)
            delivered_here = stop_counter(counter)["readings"]
            with open(out) as f:
                counted.append((int(f.read()), delivered_here))
        per_point = (counted[1][0] - counted[0][0]) / max(counted[1][1] - counted[0][1], 1)
        log("whole.allocations_per_point %.1f (malloc and friends per delivered point, 1 Hz: read, decoded, stored, forwarded)" % per_point)
        FIGURES["allocations_per_point"] = per_point
        row("allocations per delivered point, 1 Hz", "%.1f" % per_point)

        # Back to back: as fast as the meters answer. The broker is connected throughout, so
        # nothing may be evicted: when the store or uplink cannot keep up, polling waits.
        seconds = BACK_TO_BACK_SECONDS
        counter = start_counter(broker_port)
        _, cpu, peak, store = run_agent(site, seconds, ["--poll-interval-ms", "0"], stdout=False)
        time.sleep(0.5)
        delivered = stop_counter(counter)["readings"]
        dropped = store_dropped(store)
        py = peer([PYTHON, os.path.join(ROOT, "Tests", "Benchmarks", "pymodbus_poller.py")], seconds, 0, plan_file, ports)
        rate, py_rate = delivered / seconds, py["points"] / py["seconds"]
        log("back_to_back.points_per_s agent %.0f delivered at the broker (budget 50,000: %s)   pymodbus %.0f read   ratio %.2fx"
            % (rate, budget(rate >= 50_000, "back_to_back.points_per_s"), py_rate, rate / py_rate))
        log("back_to_back.evicted %d records while the broker was connected (budget 0: %s); peak RSS %d kB (%.1f MB; budget 12 MB: %s)   pymodbus %d kB"
            % (dropped, budget(dropped == 0, "back_to_back.evicted"), peak[0], peak[0] / 1024,
               budget(peak[0] <= 12 * 1024, "back_to_back.rss_peak_kb"), py["peak_rss_kb"]))
        row("points/s delivered at the broker, the 100 meters polled back to back", "%.0f" % rate,
            "pymodbus %.0f read (%.2fx)" % (py_rate, rate / py_rate), "≥ 50,000")
        row("records evicted meanwhile, broker connected; peak RSS", "%d; %.1f MB" % (dropped, peak[0] / 1024),
            "pymodbus %.1f MB" % (py["peak_rss_kb"] / 1024), "0; ≤ 12 MB")
        FIGURES.update({"back_to_back_points_per_s": rate, "pymodbus_back_to_back_points_per_s": py_rate,
                        "back_to_back_evicted": dropped, "back_to_back_rss_kb": peak[0]})
    finally:
        stop(broker)
        stop(sim)


def rtu_cycle():
    units = "".join("      - {unit: %d, profile: eastron-sdm120, model: electricity}\n" % u for u in range(1, 11))
    sim, lines = start_simulator("lines:\n  - id: bench\n    baud: 9600\n    devices:\n" + units)
    try:
        pty = [l.split()[2] for l in lines if l.startswith("line ")][0]
        devices = "".join("  - {id: flat-%d, bus: rs485, unit: %d, profile: eastron-sdm120}\n" % (u, u) for u in range(1, 11))
        site = write_site("site-rtu.yaml", "buses:\n  - {id: rs485, type: serial, port: %s, baud: 9600, timeout_ms: 1000}\ndevices:\n%s" % (pty, devices))
        text, _ = plan_requests(site)
        planned = re.search(r"per cycle: (\d+) requests, (\d+) bytes on the wire, ([\d.]+) ms bus time", text)
        naive = re.search(r"one request per point: (\d+) requests, (\d+) bytes, ([\d.]+) ms bus time", text)
        cycles = []
        for _ in range(3):
            r = subprocess.run([AGENT, "run", site, "--once", "--store", os.path.join(WORK, "rtu.db")], capture_output=True, text=True)
            m = re.search(r"elapsed_ms=([\d.]+)", r.stderr)
            if m:
                cycles.append(float(m.group(1)))
        measured = min(cycles) if cycles else float("nan")
        wire = float(planned.group(3))
        log("rtu.cycle_10_meters_9600_baud measured %.1f ms   wire limit %.1f ms   ratio %.2fx of the wire limit (budget 1.02x: %s)"
            % (measured, wire, measured / wire, budget(measured / wire <= 1.02, "rtu.cycle ratio")))
        FIGURES["rtu_cycle_vs_wire"] = measured / wire
        row("RTU: one cycle of 10 SDM120 at 9600 8N1", "%.0f ms = %.2fx the wire limit" % (measured, measured / wire),
            "%s requests vs %s one per point" % (planned.group(1), naive.group(1)), "≤ 1.02x")
        log("rtu.requests planned %s vs one-per-point %s (%.1fx fewer); bytes %s vs %s; bus time %.1f ms vs %s ms"
            % (planned.group(1), naive.group(1), int(naive.group(1)) / int(planned.group(1)), planned.group(2), naive.group(2),
               wire, naive.group(3)))
    finally:
        stop(sim)


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def command_latency(count=200):
    """Publish to result of signed relay commands: on a TCP meter, and on a 9600 baud line whose 10
    meters are polled back to back (the command must jump the queue of polls), against the same
    command on the idle line."""
    units = "".join("      - {unit: %d, profile: generic-modbus-relay-meter, model: electricity}\n" % u for u in range(1, 11))
    sim, lines = start_simulator("lines:\n  - id: bench\n    baud: 9600\n    devices:\n" + units
                                 + "tcp:\n  - {port: 16200, devices: [{unit: 1, profile: generic-modbus-relay-meter, model: electricity}]}\n")
    broker, port = start_broker()
    key_file = os.path.join(WORK, "head-end.pem")
    public = subprocess.run([PYTHON, os.path.join(ROOT, "Tests", "Interop", "ed25519_peer.py"), "keygen", key_file],
                            capture_output=True, text=True, check=True).stdout.strip()
    pty = [l.split()[2] for l in lines if l.startswith("line ")][0]

    def measure(name, device, poll_interval_ms):
        devices = "".join("  - {id: flat-%d, bus: rs485, unit: %d, profile: generic-modbus-relay-meter}\n" % (u, u) for u in range(1, 11))
        site = write_site(name, "commands: {keys: [{id: bench, ed25519: %s}]}\n" % public
                          + "mqtt: {host: 127.0.0.1, port: %d}\n" % port
                          + "buses:\n  - {id: rs485, type: serial, port: %s, baud: 9600, timeout_ms: 1000}\n" % pty
                          + "  - {id: plant, type: tcp, host: 127.0.0.1, port: 16200, timeout_ms: 1000}\n"
                          + "devices:\n" + devices + "  - {id: main, bus: plant, unit: 1, profile: generic-modbus-relay-meter}\n")
        extra = ["--poll-interval-ms", str(poll_interval_ms)]
        proc = subprocess.Popen([AGENT, "run", site, "--store", os.path.join(WORK, "%s.db" % name)] + extra,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(2)
            out = subprocess.run([PYTHON, os.path.join(ROOT, "Tests", "Benchmarks", "command_latency.py"), str(port),
                                  "meteragent/gw-bench", "gw-bench", key_file, "bench", device, str(count)],
                                 capture_output=True, text=True, timeout=900)
            if out.returncode != 0:
                sys.exit("command_latency.py failed: %s" % out.stderr)
            return json.loads(out.stdout.strip().splitlines()[-1])
        finally:
            stop(proc)

    try:
        tcp = measure("site-cmd-tcp.yaml", "main", 1000)
        idle = measure("site-cmd-idle.yaml", "flat-1", 3_600_000)
        busy = measure("site-cmd-busy.yaml", "flat-5", 0)
        # The longest routine transaction on the line: what a command may have to wait for.
        text, _ = plan_requests(write_site("site-cmd-plan.yaml", "buses:\n  - {id: rs485, type: serial, port: %s, baud: 9600}\n" % pty
                                           + "devices:\n  - {id: flat-1, bus: rs485, unit: 1, profile: generic-modbus-relay-meter}\n"))
        def wire_ms(table, count):
            # 8-byte request, 5 bytes of reply framing plus the data, 3.5 characters of silence
            # after each frame; 10 bits a character at 9600 baud.
            data = (count + 7) // 8 if table in ("coil", "discrete") else 2 * count
            return (8 + 5 + data + 7) * 10 / 9600 * 1000
        longest = max(wire_ms(t, int(c)) for t, c in re.findall(r"read (\w+)\s+0x[0-9A-F]+\s+count (\d+)", text))
        for name, r in (("tcp", tcp), ("rtu_idle", idle), ("rtu_busy", busy)):
            if len(r["latencies_ms"]) < count or set(r["statuses"]) != {"done"}:
                MISSED.append("command.%s results %s" % (name, r["statuses"]))
        t_med, t_p99 = percentile(tcp["latencies_ms"], 50), percentile(tcp["latencies_ms"], 99)
        row("signed relay command, publish to result, TCP meter", "median %.1f ms, p99 %.1f ms" % (t_med, t_p99), "–", "median ≤ 20 ms")
        log("command.tcp_latency_ms median %.1f p99 %.1f over %d relay commands (goal: median <= 20 ms: %s) %s"
            % (t_med, t_p99, len(tcp["latencies_ms"]), budget(t_med <= 20, "command.tcp median"), tcp["statuses"]))
        i_med, b_med = percentile(idle["latencies_ms"], 50), percentile(busy["latencies_ms"], 50)
        b_p99 = percentile(busy["latencies_ms"], 99)
        waited = b_med - i_med
        row("the same on a 9600 baud line polled back to back", "median %.1f ms (idle line %.1f ms)" % (b_med, i_med), "–",
            "wait ≤ one poll transaction (%.0f ms)" % longest)
        log("command.rtu_latency_ms idle line median %.1f; 10 meters polled back to back median %.1f p99 %.1f; waited %.1f ms "
            "for the line, the longest poll transaction takes %.1f ms (goal: at most one: %s)"
            % (i_med, b_med, b_p99, waited, longest, budget(waited <= longest, "command.rtu queue jump")))
    finally:
        stop(broker)
        stop(sim)


def card_latency(count=100):
    """Card presentation to relay closed and read back: an RDM6300 reader and a DL/T 645 meter, each
    on a 9600 baud line, the meter also polled."""
    control = os.path.join(WORK, "cards.sock")
    sim, lines = start_simulator("control: %s\nlines:\n" % control
                                 + "  - {id: meter, protocol: dlt645, baud: 9600, devices: [{address: \"202612040001\", "
                                   "profile: dlt645-2007-generic, model: electricity, password: \"000000\"}]}\n"
                                 + "  - {id: reader, protocol: rdm6300, baud: 9600}\n")
    broker, port = start_broker()
    key_file = os.path.join(WORK, "cards-head-end.pem")
    public = subprocess.run([PYTHON, os.path.join(ROOT, "Tests", "Interop", "ed25519_peer.py"), "keygen", key_file],
                            capture_output=True, text=True, check=True).stdout.strip()
    ptys = {l.split()[1]: l.split()[2] for l in lines if l.startswith("line ")}
    site = write_site("site-cards.yaml", "commands: {keys: [{id: bench, ed25519: %s}]}\n" % public
                      + "mqtt: {host: 127.0.0.1, port: %d}\n" % port
                      + "buses:\n  - {id: meter, type: serial, port: %s, baud: 9600, parity: none, protocol: dlt645, timeout_ms: 500}\n" % ptys["meter"]
                      + "devices:\n  - {id: bay-1, bus: meter, address: \"202612040001\", profile: dlt645-2007-generic, password: \"000000\", poll_interval: 2s}\n"
                      + "readers:\n  - {id: bay-1-reader, type: rdm6300, port: %s, supply_point: bay-1, debounce_ms: 200}\n" % ptys["reader"]
                      + "cards: {id_privacy: mask}\n")
    proc = subprocess.Popen([AGENT, "run", site, "--store", os.path.join(WORK, "cards.db")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(2)
        out = subprocess.run([PYTHON, os.path.join(ROOT, "Tests", "Benchmarks", "card_latency.py"), str(port), "meteragent/gw-bench",
                              "gw-bench", key_file, "bench", control, "reader", str(count)], capture_output=True, text=True, timeout=900)
        if out.returncode != 0:
            sys.exit("card_latency.py failed: %s" % (out.stderr or out.stdout))
        r = json.loads(out.stdout.strip().splitlines()[-1])
        if len(r["latencies_ms"]) < count or r["denied"] or r["failed"]:
            MISSED.append("cards: %d of %d sessions, %d denied, %d failed" % (len(r["latencies_ms"]), count, r["denied"], r["failed"]))
        med, p99 = percentile(r["latencies_ms"], 50), percentile(r["latencies_ms"], 99)
        row("card presented to relay read back closed (RDM6300, DL/T 645 at 9600 baud)", "median %.1f ms, p99 %.1f ms" % (med, p99), "–",
            "median ≤ 300 ms")
        log("card.to_relay_ms median %.1f p99 %.1f over %d presentations (RDM6300 and DL/T 645 meter at 9600 baud; "
            "goal: median <= 300 ms: %s)" % (med, p99, len(r["latencies_ms"]), budget(med <= 300, "card.to_relay median")))
    finally:
        stop(proc)
        stop(broker)
        stop(sim)


def store_and_forward(count=100_000):
    """Durable ingest of an outage's readings, bytes on disk per reading, and their replay to a
    local broker beside mosquitto_pub (Tests/Benchmarks/uplink-bench.sh)."""
    r = subprocess.run([os.path.join(ROOT, "Tests", "Benchmarks", "uplink-bench.sh"), BUILD, str(count)],
                       capture_output=True, text=True, timeout=1200)
    log(r.stdout.rstrip())
    if r.returncode != 0:
        sys.exit("uplink-bench.sh failed: %s" % r.stderr)
    ingest = re.search(r"ingest: \d+ readings in [\d.]+ s \((\d+) readings/s\), ([\d.]+) bytes on disk per reading", r.stdout)
    replay = re.search(r"agent replay: \d+ readings in [\d.]+ s \((\d+) readings/s\)", r.stdout)
    peer = re.search(r"mosquitto_pub .*\((\d+) messages/s\)", r.stdout)
    rate, per_reading = int(ingest.group(1)), float(ingest.group(2))
    log("store.ingest_readings_per_s %d (budget 200,000: %s)   store.bytes_per_reading %.1f (budget 48: %s)"
        % (rate, budget(rate >= 200_000, "store.ingest_readings_per_s"), per_reading, budget(per_reading <= 48, "store.bytes_per_reading")))
    row("durable ingest of %d readings; bytes on disk per reading" % count, "%d readings/s; %.1f bytes" % (rate, per_reading), "–",
        "≥ 200,000/s; ≤ 48 bytes")
    row("replay of them to a local broker, QoS 1", "%s readings/s" % replay.group(1),
        "mosquitto_pub -q 1 -l: %s messages/s, one reading each" % peer.group(1))
    FIGURES.update({"ingest_readings_per_s": rate, "bytes_per_reading": per_reading, "replay_readings_per_s": int(replay.group(1))})


def command_output(*command):
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def machine():
    """What the figures were measured on, as `name: value` pairs."""
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        memory_kb = int(f.readline().split()[1])
    distro = "?"
    if os.path.exists("/etc/os-release"):
        with open("/etc/os-release") as f:
            distro = dict(l.rstrip("\n").split("=", 1) for l in f if "=" in l).get("PRETTY_NAME", "?").strip('"')
    first_line = lambda *command: (command_output(*command).splitlines() or ["?"])[0]
    peers = "pymodbus %s, %s, libmodbus %s" % (first_line(PYTHON, "-c", "import pymodbus; print(pymodbus.__version__)"),
                                               first_line(shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-h"),
                                               first_line("pkg-config", "--modversion", "libmodbus"))
    return [("date", time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())), ("cpu", "%s, %d cores" % (cpu, os.cpu_count())),
            ("memory", "%.1f GB" % (memory_kb / 2**20)), ("system", "%s, Linux %s" % (distro, os.uname().release)),
            ("swift", first_line("swift", "--version")), ("peers", peers)]


def write_report():
    """BENCHMARKS.md (the machine, then the table) and the figures as JSON beside it."""
    about = machine()
    lines = ["# MeterAgent benchmarks", "", "Written by `make bench`; every figure beside a peer measured in the same run.", ""]
    lines += ["- %s: %s" % pair for pair in about]
    lines += ["", "| figure | MeterAgent | peer, same run | budget |", "|---|---|---|---|"]
    lines += ["| %s | %s | %s | %s |" % row for row in TABLE]
    lines += ["", "Budgets missed: " + ("; ".join(MISSED) if MISSED else "none"), ""]
    with open(REPORT, "w") as f:
        f.write("\n".join(lines))
    with open(os.path.splitext(REPORT)[0] + ".json", "w") as f:
        json.dump({"machine": dict(about), "figures": FIGURES, "missed": MISSED}, f, indent=1, sort_keys=True)
    log("report: %s and %s" % (REPORT, os.path.splitext(REPORT)[0] + ".json"))


def print_table():
    log("\n| figure | MeterAgent | peer, same run | budget |\n|---|---|---|---|")
    for figure, agent, peer, goal in TABLE:
        log("| %s | %s | %s | %s |" % (figure, agent, peer, goal))


if __name__ == "__main__":
    footprint()
    rtu_cycle()
    whole_agent()
    command_latency()
    card_latency()
    store_and_forward()
    print_table()
    write_report()
    if MISSED:
        sys.exit("budgets missed: " + "; ".join(MISSED))
