import Foundation
import MeterProtocols
import Testing
@testable import MeterCore

/// Profile `actions:`, site `commands:` and `protected:`: what the head-end may ask of a device,
/// and every mistake at its file:line:column.
@Suite struct CommandConfigTests {
    static func profileErrors(_ text: String) -> [String] {
        do {
            _ = try ProfileLoader.load(text: text, file: "p.yaml", name: "p")
            return []
        } catch {
            return error.errors.map(\.description)
        }
    }

    static func siteErrors(_ text: String) throws -> [String] {
        let profiles = try Repo.profiles()
        do throws(ConfigErrors) {
            _ = try SiteConfigLoader.load(text: text, file: "s.yaml", profiles: profiles)
            return []
        } catch {
            return error.errors.map(\.description)
        }
    }

    @Test func shippedProfilesMapTheirActions() throws {
        let profiles = try Repo.profiles()
        #expect(profiles["dlt645-2007-generic"]?.actions[.relayOpen] == .relay(.relayOpen))
        #expect(profiles["dlt645-2007-generic"]?.actions[.timeSync] == .clockBroadcast)
        #expect(profiles["dlt645-2007-csg"]?.actions[.relayOpen] == nil)
        #expect(profiles["dlt645-2007-csg"]?.actions[.esamForward] == .esamForward)
        #expect(profiles["cjt188-gas"]?.actions[.valveClose] == .valve(open: false))
        #expect(profiles["generic-modbus-gas"]?.actions[.valveClose] == .write(point: PointName("valve.state"), value: .zero))
        #expect(profiles["generic-modbus-relay-meter"]?.actions[.loadLimit]
                == .writeParameter(point: PointName("load.limit"),
                                   parameter: ActionParameter(name: "kw", minimum: ExactDecimal("0.5")!, maximum: ExactDecimal("60")!, unit: "kW")))
        #expect(profiles["eastron-sdm120"]?.actions.isEmpty == true)
    }

    @Test func badActionsAreReportedWhereTheyAre() {
        let modbus = """
        manufacturer: X
        model: Y
        medium: electricity
        points:
          - {name: relay.state, table: coil, address: 0, type: bool}
          - {name: power, table: input, address: 2, type: f32}
        actions:
          relay.explode: {write: relay.state, value: 0}
          relay.open: {write: power, value: 0}
          relay.close: {write: relay.missing, value: 1}
          load.limit: {write: relay.state, param: kw, min: 5, max: 1}
          read.now: {write: relay.state, value: 1}
          valve.open: {valve: open}
        """
        let errors = Self.profileErrors(modbus)
        #expect(errors.contains { $0.hasPrefix("p.yaml:8:3: unknown action 'relay.explode'") })
        #expect(errors.contains("p.yaml:9:23: point 'power' is in the input table, which cannot be written (coil or holding only)"))
        #expect(errors.contains("p.yaml:10:24: no point 'relay.missing' in this profile to write"))
        #expect(errors.contains("p.yaml:11:60: max 1 is below min 5"))
        #expect(errors.contains("p.yaml:12:3: 'read.now' is carried out by the agent, not the meter; it does not belong in a profile"))
        #expect(errors.contains { $0.hasPrefix("p.yaml:13:15: a Modbus action is") })

        let dlt = """
        manufacturer: X
        model: Y
        medium: electricity
        protocol: dlt645
        relay: {password_level: 3, accepted: [close_allowed, direct_close]}
        points:
          - {name: energy.total, di: "00000000", format: XXXXXX.XX}
        actions:
          relay.open: {relay: trip}
          relay.close: {relay: trip}
          relay.arm: {relay: close_allowed, valve: open}
        """
        let dltErrors = Self.profileErrors(dlt)
        #expect(dltErrors.contains("p.yaml:9:23: relay command 'trip' is not in the profile's relay.accepted list"))
        #expect(dltErrors.contains("p.yaml:10:24: relay command 'trip' cannot carry out 'relay.close'"))
        #expect(dltErrors.contains("p.yaml:11:44: 'valve' does not go with 'relay' in action 'relay.arm'"))
    }

    @Test func commandKeysAndProtectionDecode() throws {
        let site = try SiteConfigLoader.load(text: """
            gateway: gw-1
            commands:
              keys:
                - {id: ops-1, ed25519: bzQJVQnX0Xkm7CN23I3cPYBkRH9/WZtetq0/ITujsRw=}
              max_validity_s: 600
            buses: [{id: rs485, type: serial, port: /dev/ttyS1}]
            devices:
              - {id: flat-1, bus: rs485, unit: 1, profile: generic-modbus-relay-meter, protected: true}
              - {id: flat-2, bus: rs485, unit: 2, profile: generic-modbus-relay-meter}
            """, file: "s.yaml", profiles: try Repo.profiles())
        #expect(site.commands.key("ops-1")?.ed25519 == Base64.decode("bzQJVQnX0Xkm7CN23I3cPYBkRH9/WZtetq0/ITujsRw="))
        #expect(site.commands.maxValiditySeconds == 600)
        #expect(site.device(DeviceID("flat-1"))?.protected == true)
        #expect(site.device(DeviceID("flat-2"))?.protected == false)
    }

    @Test func badCommandKeysAreReportedWhereTheyAre() throws {
        let errors = try Self.siteErrors("""
            gateway: gw-1
            commands:
              keys:
                - {id: ops-1, ed25519: AAAA}
                - {id: ops-1, ed25519: bzQJVQnX0Xkm7CN23I3cPYBkRH9/WZtetq0/ITujsRw=}
                - {id: ops-2}
                - {id: ops-3, file: no-such.pem}
              max_validity_s: 5
            buses: [{id: rs485, type: serial, port: /dev/ttyS1}]
            devices:
              - {id: flat-1, bus: rs485, unit: 1, profile: generic-modbus-relay-meter, protected: maybe}
            """)
        #expect(errors.contains { $0.hasPrefix("s.yaml:4:28: 'ed25519' of key 'ops-1' is not the base64 of a 32-byte public key") })
        #expect(errors.contains("s.yaml:5:12: duplicate key id 'ops-1' (first at line 4)"))
        #expect(errors.contains("s.yaml:6:7: key 'ops-2' needs exactly one of 'ed25519' and 'file'"))
        #expect(errors.contains { $0.hasPrefix("s.yaml:7:25: cannot read public key file 'no-such.pem'") })
        #expect(errors.contains("s.yaml:8:19: max_validity_s 5 out of range 60–2678400"))
        #expect(errors.contains("s.yaml:11:87: expected true or false for 'protected', got 'maybe'"))
    }

    /// Found by the site-config fuzz target's reach: a key file that never ends must fail, not hang.
    @Test func aKeyFileThatNeverEndsIsRefusedAsTooLarge() throws {
        let errors = try Self.siteErrors("""
            gateway: gw-1
            commands:
              keys:
                - {id: ops-1, file: /dev/zero}
            buses: [{id: rs485, type: serial, port: /dev/ttyS1}]
            devices:
              - {id: flat-1, bus: rs485, unit: 1, profile: generic-modbus-relay-meter}
            """)
        #expect(errors.contains { $0.hasPrefix("s.yaml:4:25: cannot read public key file '/dev/zero': File too large") }, "\(errors)")
    }

    @Test func aPEMPublicKeyFileIsRead() throws {
        let pem = """
            -----BEGIN PUBLIC KEY-----
            MCowBQYDK2VwAyEAbzQJVQnX0Xkm7CN23I3cPYBkRH9/WZtetq0/ITujsRw=
            -----END PUBLIC KEY-----

            """
        #expect(Ed25519PEM.publicKey(pem) == Base64.decode("bzQJVQnX0Xkm7CN23I3cPYBkRH9/WZtetq0/ITujsRw="))
        #expect(Ed25519PEM.publicKey(pem.replacingOccurrences(of: "MCowBQYDK2Vw", with: "MCowBQYDK2Vu")) == nil)
    }
}
