import CommandLineKit
import MeterAgent
import MeterCore
import MeterDrivers
import MeterIO
import MeterProtocols

/// Commissions one DL/T 645-2007 meter: asks the line for its address with the AA…AA wildcard
/// (exactly one meter must answer: 0x15 reaches every meter on the line), writes the new address
/// (0x15) and rate (0x17) where the profile allows, then reads the meter at its new address and
/// rate.
struct DLT645Commissioning {
    let command: Commission
    let profile: DeviceProfile
    let line: SerialSettings
    let target: SerialSettings

    func run() async throws -> CommissionOutcome {
        let settings = profile.settings ?? CommissionSettings()
        guard command.newAddress != nil || command.newBaud != nil else {
            throw ValidationError("nothing to change: give --new-address or --new-baud")
        }
        let newAddress: DLT645Address? = try command.newAddress.map { text in
            guard let address = try? DLT645Address(text), address.isUnicast else {
                throw ValidationError("--new-address must be 12 digits, got '\(text)'")
            }
            return address
        }
        if newAddress != nil, !settings.writableAddress {
            throw fail("profile '\(profile.name)' does not declare the address writable ('settings: {address: true}')", Exit.invalidConfig)
        }
        if let baud = command.newBaud, !settings.bauds.contains(baud) {
            let rates = settings.bauds.map(String.init).joined(separator: ", ")
            throw fail("profile '\(profile.name)' does not let the meter change to \(baud) baud (\(rates.isEmpty ? "its rate is fixed" : "it takes \(rates)"))",
                       Exit.invalidConfig)
        }

        var bus = serialBus(line)
        defer { bus.close() }
        var address = try await onlyMeter(on: bus)
        var written: [String] = []
        if let newAddress, newAddress != address {
            do throws(SerialBusError) { try await DLT645MeterDriver.writeAddress(newAddress, on: bus) } catch {
                throw fail("the meter \(address) refused the new address \(newAddress): \(error)", exitCode(error))
            }
            await command.progress("wrote address \(newAddress) (was \(address), 0x15 at \(line.summary))")
            address = newAddress
            written.append("address=\(newAddress)")
        }
        if let baud = command.newBaud, baud != line.baud {
            do throws(SerialBusError) { try await DLT645MeterDriver.changeBaud(to: baud, of: address, on: bus) } catch {
                throw fail("the meter \(address) refused \(baud) baud: \(error)", exitCode(error))
            }
            await command.progress("wrote rate \(baud) (0x17 to \(address) at \(line.summary))")
            written.append("baud=\(baud)")
        }
        bus.close()

        // Read back where the meter now listens: its address first (the only meter at that rate),
        // then every point of its profile.
        bus = serialBus(target)
        let found: DLT645Address
        do throws(SerialBusError) { found = try await DLT645MeterDriver.readAddress(on: bus) } catch {
            throw fail("no meter answers at \(target.summary) after the writes: \(error)", Exit.deviceFailed)
        }
        guard found == address else { throw fail("the meter at \(target.summary) reads back address \(found), written \(address)", Exit.deviceFailed) }
        bus.close()
        let busConfig = config(target)
        let device = DeviceConfig(id: DeviceID(command.deviceID ?? "meter-\(address)"), bus: busConfig.id, address: address.written, profile: profile)
        let readings = try await readOnce(device, on: busConfig)
        return CommissionOutcome(port: command.port, busID: command.busID, deviceID: device.id.rawValue, line: target,
                                 protocolName: .dlt645, deviceKey: ("address", address.written), profile: profile.name,
                                 written: written.isEmpty ? ["nothing (already set)"] : written, readings: readings)
    }

    private func config(_ settings: SerialSettings) -> BusConfig {
        BusConfig(id: BusID(command.busID), transport: .serial(port: command.port, settings: settings, rs485: false),
                  protocolName: .dlt645, timeoutMs: command.timeoutMs, retries: 0)
    }

    private func serialBus(_ settings: SerialSettings) -> SerialLineBus { SerialLineBus(config: config(settings)) }

    /// The address of the one meter on the line; refuses when none or several answer, or when it
    /// is not the one `--address` names.
    private func onlyMeter(on bus: SerialLineBus) async throws -> DLT645Address {
        let found: DLT645Address
        do throws(SerialBusError) { found = try await DLT645MeterDriver.readAddress(on: bus) } catch {
            switch error.kind {
            case .connection: throw fail("cannot open \(command.port): \(error.message)", Exit.busUnavailable)
            // Silence is a timeout with nothing received; anything else on the wire is replies on top of each other.
            case .timeout where !error.message.contains("bytes received"):
                throw fail("no meter answered the address request (0x13 to AAAAAAAAAAAA) on \(command.port) at \(line.summary). Nothing was written. "
                           + "Check the wiring and the meter's current rate (--baud, --parity).", Exit.deviceFailed)
            default:
                throw fail("more than one meter answers on \(command.port) at \(line.summary): their replies to the address request collide (\(error.message)). "
                           + "Nothing was written. A new address goes to AAAAAAAAAAAA and would reach them all: connect only the meter to commission.",
                           Exit.deviceFailed)
            }
        }
        if let expected = command.address, found.written != expected {
            throw fail("the meter on \(command.port) is \(found), not \(expected) as --address says. Nothing was written.", Exit.deviceFailed)
        }
        return found
    }

    private func exitCode(_ error: SerialBusError) -> ExitCode {
        error.kind == .connection ? Exit.busUnavailable : Exit.deviceFailed
    }
}
