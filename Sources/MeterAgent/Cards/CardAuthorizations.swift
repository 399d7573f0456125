import MeterCore
import MeterStore
import Synchronization

/// The authorization list in memory, shared by the command service (which changes it, right
/// after the store committed the change with the command's result) and the card service (which
/// decides every presentation from it, without the uplink and without a store read).
public final class CardAuthorizations: Sendable {
    private let list: Mutex<AuthorizationList>

    public init(_ list: AuthorizationList = AuthorizationList()) {
        self.list = Mutex(list)
    }

    /// Reads the stored list; the agent calls it once at start, before readers and commands run.
    public static func load(from store: OutboxStore, log: Log) async -> CardAuthorizations {
        do {
            let list = try await store.authorizationList()
            log.info("card authorization list", ["version": String(list.version), "cards": String(list.cards.count)])
            return CardAuthorizations(list)
        } catch {
            // Every card is then unknown (denied): safer than any guess, and reported on each presentation.
            log.error("card authorization list not readable: every card is denied", ["error": error.description])
            return CardAuthorizations()
        }
    }

    public var current: AuthorizationList { list.withLock { $0 } }

    public func entry(_ card: CardID) -> AuthorizedCard? { list.withLock { $0.cards[card] } }

    /// Installs a list the store has committed.
    public func install(_ stored: AuthorizationList) { list.withLock { $0 = stored } }
}
