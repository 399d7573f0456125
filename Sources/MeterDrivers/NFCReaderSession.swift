#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNFC
import MeterCore

/// One open libnfc device and the libnfc context it belongs to. Owned by the one thread that
/// polls the reader: the pointers never leave it, and `deinit` closes the device before the
/// context.
final class NFCReaderSession {
    private let api: meteragent_nfc_api
    private let context: OpaquePointer
    private let device: OpaquePointer
    /// `PN532 v1.6 (pn532_uart:/dev/ttyS1)`: the chip and firmware libnfc found, and where.
    let detail: String

    /// What one poll of the field found.
    enum Poll: Equatable {
        case card([UInt8])
        case empty
        case failed(String)
    }

    /// Opens `connstring` (`pn532_uart:PORT:BAUD`) and sets the device up as an initiator that
    /// tries each selection once, so a poll returns at once when the field is empty.
    init(api: meteragent_nfc_api, connstring: String, port: String, what: String) throws(NFCError) {
        self.api = api
        var context: OpaquePointer?
        api.`init`(&context)
        guard let context else { throw NFCError("\(what): libnfc could not start (nfc_init failed: out of memory?)") }
        guard let device = api.open(context, connstring) else {
            api.exit(context)
            throw NFCError("\(what): " + Self.whyNotOpened(port: port, connstring: connstring))
        }
        self.context = context
        self.device = device
        var failure: String?
        if api.initiator_init(device) < 0 {
            failure = "nfc_initiator_init failed"
        } else if api.device_set_property_bool(device, meteragent_nfc_infinite_select(), false) < 0 {
            failure = "setting single-try selection failed"
        }
        detail = Self.describe(api, device)
        if let failure {
            // deinit does not run for an object whose init throws: close here, once.
            let text = Self.errorText(api, device)
            api.close(device)
            api.exit(context)
            throw NFCError("\(what): \(failure): \(text)")
        }
    }

    deinit {
        api.close(device)
        api.exit(context)
    }

    /// Looks once for an ISO 14443-A card (4-, 7- or 10-byte UID).
    ///
    /// libnfc's select waits for the chip's ACK without a timeout (pn53x_initiator_select_passive_target
    /// passes 0, "no timeout", and pn532_uart_send reads the ACK without its abort pipe), so a chip
    /// that went silent would hold this thread for good. The selection retry setting is written first,
    /// with libnfc's bounded command timeout: a silent chip fails there, within 350 ms, and the
    /// unbounded wait is left only for a chip that dies between the two commands.
    func poll() -> Poll {
        if api.device_set_property_bool(device, meteragent_nfc_infinite_select(), false) < 0 {
            return .failed(Self.errorText(api, device))
        }
        var target = nfc_target()
        let found = api.initiator_select_passive_target(device, meteragent_nfc_iso14443a_106(), nil, 0, &target)
        if found < 0 { return .failed(Self.errorText(api, device)) }
        if found == 0 { return .empty }
        var uid = [UInt8](repeating: 0, count: 10)
        let length = uid.withUnsafeMutableBufferPointer { meteragent_nfc_target_uid(&target, $0.baseAddress!) }
        guard [4, 7, 10].contains(length) else { return .failed("target with a \(length)-byte UID (ISO 14443-A has 4, 7 or 10)") }
        return .card(Array(uid.prefix(length)))
    }

    /// nfc_open says only NULL; the port itself tells a missing device from a silent one.
    private static func whyNotOpened(port: String, connstring: String) -> String {
        if access(port, F_OK) != 0 {
            return "no such port (\(String(cString: strerror(errno))))"
        }
        if access(port, R_OK | W_OK) != 0 {
            return "cannot open the port (\(String(cString: strerror(errno))))"
        }
        return "no PN532 answered on \(connstring) (nothing connected, another baud rate, or the port is in use)"
    }

    private static func errorText(_ api: meteragent_nfc_api, _ device: OpaquePointer) -> String {
        guard let text = api.strerror(device) else { return "libnfc error \(api.device_get_last_error(device))" }
        return String(cString: text)
    }

    /// The `chip:` line of libnfc's device information, with the device's name.
    private static func describe(_ api: meteragent_nfc_api, _ device: OpaquePointer) -> String {
        let name = api.device_get_name(device).map { String(cString: $0) } ?? "?"
        var buffer: UnsafeMutablePointer<CChar>?
        guard api.device_get_information_about(device, &buffer) >= 0, let buffer else { return name }
        defer { api.free(buffer) }
        let info = String(cString: buffer)
        let chip = info.split(separator: "\n").first { $0.hasPrefix("chip:") }
            .map { $0.dropFirst(5).trimmingPrefix(while: { $0 == " " }) }
        return chip.map { "\($0) (\(name))" } ?? name
    }
}
