import Foundation
import P2PCrypto

/// Config, bootstrap list and keystore edits over RPC, as Kubo 0.22: `config/replace`,
/// `bootstrap/add` (`/default`), `bootstrap/rm` (`/all`), `key/rm`, `key/rename`, `key/import`.
/// (`key/export` is not served: Kubo's is `NoRemote`, the CLI reads the keystore itself.)
extension APIRoutes {
    /// `config/replace`: the config file as the single multipart part; `Identity.PrivKey` is kept.
    func configReplace(_ request: APIRequest) throws -> APIResponse {
        let data = try Self.uploadedData(request)
        guard data.count == 1 else { throw APIError.remote(status: 400, message: "config/replace takes one file") }
        try daemon.home.replaceConfig(with: Data(data[0]), source: "the uploaded config")
        return .json(.null)
    }

    /// `bootstrap/add`: `{"Peers":[added]}`; `bootstrap/add/default` (or `default=true`) adds
    /// the default peers.
    func bootstrapAdd(_ request: APIRequest) throws -> APIResponse {
        let addDefault = request.command == "bootstrap/add/default" || request.flag("default")
        guard addDefault || !request.arguments.isEmpty else {
            throw APIError.remote(status: 400, message: "no bootstrap peers to add")
        }
        let added = try daemon.home.addBootstrapPeers(request.arguments, defaults: addDefault)
        return .json(["Peers": .array(added.map { .string($0) })])
    }

    /// `bootstrap/rm`: `{"Peers":[removed]}`; `bootstrap/rm/all` (or `all=true`) empties the list.
    func bootstrapRemove(_ request: APIRequest) throws -> APIResponse {
        let all = request.command == "bootstrap/rm/all" || request.flag("all")
        guard all || !request.arguments.isEmpty else {
            throw APIError.remote(status: 400, message: "no bootstrap peers to remove")
        }
        let removed = try daemon.home.removeBootstrapPeers(request.arguments, all: all)
        return .json(["Peers": .array(removed.map { .string($0) })])
    }

    /// `key/rm NAME…`: `{"Keys":[{"Name","Id"}]}` (Id empty for a key file that no longer decodes).
    func keyRemove(_ request: APIRequest) throws -> APIResponse {
        _ = try requiredArgument(request, "name")
        let store = daemon.home.keystore
        var removed: [JSONValue] = []
        for name in request.arguments {
            let result = try store.remove(name)
            removed.append(["Name": .string(result.name), "Id": .string(try result.peerID.map { try Self.formatKeyID($0, request) } ?? "")])
        }
        return .json(["Keys": .array(removed)])
    }

    /// `key/rename NAME NEW`: `{"Was","Now","Id","Overwrite"}`; option `force`.
    func keyRename(_ request: APIRequest) throws -> APIResponse {
        let arguments = request.arguments
        guard arguments.count == 2 else { throw APIError.remote(status: 400, message: "key/rename takes the key's name and its new name") }
        let (key, overwritten) = try daemon.home.keystore.rename(from: arguments[0], to: arguments[1], force: request.flag("force") || request.flag("f"))
        return .json([
            "Was": .string(arguments[0]), "Now": .string(arguments[1]), "Id": .string(try Self.formatKeyID(key.peerID, request)),
            "Overwrite": .bool(overwritten),
        ])
    }

    /// `key/import NAME` with the key file as the multipart part: `{"Name","Id"}`; options
    /// `format` (libp2p-protobuf-cleartext, pem-pkcs8-cleartext), `allow-any-key-type`.
    func keyImport(_ request: APIRequest) throws -> APIResponse {
        let name = try requiredArgument(request, "name")
        let data = try Self.uploadedData(request)
        guard data.count == 1 else { throw APIError.remote(status: 400, message: "key/import takes one key file") }
        let formatName = request.value("format") ?? request.value("f") ?? KeyFormat.libp2pProtobufCleartext.rawValue
        guard let format = KeyFormat(rawValue: formatName) else {
            throw APIError.remote(status: 400, message: "unknown format \(formatName); use libp2p-protobuf-cleartext or pem-pkcs8-cleartext")
        }
        let key = try daemon.home.keystore.import(
            name: name, bytes: data[0], format: format, allowAnyKeyType: request.flag("allow-any-key-type"))
        return .json(["Name": .string(key.name), "Id": .string(try Self.formatKeyID(key.peerID, request))])
    }
}

extension NodeHome {
    /// Replaces the config with the JSON `data` (read from `source`, named in errors), keeping
    /// `Identity.PrivKey`; the new `Identity.PeerID` must still be this node's. An
    /// `API.Authorizations` entry without `AuthSecret` keeps the current secret of that name, so
    /// that what `config show` prints (secrets hidden) can be edited and put back, as Kubo does
    /// for its remote pinning services' keys.
    public func replaceConfig(with data: Data, source: String) throws(NodeError) {
        let current = try loadConfig()
        var replacement: NodeConfig
        do {
            replacement = NodeConfig(root: try JSONValue.parse(data))
        } catch {
            throw .unreadableConfig(path: source, reason: "not valid JSON")
        }
        guard case .object = replacement.root else {
            throw .unreadableConfig(path: source, reason: "the top level is not a JSON object")
        }
        if replacement.value(at: "Identity.PrivKey") != nil { throw .protectedKey("Identity.PrivKey") }
        do {
            try replacement.set(current.value(at: "Identity.PrivKey") ?? .null, at: "Identity.PrivKey")
            if case .object(var entries)? = replacement.value(at: "API.Authorizations") {
                for (name, entry) in entries {
                    guard case .object(var fields) = entry, fields["AuthSecret"] == nil,
                        let secret = current.value(at: "API.Authorizations")?[name]?["AuthSecret"]
                    else { continue }
                    fields["AuthSecret"] = secret
                    entries[name] = .object(fields)
                }
                try replacement.set(.object(entries), at: "API.Authorizations")
            }
        } catch {
            throw .invalidConfigValue(key: "Identity", reason: "\(error)")
        }
        _ = try NodeIdentity(config: replacement)  // the PeerID must still match the key
        try save(replacement)
    }

    /// Adds `peers` (multiaddrs ending in /p2p/, validated) and, with `defaults`, the default
    /// bootstrap peers; returns those that were not in the list yet.
    public func addBootstrapPeers(_ peers: [String], defaults: Bool) throws(NodeError) -> [String] {
        var toAdd = try peers.map { peer throws(NodeError) in try BootstrapList.validate(peer) }
        if defaults { toAdd += BootstrapList.defaultPeers }
        var config = try loadConfig()
        var list = config.bootstrap
        var added: [String] = []
        for peer in toAdd where !list.contains(peer) {
            list.append(peer)
            added.append(peer)
        }
        config.bootstrap = list
        try save(config)
        return added
    }

    /// Removes `peers` (compared in canonical form, so `/ipfs/` and `/p2p/` spellings match), or
    /// every peer with `all`; returns those removed.
    public func removeBootstrapPeers(_ peers: [String], all: Bool) throws(NodeError) -> [String] {
        var config = try loadConfig()
        let list = config.bootstrap
        let removed: [String]
        if all {
            removed = list
            config.bootstrap = []
        } else {
            let targets = Set(try peers.map { peer throws(NodeError) in try BootstrapList.validate(peer) })
            removed = list.filter { targets.contains((try? BootstrapList.validate($0)) ?? $0) }
            config.bootstrap = list.filter { !removed.contains($0) }
        }
        try save(config)
        return removed
    }
}
