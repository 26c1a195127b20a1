import BlockingPool
import Foundation
import Multiformats

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
///
/// Across processes the same rule holds through an advisory lock on a file beside the store
/// (`flock`): a process holds it shared while it has at least one lease, and a collection holds
/// it exclusive. So `store gc` in one process waits for the writers of every other process (an
/// `add`, a daemon's fetch or pull) to pin or reference what they stored, and their new leases
/// wait for the collection. The kernel drops a dead process's lock, so a killed writer never
/// blocks GC.
final class GCCoordinator: @unchecked Sendable {
    private let condition = NSCondition()
    private var leases = 0
    private var collecting = false
    private var providers: [Int: any GCRootProvider] = [:]
    private var nextProviderID = 0
    /// The lock file's descriptor (nil: in-process only, as for memory stores).
    private let lockFD: Int32?
    /// The file lock this process holds for its leases, and transitions in flight.
    private var fileLock: FileLockState = .none
    private enum FileLockState { case none, acquiring, held, releasing }

    /// In-process leases only (memory stores).
    init() { lockFD = nil }

    /// Leases shared with every process that opens the same store: `lockPath` is the file whose
    /// lock stands for them.
    init(lockPath: String) throws(BlockStoreError) {
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .cannotOpen(path: lockPath, reason: String(cString: strerror(errno))) }
        lockFD = fd
    }

    deinit {
        if let lockFD { close(lockFD) }
    }

    private func flockRetrying(_ operation: Int32) {
        guard let lockFD else { return }
        while flock(lockFD, operation) != 0 && errno == EINTR {}
    }

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

    /// Waits while a collection runs (in this process or another), then takes a lease.
    func lease() -> GCLease {
        condition.lock()
        while collecting || fileLock == .acquiring || fileLock == .releasing { condition.wait() }
        leases += 1
        if fileLock == .none && lockFD != nil {
            fileLock = .acquiring
            condition.unlock()
            flockRetrying(LOCK_SH)  // waits for another process's collection
            condition.lock()
            fileLock = .held
            condition.broadcast()
        }
        condition.unlock()
        return GCLease(coordinator: self)
    }

    func releaseLease() {
        condition.lock()
        leases -= 1
        if leases == 0 && fileLock == .held {
            fileLock = .releasing
            condition.unlock()
            flockRetrying(LOCK_UN)
            condition.lock()
            fileLock = .none
        }
        condition.broadcast()
        condition.unlock()
    }

    /// Runs `body` once no lease is held, in this process or another, and no other collection
    /// runs, blocking new leases meanwhile. `body` gets the roots of every registered provider.
    func collect<R>(_ body: ([CID]) throws(BlockStoreError) -> R) throws(BlockStoreError) -> R {
        condition.lock()
        while collecting || leases > 0 || fileLock != .none { condition.wait() }
        collecting = true
        let current = Array(providers.values)
        condition.unlock()
        flockRetrying(LOCK_EX)  // waits for other processes' leases
        defer {
            flockRetrying(LOCK_UN)
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
