import MeterCore

/// Puts local cost control behind the poller's sink: readings go on to `inner` (the outbox) first,
/// then the metered registers among them are charged. The poll task of a device waits for its
/// charge (and for a cut, when one is due), so one device's charges stay in reading order.
public struct PrepaidSink<Inner: ReadingSink>: ReadingSink {
    public let inner: Inner
    public let prepaid: PrepaidService

    public init(inner: Inner, prepaid: PrepaidService) {
        self.inner = inner
        self.prepaid = prepaid
    }

    public func deliver(_ readings: [Reading]) async {
        await inner.deliver(readings)
        await prepaid.observe(readings)
    }

    public func deliver(events: [MeterEvent]) async {
        await inner.deliver(events: events)
    }
}
