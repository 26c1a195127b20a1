import IPLD
import Multiformats
import XCTest

@testable import Bitswap

final class BlockVerifierTests: XCTestCase {
    // MARK: Fixtures

    private let v1Raw = CIDPrefix(version: .v1, codec: .raw, hashFunction: .sha2_256, digestLength: 32)
    private let v1Sha512 = CIDPrefix(version: .v1, codec: .raw, hashFunction: .sha2_512, digestLength: 64)
    private let blake3 = CIDPrefix(version: .v1, codec: .raw, hashFunction: HashFunction(rawValue: 0x1e), digestLength: 32)
    /// sha2-256 announced with a 20-byte digest: cannot be verified.
    private let shortDigest = CIDPrefix(version: .v1, codec: .raw, hashFunction: .sha2_256, digestLength: 20)
    /// CIDv0 is dag-pb only: hashing works, building the CID fails.
    private let v0Raw = CIDPrefix(version: .v0, codec: .raw, hashFunction: .sha2_256, digestLength: 32)

    /// What the client did before batching: one `cid(for:)` per block, oversized blocks refused.
    private static func oneByOne(_ block: PrefixedBlock) -> Result<Block, BitswapError> {
        guard block.data.count <= BitswapProtocol.maxBlockSize else {
            return .failure(.unsupportedBlock(reason: "block of \(block.data.count) bytes exceeds \(BitswapProtocol.maxBlockSize)"))
        }
        return Result { () throws(BitswapError) -> Block in
            Block(cid: try block.prefix.cid(for: block.data), data: block.data)
        }
    }

    private func isUnsupported(_ result: Result<Block, BitswapError>) -> Bool {
        guard case .failure(.unsupportedBlock) = result else { return false }
        return true
    }

    /// Sizes around the SHA-256 padding boundaries (55/56/64 bytes) and a few larger ones.
    private let sizes = [0, 1, 55, 56, 63, 64, 65, 119, 1000, 4096, 65_536, 262_144]

    // MARK: Results

    func testEmptySubmissionReturnsNothing() async {
        let verifier = BlockVerifier()
        let results = await verifier.verify([])
        XCTAssertTrue(results.isEmpty)
        XCTAssertEqual(verifier.statistics.batches, 0)
    }

    func testMixedPrefixesMatchOneByOne() async throws {
        var blocks: [PrefixedBlock] = []
        for (i, size) in sizes.enumerated() {
            let data = pseudoRandomBytes(size, seed: UInt64(i + 1))
            blocks.append(PrefixedBlock(prefix: .v0, data: data))
            blocks.append(PrefixedBlock(prefix: v1Raw, data: data))
            if i % 3 == 0 {
                blocks.append(PrefixedBlock(prefix: v1Sha512, data: data))
                blocks.append(PrefixedBlock(prefix: blake3, data: data))
                blocks.append(PrefixedBlock(prefix: shortDigest, data: data))
                blocks.append(PrefixedBlock(prefix: v0Raw, data: data))
            }
        }
        let verifier = BlockVerifier()
        let results = await verifier.verify(blocks)
        XCTAssertEqual(results, blocks.map(Self.oneByOne))

        // The prefixes that work name the blocks as IPLD does; the others fail as unsupported.
        for (block, result) in zip(blocks, results) {
            switch block.prefix {
            case .v0, v1Raw, v1Sha512:
                let expected = try Block(data: block.data, codec: block.prefix.codec, hash: block.prefix.hashFunction,
                                         version: block.prefix.version)
                XCTAssertEqual(try result.get(), expected)
            default:
                XCTAssertTrue(isUnsupported(result), "\(block.prefix): \(result)")
            }
        }
        // Unsupported functions are refused unhashed; everything else was hashed.
        let hashable = blocks.filter { $0.prefix.hashFunction != blake3.hashFunction }.count
        XCTAssertEqual(verifier.statistics.blocks, hashable)
    }

    func testSha256BlocksAreHashedInBatchesOfLanes() async throws {
        let verifier = BlockVerifier(maxConcurrentBatches: 1, maxBatch: 16)
        let blocks = (0..<20).map { PrefixedBlock(prefix: v1Raw, data: pseudoRandomBytes(1000 + $0, seed: UInt64($0))) }
        let results = await verifier.verify(blocks)
        XCTAssertEqual(results, blocks.map(Self.oneByOne))
        let statistics = verifier.statistics
        XCTAssertEqual(statistics.blocks, 20)
        if Sha256.lanes > 0 {
            XCTAssertEqual(statistics.batches, 2)
            XCTAssertEqual(statistics.largestBatch, 16)
        } else {
            XCTAssertEqual(statistics.batches, 20)
            XCTAssertEqual(statistics.largestBatch, 1)
        }
    }

    func testOtherHashFunctionsAreHashedOneBlockPerBatch() async throws {
        let verifier = BlockVerifier(maxConcurrentBatches: 1, maxBatch: 16)
        let blocks = (0..<5).map { PrefixedBlock(prefix: v1Sha512, data: pseudoRandomBytes(300, seed: UInt64($0))) }
        let results = await verifier.verify(blocks)
        XCTAssertEqual(results, blocks.map(Self.oneByOne))
        XCTAssertEqual(verifier.statistics, .init(batches: 5, blocks: 5, largestBatch: 1))
    }

    func testOversizedBlockFailsOnlyItself() async throws {
        let small = PrefixedBlock(prefix: v1Raw, data: pseudoRandomBytes(100, seed: 1))
        let largest = PrefixedBlock(prefix: v1Raw, data: pseudoRandomBytes(BitswapProtocol.maxBlockSize, seed: 2))
        let oversized = PrefixedBlock(prefix: v1Raw, data: pseudoRandomBytes(BitswapProtocol.maxBlockSize + 1, seed: 3))
        let blocks = [small, oversized, largest, .init(prefix: .v0, data: small.data)]
        let verifier = BlockVerifier()
        let results = await verifier.verify(blocks)
        XCTAssertEqual(results, blocks.map(Self.oneByOne))
        XCTAssertTrue(isUnsupported(results[1]))
        for i in [0, 2, 3] {
            XCTAssertEqual(try results[i].get().data, blocks[i].data)
        }
        XCTAssertEqual(verifier.statistics.blocks, 3)
    }

    func testSubmissionWithNothingToHashReturnsAtOnce() async {
        let verifier = BlockVerifier()
        let blocks = [
            PrefixedBlock(prefix: blake3, data: [1, 2, 3]),
            PrefixedBlock(prefix: v1Raw, data: [UInt8](repeating: 0, count: BitswapProtocol.maxBlockSize + 1)),
        ]
        let results = await verifier.verify(blocks)
        XCTAssertEqual(results, blocks.map(Self.oneByOne))
        XCTAssertEqual(verifier.statistics.batches, 0)
    }

    // MARK: Concurrency

    /// Many submitters at once (more blocks queued than workers can take): each gets its own
    /// results, in order, and blocks of different callers share batches.
    func testConcurrentSubmittersGetTheirOwnResultsInOrder() async throws {
        for workers in [1, 2, ProcessInfo.processInfo.activeProcessorCount] {
            let verifier = BlockVerifier(maxConcurrentBatches: workers)
            let submissions: [[PrefixedBlock]] = (0..<8).map { task in
                (0..<20).map { i in
                    let seed = UInt64(task * 100 + i + 1)
                    let data = pseudoRandomBytes(Int(seed * 7919 % 70_000), seed: seed)
                    switch i % 5 {
                    case 0: return PrefixedBlock(prefix: .v0, data: data)
                    case 1: return PrefixedBlock(prefix: v1Sha512, data: data)
                    case 2 where task % 4 == 0: return PrefixedBlock(prefix: blake3, data: data)
                    default: return PrefixedBlock(prefix: v1Raw, data: data)
                    }
                }
            }
            let results = await withTaskGroup(of: (Int, [Result<Block, BitswapError>]).self) { group in
                for (task, blocks) in submissions.enumerated() {
                    group.addTask { (task, await verifier.verify(blocks)) }
                }
                var results = [[Result<Block, BitswapError>]](repeating: [], count: submissions.count)
                for await (task, list) in group { results[task] = list }
                return results
            }
            for (task, blocks) in submissions.enumerated() {
                XCTAssertEqual(results[task], blocks.map(Self.oneByOne), "task \(task), \(workers) workers")
            }
            let hashable = submissions.joined().filter { $0.prefix.hashFunction != blake3.hashFunction }.count
            XCTAssertEqual(verifier.statistics.blocks, hashable, "\(workers) workers")
            XCTAssertLessThanOrEqual(verifier.statistics.largestBatch, max(Sha256.lanes, 1))
        }
    }

    /// Repeated small bursts from many tasks: every submission completes (no lost wake-ups).
    func testManySmallConcurrentSubmissionsAllComplete() async {
        let verifier = BlockVerifier(maxConcurrentBatches: 3)
        let v1Raw = self.v1Raw
        let total = await withTaskGroup(of: Int.self) { group in
            for task in 0..<64 {
                group.addTask {
                    var ok = 0
                    for round in 0..<10 {
                        let data = pseudoRandomBytes(task * 10 + round, seed: UInt64(task * 1000 + round + 1))
                        let blocks = [PrefixedBlock(prefix: .v0, data: data), PrefixedBlock(prefix: v1Raw, data: data)]
                        let results = await verifier.verify(blocks)
                        if results == blocks.map(Self.oneByOne) { ok += 1 }
                    }
                    return ok
                }
            }
            return await group.reduce(0, +)
        }
        XCTAssertEqual(total, 640)
        XCTAssertEqual(verifier.statistics.blocks, 1280)
    }
}
