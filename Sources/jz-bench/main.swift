// jz-bench: micro-benchmarks of jz-node's hot paths, driven by the scripts in bench/.
// `sha256` prints one machine-readable line per measurement: `<name> <bytes> <seconds> <MB/s>`;
// `net` prints a table (or `--json`) of libp2p throughput against raw loopback TCP (NetBench.swift);
// `dht-sim` runs the Kademlia DHT code over a simulated network (DHTSim.swift); `dht-mem` measures
// what full routing tables and provider records take in memory (DHTMem.swift).
import Foundation
import Multiformats

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func usage() -> Never {
    FileHandle.standardError.write(Data("""
        usage: jz-bench sha256 [MiB] [rounds]
               jz-bench net [--mib N] [--streams N] [--json] (--help for more)
               jz-bench dht-sim --nodes N [--churn F] [--lookups N] [--provide N] [--seed S] [--json] (--help for more)
               jz-bench dht-mem [--records N] [--network N] [--sqlite DIR] [--json]
               jz-bench flood --target MADDR [--idle N] [--connections N] [--streams N] [--hold S]

        """.utf8))
    exit(2)
}

let args = CommandLine.arguments.dropFirst()
guard let what = args.first else { usage() }
switch what {
case "sha256":
    let mib = args.dropFirst().first.flatMap(Int.init) ?? 256
    let rounds = args.dropFirst(2).first.flatMap(Int.init) ?? 5
    var buffer = [UInt8](repeating: 0, count: mib << 20)
    var rng = SystemRandomNumberGenerator()
    buffer.withUnsafeMutableBytes { raw in
        let words = raw.bindMemory(to: UInt64.self)
        for i in words.indices { words[i] = rng.next() }
    }
    var best = Double.infinity
    var digest: Multihash?
    for _ in 0..<rounds {
        let start = now()
        digest = try buffer.withUnsafeBytes { try Multihash.hash($0, with: .sha2_256) }
        best = min(best, now() - start)
    }
    let mbps = Double(buffer.count) / best / 1e6
    print(String(format: "sha256-multihash %d %.4f %.1f", buffer.count, best, mbps))
    // The same bytes as 256 KiB chunks (file leaves), 16 per multi-buffer call, on one core.
    if Sha256.lanes > 0 {
        var batchBest = Double.infinity
        buffer.withUnsafeBytes { raw in
            let chunks = stride(from: 0, to: raw.count, by: 262_144).map {
                UnsafeRawBufferPointer(rebasing: raw[$0..<min($0 + 262_144, raw.count)])
            }
            for _ in 0..<rounds {
                let start = now()
                for group in stride(from: 0, to: chunks.count, by: Sha256.lanes) {
                    _ = Sha256.digests(Array(chunks[group..<min(group + Sha256.lanes, chunks.count)]))
                }
                batchBest = min(batchBest, now() - start)
            }
        }
        print(String(format: "sha256-batch-256KiB %d %.4f %.1f", buffer.count, batchBest, Double(buffer.count) / batchBest / 1e6))
    }
    FileHandle.standardError.write(Data("digest \(digest.map { Hex.encode($0.digest) } ?? "")\n".utf8))
case "dht-sim":
    exit(runDHTSim(Array(args.dropFirst())) ? 0 : 1)
case "net":
    let ok = await runNet(Array(args.dropFirst()))
    exit(ok ? 0 : 1)
case "dht-mem":
    exit(runDHTMem(Array(args.dropFirst())) ? 0 : 1)
case "flood":
    do {
        try await runFlood(parseFlood(Array(args.dropFirst())))
        exit(0)
    } catch {
        FileHandle.standardError.write(Data("flood: \(error)\n".utf8))
        exit(1)
    }
default:
    usage()
}
