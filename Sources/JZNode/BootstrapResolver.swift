import Logging
import Multiformats
import P2PCore

/// Turns bootstrap entries into dialable addresses by resolving `/dnsaddr/` entries
/// (multiformats/multiaddr `protocols/DNSADDR.md`).
///
/// `/dnsaddr/<domain>…` is looked up as the TXT records of `_dnsaddr.<domain>`; each record
/// `dnsaddr=<multiaddr>` names an address, and an address that is itself `/dnsaddr/…` is
/// resolved in turn, at most ``maxDepth`` lookups deep. When the entry ends in `/p2p/<id>`,
/// only addresses of that same peer are kept (at every level, as go-libp2p does). Records that
/// do not start with `dnsaddr=` or do not parse are ignored. Every lookup of one `resolve`
/// call shares one deadline, and a name is looked up once per call however many entries
/// name it.
///
/// An entry that yields no address is logged (one info line) and skipped: resolving never
/// throws and returns within the timeout.
public struct BootstrapResolver: Sendable {
    /// How many lookups one chain of nested `/dnsaddr/` entries may take (the entry's own
    /// lookup included); bootstrap.libp2p.io needs two.
    public static let maxDepth = 4
    /// How many lookups one entry may cause in all.
    public static let maxLookupsPerEntry = 16
    /// How many addresses one entry may resolve to; the rest are dropped.
    public static let maxAddressesPerEntry = 64

    private let logger: Logger
    private let timeout: Duration
    private let lookupTXT: @Sendable (String) throws -> [String]

    /// A resolver that logs to `logger` and gives DNS `timeout` for one `resolve` call.
    ///
    /// `lookupTXT`: the TXT strings of a DNS name (default: the system resolver through
    /// CResolv, run on `BlockingExecutor.run` from P2PCore — never block the cooperative
    /// pool). Injected in tests. It is always called off the cooperative pool, and its answer
    /// is not waited for beyond the timeout.
    public init(
        logger: Logger, timeout: Duration = .seconds(5),
        lookupTXT: (@Sendable (String) throws -> [String])? = nil
    ) {
        self.logger = logger
        self.timeout = timeout
        self.lookupTXT = lookupTXT ?? { name in try SystemDNS.lookupTXT(name, timeout: timeout) }
    }

    /// Every address dialable after resolving `/dnsaddr/` entries (others unchanged, order
    /// kept, duplicates dropped).
    ///
    /// An address is a `/dnsaddr/` entry when its first component is `dnsaddr`; its place in
    /// the list is taken by what it resolves to. Entries are resolved concurrently.
    public func resolve(_ addresses: [Multiaddr]) async -> [Multiaddr] {
        let lookups = TXTLookups(lookup: lookupTXT, deadline: .now + timeout, timeout: timeout)
        let resolved = await withTaskGroup(of: (Int, [Multiaddr]).self) { group in
            for (index, address) in addresses.enumerated() where Self.isDNSAddr(address) {
                group.addTask { (index, await resolveEntry(address, lookups: lookups)) }
            }
            var resolved: [Int: [Multiaddr]] = [:]
            for await (index, result) in group { resolved[index] = result }
            return resolved
        }
        var seen = Set<Multiaddr>()
        var out: [Multiaddr] = []
        for (index, address) in addresses.enumerated() {
            for candidate in resolved[index] ?? [address] where seen.insert(candidate).inserted {
                out.append(candidate)
            }
        }
        return out
    }

    private static func isDNSAddr(_ address: Multiaddr) -> Bool {
        address.components.first?.protocol == .dnsaddr
    }

    /// `_dnsaddr.<domain>` for a `/dnsaddr/<domain>…` address.
    private static func txtName(_ address: Multiaddr) -> String {
        "_dnsaddr." + (address.components.first?.valueString ?? "")
    }

    /// What one entry resolves to; logs one info line when that is nothing.
    private func resolveEntry(_ entry: Multiaddr, lookups: TXTLookups) async -> [Multiaddr] {
        let walk = Walk()
        var addresses = await expand(entry, depth: 1, path: [], walk: walk, lookups: lookups)
        if addresses.count > Self.maxAddressesPerEntry {
            logger.debug("bootstrap: \(entry) resolves to \(addresses.count) addresses; keeping the first \(Self.maxAddressesPerEntry)")
            addresses.removeLast(addresses.count - Self.maxAddressesPerEntry)
        }
        let notes = walk.notes
        if addresses.isEmpty {
            let why = notes.first ?? "DNS TXT \(Self.txtName(entry)): no usable dnsaddr record"
                + (entry.components.last?.protocol == .p2p ? " for this peer" : "")
            logger.info("bootstrap: cannot resolve \(entry) (\(why)); skipping it")
        } else {
            for note in notes { logger.debug("bootstrap: resolving \(entry): \(note)") }
        }
        return addresses
    }

    /// The addresses `address` stands for: itself unless it is `/dnsaddr/…`, else what its TXT
    /// records name, resolved in turn. `path` holds the names looked up on the way here.
    private func expand(
        _ address: Multiaddr, depth: Int, path: Set<String>, walk: Walk, lookups: TXTLookups
    ) async -> [Multiaddr] {
        guard Self.isDNSAddr(address) else { return [address] }
        let name = Self.txtName(address)
        guard !path.contains(name) else {
            walk.note("DNS TXT \(name): loops back to a name already being resolved; not followed")
            return []
        }
        guard depth <= Self.maxDepth else {
            walk.note("DNS TXT \(name): more than \(Self.maxDepth) nested dnsaddr lookups; not followed")
            return []
        }
        guard walk.takeLookup() else {
            walk.note("DNS TXT \(name): more than \(Self.maxLookupsPerEntry) lookups for one entry; not followed")
            return []
        }
        let records: [String]
        switch await lookups.txt(name) {
        case .success(let strings): records = strings
        case .failure(let reason):
            walk.note("DNS TXT \(name): \(reason)")
            return []
        }

        let peer = address.components.last?.protocol == .p2p ? address.peerIDMultihash : nil
        let named = Self.addresses(in: records).filter { peer == nil || $0.peerIDMultihash == peer }
        let nextPath = path.union([name])
        // Nested entries are looked up concurrently; their results keep the records' order.
        return await withTaskGroup(of: (Int, [Multiaddr]).self) { group in
            for (index, next) in named.enumerated() where Self.isDNSAddr(next) {
                group.addTask {
                    (index, await expand(next, depth: depth + 1, path: nextPath, walk: walk, lookups: lookups))
                }
            }
            var nested: [Int: [Multiaddr]] = [:]
            for await (index, result) in group { nested[index] = result }
            return named.indices.flatMap { nested[$0] ?? [named[$0]] }
        }
    }

    /// The multiaddrs named by `dnsaddr=<multiaddr>` TXT strings; other strings are ignored.
    static func addresses(in records: [String]) -> [Multiaddr] {
        let prefix = "dnsaddr="
        return records.compactMap { record in
            guard record.hasPrefix(prefix) else { return nil }
            return try? Multiaddr(String(record.dropFirst(prefix.count)))
        }
    }
}

/// One entry's resolution: the lookups it may still take and what went wrong on the way.
private final class Walk: Sendable {
    private struct State {
        var lookupsLeft = BootstrapResolver.maxLookupsPerEntry
        var notes: [String] = []
    }
    private let state = Locked(State())

    func takeLookup() -> Bool {
        state.withLock { state in
            guard state.lookupsLeft > 0 else { return false }
            state.lookupsLeft -= 1
            return true
        }
    }

    func note(_ text: String) { state.withLock { $0.notes.append(text) } }

    var notes: [String] { state.withLock { $0.notes } }
}

/// The TXT lookups of one `resolve` call: each name looked up once, every lookup run off the
/// cooperative pool and abandoned at the shared deadline.
private final class TXTLookups: Sendable {
    private let lookup: @Sendable (String) throws -> [String]
    private let deadline: ContinuousClock.Instant
    private let timeout: Duration
    private let started = Locked<[String: Task<Result<[String], LookupFailure>, Never>]>([:])

    init(lookup: @escaping @Sendable (String) throws -> [String], deadline: ContinuousClock.Instant, timeout: Duration) {
        self.lookup = lookup
        self.deadline = deadline
        self.timeout = timeout
    }

    /// The TXT strings of `name`, or why there are none.
    func txt(_ name: String) async -> Result<[String], LookupFailure> {
        let task = started.withLock { started in
            if let task = started[name] { return task }
            let task = Task { [lookup, deadline, timeout] in
                await Self.race(name, lookup: lookup, deadline: deadline, timeout: timeout)
            }
            started[name] = task
            return task
        }
        return await withTaskCancellationHandler { await task.value } onCancel: { task.cancel() }
    }

    /// Runs `lookup(name)` on a blocking thread and returns its result, or a timeout at
    /// `deadline`, or a cancellation, whichever comes first; a lookup still running then
    /// finishes on its own thread and is ignored.
    private static func race(
        _ name: String, lookup: @escaping @Sendable (String) throws -> [String],
        deadline: ContinuousClock.Instant, timeout: Duration
    ) async -> Result<[String], LookupFailure> {
        guard deadline > .now else { return .failure(LookupFailure(DNSLookupError.timedOut(after: timeout))) }
        let outcome = Once<Result<[String], LookupFailure>>()
        Task.detached {
            let result = await BlockingExecutor.run { () -> Result<[String], LookupFailure> in
                do { return .success(try lookup(name)) } catch { return .failure(LookupFailure(error)) }
            }
            outcome.resolve(result)
        }
        let timer = Task {
            do {
                try await Task.sleep(until: deadline, clock: .continuous)
                outcome.resolve(.failure(LookupFailure(DNSLookupError.timedOut(after: timeout))))
            } catch {
                outcome.resolve(.failure(LookupFailure(reason: "cancelled")))
            }
        }
        let result = await withTaskCancellationHandler { await outcome.value } onCancel: { timer.cancel() }
        timer.cancel()
        return result
    }
}

/// Why a lookup gave no TXT strings, as it reads in a log line.
private struct LookupFailure: Error, CustomStringConvertible {
    let description: String

    init(reason: String) { description = reason }
    init(_ error: any Error) { description = "\(error)" }
}

/// A value set once by whichever producer comes first and awaited by one consumer.
private final class Once<Value: Sendable>: Sendable {
    private struct State {
        var value: Value?
        var waiter: CheckedContinuation<Value, Never>?
    }
    private let state = Locked(State())

    /// Sets the value unless it is already set.
    func resolve(_ value: Value) {
        let waiter = state.withLock { state -> CheckedContinuation<Value, Never>? in
            guard state.value == nil else { return nil }
            state.value = value
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: value)
    }

    /// The value, once set.
    var value: Value {
        get async {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> Value? in
                    if let value = state.value { return value }
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }
    }
}
