import CModbus
import MeterCore
import MeterProtocols
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Sorts an errno left by a failed libmodbus call into a `BusFailure`, and says whether the
/// connection is now unusable and must be reopened before the next transaction.
enum ModbusErrno {
    struct Classification: Equatable {
        var kind: BusFailure
        var needsReconnect: Bool
    }

    static func classify(_ code: Int32) -> Classification {
        let base = cmodbus_exception_base()
        switch code {
        case ETIMEDOUT:
            return .init(kind: .timeout, needsReconnect: false)
        case cmodbus_error_bad_crc():
            return .init(kind: .checksumError, needsReconnect: false)
        case cmodbus_error_bad_slave(), cmodbus_error_bad_data(), cmodbus_error_too_much_data(),
             cmodbus_error_bad_exception(), cmodbus_error_unknown_exception():
            return .init(kind: .invalidResponse, needsReconnect: false)
        case (base + 1)...(base + 11):
            return .init(kind: .exception(ModbusExceptionCode(rawValue: UInt8(code - base))), needsReconnect: false)
        case EINVAL:
            // libmodbus checks its arguments (counts, a closed context) before sending anything.
            return .init(kind: .invalidRequest, needsReconnect: false)
        default:
            // ECONNRESET, EPIPE, ECONNREFUSED, EBADF, and also EIO/ENXIO/ENODEV from an unplugged
            // USB adapter: the descriptor is no good any more, so reopen it.
            return .init(kind: .connection, needsReconnect: true)
        }
    }

    /// libmodbus's message for an exception reply, as a libmodbus transaction would carry it.
    static func message(_ exception: ModbusExceptionCode) -> String {
        message(cmodbus_exception_base() + Int32(exception.rawValue))
    }

    /// libmodbus's message for an errno (`modbus_strerror` also covers plain errno values).
    static func message(_ code: Int32) -> String {
        guard let text = modbus_strerror(code) else { return "errno \(code)" }
        return String(cString: text)
    }
}
