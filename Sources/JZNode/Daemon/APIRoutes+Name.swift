import Foundation
import IPNS
import KadDHT
import Multiformats
import P2PCore
import P2PCrypto

/// `name publish` and `name resolve`: IPNS records in the DHT (`/ipns/` + the name's peer ID),
/// through the daemon's `NameService`.
extension APIRoutes {
    /// The daemon's name service (it exists exactly when the DHT does).
    func requireNames() throws -> NameService {
        _ = try requireDHT()
        guard let names = daemon.services.names else {
            throw APIError.remote(status: 500, message: "the name service is not running")
        }
        return names
    }

    /// A Go duration option (`lifetime`, `ttl`), or its default.
    static func durationOption(_ request: APIRequest, _ option: String, default value: Duration) throws -> Duration {
        guard let raw = request.value(option) else { return value }
        guard let seconds = NetworkSettings.parseDuration(raw), seconds > 0 else {
            throw APIError.remote(status: 400, message: "\(option) must be a duration such as 48h, 30m or 90s")
        }
        return .milliseconds(Int64(seconds * 1000))
    }

    /// Options: `key` (keystore name, default `self`), `lifetime` and `ttl` (Go durations; defaults
    /// 48h and 5m), `sequence` (default: one more than the best record known), `allow-offline`
    /// (with no DHT peer, store the record locally; the republisher puts it on the network later).
    /// Answers `{Name, Value, Sequence}`.
    func namePublish(_ request: APIRequest) async throws -> APIResponse {
        let names = try requireNames()
        guard let text = request.arguments.first else { throw APIError.remote(status: 400, message: "argument \"ipfs-path\" is required") }
        let value = try await nameCall { try NameService.publishPath(text) }
        var sequence: UInt64?
        if let raw = request.value("sequence") {
            guard let asked = UInt64(raw) else { throw APIError.remote(status: 400, message: "sequence must be a whole number") }
            sequence = asked
        }
        let (name, record) = try await nameCall {
            try await names.publish(
                keyName: request.value("key") ?? "self", value: value, sequence: sequence,
                lifetime: try Self.durationOption(request, "lifetime", default: IPNSRecord.defaultLifetime),
                ttl: try Self.durationOption(request, "ttl", default: IPNSRecord.defaultTTL),
                allowOffline: request.flag("allow-offline"))
        }
        return .json(["Name": .string(name.string), "Value": .string(value), "Sequence": .int(Int64(bitPattern: record.sequence))])
    }

    /// Options: `recursive` (default true: follow `/ipns/` values, at most 32 steps), `nocache`
    /// (ask the DHT even when a cached record is still fresh). Answers `{Path}`.
    func nameResolve(_ request: APIRequest) async throws -> APIResponse {
        let names = try requireNames()
        guard let text = request.arguments.first else { throw APIError.remote(status: 400, message: "argument \"name\" is required") }
        let path = try await nameCall {
            try await names.resolvePath(
                text, recursive: request.flag("recursive", default: true), useCache: !request.flag("nocache"))
        }
        return .json(["Path": .string(path)])
    }

    /// Runs a name service call; its refusals become 400 answers, an unknown key 404.
    private func nameCall<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as NameServiceError {
            switch error {
            case .notFound: throw APIError.remote(status: 404, message: error.description)
            default: throw APIError.remote(status: 400, message: error.description)
            }
        } catch let error as KeystoreError {
            throw APIError.remote(status: 400, message: error.description)
        }
    }
}
