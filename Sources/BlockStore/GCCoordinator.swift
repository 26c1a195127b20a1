import Foundation
import Multiformats

/// A value behind a lock.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) {
        self.value = value
    }

    func withLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

/// Holds off garbage collection while alive. Release it (or let it go) once the blocks written
/// under it are pinned or referenced. Releasing twice is harmless.
public final class GCLease: Sendable {
    private let coordinator: GCCoordinator
    private let released = Locked(false)

    init(coordinator: GCCoordinator) {
        self.coordinator = coordinator
    }

    /// Lets GC run again (once every other lease is released too).
    public func release() {
        let wasReleased = released.withLock { value in
            defer { value = true }
            return value
        }
        if !wasReleased { coordinator.releaseLease() }
    }

    deinit { release() }
}

/// GC leases (shared) against collection (exclusive), and the registered root providers.
final class GCCoordinator: @unchecked Sendable {
    private let condition = NSCondition()
    private var leases = 0
    private var collecting = false
    private var providers: [Int: any GCRootProvider] = [:]
    private var nextProviderID = 0

    func register(_ provider: any GCRootProvider) -> GCRootProviderToken {
        condition.lock()
        defer { condition.unlock() }
        nextProviderID += 1
        providers[nextProviderID] = provider
        return GCRootProviderToken(id: nextProviderID)
    }

    func unregister(_ token: GCRootProviderToken) {
        condition.lock()
        defer { condition.unlock() }
        providers[token.id] = nil
    }

    /// Waits while a collection runs, then takes a lease.
    func lease() -> GCLease {
        condition.lock()
        while collecting { condition.wait() }
        leases += 1
        condition.unlock()
        return GCLease(coordinator: self)
    }

    func releaseLease() {
        condition.lock()
        leases -= 1
        condition.broadcast()
        condition.unlock()
    }

    /// Runs `body` once no lease is held and no other collection runs, blocking new leases
    /// meanwhile. `body` gets the roots of every registered provider.
    func collect<R>(_ body: ([CID]) throws(BlockStoreError) -> R) throws(BlockStoreError) -> R {
        condition.lock()
        while collecting || leases > 0 { condition.wait() }
        collecting = true
        let current = Array(providers.values)
        condition.unlock()
        defer {
            condition.lock()
            collecting = false
            condition.broadcast()
            condition.unlock()
        }
        var roots: [CID] = []
        for provider in current {
            do {
                roots += try provider.gcRoots()
            } catch {
                throw .rootProviderFailed(reason: "\(error)")
            }
        }
        return try body(roots)
    }
}
