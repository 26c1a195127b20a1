import ArgumentParser
import BlockingPool
import Dispatch
import Foundation
import JZNode
import Logging

#if canImport(Glibc)
import Glibc
#endif

struct DaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "Run the node online: libp2p swarm, identify, ping, bootstrap, and the RPC API.",
        discussion: """
            Listens on Addresses.Swarm (TCP; Noise and TLS 1.3 security, yamux and mplex muxers, chosen
            and ordered by Swarm.Transports.Security.{Noise,TLS} and Swarm.Transports.Multiplexers.{Yamux,Mplex}:
            false disables, a number is a priority, lower first), dials the Bootstrap peers, and serves
            Kubo's RPC API (POST /api/v0/...) on Addresses.API. While it runs, `jz-node id|swarm|ping`
            go through it; its API address is written to <home>/api.
            With a swarm.key in the node home (Kubo's private network key; see `jz-node swarm key`)
            every connection is protected with it, and only peers with the same key can connect.
            Prints "Daemon is ready" once listening. SIGINT or SIGTERM (or `jz-node shutdown`) stops it
            cleanly. Logs go to stderr at level info (JZ_LOG=debug for more).
            """
    )

    @OptionGroup var homeOptions: HomeOptions

    @Flag(name: .long, help: "Initialise the node home first when it does not exist.")
    var initialize = false

    /// The daemon runs on Swift's default executor, not on the blocking pool the one-shot
    /// commands prefer (`JZNodeCommand.main`): tasks inherit that preference, and the daemon's
    /// networking must not queue behind store work. Its blocking work still goes through
    /// `BlockingExecutor`.
    func run() async throws {
        try await withTaskExecutorPreference(globalConcurrentExecutor) {
            try await serve()
        }
    }

    private func serve() async throws {
        var logger = Logger(label: "jz-node.daemon")
        if ProcessInfo.processInfo.environment["JZ_LOG"] == nil { logger.logLevel = .info }
        let home = homeOptions.home
        // Creating and opening the home (config, keys, the SQLite stores, the lock) is blocking
        // work: on the blocking pool, as everything the daemon does after.
        if initialize {
            let created = try await BlockingExecutor.run { () throws -> Bool in
                guard !home.isInitialized else { return false }
                _ = try home.initialize()
                return true
            }
            if created { print("initialized jz-node home at \(home.path)") }
        }
        let daemon: NodeDaemon
        do {
            daemon = try await BlockingExecutor.run { [logger] in try NodeDaemon(home: home, logger: logger) }
        } catch {
            printError("Error: \(error)")
            throw ExitCode.failure
        }
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let sources = [SIGINT, SIGTERM].map { number -> any DispatchSourceSignal in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                printError("Received \(number == SIGINT ? "interrupt" : "terminate") signal, shutting down...")
                daemon.shutdown()
            }
            source.resume()
            return source
        }
        defer { sources.forEach { $0.cancel() } }
        print("Initializing daemon...")
        print("jz-node version: \(JZNodeInfo.version)")
        print("PeerID: \(daemon.identity.peerID)")
        if let key = daemon.services.privateNetwork {
            // Kubo's lines, so scripts that look for them work with both.
            print("Swarm is limited to private network of peers with the swarm key")
            print("Swarm key fingerprint: \(key.fingerprintHex)")
        }
        do {
            try await daemon.run { swarm, api in
                for address in swarm { print("Swarm listening on \(address)") }
                print("RPC API server listening on \(api)")
                print("Daemon is ready")
                fflush(nil)
            }
        } catch {
            printError("Error: \(error)")
            throw ExitCode.failure
        }
    }
}

struct ShutdownCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shutdown", abstract: "Stop the running daemon.")

    @OptionGroup var homeOptions: HomeOptions

    func run() throws {
        _ = try requireDaemon(homeOptions).call("shutdown")
    }
}

/// The client of the daemon running on the home, or a clear error when none runs.
func requireDaemon(_ options: HomeOptions) throws -> APIClient {
    let home = options.home
    guard let client = APIClient.find(home: home) else { throw APIError.noDaemon(home: home.path) }
    return client
}
