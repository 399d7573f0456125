import Foundation
import MeterCore
import MeterIO

/// Polls `condition` every 10 ms for up to `seconds`.
public func eventually(within seconds: Double = 3, _ condition: () -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        try? await Task.sleep(nanoseconds: 10_000_000)
    }
    return condition()
}

/// A bus whose back-off windows outlast any test, so a slow shared machine cannot end one early.
public func tcpBus(_ id: String, port: UInt16, timeoutMs: Int = 500, retries: Int = 0, queueDepth: Int = 8) -> ModbusBus {
    var config = BusConfig(id: BusID(id), transport: .tcp(host: "127.0.0.1", port: Int(port)),
                           timeoutMs: timeoutMs, retries: retries, queueDepth: queueDepth)
    config.backoffInitialMs = 600_000
    config.backoffMaxMs = 600_000
    return ModbusBus(config: config)
}
