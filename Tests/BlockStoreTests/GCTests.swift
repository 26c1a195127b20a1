import BlockingPool
import Foundation
import IPLD
import Multiformats
import Testing

@testable import BlockStore
import TestSupport

/// Roots from a fixed list (or a failure).
struct FixedRoots: GCRootProvider {
    var roots: [CID]
    var fail = false

    func gcRoots() throws -> [CID] {
        if fail { throw BlockStoreError.rootProviderFailed(reason: "test provider") }
        return roots
    }
}

@Suite("Garbage collection", .onBlockingPool)
struct GCTests {
    @Test("keeps recursive DAGs, direct pins and provider roots; removes the rest", arguments: StoreKind.allCases)
    func markAndSweep(kind: StoreKind) throws {
        let dir = try TempDir()
        let store = try kind.make(in: dir)
        let (pinnedRoot, pinned) = try fileDAG(leafCount: 4, seed: 1)
        let (directRoot, directDAG) = try fileDAG(leafCount: 3, seed: 2)
        let (refRoot, refDAG) = try fileDAG(leafCount: 3, seed: 3, rawLeaves: true)
        let (_, garbage) = try fileDAG(leafCount: 5, leafSize: 100, seed: 4)
        // A provider root whose DAG is only partly stored: what is stored is kept.
        let partial = try pbBlock(links: [try rawBlock("never stored").cid], data: [9])
        try store.putMany(pinned + directDAG + refDAG + garbage + [partial])
        try store.pin(pinnedRoot.cid, recursive: true, name: nil)
        try store.pin(directRoot.cid, recursive: false, name: nil)
        store.registerGCRootProvider(FixedRoots(roots: [refRoot.cid, partial.cid]))

        let result = try store.collectGarbage()
        let expectedGone = Array(directDAG.dropFirst()) + garbage
        #expect(Set(result.removed.map(\.multihash)) == Set(expectedGone.map(\.cid.multihash)))
        #expect(result.removedBytes == expectedGone.reduce(0) { $0 + $1.data.count })
        // Removed CIDs carry the codec they were stored under.
        #expect(Set(result.removed) == Set(expectedGone.map { $0.cid.toV1() }))
        for block in pinned + [directRoot] + refDAG + [partial] { #expect(try store.has(block.cid)) }
        for block in expectedGone { #expect(try store.has(block.cid) == false) }
        #expect(try store.verify().isOK)
        #expect(try store.collectGarbage().removed.isEmpty)
    }

    /// Two handles on one store file stand for two processes: each has its own lock on the
    /// file beside the store, as two processes have.
    @Test("a lease held by another handle on the same file holds off GC until it is released")
    func leasesAcrossHandles() async throws {
        let dir = try TempDir()
        let path = dir.path("store.sqlite")
        let writer = try SQLiteBlockStore(path: path)
        let collector = try SQLiteBlockStore(path: path)
        let block = try rawBlock("stored, not yet pinned")
        let lease = writer.gcLease()
        try writer.put(block)
        let gc = Task.detached { try collector.collectGarbage() }
        // GC waits on the writer's lease; the block is still there while it waits.
        try await Task.sleep(for: .milliseconds(300))
        #expect(try writer.has(block.cid))
        try writer.pin(block.cid, recursive: false, name: nil)
        lease.release()
        let result = try await gc.value
        #expect(result.removed.isEmpty)
        #expect(try collector.has(block.cid))
        // And a lease taken while a collection runs elsewhere waits for it: after GC ends,
        // leases come and go freely on both handles.
        writer.gcLease().release()
        collector.gcLease().release()
        #expect(try collector.collectGarbage().removed.isEmpty)
    }

    @Test("unregistered providers no longer protect; a failing provider aborts GC", arguments: StoreKind.allCases)
    func providers(kind: StoreKind) throws {
        let dir = try TempDir()
        let store = try kind.make(in: dir)
        let block = try rawBlock("ref target")
        try store.put(block)
        let token = store.registerGCRootProvider(FixedRoots(roots: [block.cid]))
        #expect(try store.collectGarbage().removed.isEmpty)
        let failing = store.registerGCRootProvider(FixedRoots(roots: [], fail: true))
        #expect(throws: BlockStoreError.self) { try store.collectGarbage() }
        #expect(try store.has(block.cid))
        store.unregisterGCRootProvider(failing)
        store.unregisterGCRootProvider(token)
        #expect(try store.collectGarbage().removed == [block.cid])
    }

    @Test("GC refuses to run when a pinned DAG is broken", arguments: StoreKind.allCases)
    func brokenPin(kind: StoreKind) throws {
        let dir = try TempDir()
        let store = try kind.make(in: dir)
        let (root, blocks) = try fileDAG(leafCount: 3)
        let loose = try rawBlock("loose")
        try store.putMany(blocks + [loose])
        try store.pin(root.cid, recursive: true, name: nil)
        try store.delete(blocks[2].cid)  // delete does not check pins
        #expect(throws: BlockStoreError.incompleteDAG(root: root.cid, missing: blocks[2].cid)) {
            try store.collectGarbage()
        }
        #expect(try store.has(loose.cid))
        let report = try store.verify()
        #expect(report.incompletePins == [IncompletePin(root: root.cid, missing: blocks[2].cid, reason: "block not in the store")])
    }

    @Test("a lease holds GC off until released", arguments: StoreKind.allCases)
    func lease(kind: StoreKind) async throws {
        let dir = try TempDir()
        let store = try kind.make(in: dir)
        let lease = store.gcLease()
        let block = try rawBlock("written under a lease")
        try store.put(block)
        // GC blocks its thread while it waits: run it on its own thread, not the shared pool.
        let outcome = Locked<Result<GCResult, BlockStoreError>?>(nil)
        let finished = Thread {
            let result = Result { () throws(BlockStoreError) -> GCResult in try store.collectGarbage() }
            outcome.withLock { $0 = result }
        }
        finished.start()
        try await Task.sleep(for: .milliseconds(200))
        #expect(outcome.withLock { $0 } == nil)
        // Still there: GC is waiting. Pin, then let GC run.
        #expect(try store.has(block.cid))
        try store.pin(block.cid, recursive: true, name: nil)
        lease.release()
        lease.release()
        var result: Result<GCResult, BlockStoreError>?
        for _ in 0..<500 where result == nil {
            try await Task.sleep(for: .milliseconds(10))
            result = outcome.withLock { $0 }
        }
        #expect(try #require(result).get().removed.isEmpty)
        #expect(try store.has(block.cid))
    }
}
