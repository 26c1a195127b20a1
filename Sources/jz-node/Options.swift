import ArgumentParser
import Foundation
import JZNode

/// Options every command that touches the node home accepts.
struct HomeOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Node home folder (default: $JZ_PATH, else ~/.jz).", valueName: "path"))
    var repoDir: String?

    var home: NodeHome { NodeHome.resolve(explicit: repoDir) }
}

/// The `--json` flag.
struct JSONOption: ParsableArguments {
    @Flag(name: .long, help: "Print machine-readable JSON.")
    var json = false
}

/// Writes a line to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Prints a JSON value (indented) to standard output.
func printJSON(_ value: JSONValue, indent: String? = "  ", keyOrder: [String] = []) {
    print(value.serialized(indent: indent, keyOrder: keyOrder))
}
