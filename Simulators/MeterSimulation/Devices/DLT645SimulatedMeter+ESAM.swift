import MeterProtocols

/// A prepaid meter's security: identity authentication (0x03, DI 070000FF) opens a session in
/// its ESAM, and within it an encrypted relay command (0x1C at level 98/96) whose MAC verifies is
/// carried out like a plaintext one, deadline and keep-power included, and with any N1 code.
/// Refusals come the way such meters send them: SERR after a failed authentication, a 2-byte
/// error word after a refused encrypted command (PROTOCOLS.md, DL/T 645).
extension DLT645SimulatedMeter {
    func securityAuthentication(_ frame: DLT645Frame, esam: SimulatedESAM, at t: Double) -> DLT645Frame {
        switch esam.authenticate(frame.data, meter: address, at: t) {
        case let .success(data): return DLT645Reply.okReply(to: frame, from: address, data: data)
        case let .failure(refusal): return refuse(frame, refusal)
        }
    }

    func encryptedRelay(_ frame: DLT645Frame, esam: SimulatedESAM, at t: Double) -> DLT645Frame {
        let command: DLT645RelayCommand
        switch esam.openRelayControl(frame.data, password: password, at: t) {
        case let .success(opened): command = opened
        case let .failure(refusal): return refuse(frame, refusal)
        }
        guard let action = DLT645RelayAction(rawValue: command.action) else {
            return refuse(frame, SecurityRefusal(byte: DLT645ErrorBits.other.rawValue))
        }
        guard command.deadline.secondsSince1970 >= clock(at: t).secondsSince1970 else {
            return refuse(frame, SecurityRefusal(word: DLT645RelayErrorWord.deadlineInvalid.rawValue))
        }
        guard apply(action) else { return refuse(frame, SecurityRefusal(word: DLT645RelayErrorWord.tripRefusedKeepPower.rawValue)) }
        return DLT645Reply.okReply(to: frame, from: address)
    }

    /// The error reply (0xC3, 0xDC) that carries a security refusal.
    private func refuse(_ frame: DLT645Frame, _ refusal: SecurityRefusal) -> DLT645Frame {
        DLT645Frame(address: address, control: frame.control.errorReply, data: refusal.data)
    }
}
