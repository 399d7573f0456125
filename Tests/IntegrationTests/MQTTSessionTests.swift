import Foundation
import MeterCore
import MeterUplink
import Testing

/// `MQTTSession` in-process against a real mosquitto: PUBACK waits, failures while the broker is away.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct MQTTSessionTests {
    func config(_ broker: Broker) -> MQTTConfig {
        var config = MQTTConfig.defaults(host: "127.0.0.1", gatewayID: "gw-session")
        config.port = broker.port
        config.reconnectMinMs = 100
        config.reconnectMaxMs = 400
        config.publishTimeoutMs = 2000
        return config
    }

    @Test func messagesPublishedInOrderArriveInOrderAndEachIsAcknowledged() async throws {
        let broker = try Broker(persistence: false)
        defer { broker.remove() }
        let sub = try Subscriber(broker: broker, topic: "meteragent/gw-session/#")
        defer { sub.stop() }
        let session = MQTTSession(config: config(broker), gatewayID: "gw-session", agentVersion: "test", log: .silent)
        let running = Task { await session.run() }
        defer { running.cancel() }
        #expect(await session.waitUntilConnected())

        // More than libmosquitto's 20 messages in flight: the rest wait in its queue, in order.
        let payloads = (1...60).map { "{\"n\":\($0)}" }
        let outcomes = await session.publishInOrder(payloads.map { OutgoingMessage(topic: session.topics.readings, payload: $0) })
        #expect(outcomes.count == 60)
        #expect(outcomes.allSatisfy { if case .success = $0 { true } else { false } })
        try sub.wait("60 messages") { $0.messages.filter { $0.topic.hasSuffix("/readings") }.count == 60 }
        #expect(sub.messages.filter { $0.topic.hasSuffix("/readings") }.map(\.payload) == payloads)

        broker.stop()
        let deadline = ContinuousClock.now + .seconds(5)
        while session.isConnected && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        let refused = await session.publishInOrder(payloads.prefix(3).map { OutgoingMessage(topic: session.topics.readings, payload: $0) })
        #expect(refused.count == 3)
        #expect(refused.allSatisfy { if case let .failure(error) = $0 { error.kind == .notConnected } else { false } })
    }

    @Test func publishReturnsAfterPubackAndFailsFastWhileTheBrokerIsAway() async throws {
        let broker = try Broker(persistence: false)
        defer { broker.remove() }
        let sub = try Subscriber(broker: broker, topic: "meteragent/gw-session/#")
        defer { sub.stop() }
        let session = MQTTSession(config: config(broker), gatewayID: "gw-session", agentVersion: "test", log: .silent)
        let running = Task { await session.run() }
        defer { running.cancel() }
        #expect(await session.waitUntilConnected())

        for i in 1...20 {
            try await session.publish(topic: session.topics.readings, payload: "{\"n\":\(i)}")
        }
        try sub.wait("20 messages") { $0.messages.filter { $0.topic.hasSuffix("/readings") }.count == 20 }
        #expect(sub.messages.filter { $0.topic.hasSuffix("/readings") }.map(\.payload) == (1...20).map { "{\"n\":\($0)}" })

        broker.stop()
        // The loss is noticed and publishing fails at once instead of hanging.
        let clock = ContinuousClock()
        let start = clock.now
        var failure: MQTTError?
        while failure == nil && clock.now - start < .seconds(5) {
            do throws(MQTTError) {
                try await session.publish(topic: session.topics.readings, payload: "{\"n\":0}")
            } catch {
                failure = error
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(failure != nil)
        #expect(clock.now - start < .seconds(3))
        #expect(!session.isConnected)
        do {
            try await session.publish(topic: session.topics.readings, payload: "{}")
            Issue.record("publish succeeded without a broker")
        } catch {
            #expect(error.kind == .notConnected)
        }

        // Back on the same port: the session reconnects by itself.
        try broker.start()
        let reconnected = Task { await session.waitUntilConnected() }
        let deadline = clock.now + .seconds(10)
        while !session.isConnected && clock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(await reconnected.value)
        try await session.publish(topic: session.topics.events, payload: "{\"after\":true}")

        running.cancel()
        await running.value
        #expect(!session.isConnected)
        #expect(await session.waitUntilConnected() == false)
    }

    @Test func aPubackThatNeverComesTimesOutAndTheSessionReconnects() async throws {
        let broker = try Broker(persistence: false)
        defer { broker.remove() }
        let session = MQTTSession(config: config(broker), gatewayID: "gw-session", agentVersion: "test", log: .silent)
        let running = Task { await session.run() }
        defer { running.cancel() }
        #expect(await session.waitUntilConnected())
        try await session.publish(topic: session.topics.readings, payload: "{\"before\":true}")

        // A frozen broker: the TCP connection stays up, the PUBACK never comes.
        let pid = try #require(broker.child?.pid)
        kill(pid, SIGSTOP)
        let clock = ContinuousClock()
        let start = clock.now
        do {
            try await session.publish(topic: session.topics.readings, payload: "{\"frozen\":true}")
            Issue.record("publish succeeded against a stopped broker")
        } catch {
            #expect(error.kind == .timeout, "\(error)")
        }
        let waited = clock.now - start
        #expect(waited >= .milliseconds(1900) && waited < .seconds(4), "\(waited)")
        // The session dropped that connection itself: the next publish fails at once.
        do {
            try await session.publish(topic: session.topics.readings, payload: "{}")
            Issue.record("publish succeeded on a dropped connection")
        } catch {
            #expect(error.kind == .notConnected || error.kind == .connectionLost, "\(error)")
        }
        kill(pid, SIGCONT)
        let deadline = clock.now + .seconds(20)
        while !session.isConnected && clock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(session.isConnected)
        try await session.publish(topic: session.topics.readings, payload: "{\"after\":true}")
    }
}
