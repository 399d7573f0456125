import MeterCore
import MeterDrivers
import MeterIO
import MeterProtocols
import MeterStore
import Synchronization

/// The card readers of a site: runs every reader's driver, decides each presentation offline from
/// the local authorization list (`CardPolicy`), opens and closes technicians' maintenance windows,
/// and runs customers' metered sessions at supply points (relay closed and read back, start and end
/// readings of the metered register). Every presentation, window, session and reader state change
/// is a class-0 event in the store, so it waits out an uplink outage; nothing waits for the uplink.
///
/// Inputs (reader events, the once-a-second tick, cuts by local cost control) go through one
/// bounded queue and are handled one at a time: windows and sessions are never changed by two
/// presentations at once. A full queue drops the input, counts it and logs it (a reader repeats
/// a card that stays in the field).
///
/// An open session is in the store (`card_session`) from its start event to its end event, in the
/// same transactions; after a restart it is taken up again and ends as any other.
public final class CardService: Sendable {
    public enum Input: Sendable {
        case reader(ReaderID, CardReaderEvent)
        /// Ends windows and sessions whose time is up.
        case tick
        /// Local cost control cut this device's supply (credit ran out).
        case supplyCut(DeviceID)
    }

    struct Window: Sendable {
        var card: CardID
        var untilMs: Int64
    }

    struct Session: Sendable {
        var row: CardSessionRow
        var card: CardID
        var unit: String
    }

    struct State: Sendable {
        var windows: [ReaderID: Window] = [:]
        var sessions: [ReaderID: Session] = [:]
        /// For `meteragent status`: each reader's state and last card (as the site's privacy writes it).
        var readerStatus: [ReaderID: ReaderStatus] = [:]
    }

    /// A reader as `meteragent status` shows it.
    public struct ReaderStatus: Sendable, Hashable {
        /// `starting` until the driver reports, then `ready` or `lost`.
        public var state = "starting"
        public var sinceMs: Int64?
        /// Why the reader was lost.
        public var detail: String?
        public var lastCard: String?
        public var lastCardMs: Int64?
    }

    let site: SiteConfig
    let readers: [ReaderID: CardReaderConfig]
    let drivers: [any CardReaderDriver]
    let meters: @Sendable (DeviceID) -> (any MeterDriver)?
    let store: OutboxStore
    let authorizations: CardAuthorizations
    let prepaid: PrepaidService?
    let formatter: CardIDFormatter
    let log: Log
    let now: @Sendable () -> Int64
    let lock = AsyncLock()
    let state = Mutex(State())
    let inputs: AsyncStream<Input>
    let continuation: AsyncStream<Input>.Continuation
    let dropped = Mutex(0)

    public static let queueDepth = 64

    /// `drivers`: one per reader of `site.readers` (`makeCardReaderDriver(_:)`); `meters`: the
    /// device drivers, as the command service gets them; `prepaid`: local cost control, whose cuts
    /// end sessions and whose cut-off devices refuse new ones.
    public init(site: SiteConfig, drivers: [any CardReaderDriver], meters: @escaping @Sendable (DeviceID) -> (any MeterDriver)?,
                store: OutboxStore, authorizations: CardAuthorizations, prepaid: PrepaidService? = nil, log: Log,
                now: @escaping @Sendable () -> Int64 = WallClock.nowMs) {
        self.site = site
        readers = Dictionary(site.readers.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        self.drivers = drivers
        self.meters = meters
        self.store = store
        self.authorizations = authorizations
        self.prepaid = prepaid
        formatter = CardIDFormatter(site.cards)
        self.log = log
        self.now = now
        (inputs, continuation) = AsyncStream.makeStream(of: Input.self, bufferingPolicy: .bufferingOldest(Self.queueDepth))
        prepaid?.onSupplyCut { [weak self] device in self?.submit(.supplyCut(device)) }
    }

    /// Takes up the sessions the last run left open. Called by `run`; tests call it directly.
    public func start() async {
        let rows: [CardSessionRow]
        do {
            rows = try await store.cardSessions()
        } catch {
            log.error("open card sessions cannot be read; they are not ended by this run", ["error": error.description])
            return
        }
        state.withLock { s in
            for row in rows {
                guard case let .success(card) = CardID.parse(row.card) else { continue }
                s.sessions[ReaderID(row.reader)] = Session(row: row, card: card, unit: "")
            }
        }
        for row in rows {
            log.info("card session taken up after a restart", ["reader.id": row.reader, "device.id": row.device])
        }
    }

    /// Runs the readers and handles their events until the task is cancelled.
    public func run() async {
        await start()
        let continuation = self.continuation
        await withTaskCancellationHandler {
            await withDiscardingTaskGroup { group in
                for driver in drivers {
                    let id = driver.reader.id
                    group.addTask { await driver.run { [weak self] event in self?.submit(.reader(id, event)) } }
                }
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .seconds(1))
                        continuation.yield(.tick)
                    }
                }
                group.addTask {
                    for await input in self.inputs { await self.handle(input) }
                }
            }
        } onCancel: {
            continuation.finish()
        }
    }

    /// Queues an input for `run`; dropped (and counted) when the queue is full.
    public func submit(_ input: Input) {
        if case .dropped = continuation.yield(input) {
            let count = dropped.withLock { $0 += 1; return $0 }
            if count == 1 || count % 100 == 0 {
                log.warning("card input dropped: the card service's queue is full", ["queue": String(Self.queueDepth), "dropped": String(count)])
            }
        }
    }

    /// Handles one input (in `run`, one at a time; tests call it directly).
    public func handle(_ input: Input) async {
        await lock.withLock {
            switch input {
            case let .reader(id, .presented(card, _)):
                await present(card, at: id)
            case let .reader(id, .ready(detail)):
                setReaderState(id, "ready", detail: detail)
                log.info("card reader ready", ["reader.id": id.rawValue, "detail": detail])
                await record([CardEvent("reader.ready", now(), [("reader", CardEvent.quoted(id.rawValue)), ("detail", CardEvent.quoted(detail))])])
            case let .reader(id, .lost(reason)):
                setReaderState(id, "lost", detail: reason)
                log.warning("card reader lost", ["reader.id": id.rawValue, "reason": reason])
                await record([CardEvent("reader.lost", now(), [("reader", CardEvent.quoted(id.rawValue)), ("reason", CardEvent.quoted(reason))])])
            case .tick:
                await expire()
            case let .supplyCut(device):
                let open = state.withLock { $0.sessions.first { $0.value.row.device == device.rawValue } }
                if let (reader, session) = open { await end(session, at: reader, reason: "credit", switchRelay: false) }
            }
        }
    }

    // MARK: - Presentations

    private func present(_ card: CardID, at readerID: ReaderID) async {
        let at = now()
        guard let reader = readers[readerID] else { return }
        let (windowCard, sessionCard) = state.withLock { s in
            (s.windows[readerID]?.card, reader.supplyPoint.flatMap { point in s.sessions.values.first { $0.row.device == point.rawValue }?.card })
        }
        let (policy, entry) = CardPolicy.decide(card, at: reader, list: authorizations.current, nowSeconds: at / 1000,
                                                  windowCard: windowCard, sessionCard: sessionCard)
        var decision = policy
        // A device cut off for lack of credit stays off: a card is no credit.
        if case let .startSession(device) = decision, prepaid?.account(device)?.disconnected == true {
            decision = .denied(.noCredit)
        }
        var denial: String?
        if case let .denied(why) = decision { denial = why.rawValue }
        let shown = formatter(card)
        state.withLock { s in
            s.readerStatus[readerID, default: ReaderStatus()].lastCard = shown
            s.readerStatus[readerID, default: ReaderStatus()].lastCardMs = at
        }
        var fields: [(String, String)] = [("reader", CardEvent.quoted(readerID.rawValue)), ("card", CardEvent.quoted(shown))]
        if let denial {
            fields.append(("decision", "\"denied\""))
            fields.append(("reason", CardEvent.quoted(denial)))
        } else {
            fields.append(("decision", "\"allowed\""))
            fields.append(("action", CardEvent.quoted(decision.actionName)))
        }
        if let entry { fields.append(("role", CardEvent.quoted(entry.role.rawValue))) }
        if let point = reader.supplyPoint { fields.append(("device", CardEvent.quoted(point.rawValue))) }
        let presented = CardEvent("card.presented", at, fields)

        let windowUntil = at + Int64(site.cards.maintenanceWindowSeconds) * 1000
        func opened() -> CardEvent {
            CardEvent("card.window.opened", at, [("reader", CardEvent.quoted(readerID.rawValue)), ("card", CardEvent.quoted(shown)),
                                                 ("until_ms", String(windowUntil))])
        }
        switch decision {
        case .denied:
            await record([presented], warning: true)
        case .openWindow:
            state.withLock { $0.windows[readerID] = Window(card: card, untilMs: windowUntil) }
            await record([presented, opened()])
        case .takeOverWindow:
            let closed = closedWindow(readerID, reason: "replaced", at: at)
            state.withLock { $0.windows[readerID] = Window(card: card, untilMs: windowUntil) }
            await record([presented] + closed + [opened()])
        case .closeWindow:
            await record([presented] + closedWindow(readerID, reason: "badge", at: at))
        case let .startSession(device):
            await record([presented])
            await startSession(card, shown: shown, at: readerID, device: device)
        case .endSession:
            await record([presented])
            let open = state.withLock { s in s.sessions.first { $0.value.row.device == reader.supplyPoint?.rawValue } }
            if let (sessionReader, session) = open { await end(session, at: sessionReader, reason: "card", switchRelay: true) }
        }
    }

    /// Removes the reader's window; its `card.window.closed` event (none when no window was open).
    func closedWindow(_ reader: ReaderID, reason: String, at: Int64) -> [CardEvent] {
        guard let window = state.withLock({ $0.windows.removeValue(forKey: reader) }) else { return [] }
        return [CardEvent("card.window.closed", at, [("reader", CardEvent.quoted(reader.rawValue)), ("card", CardEvent.quoted(formatter(window.card))),
                                                     ("reason", CardEvent.quoted(reason))])]
    }

    // MARK: - Store

    func record(_ events: [CardEvent], warning: Bool = false) async {
        guard !events.isEmpty else { return }
        for event in events {
            if warning { log.warning("card", event.logMetadata) } else { log.info("card", event.logMetadata) }
        }
        let failure = await withStoreRetries { () throws(StoreError) in _ = try await store.append(events.map(\.record)) }
        if let failure { log.error("card events not stored", ["error": failure.description]) }
    }

    func save(_ reader: ReaderID, _ row: CardSessionRow?, _ events: [CardEvent]) async {
        let failure = await withStoreRetries { () throws(StoreError) in
            try await store.saveCardSession(reader: reader.rawValue, row, events: events.map(\.record))
        }
        if let failure { log.error("card session not stored", ["reader.id": reader.rawValue, "error": failure.description]) }
    }

    private func setReaderState(_ reader: ReaderID, _ name: String, detail: String) {
        let at = now()
        state.withLock { s in
            s.readerStatus[reader, default: ReaderStatus()].state = name
            s.readerStatus[reader, default: ReaderStatus()].sinceMs = at
            s.readerStatus[reader, default: ReaderStatus()].detail = detail
        }
    }

    // MARK: - Tests and tools

    /// Every configured reader's state and last card, in site order.
    public var readerStatuses: [(ReaderID, ReaderStatus)] {
        let known = state.withLock { $0.readerStatus }
        return site.readers.map { ($0.id, known[$0.id] ?? ReaderStatus()) }
    }

    /// The readers with an open maintenance window.
    public var openWindows: [ReaderID] { state.withLock { $0.windows.keys.sorted() } }
    /// The readers with a running session, and its device.
    public var openSessions: [ReaderID: DeviceID] { state.withLock { $0.sessions.mapValues { DeviceID($0.row.device) } } }
}
