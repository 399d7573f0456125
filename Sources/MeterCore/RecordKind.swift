/// What a record in the outbox is: the store keeps it with the record, the uplink picks the topic
/// and the batch's array name from it.
public enum RecordKind: String, Sendable, Hashable, CaseIterable {
    case reading
    case event
    case commandResult = "command_result"
}
