/// The retained `<prefix>/status` payloads of the uplink contract.
public enum StatusMessage {
    /// Published (retained) right after every successful connection.
    public static func online(version: String, sinceMs: Int64) -> String {
        "{\"state\":\"online\",\"version\":\(BatchBuilder.jsonString(version)),\"since\":\(sinceMs)}"
    }

    /// The last will, registered before connecting: the broker publishes it (retained) when the
    /// connection dies without a clean disconnect. The broker adds no time of its own, so
    /// `since` is when the lost connection began.
    public static func lastWill(version: String, connectedMs: Int64) -> String {
        "{\"state\":\"offline\",\"version\":\(BatchBuilder.jsonString(version)),\"since\":\(connectedMs),\"reason\":\"connection_lost\"}"
    }

    /// Published (retained) on a clean shutdown, just before disconnecting.
    public static func offline(version: String, sinceMs: Int64) -> String {
        "{\"state\":\"offline\",\"version\":\(BatchBuilder.jsonString(version)),\"since\":\(sinceMs),\"reason\":\"shutdown\"}"
    }
}
