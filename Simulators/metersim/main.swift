import Foundation
import MeterCore
import MeterSimulation

// metersim SCENARIO.yaml [--duration SECONDS] [--seed N] [--control PATH]
//
// Serves the scenario's simulated meters on ptys and 127.0.0.1 TCP ports. Prints one
// `line <id> <pty>` / `tcp <port> units …` line per endpoint, then `ready`, and runs until
// SIGINT/SIGTERM, the `quit` control command, or --duration.

let usage = """
usage: metersim SCENARIO.yaml [--duration SECONDS] [--seed N] [--control PATH]

Serves simulated Modbus meters (RTU on ptys, TCP on 127.0.0.1) described by SCENARIO.yaml.
  --duration SECONDS  stop after this long (default: run until SIGINT/SIGTERM or `quit`)
  --seed N            seed for devices without their own (default 1; the scenario's seed wins)
  --control PATH      unix socket for run-time commands (overrides the scenario's `control`)
CJ/T 188 lines: `protocol: cjt188`, devices with `address: "14 digits"`, `model: water|gas`, optional
`di_order: high_first|low_first` (the meter then ignores the other order); UNIT in control commands
may be the meter address; `set LINE UNIT battery.low 1` / `valve.fault 1` raise the status flags.
RDM6300 card readers: a line `protocol: rdm6300` (9600 by default) without devices; a card in the
field is sent about every 100 ms, as the module does.
Faults: no_reply on|off, delay_ms N, bad_crc on|off, garbage on|off, exception 1-11|off, wrong_unit on|off
Output: `line <id> <pty path>` and `tcp <port> units <u,…>` lines, then `ready`.
Control commands (on the control socket, or on stdin when it is not a terminal):
  fault LINE UNIT FAULT VALUE | fault LINE UNIT clear | set LINE UNIT POINT VALUE |
  release LINE UNIT POINT | raise LINE UNIT CONDITION | clear LINE UNIT CONDITION |
  state LINE UNIT | restart LINE UNIT (switched off and on: commissioned settings apply) | list | quit |
  card LINE UID [SECONDS] | card LINE remove | garbage LINE [COUNT] | corrupt LINE | unplug LINE | plug LINE
Conditions: leak | tamper | valve_fault | battery_low | clock_battery_low, served where the meter
keeps them (Modbus gas discrete inputs, CJ/T 188 status bits, DL/T 645 status word 1 and cover count)
Exit status: 0 after a clean stop, 1 if the simulator could not start, 2 for a bad scenario or usage.
"""

func fail(_ message: String, status: Int32) -> Never {
    FileHandle.standardError.write((message + "\n").data(using: .utf8)!)
    exit(status)
}

var scenarioPath: String?
var duration: Double?
var seed: UInt64 = 1
var controlPath: String?
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "-h", "--help":
        print(usage)
        exit(0)
    case "--duration":
        guard let text = arguments.popFirst(), let value = Double(text), value > 0 else { fail("--duration needs a positive number of seconds\n\n" + usage, status: 2) }
        duration = value
    case "--seed":
        guard let text = arguments.popFirst(), let value = UInt64(text) else { fail("--seed needs a non-negative integer\n\n" + usage, status: 2) }
        seed = value
    case "--control":
        guard let text = arguments.popFirst() else { fail("--control needs a path\n\n" + usage, status: 2) }
        controlPath = text
    default:
        if argument.hasPrefix("-") || scenarioPath != nil { fail("unexpected argument '\(argument)'\n\n" + usage, status: 2) }
        scenarioPath = argument
    }
}
guard let scenarioPath else { fail(usage, status: 2) }

let scenario: Scenario
do {
    scenario = try ScenarioLoader.load(path: scenarioPath)
} catch {
    // One line per problem, `file:line:col: message`.
    fail(error.description, status: 2)
}

// Block the stop signals in every thread (threads inherit the mask) and wait for them here.
var stopSignals = sigset_t()
sigemptyset(&stopSignals)
sigaddset(&stopSignals, SIGINT)
sigaddset(&stopSignals, SIGTERM)
pthread_sigmask(SIG_BLOCK, &stopSignals, nil)
signal(SIGPIPE, SIG_IGN)

let simulator: Simulator
do {
    simulator = try Simulator(scenario: scenario, seed: seed, controlPath: controlPath)
    try simulator.start()
} catch {
    fail("metersim: \(error)", status: 1)
}
for line in simulator.announcements { print(line) }
print("ready")
fflush(nil) // flushes every output stream; `stdout` itself is not concurrency-safe to name in Swift 6

// The control commands also work on stdin when it is a pipe or file (not a terminal, where a
// stray keystroke should not steer the meters); replies go to stdout after `ready`.
if isatty(STDIN_FILENO) == 0 {
    let interpreter = ControlInterpreter(simulator: simulator)
    do {
        try DedicatedThread {
            while let line = readLine() {
                let command = line.trimmingCharacters(in: .whitespaces)
                if command.isEmpty { continue }
                for reply in interpreter.execute(command) { print(reply) }
                fflush(nil)
            }
        }
    } catch {
        simulator.stop()
        fail("metersim: \(error)", status: 1)
    }
}

let started = Date()
var wait = timespec(tv_sec: 0, tv_nsec: 100_000_000)
while true {
    let caught = sigtimedwait(&stopSignals, nil, &wait)
    if caught == SIGINT || caught == SIGTERM { break }
    if simulator.quitRequested { break }
    if let duration, Date().timeIntervalSince(started) >= duration { break }
}
simulator.stop()
exit(0)
