import MeterProtocols
import Testing
@testable import MeterCore

/// The profiles' `settings:` sections: what `meteragent commission` writes, and every mistake
/// in one reported at its file:line:column.
@Suite struct CommissionSettingsTests {
    @Test func eastronRegistersAndCodesFromTheManual() throws {
        let profile = try ProfileLoader.load(path: Repo.path("Hardware/profiles/eastron-sdm630.yaml"))
        let settings = try #require(profile.settings)
        let unit = try #require(settings.registers[.unitID])
        #expect(unit.address == 0x0014 && unit.type == .f32 && unit.function == 0x10 && unit.range == 1...247)
        let baud = try #require(settings.registers[.baud])
        #expect(baud.address == 0x001C && baud.storedValue(for: "9600") == 2 && baud.storedValue(for: "1200") == 5)
        #expect(baud.storedValue(for: "115200") == nil && baud.writtenValue(for: 3) == "19200")
        #expect(settings.registers[.parity]?.storedValue(for: "EVEN") == 1)
        #expect(settings.takesEffect == .afterRestart && settings.unlock == nil)
        // A float32 unit id 7 is 0x40E0 0x0000, high word first.
        #expect(try unit.point("unit_id").encode(7) == [0x40E0, 0x0000])
        #expect(unit.storedValue(for: "0") == nil && unit.storedValue(for: "248") == nil && unit.storedValue(for: "7") == 7)
    }

    @Test func dlt645AddressAndRates() throws {
        let profile = try ProfileLoader.load(path: Repo.path("Hardware/profiles/dlt645-2007-generic.yaml"))
        let settings = try #require(profile.settings)
        #expect(settings.writableAddress && settings.bauds == [1200, 2400, 4800, 9600] && settings.registers.isEmpty)
    }

    @Test func unlockApplyRatiosAndSingleRegisterWrites() throws {
        let text = """
        manufacturer: X
        model: Y
        medium: electricity
        settings:
          unlock: {register: 0x1000, value: 1234}
          unit_id: {register: 0x2000, function: 0x06}
          ct_ratio: {register: 0x2001, type: u32, word_order: CDAB, range: [1, 10000]}
          apply: {register: 0x2FFF, value: 1, function: 6}
          takes_effect: after_reply
        points:
          - {name: voltage.l1, table: input, address: 0, type: f32}
        """
        let settings = try #require(try ProfileLoader.load(text: text, file: "p.yaml", name: "p").settings)
        #expect(settings.unlock == SettingWrite(register: SettingRegister(address: 0x1000), value: 1234))
        #expect(settings.apply?.register.function == 0x06 && settings.apply?.value == 1)
        #expect(settings.registers[.unitID]?.function == 0x06 && settings.registers[.unitID]?.range == 1...247)
        #expect(settings.registers[.ctRatio]?.wordOrder == .CDAB && settings.registers[.ctRatio]?.storedValue(for: "10001") == nil)
        #expect(settings.takesEffect == .afterReply)
    }

    @Test func mistakesInAModbusSettingsBlock() {
        let broken = """
        manufacturer: X
        model: Y
        medium: electricity
        settings:
          unit_id: {register: 0x0014, type: f32}
          baud: {register: 0x0014, type: u16, codes: {9601: 1, 9600: 2}}
          parity: {register: 0x0030}
          ct_ratio: {register: 0x0040, type: u32, function: 6}
          vt_ratio: {register: 0x0050, range: [10, 1], codes: {a: 1}}
          colour: {register: 1}
          apply: {register: 0x0060}
          unlock: {register: 0x0070, type: u16, value: 70000}
          takes_effect: never
        points:
          - {name: voltage.l1, table: input, address: 0, type: f32}
        """
        let errors = profileErrors(broken, file: "s.yaml")
        #expect(errors.contains { $0.hasPrefix("s.yaml:6:20: register 0x0014 already holds 'unit_id' (line 5)") }, "\(errors)")
        #expect(errors.contains { $0.hasPrefix("s.yaml:6:47: unsupported baud rate '9601'") }, "\(errors)")
        #expect(errors.contains { $0.hasPrefix("s.yaml:7:11: setting 'parity' needs 'codes'") }, "\(errors)")
        #expect(errors.contains { $0.hasPrefix("s.yaml:8:53: function 0x06 writes one register; type u32 spans 2") }, "\(errors)")
        #expect(errors.contains { $0.hasPrefix("s.yaml:9:39: give either 'codes' or 'range'") }, "\(errors)")
        #expect(errors.contains { $0.hasPrefix("s.yaml:9:39: range [10, 1]: min is above max") }, "\(errors)")
        #expect(errors.contains { $0.hasPrefix("s.yaml:10:3: unknown key 'colour' in settings") }, "\(errors)")
        #expect(errors.contains { $0.hasPrefix("s.yaml:11:10: 'apply' is {register: R, value: V}") }, "\(errors)")
        #expect(errors.contains { $0.hasPrefix("s.yaml:12:48: value 70000 does not fit type u16") }, "\(errors)")
        #expect(errors.contains { $0.hasPrefix("s.yaml:13:17: unknown takes_effect 'never'") }, "\(errors)")
    }

    @Test func mistakesInADLT645SettingsBlock() {
        let broken = """
        manufacturer: X
        model: Y
        medium: electricity
        protocol: dlt645
        settings:
          address: maybe
          baud: [2400, 38400, 2400]
          unit_id: {register: 1}
        points:
          - {name: energy.total, di: "00000000", format: XXXXXX.XX}
        """
        let errors = profileErrors(broken, file: "d.yaml")
        #expect(errors.contains { $0.hasPrefix("d.yaml:6:12: expected true or false for 'address'") }, "\(errors)")
        #expect(errors.contains { $0.hasPrefix("d.yaml:7:16: 38400 baud cannot be set with 0x17") }, "\(errors)")
        #expect(errors.contains { $0.hasPrefix("d.yaml:7:23: duplicate rate 2400") }, "\(errors)")
        #expect(errors.contains { $0.hasPrefix("d.yaml:8:3: unknown key 'unit_id' in settings") }, "\(errors)")

        let cjt188 = """
        manufacturer: X
        model: Y
        medium: water
        protocol: cjt188
        meter_type: cold_water
        settings: {address: true}
        points:
          - {name: volume.total, field: current}
        """
        #expect(profileErrors(cjt188, file: "c.yaml") == ["c.yaml:6:11: 'settings' is for Modbus and DL/T 645-2007 profiles; cjt188 meters are not commissioned here"])
        let empty = """
        manufacturer: X
        model: Y
        medium: electricity
        protocol: dlt645
        settings: {address: false}
        points:
          - {name: energy.total, di: "00000000", format: XXXXXX.XX}
        """
        #expect(profileErrors(empty, file: "e.yaml") == ["e.yaml:5:11: 'settings' declares nothing writable (address: true, baud: [rates])"])
    }
}
