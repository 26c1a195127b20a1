import ArgumentParser
import Foundation
import JZNode

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Get or set config values.",
        discussion: """
            Keys are dot-separated, with Kubo's names: `jz-node config Addresses.API` prints a
            value; `jz-node config Addresses.API /ip4/127.0.0.1/tcp/5101` sets a string;
            `--json` reads the new value as JSON (`config --json Bootstrap '[]'`) and, when
            reading, prints the value as JSON; `--bool` sets true/false.
            Identity.PrivKey can be neither shown nor changed here.
            """,
        subcommands: [Value.self, Show.self, Replace.self],
        defaultSubcommand: Value.self
    )
}

extension ConfigCommand {
    struct Value: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "value",
            abstract: "Get or set one value: `jz-node config KEY [VALUE]` (the default subcommand).")

        @OptionGroup var homeOptions: HomeOptions

        @Argument(help: "The config key, e.g. Addresses.Swarm.")
        var key: String

        @Argument(help: "A new value for the key.")
        var value: String?

        @Flag(name: .long, help: "Read the value as JSON; when reading, print JSON.")
        var json = false

        @Flag(name: .long, help: "Read the value as a boolean.")
        var bool = false

        func validate() throws {
            if json && bool { throw ValidationError("use either --json or --bool, not both") }
            if bool && value == nil { throw ValidationError("--bool needs a value to set") }
        }

        func run() throws {
            // Reading a parent of a secret shows it redacted; reading or writing the secret itself,
            // or replacing a parent of it, is refused.
            let touchesSecret = NodeConfig.protectedKeys.contains { $0 == key || (value != nil && $0.hasPrefix(key + ".")) }
            if touchesSecret { throw NodeError.protectedKey(key) }
            if let api = ThroughDaemon.client(homeOptions) {
                var query: [(String, String)] = []
                if json { query.append(("json", "true")) }
                if bool { query.append(("bool", "true")) }
                let answer = try api.call("config", arguments: [key] + (value.map { [$0] } ?? []), options: query)
                if value == nil { printValue(answer["Value"] ?? .null) }
                return
            }
            let home = homeOptions.home
            var config = try home.loadConfig()
            guard let value else {
                guard let current = NodeConfig(root: config.redacted).value(at: key) else { throw NodeError.noSuchKey(key) }
                printValue(current)
                return
            }
            let newValue: JSONValue
            if json {
                do {
                    newValue = try JSONValue.parse(value)
                } catch {
                    throw ValidationError("the value is not valid JSON: \(value)")
                }
            } else if bool {
                switch value.lowercased() {
                case "true": newValue = .bool(true)
                case "false": newValue = .bool(false)
                default: throw ValidationError("--bool takes true or false, not \(value)")
                }
            } else {
                newValue = .string(value)
            }
            try config.set(newValue, at: key)
            try home.save(config)
        }

        /// A string as is (unless --json), anything else as JSON.
        private func printValue(_ value: JSONValue) {
            if case let .string(s) = value, !json {
                print(s)
            } else {
                printJSON(value)
            }
        }

    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the whole config (without the private key and the API.Authorizations secrets).")

        @OptionGroup var homeOptions: HomeOptions

        @Flag(name: .long, help: "Accepted for uniformity: the output is JSON either way.")
        var json = false

        func run() throws {
            if let api = ThroughDaemon.client(homeOptions) {
                printJSON(try api.call("config/show"))
                return
            }
            printJSON(try homeOptions.home.loadConfig().redacted)
        }
    }

    struct Replace: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace the config with a JSON file, keeping the identity key.",
            discussion: "The file's Identity.PeerID must be this node's; Identity.PrivKey is kept from the current config.")

        @OptionGroup var homeOptions: HomeOptions

        @Argument(help: "Path of the new config file.")
        var file: String

        func run() throws {
            let data: Data
            do {
                data = try Data(contentsOf: URL(fileURLWithPath: file))
            } catch {
                throw NodeError.io(path: file, reason: error.localizedDescription)
            }
            if let api = ThroughDaemon.client(homeOptions) {
                _ = try api.call("config/replace", upload: APIUpload(parts: [.bytes(name: (file as NSString).lastPathComponent, Array(data))]))
                return
            }
            try homeOptions.home.replaceConfig(with: data, source: file)
        }
    }
}
