import BlockStore
import IPLD
import Multiformats
import P2PCore
import P2PCrypto
import UnixFS
import XCTest

@testable import Bitswap
import P2PTestSupport

/// Whole fetches between `Bitswap` nodes (and hand-written peers) over the in-memory network.
final class BitswapEndToEndTests: XCTestCase {
    private let network = MemoryNetwork()

    private func options(_ peers: [PeerID], timeout: Int = 20) -> FetchOptions {
        FetchOptions(peers: peers, timeout: .seconds(timeout), peerWait: .seconds(2))
    }

    /// A provider holding `dag`, a connected empty fetcher, and one full fetch.
    private func fetchFromOneProvider(_ dag: TestDAG, file: StaticString = #filePath, line: UInt = #line) async throws {
        let provider = await TestNode.make(on: network, store: try dag.store())
        let fetcher = await TestNode.make(on: network)
        await network.connect(provider.host, fetcher.host)
        let result = try await fetcher.bitswap.fetch(dag.root, options: options([provider.peer]))
        XCTAssertTrue(try dag.isComplete(in: fetcher.store), "store lacks blocks", file: file, line: line)
        XCTAssertEqual(try fetcher.store.allMultihashes().count, dag.blocks.count, file: file, line: line)
        XCTAssertEqual(result.root, dag.root, file: file, line: line)
        XCTAssertEqual(result.blocks, dag.blocks.count, file: file, line: line)
        XCTAssertEqual(result.blocksFetched, dag.blocks.count, file: file, line: line)
        XCTAssertEqual(result.blocksPresent, 0, file: file, line: line)
        XCTAssertEqual(result.bytesFetched, dag.totalBytes, file: file, line: line)
        XCTAssertEqual(result.providers.map(\.peer), [provider.peer], file: file, line: line)
        XCTAssertEqual(result.providers.first?.blocks, dag.blocks.count, file: file, line: line)
        XCTAssertEqual(result.providers.first?.bytes, dag.totalBytes, file: file, line: line)
        XCTAssertTrue(result.droppedPeers.isEmpty, "\(result.droppedPeers)", file: file, line: line)
        XCTAssertTrue(fetcher.bitswap.wantlist().isEmpty, file: file, line: line)

        // Again: everything is present, nothing is asked.
        let again = try await fetcher.bitswap.fetch(dag.root, options: options([provider.peer]))
        XCTAssertEqual(again.blocks, dag.blocks.count, file: file, line: line)
        XCTAssertEqual(again.blocksPresent, dag.blocks.count, file: file, line: line)
        XCTAssertEqual(again.blocksFetched, 0, file: file, line: line)
        XCTAssertEqual(again.bytesFetched, 0, file: file, line: line)
    }

    // MARK: One provider

    func testFetchCIDv0FileWithDagPBLeaves() async throws {
        let dag = try await SharedDAGs.shared.fileV0()
        XCTAssertEqual(dag.root.version, .v0)
        XCTAssertEqual(dag.blocks.count, 21)
        try await fetchFromOneProvider(dag)
    }

    func testFetchCIDv1FileWithRawLeaves() async throws {
        let dag = try await SharedDAGs.shared.fileV1()
        XCTAssertEqual(dag.root.version, .v1)
        XCTAssertTrue(dag.blocks.contains { $0.cid.codec == .raw })
        try await fetchFromOneProvider(dag)
    }

    func testFetchDirectory() async throws {
        let dag = try await SharedDAGs.shared.directory()
        try await fetchFromOneProvider(dag)
    }

    /// A file of zeros links the same leaf many times. The counts should describe distinct blocks
    /// (blocks == fetched + present), so that a progress bar reaches 100 %.
    func testDepthLimitedFetchGetsADirectoryAndItsEntries() async throws {
        let dag = try await SharedDAGs.shared.directory()
        let provider = await TestNode.make(on: network, store: try dag.store())
        let fetcher = await TestNode.make(on: network)
        await network.connect(provider.host, fetcher.host)
        var shallow = options([provider.peer])
        shallow.maxDepth = 1
        let result = try await fetcher.bitswap.fetch(dag.root, options: shallow)
        let rootBlock = try XCTUnwrap(try provider.store.get(dag.root))
        let links = try IPLDCodecs.links(in: rootBlock)
        XCTAssertEqual(result.blocks, 1 + links.count)
        XCTAssertEqual(result.blocksFetched, 1 + links.count)
        for cid in [dag.root] + links { XCTAssertTrue(try fetcher.store.has(cid), "\(cid)") }
        XCTAssertLessThan(try fetcher.store.allMultihashes().count, dag.blocks.count, "nothing deeper was fetched")
        // A full fetch then resumes from what is there.
        let full = try await fetcher.bitswap.fetch(dag.root, options: options([provider.peer]))
        XCTAssertEqual(full.blocksPresent, 1 + links.count)
        XCTAssertTrue(try dag.isComplete(in: fetcher.store))
    }

    func testRepeatedLeavesAreCountedOnce() async throws {
        let dag = try await offPool { () throws -> TestDAG in
            var options = try ImportOptions.kubo(cidVersion: 0)
            options.chunker = .fixed(size: 65_536)
            let sink = CollectingBlockSink()
            let result = try Importer(options: options, sink: sink).add(bytes: [UInt8](repeating: 0, count: 1 << 20))
            var seen: Set<Multihash> = []
            return TestDAG(root: result.root.cid, blocks: sink.blocks.filter { seen.insert($0.cid.multihash).inserted })
        }
        XCTAssertEqual(dag.blocks.count, 2, "one root, one distinct leaf linked 16 times")
        let provider = await TestNode.make(on: network, store: try dag.store())
        let fetcher = await TestNode.make(on: network)
        await network.connect(provider.host, fetcher.host)
        let reports = ProgressLog()
        let result = try await fetcher.bitswap.fetch(dag.root, options: options([provider.peer])) { reports.append($0) }
        XCTAssertTrue(try dag.isComplete(in: fetcher.store))
        XCTAssertEqual(result.blocksFetched, 2)
        XCTAssertEqual(result.blocks, result.blocksFetched + result.blocksPresent, "blocks: \(result.blocks)")
        let last = try XCTUnwrap(reports.all.last)
        XCTAssertEqual(last.blocksDone, last.blocksKnown, "progress ends at \(last.blocksDone) of \(last.blocksKnown)")
    }

    func testFetchSingleRawBlockAndNonRecursive() async throws {
        let dag = try await SharedDAGs.shared.fileV1()
        let provider = await TestNode.make(on: network, store: try dag.store())
        let fetcher = await TestNode.make(on: network)
        await network.connect(provider.host, fetcher.host)
        let leaf = try XCTUnwrap(dag.blocks.first { $0.cid.codec == .raw })
        let one = try await fetcher.bitswap.fetch(leaf.cid, options: options([provider.peer]))
        XCTAssertEqual(one.blocks, 1)
        XCTAssertEqual(one.blocksFetched, 1)
        XCTAssertEqual(try fetcher.store.get(leaf.cid)?.data, leaf.data)

        var rootOnly = options([provider.peer])
        rootOnly.recursive = false
        let root = try await fetcher.bitswap.fetch(dag.root, options: rootOnly)
        XCTAssertEqual(root.blocksFetched, 1)
        XCTAssertTrue(try fetcher.store.has(dag.root))
        XCTAssertEqual(try fetcher.store.allMultihashes().count, 2)
    }

    func testProgressIsReported() async throws {
        let dag = try await SharedDAGs.shared.fileV0()
        let provider = await TestNode.make(on: network, store: try dag.store())
        let fetcher = await TestNode.make(on: network)
        await network.connect(provider.host, fetcher.host)
        let reports = ProgressLog()
        _ = try await fetcher.bitswap.fetch(dag.root, options: options([provider.peer])) { reports.append($0) }
        let last = try XCTUnwrap(reports.all.last)
        XCTAssertEqual(last.blocksDone, dag.blocks.count)
        XCTAssertEqual(last.blocksKnown, dag.blocks.count)
        XCTAssertEqual(last.bytesFetched, dag.totalBytes)
        XCTAssertEqual(last.peers, 1)
        let done = reports.all.map(\.blocksDone)
        XCTAssertEqual(done, done.sorted(), "progress never goes back")
    }

    // MARK: Several providers

    func testThreeProvidersShareTheWork() async throws {
        let dag = try await SharedDAGs.shared.fileV0()
        let fetcher = await TestNode.make(on: network)
        var providers: [TestNode] = []
        for _ in 0..<3 {
            let provider = await TestNode.make(on: network, store: try dag.store())
            await network.connect(provider.host, fetcher.host)
            providers.append(provider)
        }
        let result = try await fetcher.bitswap.fetch(dag.root, options: options(providers.map(\.peer)))
        XCTAssertTrue(try dag.isComplete(in: fetcher.store))
        XCTAssertEqual(result.blocksFetched, dag.blocks.count)
        XCTAssertEqual(Set(result.providers.map(\.peer)), Set(providers.map(\.peer)))
        for provider in providers {
            XCTAssertGreaterThan(result.provider(provider.peer)?.blocks ?? 0, 0, "\(provider.peer) sent nothing")
        }
        XCTAssertEqual(result.providers.reduce(0) { $0 + $1.blocks }, dag.blocks.count)
        // No block is asked twice; at most a small root comes inline from the peers asked want-have.
        XCTAssertLessThanOrEqual(fetcher.bitswap.stats().duplicateBlocksReceived, providers.count - 1)
    }

    func testProviderDisconnectedMidFetch() async throws {
        let dag = try await SharedDAGs.shared.manyBlocksV0()
        var config = Bitswap.Config()
        config.window = 8
        let fetcher = await TestNode.make(on: network, config: config)
        let victim = await TestNode.make(on: network, store: try dag.store())
        var honest: [TestNode] = []
        for _ in 0..<2 { honest.append(await TestNode.make(on: network, store: try dag.store())) }
        for node in [victim] + honest { await network.connect(node.host, fetcher.host) }
        // The victim answers two messages, then goes quiet with requests open.
        victim.host.stallWrites(after: 2)

        let fetchOptions = options(([victim] + honest).map(\.peer))
        let fetch = Task { [fetcher] in try await fetcher.bitswap.fetch(dag.root, options: fetchOptions) }
        try await waitUntil("the victim to send blocks and stall", seconds: 10) {
            fetcher.bitswap.ledger(for: victim.peer).blocksReceived > 0 && victim.host.stalledWriteCount > 0
        }
        XCTAssertFalse(try dag.isComplete(in: fetcher.store), "the fetch cannot end while the victim holds requests")
        await network.disconnect(victim.host, fetcher.host)

        let result = try await fetch.value
        XCTAssertTrue(try dag.isComplete(in: fetcher.store))
        XCTAssertEqual(result.blocksFetched, dag.blocks.count)
        XCTAssertNotNil(result.dropped(victim.peer), "the victim is dropped: \(result.droppedPeers)")
        XCTAssertGreaterThan(result.provider(victim.peer)?.blocks ?? 0, 0)
        for node in honest { XCTAssertGreaterThan(result.provider(node.peer)?.blocks ?? 0, 0) }
        XCTAssertEqual(result.providers.reduce(0) { $0 + $1.blocks }, dag.blocks.count)
    }

    func testCorruptProviderIsDroppedAndHonestOneCompletes() async throws {
        let dag = try await SharedDAGs.shared.fileV0()
        let fetcher = await TestNode.make(on: network)
        let corrupt = await CorruptPeer(network: network)
        let honest = await TestNode.make(on: network, store: try dag.store())
        await network.connect(corrupt.host, fetcher.host)
        await network.connect(honest.host, fetcher.host)
        // The corrupt peer comes first, so it is asked for the root.
        let result = try await fetcher.bitswap.fetch(dag.root, options: options([corrupt.host.localPeer, honest.peer]))
        XCTAssertGreaterThan(corrupt.blocksSent, 0)
        XCTAssertNotNil(result.dropped(corrupt.host.localPeer), "\(result.droppedPeers)")
        XCTAssertNil(result.provider(corrupt.host.localPeer))
        XCTAssertEqual(result.provider(honest.peer)?.blocks, dag.blocks.count)
        XCTAssertTrue(try dag.isComplete(in: fetcher.store))
        XCTAssertGreaterThan(fetcher.bitswap.stats().badBlocksReceived, 0)
        // Nothing the corrupt peer sent was stored.
        XCTAssertEqual(try fetcher.store.allMultihashes().count, dag.blocks.count)

        // It stays in quarantine: the next fetch lists it as dropped without asking it, and
        // blocks it sends meanwhile are not even hashed.
        let other = try await SharedDAGs.shared.fileV1()
        let honest2 = await TestNode.make(on: network, store: try other.store())
        await network.connect(honest2.host, fetcher.host)
        let sentBefore = corrupt.blocksSent
        let badBefore = fetcher.bitswap.stats().badBlocksReceived
        let second = try await fetcher.bitswap.fetch(other.root, options: options([corrupt.host.localPeer, honest2.peer]))
        XCTAssertTrue(second.dropped(corrupt.host.localPeer)?.contains("bad block") ?? false, "\(second.droppedPeers)")
        XCTAssertEqual(corrupt.blocksSent, sentBefore, "a quarantined peer is not asked")
        XCTAssertEqual(fetcher.bitswap.stats().badBlocksReceived, badBefore)
        XCTAssertTrue(try other.isComplete(in: fetcher.store))
    }

    func testMalformedSenderIsDroppedAndHonestOneCompletes() async throws {
        let dag = try await SharedDAGs.shared.directory()
        let fetcher = await TestNode.make(on: network)
        let malformed = await CorruptPeer(network: network, malformed: true)
        let honest = await TestNode.make(on: network, store: try dag.store())
        await network.connect(malformed.host, fetcher.host)
        await network.connect(honest.host, fetcher.host)
        let result = try await fetcher.bitswap.fetch(dag.root, options: options([malformed.host.localPeer, honest.peer]))
        XCTAssertGreaterThan(malformed.blocksSent, 0)
        XCTAssertNotNil(result.dropped(malformed.host.localPeer), "\(result.droppedPeers)")
        XCTAssertTrue(try dag.isComplete(in: fetcher.store))
    }

    // MARK: Resume

    func testResumeFetchesOnlyWhatIsMissing() async throws {
        let dag = try await SharedDAGs.shared.manyBlocksV0()
        let provider = await TestNode.make(on: network, store: try dag.store())
        let fetcher = await TestNode.make(on: network)
        // Half the leaves are already here (every other block, root excluded).
        let present = dag.blocks.enumerated().filter { $0.offset % 2 == 0 && $0.element.cid != dag.root }.map(\.element)
        try fetcher.store.putMany(present)
        await network.connect(provider.host, fetcher.host)

        let result = try await fetcher.bitswap.fetch(dag.root, options: options([provider.peer]))
        XCTAssertTrue(try dag.isComplete(in: fetcher.store))
        XCTAssertEqual(result.blocks, dag.blocks.count)
        XCTAssertEqual(result.blocksPresent, present.count)
        XCTAssertEqual(result.blocksFetched, dag.blocks.count - present.count)
        XCTAssertEqual(result.bytesFetched, dag.totalBytes - present.reduce(0) { $0 + $1.data.count })
        try await waitUntil("the provider's ledger") {
            provider.bitswap.ledger(for: fetcher.peer).blocksSent == result.blocksFetched
        }
        XCTAssertEqual(fetcher.bitswap.stats().blocksReceived, result.blocksFetched)
        let presentSet = Set(present.map(\.cid.multihash))
        XCTAssertTrue(provider.bitswap.stats().blocksSent == result.blocksFetched && !presentSet.isEmpty)
    }

    // MARK: Protocol versions

    func testPeerSpeakingOnly100ServesAndFetches() async throws {
        let dag = try await SharedDAGs.shared.fileV0()
        let old = await TestNode.make(on: network, store: try dag.store(), protocols: [BitswapProtocol.v100])
        let modern = await TestNode.make(on: network)
        await network.connect(old.host, modern.host)

        // The 1.0.0 peer serves.
        let fetched = try await modern.bitswap.fetch(dag.root, options: options([old.peer]))
        XCTAssertTrue(try dag.isComplete(in: modern.store))
        XCTAssertEqual(fetched.blocksFetched, dag.blocks.count)
        XCTAssertEqual(Set(network.negotiated(from: modern.peer, to: old.peer)), [BitswapProtocol.v100])
        XCTAssertEqual(Set(network.negotiated(from: old.peer, to: modern.peer)), [BitswapProtocol.v100])

        // The 1.0.0 peer fetches.
        let oldFetcher = await TestNode.make(on: network, protocols: [BitswapProtocol.v100])
        await network.connect(oldFetcher.host, modern.host)
        let result = try await oldFetcher.bitswap.fetch(dag.root, options: options([modern.peer]))
        XCTAssertTrue(try dag.isComplete(in: oldFetcher.store))
        XCTAssertEqual(result.blocksFetched, dag.blocks.count)
        XCTAssertEqual(Set(network.negotiated(from: oldFetcher.peer, to: modern.peer)), [BitswapProtocol.v100])
        XCTAssertEqual(Set(network.negotiated(from: modern.peer, to: oldFetcher.peer)), [BitswapProtocol.v100])
    }

    func testPeerSpeakingOnly110FetchesRawLeaves() async throws {
        let dag = try await SharedDAGs.shared.directory()
        let provider = await TestNode.make(on: network, store: try dag.store())
        let fetcher = await TestNode.make(on: network, protocols: [BitswapProtocol.v110])
        await network.connect(provider.host, fetcher.host)
        let result = try await fetcher.bitswap.fetch(dag.root, options: options([provider.peer]))
        XCTAssertTrue(try dag.isComplete(in: fetcher.store))
        XCTAssertEqual(result.blocksFetched, dag.blocks.count)
    }

    // MARK: Server answers

    func testServerAnswersWantHaveWantBlockAndDontHave() async throws {
        let big = try rawBlock(size: 5000, seed: 10)
        let small = try rawBlock(size: BitswapProtocol.maxInlineBlockSize, seed: 11)
        let other = try rawBlock(size: 3000, seed: 12)
        let missing = try rawBlock(size: 100, seed: 13)
        let provider = await TestNode.make(on: network, store: MemoryBlockStore([big, small, other]))
        let requester = await RawRequester(network: network)
        await network.connect(provider.host, requester.host)

        let protocolID = try await requester.send(BitswapMessage(wantlist: [
            WantlistEntry(cid: big.cid, wantType: .have, sendDontHave: true),
            WantlistEntry(cid: small.cid, wantType: .have, sendDontHave: true),
            WantlistEntry(cid: missing.cid, wantType: .have, sendDontHave: true),
            WantlistEntry(cid: other.cid, wantType: .block, sendDontHave: true),
        ]), to: provider.peer)
        XCTAssertEqual(protocolID, BitswapProtocol.v120)
        try await waitUntil("the answers") { requester.inbox.blocks.count >= 2 && requester.inbox.presences.count >= 2 }
        try await Task.sleep(for: .milliseconds(50))
        XCTAssertEqual(Set(requester.inbox.presences), [
            BlockPresence(cid: big.cid, kind: .have), BlockPresence(cid: missing.cid, kind: .dontHave),
        ])
        XCTAssertEqual(Set(requester.inbox.blocks), [PrefixedBlock(small), PrefixedBlock(other)],
                       "the small block comes inline, the wanted block whole, the large one only as HAVE")
        // A refused want stays in the ledger until cancelled (as Go's engine); the rest were served.
        XCTAssertEqual(provider.bitswap.wantlist(of: requester.host.localPeer),
                       [WantlistEntry(cid: missing.cid, wantType: .have, sendDontHave: true)])
        try await waitUntil("the ledger") { provider.bitswap.ledger(for: requester.host.localPeer).blocksSent == 2 }
        XCTAssertEqual(provider.bitswap.ledger(for: requester.host.localPeer).bytesSent, small.data.count + other.data.count)

        // The refused block arrives: it is sent (inline: it is small) without being asked again.
        try provider.store.put(missing)
        provider.bitswap.blocksAdded([missing.cid])
        try await waitUntil("the late block") { requester.inbox.blocks.contains(PrefixedBlock(missing)) }
        XCTAssertEqual(provider.bitswap.wantlist(of: requester.host.localPeer), [])
    }

    func testServerWaitsForMissingBlocksAndHonoursCancel() async throws {
        let later = try rawBlock(size: 2000, seed: 20)
        let cancelled = try rawBlock(size: 2000, seed: 21)
        let provider = await TestNode.make(on: network)
        let requester = await RawRequester(network: network)
        await network.connect(provider.host, requester.host)

        try await requester.send(BitswapMessage(wantlist: [
            WantlistEntry(cid: later.cid, priority: 2, wantType: .block),
            WantlistEntry(cid: cancelled.cid, priority: 1, wantType: .block),
        ]), to: provider.peer)
        try await waitUntil("the wantlist to register") {
            provider.bitswap.wantlist(of: requester.host.localPeer).count == 2
        }
        XCTAssertEqual(provider.bitswap.wantlist(of: requester.host.localPeer).map(\.cid), [later.cid, cancelled.cid])
        try await requester.send(BitswapMessage(wantlist: [.cancel(cancelled.cid)]), to: provider.peer)
        try await waitUntil("the cancel") { provider.bitswap.wantlist(of: requester.host.localPeer).count == 1 }

        try provider.store.putMany([later, cancelled])
        provider.bitswap.blocksAdded([later.cid, cancelled.cid])
        try await waitUntil("the waiting block") { !requester.inbox.blocks.isEmpty }
        try await Task.sleep(for: .milliseconds(100))
        XCTAssertEqual(requester.inbox.blocks, [PrefixedBlock(later)], "the cancelled block is not sent")
        XCTAssertTrue(requester.inbox.presences.isEmpty, "no DONT_HAVE was asked for")
    }

    func testServerAnswers110WithBlocksOnly() async throws {
        let big = try rawBlock(size: 5000, seed: 30)
        let provider = await TestNode.make(on: network, store: MemoryBlockStore([big]))
        let requester = await RawRequester(network: network, protocols: [BitswapProtocol.v110])
        await network.connect(provider.host, requester.host)
        let protocolID = try await requester.send(BitswapMessage(wantlist: [
            WantlistEntry(cid: big.cid, wantType: .have, sendDontHave: true),
        ]), to: provider.peer)
        XCTAssertEqual(protocolID, BitswapProtocol.v110)
        try await waitUntil("the block") { !requester.inbox.blocks.isEmpty }
        XCTAssertEqual(requester.inbox.blocks, [PrefixedBlock(big)], "1.1.0 has no HAVE: a want-have is a want-block")
        XCTAssertEqual(Set(requester.inbox.protocols), [BitswapProtocol.v110])
    }

    func testFetchedBlocksServeWaitingPeers() async throws {
        let block = try rawBlock(size: 4000, seed: 40)
        let source = await TestNode.make(on: network, store: MemoryBlockStore([block]))
        let relay = await TestNode.make(on: network)
        let requester = await RawRequester(network: network)
        await network.connect(source.host, relay.host)
        await network.connect(relay.host, requester.host)
        try await requester.send(BitswapMessage(wantlist: [WantlistEntry(cid: block.cid)]), to: relay.peer)
        try await waitUntil("the want") { relay.bitswap.wantlist(of: requester.host.localPeer).count == 1 }
        _ = try await relay.bitswap.fetch(block.cid, options: FetchOptions(
            peers: [source.peer], includeConnectedPeers: false, timeout: .seconds(10)))
        try await waitUntil("the relayed block") { requester.inbox.blocks == [PrefixedBlock(block)] }
    }

    func testRepliesOnTheRequestersOwnStreamAreRead() async throws {
        let dag = try await SharedDAGs.shared.fileV1()
        let provider = await SameStreamProvider(network: network, blocks: dag.blocks)
        let fetcher = await TestNode.make(on: network)
        await network.connect(provider.host, fetcher.host)
        let result = try await fetcher.bitswap.fetch(dag.root, options: options([provider.host.localPeer]))
        XCTAssertTrue(try dag.isComplete(in: fetcher.store))
        XCTAssertEqual(result.provider(provider.host.localPeer)?.blocks, dag.blocks.count)
        XCTAssertEqual(network.negotiated(from: provider.host.localPeer, to: fetcher.peer), [],
                       "the provider never opened a stream: every answer came on the fetcher's")
        XCTAssertEqual(network.negotiated(from: fetcher.peer, to: provider.host.localPeer), [BitswapProtocol.v120])
        XCTAssertTrue(provider.inbox.messages.flatMap(\.wantlist).contains { $0.sendDontHave })
    }

    func testCIDv0BlocksWithEmptyPrefixAreAccepted() async throws {
        let dag = try await SharedDAGs.shared.fileV0()
        let provider = await SameStreamProvider(network: network, blocks: dag.blocks, emptyV0Prefix: true)
        let fetcher = await TestNode.make(on: network)
        await network.connect(provider.host, fetcher.host)
        let result = try await fetcher.bitswap.fetch(dag.root, options: options([provider.host.localPeer]))
        XCTAssertTrue(try dag.isComplete(in: fetcher.store))
        XCTAssertEqual(result.blocksFetched, dag.blocks.count)
        XCTAssertTrue(result.droppedPeers.isEmpty)
    }

    // MARK: Failures

    func testFetchOfMissingBlockTimesOut() async throws {
        let provider = await TestNode.make(on: network)
        let fetcher = await TestNode.make(on: network)
        await network.connect(provider.host, fetcher.host)
        let nobodyHas = try rawBlock(size: 64, seed: 50).cid
        let started = ContinuousClock.now
        do {
            _ = try await fetcher.bitswap.fetch(nobodyHas, options: FetchOptions(peers: [provider.peer], timeout: .seconds(2)))
            XCTFail("the fetch succeeded")
        } catch {
            guard case let .timeout(_, seconds) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(seconds, 2)
        }
        let elapsed = ContinuousClock.now - started
        XCTAssertGreaterThanOrEqual(elapsed, .seconds(2))
        XCTAssertLessThan(elapsed, .seconds(4))
        // The provider said DONT_HAVE (at least once) and was not dropped for it.
        XCTAssertGreaterThan(fetcher.bitswap.stats().messagesReceived, 0)
        try await waitUntil("the wantlist to empty") { fetcher.bitswap.wantlist().isEmpty }
    }

    func testFetchWithoutPeersFailsWithNoProviders() async throws {
        let fetcher = await TestNode.make(on: network)
        let nobodyHas = try rawBlock(size: 64, seed: 51).cid
        let started = ContinuousClock.now
        do {
            _ = try await fetcher.bitswap.fetch(nobodyHas, options: FetchOptions(timeout: .seconds(10), peerWait: .seconds(1)))
            XCTFail("the fetch succeeded")
        } catch {
            XCTAssertEqual(error, .noProviders(nobodyHas))
        }
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(3))
    }

    func testUnreachablePeerIsDropped() async throws {
        let dag = try await SharedDAGs.shared.directory()
        let provider = await TestNode.make(on: network, store: try dag.store())
        let stranger = network.makeHost()  // never connected: streams to it cannot open
        let fetcher = await TestNode.make(on: network)
        await network.connect(provider.host, fetcher.host)
        let result = try await fetcher.bitswap.fetch(dag.root, options: options([stranger.localPeer, provider.peer]))
        XCTAssertTrue(try dag.isComplete(in: fetcher.store))
        XCTAssertNotNil(result.dropped(stranger.localPeer))
    }

    /// `Bitswap.stop()` documents that running fetches fail with `.stopped`.
    func testStopFailsRunningFetches() async throws {
        let silent = network.makeHost()
        await silent.setHandler(BitswapProtocol.v120) { incoming in
            let reader = StreamReader(incoming.stream)
            while (try? await readMessage(reader)) != nil {}
            await incoming.stream.close()
        }
        let fetcher = await TestNode.make(on: network)
        await network.connect(silent, fetcher.host)
        let nobodyHas = try rawBlock(size: 64, seed: 52).cid
        let fetch = Task { [fetcher] in
            try await fetcher.bitswap.fetch(nobodyHas, options: FetchOptions(peers: [silent.localPeer], timeout: .seconds(4)))
        }
        try await Task.sleep(for: .milliseconds(300))
        let stopped = ContinuousClock.now
        await fetcher.bitswap.stop()
        do {
            _ = try await fetch.value
            XCTFail("the fetch succeeded")
        } catch {
            XCTAssertEqual(error as? BitswapError, .stopped)
        }
        XCTAssertLessThan(ContinuousClock.now - stopped, .seconds(2), "the fetch should end as soon as bitswap stops")
    }

    // MARK: Stats and ledgers

    func testStatsAndLedgersAfterATransfer() async throws {
        let dag = try await SharedDAGs.shared.directory()
        let provider = await TestNode.make(on: network, store: try dag.store())
        let fetcher = await TestNode.make(on: network)
        await network.connect(provider.host, fetcher.host)
        let result = try await fetcher.bitswap.fetch(dag.root, options: options([provider.peer]))

        let received = fetcher.bitswap.stats()
        XCTAssertEqual(received.blocksReceived, dag.blocks.count)
        XCTAssertEqual(received.dataReceived, dag.totalBytes)
        XCTAssertEqual(received.duplicateBlocksReceived, 0)
        XCTAssertEqual(received.duplicateDataReceived, 0)
        XCTAssertEqual(received.badBlocksReceived, 0)
        XCTAssertGreaterThan(received.messagesReceived, 0)
        XCTAssertEqual(received.blocksSent, 0)

        try await waitUntil("the provider's counters") { provider.bitswap.stats().blocksSent == dag.blocks.count }
        let sent = provider.bitswap.stats()
        XCTAssertEqual(sent.dataSent, dag.totalBytes)
        XCTAssertEqual(sent.blocksReceived, 0)

        let theirs = provider.bitswap.ledger(for: fetcher.peer)
        let ours = fetcher.bitswap.ledger(for: provider.peer)
        XCTAssertEqual(theirs.blocksSent, result.blocksFetched)
        XCTAssertEqual(theirs.bytesSent, result.bytesFetched)
        XCTAssertEqual(ours.blocksReceived, result.blocksFetched)
        XCTAssertEqual(ours.bytesReceived, result.bytesFetched)
        XCTAssertEqual(ours.bytesSent, 0)
        XCTAssertEqual(ours.exchanged, dag.blocks.count)
        XCTAssertEqual(theirs.value, Double(dag.totalBytes), accuracy: 0.5)
        XCTAssertEqual(fetcher.bitswap.ledger(for: fetcher.peer), LedgerEntry(peer: fetcher.peer), "no ledger: zeros")
    }
}

/// Progress reports collected from the fetch's callback.
final class ProgressLog: @unchecked Sendable {
    private let lock = Mutex()
    private var reports: [FetchProgress] = []
    func append(_ report: FetchProgress) { lock.withLock { reports.append(report) } }
    var all: [FetchProgress] { lock.withLock { reports } }
}
