import ArgumentParser
import Foundation
import JZNode
import Multiformats

struct CIDCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cid",
        abstract: "Convert and inspect CIDs (as Kubo's `ipfs cid`).",
        subcommands: [Format.self, Base32.self, Bases.self, Codecs.self, Hashes.self]
    )

    /// Prints per-CID results; failures go to stderr and make the command fail at the end.
    static func emit(_ results: [(input: String, result: Result<String, any Error>)], json: Bool) throws {
        var failed = 0
        for (input, result) in results {
            switch result {
            case let .success(text):
                if json {
                    printJSON(["CidStr": .string(input), "Formatted": .string(text), "ErrorMsg": ""], indent: nil)
                } else {
                    print(text)
                }
            case let .failure(error):
                failed += 1
                if json {
                    printJSON(["CidStr": .string(input), "Formatted": "", "ErrorMsg": .string("\(error)")], indent: nil)
                } else {
                    printError("\(input): \(error)")
                }
            }
        }
        if failed > 0 { throw ExitCode.failure }
    }

    struct Format: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Format and convert CIDs.",
            discussion: """
                Format specifiers (as go-cid):
                  %% literal %          %b multibase name       %B multibase prefix
                  %v version string     %V version number       %c codec name
                  %C codec code         %h multihash name       %H multihash code
                  %L digest length      %m multihash (multibase) %M multihash (no prefix)
                  %d digest (multibase) %D digest (no prefix)    %s CID  %S CID without prefix
                  %P prefix: cidv1-<codec>-<hash>-<length>
                Giving -b without -v converts a CIDv0 to CIDv1 (v0 exists only in base58btc).
                """)

        @Option(name: .short, help: "Output format (default %s).")
        var f: String = "%s"

        @Option(name: .short, help: "CID version to convert to (0 or 1).")
        var v: String?

        @Option(name: .customLong("mc"), help: "Multicodec name to set, e.g. raw or dag-pb.")
        var codec: String?

        @Option(name: .short, help: "Multibase to print in, e.g. base32 or base58btc.")
        var b: String?

        @OptionGroup var output: JSONOption

        @Argument(help: "CIDs to format.")
        var cids: [String]

        func run() throws {
            var base: Multibase?
            if let b {
                guard let parsed = Multibase(name: b) else {
                    throw ValidationError("unknown multibase \(b); `jz-node cid bases` lists them")
                }
                base = parsed
            }
            var newCodec: Multicodec?
            if let codec {
                guard let parsed = Multicodec(name: codec) else {
                    throw ValidationError("unknown multicodec \(codec); `jz-node cid codecs` lists them")
                }
                newCodec = parsed
            }
            let version: CID.Version?
            switch v {
            case nil: version = base == nil ? nil : .v1
            case "0":
                if let newCodec, newCodec != .dagPB {
                    throw ValidationError("a CIDv0 is always dag-pb; cannot use --mc \(codec ?? "")")
                }
                version = .v0
            case "1": version = .v1
            default: throw ValidationError("invalid CID version \(v ?? ""): use 0 or 1")
            }
            let results = cids.map { input in
                (input, Result { () throws -> String in
                    var cid = try CID(input)
                    if let newCodec {
                        cid = try CID(version: cid.version == .v0 && newCodec != .dagPB ? .v1 : cid.version,
                                      codec: newCodec, multihash: cid.multihash)
                    }
                    switch version {
                    case .v0?: cid = try cid.toV0()
                    case .v1?: cid = cid.toV1()
                    case nil: break
                    }
                    let outBase = base ?? (cid.version == .v0 ? .base58btc : CIDFormatter.inputBase(input))
                    return try CIDFormatter.format(cid, template: f, base: outBase)
                })
            }
            try CIDCommand.emit(results, json: output.json)
        }
    }

    struct Base32: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "base32", abstract: "Convert CIDs to CIDv1 in base32 (case-insensitive, URL-safe).")

        @OptionGroup var output: JSONOption

        @Argument(help: "CIDs to convert.")
        var cids: [String]

        func run() throws {
            let results = cids.map { input in
                (input, Result { () throws -> String in try CID(input).toV1().string(base: .base32) })
            }
            try CIDCommand.emit(results, json: output.json)
        }
    }

    struct Bases: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the multibases jz-node reads and writes.")
        @OptionGroup var output: JSONOption

        func run() {
            let bases = Multibase.allCases
            if output.json {
                printJSON(.array(bases.map { ["Name": .string($0.name), "Prefix": .string($0.prefix)] }))
            } else {
                for base in bases where base != .identity { print("\(base.prefix)  \(base.name)") }
            }
        }
    }

    struct Codecs: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the multicodecs jz-node knows by name.")
        @OptionGroup var output: JSONOption

        func run() {
            CIDCommand.listCodes(Multicodec.known.map { ($0.rawValue, $0.name ?? "") }, json: output.json)
        }
    }

    struct Hashes: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the hash functions jz-node computes.")
        @OptionGroup var output: JSONOption

        func run() {
            let hashes = Multicodec.known.map { HashFunction(rawValue: $0.rawValue) }.filter(\.isSupported)
                + [HashFunction.blake2b_256, HashFunction.blake2b_512]
            CIDCommand.listCodes(hashes.map { ($0.rawValue, $0.name ?? "") }, json: output.json)
        }
    }

    static func listCodes(_ codes: [(UInt64, String)], json: Bool) {
        if json {
            printJSON(.array(codes.map { ["Code": .int(Int64($0.0)), "Name": .string($0.1)] }))
        } else {
            for (code, name) in codes {
                print(String(repeating: " ", count: max(0, 6 - String(code).count)) + "\(code)  \(name)")
            }
        }
    }
}

/// go-cid's format strings.
enum CIDFormatter {
    /// The multibase a CID string was written in (base58btc for CIDv0).
    static func inputBase(_ input: String) -> Multibase {
        if input.count == 46 && input.hasPrefix("Qm") { return .base58btc }
        return input.first.flatMap { Multibase(prefix: $0) } ?? .base32
    }

    static func format(_ cid: CID, template: String, base: Multibase) throws -> String {
        var out = ""
        var chars = template.makeIterator()
        while let c = chars.next() {
            guard c == "%" else { out.append(c); continue }
            guard let spec = chars.next() else { throw ValidationError("the format ends with a lone %") }
            let mh = cid.multihash
            switch spec {
            case "%": out += "%"
            case "b": out += base.name
            case "B": out += base.prefix
            case "v": out += "cidv\(cid.version.rawValue)"
            case "V": out += String(cid.version.rawValue)
            case "c": out += cid.codec.name ?? String(cid.codec.rawValue)
            case "C": out += String(cid.codec.rawValue)
            case "h": out += Multicodec(rawValue: mh.code).name ?? String(mh.code)
            case "H": out += String(mh.code)
            case "L": out += String(mh.digest.count)
            case "m": out += base.encode(mh.bytes)
            case "M": out += base.encodeBare(mh.bytes)
            case "d": out += base.encode(mh.digest)
            case "D": out += base.encodeBare(mh.digest)
            case "s": out += try cid.string(base: base)
            case "S":
                out += cid.version == .v0 ? cid.description : base.encodeBare(cid.bytes)
            case "P":
                out += "cidv\(cid.version.rawValue)-\(cid.codec.name ?? String(cid.codec.rawValue))-"
                    + "\(Multicodec(rawValue: mh.code).name ?? String(mh.code))-\(mh.digest.count)"
            default: throw ValidationError("unknown format specifier %\(spec)")
            }
        }
        return out
    }
}
