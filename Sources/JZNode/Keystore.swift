import Foundation
import Multiformats
import P2PCrypto

/// Named private keys in `<home>/keystore/`, laid out as Kubo's keystore (boxo `FSKeystore`) so a
/// Kubo repo's keys can be copied in and out: one file per key, named `key_` + the lowercase,
/// unpadded base32 of the key name, holding the libp2p `PrivateKey` protobuf. The name `self` is
/// the node identity from the config and never a file.
///
/// The folder is created 0700 and files 0600; every write goes to a temporary file that is
/// fsynced and then linked (or renamed) into place, so a crash leaves the old key or the new one.
/// All operations are synchronous file I/O: call them off the cooperative pool.
public struct Keystore: Sendable {
    public static let directoryName = "keystore"
    /// The reserved name of the node identity.
    public static let selfName = "self"
    /// Prefix of every key file (boxo's `keyFilenamePrefix`).
    public static let fileNamePrefix = "key_"

    /// The node home (for `self`).
    public let home: NodeHome
    /// Absolute path of the keystore folder.
    public let directory: String

    public init(home: NodeHome) {
        self.home = home
        self.directory = (home.path as NSString).appendingPathComponent(Keystore.directoryName)
    }

    // MARK: Names and files

    /// Kubo's file name for a key name: `key_` + base32 (RFC 4648, lowercase, no padding) of its UTF-8.
    public static func fileName(forKeyName name: String) -> String {
        fileNamePrefix + Multibase.base32.encodeBare(Array(name.utf8))
    }

    /// The key name a file name encodes; nil for files that are not keys (no prefix, bad base32).
    public static func keyName(fromFileName fileName: String) -> String? {
        guard fileName.hasPrefix(fileNamePrefix) else { return nil }
        let encoded = fileName.dropFirst(fileNamePrefix.count).lowercased()
        guard let bytes = try? Multibase.base32.decodeBare(encoded), !bytes.isEmpty,
              let name = String(validating: bytes, as: UTF8.self)
        else { return nil }
        return name
    }

    /// Checks a key name: non-empty; without `/` when `creating` a key (names a Kubo keystore
    /// already holds stay usable); `self` is refused when `operation` is given (create, import,
    /// remove, rename, export), as Kubo does.
    public static func validate(_ name: String, for operation: String? = nil, creating: Bool = false) throws(KeystoreError) {
        if name.isEmpty { throw .invalidName(name, reason: "key names must be at least one character") }
        if creating && name.contains("/") { throw .invalidName(name, reason: "key names may not contain slashes") }
        if let operation, name == selfName { throw .reservedName(operation: operation) }
    }

    /// The path of the file holding key `name`.
    public func path(forKeyName name: String) -> String {
        (directory as NSString).appendingPathComponent(Keystore.fileName(forKeyName: name))
    }

    // MARK: Reading

    /// Key `name`: `self` is the node identity, any other name a keystore file.
    public func key(named name: String) throws(KeystoreError) -> NamedKey {
        if name == Keystore.selfName { return NamedKey(name: name, privateKey: try identityKey()) }
        try Keystore.validate(name)
        return NamedKey(name: name, privateKey: try readKey(name))
    }

    /// Whether a keystore file exists for `name` (`self` is always there).
    public func contains(_ name: String) -> Bool {
        name == Keystore.selfName || FileManager.default.fileExists(atPath: path(forKeyName: name))
    }

    /// `self` first, then every keystore key sorted by name (bytewise, as Kubo). Files that do not
    /// carry the `key_` prefix (temporary files, strays) are skipped; a key file that does not decode
    /// is an error naming it.
    public func list() throws(KeystoreError) -> [NamedKey] {
        var keys = [NamedKey(name: Keystore.selfName, privateKey: try identityKey())]
        let names = try storedNames()
        for name in names { keys.append(NamedKey(name: name, privateKey: try readKey(name))) }
        return keys
    }

    /// The names of the keystore files, sorted bytewise; `self` is not among them.
    public func storedNames() throws(KeystoreError) -> [String] {
        let entries: [String]
        do {
            entries = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            if !FileManager.default.fileExists(atPath: directory) { return [] }
            throw .io(path: directory, reason: "cannot list the keystore: \(error.localizedDescription)")
        }
        return entries.compactMap(Keystore.keyName(fromFileName:))
            .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    // MARK: Writing

    /// Creates key `name`: Ed25519 (default), RSA (`bits`, default 2048, 2048...8192) or secp256k1.
    /// Ed25519 and secp256k1 keys are always 256 bits (`bits` may be nil or 256).
    @discardableResult
    public func generate(name: String, type: KeyType = .ed25519, bits: Int? = nil) throws(KeystoreError) -> NamedKey {
        try Keystore.validate(name, for: "create", creating: true)
        if contains(name) { throw .keyExists(name, path: path(forKeyName: name)) }
        let key: PrivateKey
        switch type {
        case .rsa:
            let size = bits ?? 2048
            do {
                key = try PrivateKey.generate(.rsa, rsaBits: size)
            } catch {
                throw .invalidKeySize(type: type, bits: size, reason: "\(error)")
            }
        case .ed25519, .secp256k1:
            if let bits, bits != 256 {
                throw .invalidKeySize(type: type, bits: bits, reason: "\(type) keys are always 256 bits")
            }
            do {
                key = try PrivateKey.generate(type)
            } catch {
                throw .crypto(name, reason: "\(error)")
            }
        case .ecdsa:
            throw .unsupportedKeyType("\(type) (generate ed25519, rsa or secp256k1)")
        }
        try write(key, as: name)
        return NamedKey(name: name, privateKey: key)
    }

    /// Removes key `name` and returns its peer ID; a key file that no longer decodes is removed too
    /// (its peer ID is then nil).
    @discardableResult
    public func remove(_ name: String) throws(KeystoreError) -> (name: String, peerID: PeerID?) {
        try Keystore.validate(name, for: "remove")
        let file = path(forKeyName: name)
        guard FileManager.default.fileExists(atPath: file) else { throw .noSuchKey(name, path: file) }
        let peerID = try? readKey(name).publicKey.peerID
        guard unlink(file) == 0 else { throw .io(path: file, reason: "cannot remove key '\(name)': \(Keystore.errnoText())") }
        syncDirectory()
        return (name, peerID)
    }

    /// Renames key `old` to `new`. Without `force` an existing `new` is an error; with it, `new` is
    /// replaced atomically. Returns the key under its new name and whether a key was overwritten.
    @discardableResult
    public func rename(from old: String, to new: String, force: Bool = false) throws(KeystoreError) -> (key: NamedKey, overwritten: Bool) {
        try Keystore.validate(old, for: "rename")
        if new == Keystore.selfName { throw .reservedName(operation: "overwrite") }
        try Keystore.validate(new, creating: true)
        let key = try readKey(old)
        if old == new { return (NamedKey(name: new, privateKey: key), false) }
        let source = path(forKeyName: old)
        let target = path(forKeyName: new)
        var overwritten = false
        if force {
            overwritten = FileManager.default.fileExists(atPath: target)
            guard Foundation.rename(source, target) == 0 else {
                throw .io(path: target, reason: "cannot rename key '\(old)' to '\(new)': \(Keystore.errnoText())")
            }
        } else {
            guard link(source, target) == 0 else {
                if errno == EEXIST { throw .keyExists(new, path: target) }
                throw .io(path: target, reason: "cannot rename key '\(old)' to '\(new)': \(Keystore.errnoText())")
            }
            guard unlink(source) == 0 else {
                throw .io(path: source, reason: "renamed key '\(old)' to '\(new)' but cannot remove the old file: \(Keystore.errnoText())")
            }
        }
        syncDirectory()
        return (NamedKey(name: new, privateKey: key), overwritten)
    }

    // MARK: Export and import

    /// Key `name` in `format`: the libp2p protobuf, or a PKCS#8 PEM `PRIVATE KEY` block.
    /// `self` is refused, as by Kubo (the identity lives in the config).
    public func export(name: String, format: KeyFormat = .libp2pProtobufCleartext) throws(KeystoreError) -> [UInt8] {
        try Keystore.validate(name, for: "export")
        let key = try readKey(name)
        switch format {
        case .libp2pProtobufCleartext:
            return key.protobufBytes
        case .pemPKCS8Cleartext:
            do {
                return Array(try key.pkcs8PEM().utf8)
            } catch {
                throw .crypto(name, reason: "encoding PKCS#8: \(error)")
            }
        }
    }

    /// Stores `bytes` (in `format`) as key `name`. As Kubo, only RSA, Ed25519 and secp256k1 keys are
    /// accepted unless `allowAnyKeyType`.
    @discardableResult
    public func `import`(
        name: String, bytes: [UInt8], format: KeyFormat = .libp2pProtobufCleartext, allowAnyKeyType: Bool = false
    ) throws(KeystoreError) -> NamedKey {
        try Keystore.validate(name, for: "import", creating: true)
        if contains(name) { throw .keyExists(name, path: path(forKeyName: name)) }
        let key: PrivateKey
        switch format {
        case .libp2pProtobufCleartext:
            do {
                key = try PrivateKey(protobuf: bytes)
            } catch {
                if String(decoding: bytes.prefix(64), as: UTF8.self).contains("-----BEGIN ") {
                    throw .invalidImport(name, reason: "the input is PEM: try again with --format=\(KeyFormat.pemPKCS8Cleartext.rawValue)")
                }
                throw .invalidImport(name, reason: "not a \(format.rawValue) key: \(error)")
            }
        case .pemPKCS8Cleartext:
            do {
                key = try PrivateKey(pkcs8PEM: String(decoding: bytes, as: UTF8.self))
            } catch {
                throw .invalidImport(name, reason: "not a \(format.rawValue) key: \(error)")
            }
        }
        if !allowAnyKeyType && key.type == .ecdsa {
            throw .invalidImport(
                name, reason: "\(key.type) keys are not allowed, only RSA, Ed25519 or secp256k1 (--allow-any-key-type accepts it if you are sure)")
        }
        try write(key, as: name)
        return NamedKey(name: name, privateKey: key)
    }

    // MARK: Files

    private func identityKey() throws(KeystoreError) -> PrivateKey {
        do {
            return try home.loadIdentity().1.privateKey
        } catch {
            throw .identity(error)
        }
    }

    private func readKey(_ name: String) throws(KeystoreError) -> PrivateKey {
        let file = path(forKeyName: name)
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: file))
        } catch {
            if !FileManager.default.fileExists(atPath: file) { throw .noSuchKey(name, path: file) }
            throw .io(path: file, reason: "cannot read key '\(name)': \(error.localizedDescription)")
        }
        do {
            return try PrivateKey(protobuf: [UInt8](data))
        } catch {
            throw .corruptKey(name, path: file, reason: "\(error)")
        }
    }

    /// Creates the keystore folder (0700) when missing.
    private func ensureDirectory() throws(KeystoreError) {
        if mkdir(home.path, 0o700) != 0 && errno != EEXIST {
            throw .io(path: home.path, reason: "cannot create the node home: \(Keystore.errnoText())")
        }
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw .io(path: directory, reason: "cannot create the keystore: \(Keystore.errnoText())")
        }
    }

    /// Writes `key` as `name`'s file: a 0600 temporary file, fsync, then a hard link into place
    /// (which fails if the name exists, so two writers cannot both win), then the directory fsync.
    private func write(_ key: PrivateKey, as name: String) throws(KeystoreError) {
        try ensureDirectory()
        let target = path(forKeyName: name)
        let temp = (directory as NSString).appendingPathComponent(".tmp-\(getpid())-\(UInt64.random(in: 0 ... .max))")
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw .io(path: temp, reason: "cannot create a file in the keystore: \(Keystore.errnoText())") }
        defer { unlink(temp) }
        let bytes = key.protobufBytes
        var failure: String?
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count, let base = buffer.baseAddress {
                let n = Foundation.write(fd, base + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = Keystore.errnoText()
                    return
                }
                offset += n
            }
        }
        if failure == nil && fsync(fd) != 0 { failure = Keystore.errnoText() }
        close(fd)
        if let failure { throw .io(path: target, reason: "cannot write key '\(name)': \(failure)") }
        guard link(temp, target) == 0 else {
            if errno == EEXIST { throw .keyExists(name, path: target) }
            throw .io(path: target, reason: "cannot store key '\(name)': \(Keystore.errnoText())")
        }
        syncDirectory()
    }

    private func syncDirectory() {
        let fd = open(directory, O_RDONLY)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }
}

/// A key with its name, as listed and returned by the keystore.
public struct NamedKey: Sendable, Equatable {
    public let name: String
    public let privateKey: PrivateKey
    public var peerID: PeerID { privateKey.publicKey.peerID }
}

/// Kubo's key file formats for `key export` / `key import`.
public enum KeyFormat: String, Sendable, CaseIterable {
    /// The libp2p `PrivateKey` protobuf (what the keystore files hold); Kubo's default.
    case libp2pProtobufCleartext = "libp2p-protobuf-cleartext"
    /// A PEM `PRIVATE KEY` block holding a PKCS#8 `PrivateKeyInfo`, readable by OpenSSL.
    case pemPKCS8Cleartext = "pem-pkcs8-cleartext"

    /// The extension of Kubo's default export file name (`<name>.key`, `<name>.pem`).
    public var fileExtension: String {
        switch self {
        case .libp2pProtobufCleartext: "key"
        case .pemPKCS8Cleartext: "pem"
        }
    }
}

/// Why a keystore operation failed; each case names the key and, where there is one, the file.
public enum KeystoreError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidName(String, reason: String)
    /// `self` given to an operation that cannot touch the node identity.
    case reservedName(operation: String)
    case keyExists(String, path: String)
    case noSuchKey(String, path: String)
    /// The key file exists but does not hold a valid libp2p private key.
    case corruptKey(String, path: String, reason: String)
    case unsupportedKeyType(String)
    case invalidKeySize(type: KeyType, bits: Int, reason: String)
    case invalidImport(String, reason: String)
    case crypto(String, reason: String)
    /// The node identity (`self`) could not be loaded.
    case identity(NodeError)
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case let .invalidName(name, reason): "invalid key name '\(name)': \(reason)"
        case let .reservedName(operation): "cannot \(operation) key with name 'self' (the node identity)"
        case let .keyExists(name, path): "key with name '\(name)' already exists (\(path)); pick another name or remove it first"
        case let .noSuchKey(name, path): "no key named '\(name)' was found (\(path)); see 'jz-node key list'"
        case let .corruptKey(name, path, reason): "key '\(name)' in \(path) is not a valid libp2p private key: \(reason)"
        case let .unsupportedKeyType(type): "unsupported key type \(type)"
        case let .invalidKeySize(type, bits, reason): "invalid \(type) key size \(bits): \(reason)"
        case let .invalidImport(name, reason): "cannot import key '\(name)': \(reason)"
        case let .crypto(name, reason): "key '\(name)': \(reason)"
        case let .identity(error): "cannot load the node identity ('self'): \(error)"
        case let .io(path, reason): "\(path): \(reason)"
        }
    }
}
