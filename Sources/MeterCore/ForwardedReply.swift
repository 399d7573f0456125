/// A meter's reply to a frame the agent forwarded as the head-end made it (`esam.forward`): the
/// raw control byte and data field (without the +0x33 of the wire), and for a refusal its error
/// bits in words, so that the head-end sees exactly what the meter said.
public struct ForwardedReply: Sendable, Hashable {
    public var control: UInt8
    public var data: [UInt8]
    /// `error word 0002: MAC check failed`; nil for a reply that accepts.
    public var error: String?

    public init(control: UInt8, data: [UInt8], error: String? = nil) {
        self.control = control
        self.data = data
        self.error = error
    }
}
