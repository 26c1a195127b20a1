import Foundation
import P2PCore
import P2PCrypto
import Testing

@testable import IPNS
import TestSupport

@Suite(.onBlockingPool) struct IPNSSelectionTests {
    static let now = Date(timeIntervalSince1970: 1_796_000_000)
    static let key = PrivateKey.generateEd25519()

    static func record(sequence: UInt64, lifetime: Duration, value: String = "/ipfs/bafkqaaa") throws -> IPNSRecord {
        try IPNSRecord.create(value: value, sequence: sequence, lifetime: lifetime, key: key, now: now)
    }

    @Test func higherSequenceWinsOverLongerValidity() throws {
        let old = try Self.record(sequence: 1, lifetime: .seconds(86_400 * 30))
        let new = try Self.record(sequence: 2, lifetime: .seconds(60))
        #expect(new.compare(old) == 1)
        #expect(old.compare(new) == -1)
        #expect(IPNSRecord.best(of: [old, new]) == 1)
        #expect(IPNSRecord.best(of: [new, old]) == 0)
    }

    @Test func atEqualSequenceLongerValidityWins() throws {
        let short = try Self.record(sequence: 5, lifetime: .seconds(60))
        let long = try Self.record(sequence: 5, lifetime: .seconds(3600))
        #expect(long.compare(short) == 1)
        #expect(IPNSRecord.best(of: [short, long, short]) == 1)
    }

    @Test func tiesBreakOnBytesAndKeepTheFirstEqual() throws {
        let a = try Self.record(sequence: 3, lifetime: .seconds(60), value: "/ipfs/bafkqaaa")
        let b = try Self.record(sequence: 3, lifetime: .seconds(60), value: "/ipfs/bafkqabb")
        #expect(a.compare(b) == 0)
        let larger = a.bytes.lexicographicallyPrecedes(b.bytes) ? 1 : 0
        #expect(IPNSRecord.best(of: [a, b]) == larger)
        #expect(IPNSRecord.best(of: [b, a]) == 1 - larger)
        #expect(IPNSRecord.best(of: [a, a]) == 0)
        #expect(IPNSRecord.best(of: []) == nil)
        #expect(IPNSRecord.best(of: [a]) == 0)
    }

    @Test func validatorSelectsBestAndSkipsGarbage() throws {
        let name = IPNSName(publicKey: Self.key.publicKey)
        let validator = IPNSValidator(clock: { Self.now })
        let values = [
            try Self.record(sequence: 1, lifetime: .seconds(60)).bytes,
            [0x01, 0x02],
            try Self.record(sequence: 9, lifetime: .seconds(60)).bytes,
            try Self.record(sequence: 4, lifetime: .seconds(600)).bytes,
        ]
        #expect(try validator.select(key: name.routingKey, values: values) == 2)
        #expect(throws: RoutingError.self) { try validator.select(key: name.routingKey, values: [[0x01]]) }
        #expect(throws: RoutingError.self) { try validator.select(key: name.routingKey, values: []) }
        for value in values where value.count > 2 {
            try validator.validate(key: name.routingKey, value: value)
        }
        // Not an /ipns/ key.
        #expect(throws: RoutingError.self) {
            try validator.validate(key: Array("/pk/".utf8) + name.peer.bytes, value: values[0])
        }
        #expect(IPNSValidator.namespace == "ipns")
    }
}
