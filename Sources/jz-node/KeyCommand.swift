import ArgumentParser
import Foundation
import JZNode
import Multiformats
import P2PCrypto

struct KeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "Create, list, rename, remove, export and import IPNS keypairs.",
        discussion: """
            Keys live in <node home>/keystore/ in Kubo's layout: one file per key,
            named key_ + base32 of the key name, holding the libp2p private key
            protobuf, so Kubo's keys can be copied in and out. 'self' is the node
            identity from the config: it is listed, but cannot be created, removed,
            renamed, imported or exported. With a daemon running, gen, list, rm,
            rename and import go through its RPC API; export always reads the
            keystore itself (as Kubo's).

              jz-node key gen mykey
              jz-node key gen --type rsa --size 4096 bigkey
              jz-node key list -l
              jz-node key export mykey -f pem-pkcs8-cleartext -o mykey.pem
              jz-node key import other other.key

            Key IDs print as CIDv1 libp2p-key in base36 (k51…) as Kubo does;
            --ipns-base b58mh prints the legacy form (12D3KooW…, Qm…).
            """,
        subcommands: [Gen.self, List.self, Remove.self, Rename.self, Export.self, Import.self],
        defaultSubcommand: List.self
    )

    /// Prints one `{"Name","Id"}` object (Kubo's KeyOutput) as JSON, else the ID alone.
    static func report(_ name: String, _ id: String, json: Bool) {
        if json {
            printJSON(["Name": .string(name), "Id": .string(id)], keyOrder: ["Name", "Id"])
        } else {
            print(id)
        }
    }

    /// Prints Kubo's KeyOutputList: `{"Keys":[{"Name","Id"}]}`, or names (with IDs under `-l`).
    static func reportList(_ keys: [(name: String, id: String)], long: Bool, json: Bool) {
        if json {
            let items: [JSONValue] = keys.map { ["Name": .string($0.name), "Id": .string($0.id)] }
            printJSON(["Keys": .array(items)], keyOrder: ["Name", "Id"])
        } else {
            for key in keys { print(long ? "\(key.id) \(key.name)" : key.name) }
        }
    }

    /// `(Name, Id)` pairs of Kubo's KeyOutputList.
    static func keys(_ answer: JSONValue) -> [(name: String, id: String)] {
        (answer["Keys"]?.arrayValue ?? []).map { ($0["Name"]?.stringValue ?? "", $0["Id"]?.stringValue ?? "") }
    }

    struct Gen: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a new keypair and print its ID.",
            discussion: "Ed25519 by default; RSA keys are 2048 bits unless --size says otherwise (2048…8192).")
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption
        @OptionGroup var ipnsBase: IPNSBaseOption

        @Argument(help: "Name of the key to create.")
        var name: String

        @Option(name: [.short, .long], help: "Key type: ed25519, rsa or secp256k1.")
        var type: String = "ed25519"

        @Option(name: [.short, .long], help: "Key size in bits (RSA: 2048…8192, default 2048; others: 256).")
        var size: Int?

        func run() throws {
            let keyType: KeyType
            switch type.lowercased() {
            case "ed25519": keyType = .ed25519
            case "rsa": keyType = .rsa
            case "secp256k1": keyType = .secp256k1
            default: throw InputError("unknown key type '\(type)'; use ed25519, rsa or secp256k1")
            }
            if let api = ThroughDaemon.client(homeOptions) {
                var query = [("type", type.lowercased()), ("ipns-base", ipnsBase.ipnsBase)]
                if let size {
                    // The daemon, as Kubo's, reads the size of RSA keys only: the others are refused here as offline.
                    if keyType != .rsa && size != 256 {
                        throw KeystoreError.invalidKeySize(type: keyType, bits: size, reason: "\(keyType) keys are always 256 bits")
                    }
                    query.append(("size", String(size)))
                }
                let answer = try api.call("key/gen", arguments: [name], options: query)
                KeyCommand.report(answer["Name"]?.stringValue ?? name, answer["Id"]?.stringValue ?? "", json: output.json)
                return
            }
            let key = try Keystore(home: try homeOptions.initializedHome()).generate(name: name, type: keyType, bits: size)
            KeyCommand.report(key.name, try ipnsBase.format(key.peerID), json: output.json)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the keys: self first, then the keystore by name.", aliases: ["ls"])
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption
        @OptionGroup var ipnsBase: IPNSBaseOption

        @Flag(name: .customShort("l"), help: "Show each key's ID before its name.")
        var long = false

        func run() throws {
            if let api = ThroughDaemon.client(homeOptions) {
                let answer = try api.call("key/list", options: [("ipns-base", ipnsBase.ipnsBase)])
                KeyCommand.reportList(KeyCommand.keys(answer), long: long, json: output.json)
                return
            }
            let keys = try Keystore(home: try homeOptions.initializedHome()).list()
            KeyCommand.reportList(try keys.map { ($0.name, try ipnsBase.format($0.peerID)) }, long: long, json: output.json)
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rm", abstract: "Remove keypairs.",
            discussion: """
                Prints the names removed (with -l, their IDs too). A key file that
                no longer decodes is removed as well.
                """)
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption
        @OptionGroup var ipnsBase: IPNSBaseOption

        @Argument(help: "Names of the keys to remove.")
        var names: [String] = []

        @Flag(name: .customShort("l"), help: "Show each removed key's ID before its name.")
        var long = false

        func validate() throws {
            if names.isEmpty { throw ValidationError("give the names of the keys to remove") }
        }

        func run() throws {
            if let api = ThroughDaemon.client(homeOptions) {
                let answer = try api.call("key/rm", arguments: names, options: [("ipns-base", ipnsBase.ipnsBase)])
                KeyCommand.reportList(KeyCommand.keys(answer), long: long, json: output.json)
                return
            }
            let store = Keystore(home: try homeOptions.initializedHome())
            var removed: [(name: String, id: String)] = []
            for name in names {
                let result = try store.remove(name)
                removed.append((name, try result.peerID.map { try ipnsBase.format($0) } ?? ""))
            }
            KeyCommand.reportList(removed, long: long, json: output.json)
        }
    }

    struct Rename: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Rename a keypair.")
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption
        @OptionGroup var ipnsBase: IPNSBaseOption

        @Argument(help: "Name of the key to rename.")
        var name: String

        @Argument(help: "Its new name.")
        var newName: String

        @Flag(name: [.short, .long], help: "Replace a key that already has the new name.")
        var force = false

        func run() throws {
            let id: String
            let overwritten: Bool
            if let api = ThroughDaemon.client(homeOptions) {
                let answer = try api.call(
                    "key/rename", arguments: [name, newName], options: [ThroughDaemon.flag("force", force), ("ipns-base", ipnsBase.ipnsBase)])
                id = answer["Id"]?.stringValue ?? ""
                overwritten = answer["Overwrite"]?.boolValue ?? false
            } else {
                let (key, replaced) = try Keystore(home: try homeOptions.initializedHome()).rename(from: name, to: newName, force: force)
                id = try ipnsBase.format(key.peerID)
                overwritten = replaced
            }
            if output.json {
                printJSON(
                    ["Was": .string(name), "Now": .string(newName), "Id": .string(id), "Overwrite": .bool(overwritten)],
                    keyOrder: ["Was", "Now", "Id", "Overwrite"])
            } else {
                print("Key \(id) renamed to \(newName)\(overwritten ? " with overwriting" : "")")
            }
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a private key to a file.",
            discussion: """
                The file is ./<name>.key (libp2p-protobuf-cleartext) or ./<name>.pem
                (pem-pkcs8-cleartext) unless -o names another; '-o -' writes to
                standard output. Files are created readable by the owner only.
                'self' cannot be exported. OpenSSL reads the PEM form:
                  jz-node key export mykey -f pem-pkcs8-cleartext -o key.pem
                  openssl pkey -in key.pem -pubout
                """)
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption
        @OptionGroup var format: KeyFormatOption

        @Argument(help: "Name of the key to export.")
        var name: String

        @Option(name: [.short, .customLong("output")], help: ArgumentHelp("Where to write the key.", valueName: "file"))
        var outputPath: String?

        func run() throws {
            let store = Keystore(home: try homeOptions.initializedHome())
            let keyFormat = try format.parsed()
            let bytes = try store.export(name: name, format: keyFormat)
            let path = outputPath ?? "\((name as NSString).lastPathComponent).\(keyFormat.fileExtension)"
            if path == "-" {
                try StandardOutput.write(bytes)
                return
            }
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            guard fd >= 0 else { throw InputError("cannot create \(path): \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            var offset = 0
            while offset < bytes.count {
                let n = bytes[offset...].withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw InputError("cannot write \(path): \(String(cString: strerror(errno)))")
                }
                offset += n
            }
            if output.json {
                let id = try store.key(named: name).peerID.cidString()
                printJSON(["Name": .string(name), "Id": .string(id), "Path": .string(path)], keyOrder: ["Name", "Id", "Path"])
            }
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Store a private key file under a name and print its ID.",
            discussion: """
                FILE holds a libp2p private key protobuf (what 'key export' and Kubo's
                'ipfs key export' write) or, with -f pem-pkcs8-cleartext, a PEM
                PKCS#8 PRIVATE KEY, e.g.
                  openssl genpkey -algorithm ED25519 > ed25519.pem
                  jz-node key import from-openssl -f pem-pkcs8-cleartext ed25519.pem
                '-' reads standard input. Only Ed25519, RSA and secp256k1 keys are
                accepted unless --allow-any-key-type.
                """)
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption
        @OptionGroup var ipnsBase: IPNSBaseOption
        @OptionGroup var format: KeyFormatOption

        @Argument(help: "Name to store the key under.")
        var name: String

        @Argument(help: "The key file ('-' for standard input).")
        var file: String

        @Flag(name: .long, help: "Accept any key type (ECDSA too).")
        var allowAnyKeyType = false

        func run() throws {
            let bytes: [UInt8]
            if let api = ThroughDaemon.client(homeOptions) {
                let part: APIUpload.Part = file == "-"
                    ? .bytes(name: "key", Array(FileHandle.standardInput.readDataToEndOfFile()))
                    : .file(name: (file as NSString).lastPathComponent, path: file)
                let answer = try api.call(
                    "key/import", arguments: [name],
                    options: [("format", format.format), ThroughDaemon.flag("allow-any-key-type", allowAnyKeyType), ("ipns-base", ipnsBase.ipnsBase)],
                    upload: APIUpload(parts: [part]))
                KeyCommand.report(answer["Name"]?.stringValue ?? name, answer["Id"]?.stringValue ?? "", json: output.json)
                return
            }
            if file == "-" {
                bytes = [UInt8](FileHandle.standardInput.readDataToEndOfFile())
            } else {
                guard let data = FileManager.default.contents(atPath: file) else {
                    throw InputError("cannot read \(file)")
                }
                bytes = [UInt8](data)
            }
            let key = try Keystore(home: try homeOptions.initializedHome())
                .import(name: name, bytes: bytes, format: try format.parsed(), allowAnyKeyType: allowAnyKeyType)
            KeyCommand.report(key.name, try ipnsBase.format(key.peerID), json: output.json)
        }
    }
}

/// `--ipns-base`: how key IDs print, as Kubo's option of that name.
struct IPNSBaseOption: ParsableArguments {
    @Option(
        name: .customLong("ipns-base"),
        help: "Encoding of key IDs: base36 (k51…), another multibase (name or prefix), or b58mh (12D3KooW…, Qm…).")
    var ipnsBase: String = "base36"

    func validate() throws { _ = try base() }

    /// nil for b58mh.
    private func base() throws -> Multibase? {
        if ipnsBase == "b58mh" { return nil }
        if let base = Multibase(name: ipnsBase) { return base }
        if ipnsBase.count == 1, let prefix = ipnsBase.first, let base = Multibase(prefix: prefix) { return base }
        throw ValidationError("unknown --ipns-base \(ipnsBase); use base36, base32, b58mh or another multibase")
    }

    func format(_ id: PeerID) throws -> String {
        guard let base = try base() else { return id.b58String }
        return id.cidString(base: base)
    }
}

/// `--format`/`-f` for export and import.
struct KeyFormatOption: ParsableArguments {
    @Option(
        name: [.short, .long],
        help: "Key file format: libp2p-protobuf-cleartext or pem-pkcs8-cleartext.")
    var format: String = KeyFormat.libp2pProtobufCleartext.rawValue

    func validate() throws { _ = try parsed() }

    func parsed() throws -> KeyFormat {
        guard let format = KeyFormat(rawValue: format) else {
            throw ValidationError("unknown --format \(format); use libp2p-protobuf-cleartext or pem-pkcs8-cleartext")
        }
        return format
    }
}

extension HomeOptions {
    /// The node home, which must have been initialised (it holds `self`).
    func initializedHome() throws -> NodeHome {
        let home = self.home
        guard home.isInitialized else { throw NodeError.notInitialized(path: home.path) }
        return home
    }
}
