import ArgumentParser
import JZNode

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Show jz-node's version."
    )

    @OptionGroup var output: JSONOption

    @Flag(name: [.short, .long], help: "Print only the version number.")
    var number = false

    @Flag(name: .long, help: "Also show the node-home version and the system.")
    var all = false

    func run() {
        let system = "\(Self.arch)/\(Self.os)"
        if output.json {
            printJSON([
                "Version": .string(JZNodeInfo.version),
                "Repo": .string(String(JZNodeInfo.repoVersion)),
                "System": .string(system),
                "Agent": .string(JZNodeInfo.agentVersion),
            ])
        } else if number {
            print(JZNodeInfo.version)
        } else {
            print("jz-node version: \(JZNodeInfo.version)")
            if all {
                print("Repo version: \(JZNodeInfo.repoVersion)")
                print("System version: \(system)")
                print("Agent version: \(JZNodeInfo.agentVersion)")
            }
        }
    }

    static var arch: String {
        #if arch(x86_64)
        return "amd64"
        #elseif arch(arm64)
        return "arm64"
        #else
        return "unknown"
        #endif
    }

    static var os: String {
        #if os(Linux)
        return "linux"
        #elseif os(macOS)
        return "darwin"
        #else
        return "unknown"
        #endif
    }
}
