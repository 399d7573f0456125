/// A simulated card reader on a pty of its own: a scenario line with `protocol: rdm6300` or
/// `protocol: pn532` and no devices. Cards come and go through the control channel.
public protocol CardReaderServer: LineServer {
    /// A card enters the field and leaves after `seconds` (nil: it stays until `removeCard`).
    /// Returns why the reader cannot take it (a UID length its technology does not have), or nil.
    func present(_ uid: [UInt8], seconds: Double?) -> String?
    func removeCard()
    /// Sends `count` bytes that form no frame, as a noisy line or a reader at power-up does.
    func sendGarbage(_ count: Int)
    /// The next frame the reader sends has a wrong checksum.
    func corruptNextFrame()
    /// The reader is unplugged: its pty closes, so reads on the port fail until it is back.
    func unplug()
    /// The reader is plugged in again on a new pty; returns the new slave path.
    func plugIn() throws(SimulatorError) -> String
}
