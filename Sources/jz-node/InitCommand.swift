import ArgumentParser
import JZNode
import Logging
import P2PCrypto

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create the node home: identity key, config and bootstrap list.",
        discussion: """
            Creates the node home ($JZ_PATH, default ~/.jz, or --repo-dir) with a new key pair
            and a JSON config using Kubo's key names (Identity.PeerID, Addresses.Swarm,
            Addresses.API, Bootstrap, ...). The bootstrap list comes from bootstrap.peers.
            Refuses to touch an existing home: its key is the node's identity.
            Default ports (swarm 4101, API 5101) differ from Kubo's so both can run side by side.
            """
    )

    enum Algorithm: String, ExpressibleByArgument, CaseIterable {
        case ed25519, rsa
    }

    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption

    @Option(name: [.short, .long], help: "Key algorithm (ed25519 or rsa).")
    var algorithm: Algorithm = .ed25519

    @Option(name: [.short, .long], help: "Key size in bits for RSA keys (2048 to 8192).")
    var bits: Int = 2048

    @Flag(name: .long, help: "Start with an empty bootstrap list (a private network).")
    var emptyBootstrap = false

    func validate() throws {
        if algorithm == .rsa && !(2048...8192).contains(bits) {
            throw ValidationError("--bits must be between 2048 and 8192 for RSA keys")
        }
    }

    func run() throws {
        let home = homeOptions.home
        if home.isInitialized { throw NodeError.alreadyInitialized(path: home.path) }
        if !output.json { print("generating \(algorithm == .rsa ? "\(bits)-bit RSA" : "ED25519") keypair...", terminator: "") }
        let key: PrivateKey
        switch algorithm {
        case .ed25519: key = .generateEd25519()
        case .rsa: key = try PrivateKey.generate(.rsa, rsaBits: bits)
        }
        let config = try home.initialize(
            key: key, bootstrap: emptyBootstrap ? [] : BootstrapList.defaultPeers, logger: Logger(label: "jz.init"))
        let peerID = config.peerID ?? ""
        if output.json {
            printJSON(["Path": .string(home.path), "PeerID": .string(peerID)])
        } else {
            print("done")
            print("peer identity: \(peerID)")
            print("initialized jz-node home at \(home.path)")
            print("to get started, enter:\n\n\tjz-node id\n")
        }
    }
}
