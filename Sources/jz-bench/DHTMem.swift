// `jz-bench dht-mem`: what a DHT node holds in memory with full routing tables and many provider
// records, measured as resident memory (VmRSS, VmHWM from /proc/self/status) after each step:
// - LAN and WAN routing tables filled from a simulated network of `--network` peers (a table keeps
//   about k per bucket, so a few hundred peers), each peer in the peer store with two addresses;
// - `--records` provider records (2,000 providers, two addresses each) in the memory backend or,
//   with `--sqlite DIR`, in the daemon's SQLite backend (`DIR/dht.sqlite`), as a daemon keeps them.
import Foundation
import JZNode
import KadDHT
import Multiformats
import P2PCore
import P2PCrypto
import P2PHost

/// (VmRSS, VmHWM) in bytes.
func residentMemory() -> (current: Int, peak: Int) {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
    func field(_ name: String) -> Int {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return 0 }
        return (Int(line.split(separator: " ").dropFirst().first { !$0.isEmpty } ?? "") ?? 0) * 1024
    }
    return (field("VmRSS"), field("VmHWM"))
}

func runDHTMem(_ args: [String]) -> Bool {
    var records = 100_000
    var networkSize = 10_000
    var sqliteDir: String?
    var json = false
    var i = 0
    while i < args.count {
        switch args[i] {
        case "--records": i += 1; records = Int(args[i]) ?? records
        case "--network": i += 1; networkSize = Int(args[i]) ?? networkSize
        case "--sqlite": i += 1; sqliteDir = args[i]
        case "--json": json = true
        default:
            FileHandle.standardError.write(Data("usage: jz-bench dht-mem [--records N] [--network N] [--sqlite DIR] [--json]\n".utf8))
            return false
        }
        i += 1
    }
    var steps: [(String, Int)] = []
    func mark(_ label: String) {
        steps.append((label, residentMemory().current))
    }
    mark("start")
    let local = PrivateKey.generateEd25519().publicKey.peerID
    var lan = RoutingTable(local: local)
    var wanConfig = RoutingTable.Config()
    wanConfig.diversity = RoutingTable.Diversity()
    var wan = RoutingTable(local: local, config: wanConfig)
    let peerStore = MemoryPeerStore()
    var rng = SystemRandomNumberGenerator()
    for n in 0..<networkSize {
        // sha2-256 peer IDs from random digests (as RSA keys' IDs look).
        let digest = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
        guard let mh = try? Multihash(function: .sha2_256, digest: digest), let peer = try? PeerID(multihash: mh) else { continue }
        let lanAddress = (try? Multiaddr("/ip4/192.168.\(n / 250 % 250).\(n % 250 + 1)/tcp/4001")) ?? Multiaddr([])
        let wanAddress = (try? Multiaddr("/ip4/\(n % 200 + 11).\(n / 200 % 250).\(n % 250).\(n % 199 + 1)/tcp/4001")) ?? Multiaddr([])
        let inLAN = lan.add(peer, addresses: [lanAddress], now: 0, queried: true) == .added
        let inWAN = wan.add(peer, addresses: [wanAddress], now: 0, queried: true) == .added
        if inLAN || inWAN { peerStore.addAddresses([lanAddress, wanAddress], for: peer, ttl: AddressTTL.connected) }
    }
    mark("routing tables (LAN \(lan.count), WAN \(wan.count) peers)")
    let backend: any ProviderBackend
    if let dir = sqliteDir {
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            backend = try SQLiteProviderBackend(path: (dir as NSString).appendingPathComponent("dht.sqlite"))
        } catch {
            FileHandle.standardError.write(Data("dht-mem: \(error)\n".utf8))
            return false
        }
    } else {
        backend = MemoryProviderBackend()
    }
    let store = ProviderStore(backend: backend)
    let providers = (0..<2_000).map { _ in PrivateKey.generateEd25519().publicKey.peerID }
    let started = now()
    for r in 0..<records {
        let p = r % providers.count
        let addresses = [
            (try? Multiaddr("/ip4/10.\(p / 250 % 250).\(p % 250).1/tcp/4001")) ?? Multiaddr([]),
            (try? Multiaddr("/ip4/10.\(p / 250 % 250).\(p % 250).2/tcp/4001")) ?? Multiaddr([]),
        ]
        var seed = UInt64(r)
        let digest = (0..<4).flatMap { _ -> [UInt8] in
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return withUnsafeBytes(of: seed.bigEndian) { Array($0) }
        }
        guard let key = try? Multihash(function: .sha2_256, digest: digest).bytes else { continue }
        do {
            try store.add(key: key, provider: PeerInfo(peer: providers[p], addresses: addresses), from: providers[p], now: 1_000)
        } catch {
            FileHandle.standardError.write(Data("dht-mem: record \(r): \(error)\n".utf8))
            return false
        }
    }
    let seconds = now() - started
    mark("\(records) provider records (\(sqliteDir == nil ? "memory" : "SQLite") backend)")
    let peak = residentMemory().peak
    if json {
        var fields = steps.map { "{\"step\": \"\($0.0)\", \"rss_bytes\": \($0.1)}" }
        fields.append("{\"step\": \"peak\", \"rss_bytes\": \(peak)}")
        print("{\"records\": \(records), \"network\": \(networkSize), \"backend\": \"\(sqliteDir == nil ? "memory" : "sqlite")\", \"insert_seconds\": \(seconds), \"steps\": [\(fields.joined(separator: ", "))]}")
    } else {
        func line(_ label: String, _ bytes: Int) {
            print(label.padding(toLength: 56, withPad: " ", startingAt: 0) + String(format: "RSS %7.1f MiB", Double(bytes) / 1048576))
        }
        for (label, rss) in steps { line(label, rss) }
        line("peak (VmHWM)", peak)
        print(String(format: "records inserted in %.1f s (%.0f/s)", seconds, Double(records) / seconds))
    }
    return true
}
