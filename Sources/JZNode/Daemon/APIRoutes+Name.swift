import Foundation
import IPNS
import KadDHT
import Multiformats
import P2PCore
import P2PCrypto

/// `name publish` and `name resolve`: IPNS records in the DHT (`/ipns/` + the name's peer ID).
extension APIRoutes {
    /// The IPFS path a publish points at: `/ipfs/CID[/…]` or `/ipns/NAME[/…]` as given, a bare CID
    /// as `/ipfs/CID`.
    static func publishPath(_ text: String) throws -> String {
        if text.hasPrefix("/ipns/") {
            _ = try IPNSName(String(text.dropFirst("/ipns/".count).prefix { $0 != "/" }))
            return text
        }
        do {
            return try ContentPath(text).description
        } catch {
            throw APIError.remote(status: 400, message: "invalid path \(text): \(error)")
        }
    }

    /// Options: `key` (keystore name, default `self`), `lifetime` and `ttl` (Go durations; defaults
    /// 48h and 5m), `sequence` (default: one more than the best record the DHT holds).
    func namePublish(_ request: APIRequest) async throws -> APIResponse {
        let dht = try requireDHT()
        guard let text = request.arguments.first else { throw APIError.remote(status: 400, message: "argument \"ipfs-path\" is required") }
        let value = try Self.publishPath(text)
        let keyName = request.value("key") ?? "self"
        let key = try daemon.home.keystore.key(named: keyName).privateKey
        func duration(_ option: String, default seconds: Double) throws -> Duration {
            guard let raw = request.value(option) else { return .milliseconds(Int64(seconds * 1000)) }
            guard let s = NetworkSettings.parseDuration(raw), s > 0 else {
                throw APIError.remote(status: 400, message: "\(option) must be a duration such as 48h, 30m or 90s")
            }
            return .milliseconds(Int64(s * 1000))
        }
        let lifetime = try duration("lifetime", default: 48 * 3600)
        let ttl = try duration("ttl", default: 300)
        let name = IPNSName(publicKey: key.publicKey)
        // The sequence continues from the best record anyone holds for the name.
        let current: IPNSRecord? = await {
            guard let bytes = try? await withTimeout(.seconds(20), what: "finding the current record of \(name.string)", {
                try await dht.getValue(name.routingKey)
            }) else { return nil }
            return try? IPNSRecord(bytes: bytes)
        }()
        var sequence = current.map { $0.sequence + 1 } ?? 0
        if let raw = request.value("sequence") {
            guard let asked = UInt64(raw) else { throw APIError.remote(status: 400, message: "sequence must be a whole number") }
            if let current, asked <= current.sequence {
                throw APIError.remote(status: 400, message:
                    "sequence \(asked) would not replace the record the network holds (sequence \(current.sequence)); use \(current.sequence + 1) or more")
            }
            sequence = asked
        }
        let record = try IPNSRecord.create(value: value, sequence: sequence, lifetime: lifetime, ttl: ttl, key: key)
        try await withTimeout(.seconds(60), what: "publishing \(name.string)") {
            try await dht.putValue(name.routingKey, record.bytes)
        }
        // Keys that do not fit in the peer ID (RSA) are published too, as Kubo does.
        if PeerID(publicKey: key.publicKey).multihash.function != .identity {
            try? await dht.putValue(Array("/pk/".utf8) + name.peer.bytes, key.publicKey.protobufBytes)
        }
        return .json(["Name": .string(name.string), "Value": .string(value), "Sequence": .int(Int64(sequence))])
    }

    /// Options: `recursive` (default true: follow `/ipns/` values, at most 32 steps).
    func nameResolve(_ request: APIRequest) async throws -> APIResponse {
        let dht = try requireDHT()
        guard let text = request.arguments.first else { throw APIError.remote(status: 400, message: "argument \"name\" is required") }
        var path = text.hasPrefix("/ipns/") ? text : "/ipns/" + text
        let recursive = request.flag("recursive", default: true)
        for _ in 0..<32 {
            guard path.hasPrefix("/ipns/") else { break }
            let rest = path.dropFirst("/ipns/".count)
            let nameText = String(rest.prefix { $0 != "/" })
            let remainder = String(rest.dropFirst(nameText.count))
            let name: IPNSName
            do { name = try IPNSName(nameText) } catch {
                throw APIError.remote(status: 400, message: "\(nameText) is not an IPNS name: \(error)")
            }
            let bytes = try await withTimeout(.seconds(60), what: "resolving \(name.string)") {
                try await dht.getValue(name.routingKey)
            }
            let record = try IPNSRecord(bytes: bytes)
            guard let value = record.valueString else {
                throw APIError.remote(status: 500, message: "the record of \(name.string) holds no text path")
            }
            path = value + remainder
            if !recursive { break }
        }
        return .json(["Path": .string(path)])
    }
}
