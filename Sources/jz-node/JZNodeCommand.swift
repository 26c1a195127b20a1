import ArgumentParser
import BlockingPool
import Foundation
import JZNode
import Logging
#if canImport(CMalloc)
import CMalloc
#endif

@main
struct JZNodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jz-node",
        abstract: "JiaoziFS: data-centric version control on an IPFS-compatible peer node.",
        discussion: """
            The node home is $JZ_PATH, default ~/.jz; --repo-dir overrides both.
            Commands that print data accept --json for machine-readable output.
            Errors go to stderr with a non-zero exit status.
            """,
        version: "jz-node version \(JZNodeInfo.version)",
        subcommands: [
            InitCommand.self,
            IdCommand.self,
            VersionCommand.self,
            ConfigCommand.self,
            BootstrapCommand.self,
            KeyCommand.self,
            CIDCommand.self,
            AddCommand.self,
            CatCommand.self,
            GetCommand.self,
            LsCommand.self,
            DagCommand.self,
            BlockCommand.self,
            PinCommand.self,
            StoreCommand.self,
            RepoCommand.self,
            CommitCommand.self,
            LogCommand.self,
            ShowCommand.self,
            BranchCommand.self,
            TagCommand.self,
            DiffCommand.self,
            MergeCommand.self,
            CheckoutCommand.self,
            LineageCommand.self,
            PublishCommand.self,
            CloneCommand.self,
            PullCommand.self,
            RemoteCommand.self,
            DaemonCommand.self,
            ShutdownCommand.self,
            SwarmCommand.self,
            PingCommand.self,
            FetchCommand.self,
            BitswapCommand.self,
            RoutingCommand.self,
            NameCommand.self,
            DHTCommand.self,
            StatsCommand.self,
        ]
    )

    /// Logs go to stderr; `JZ_LOG=debug|info|notice|warning|error` sets the level (default warning).
    /// Every command runs on the blocking pool rather than the Swift cooperative pool: commands
    /// do blocking work (SQLite, files, calls to the daemon), and the networking of one-shot
    /// commands (`fetch`, `clone`) needs the cooperative pool free for its timers.
    static func main() async {
        tuneMalloc()
        let level = ProcessInfo.processInfo.environment["JZ_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        await withTaskExecutorPreference(BlockingExecutor.pool) {
            await main(nil)
        }
    }

    /// Blocks (256 KiB – 2 MiB) and bitswap messages are allocated and freed at a high rate; with
    /// glibc's defaults each one is a fresh mmap whose pages fault in zeroed. Keeping them in
    /// the heap (bounded by the trim threshold) saves a third of the CPU of a block transfer.
    static func tuneMalloc() {
        #if canImport(CMalloc) && os(Linux)
        _ = mallopt(M_MMAP_THRESHOLD, 32 << 20)
        _ = mallopt(M_TRIM_THRESHOLD, 64 << 20)
        #endif
    }
}
