// One libFuzzer binary for every decoder that reads bytes from a peer or a file. The target is
// chosen by the environment variable JZ_FUZZ_TARGET (scripts/fuzz.sh sets it); `targets` lists them.
// Each target runs the real decoder on the input; where an encoder exists it checks that
// decode → encode → decode gives the same value. A thrown decode error is fine; a trap, an ASan
// report or a round-trip mismatch (`mismatch`, which traps) is a finding.
import Foundation
@testable import Bitswap
@testable import IPLD
@testable import IPNS
@testable import JZNode
@testable import KadDHT
@testable import Multiformats
@testable import P2PCore
@testable import P2PCrypto
@testable import P2PHost
@testable import P2PMux
@testable import P2PSecurity
@testable import UnixFS
import BlockStore
import Logging

/// Stops the run on a round-trip that does not give back the value (libFuzzer saves the input).
func mismatch(_ target: String, _ detail: @autoclosure () -> String) -> Never {
    fatalError("\(target): round trip mismatch: \(detail())")
}

/// Text of the input when it is UTF-8 (text decoders get only valid strings, as the callers give them).
func text(_ bytes: [UInt8]) -> String? { String(validating: bytes, as: UTF8.self) }

let targets: [String: @Sendable ([UInt8]) -> Void] = [
    "varint": fuzzVarint,
    "multiaddr": fuzzMultiaddr,
    "cid": fuzzCID,
    "multihash": fuzzMultihash,
    "multibase": fuzzMultibase,
    "dag-pb": fuzzDagPB,
    "dag-cbor": fuzzDagCBOR,
    "dag-json": fuzzDagJSON,
    "car": fuzzCar,
    "unixfs": fuzzUnixFSData,
    "hamt": fuzzHAMT,
    "key": fuzzKey,
    "noise": fuzzNoise,
    "tls": fuzzTLS,
    "multistream": fuzzMultistream,
    "yamux": fuzzYamux,
    "mplex": fuzzMplex,
    "identify": fuzzIdentify,
    "envelope": fuzzEnvelope,
    "bitswap": fuzzBitswap,
    "dht": fuzzDHT,
    "ipns": fuzzIPNS,
    "config": fuzzConfig,
]

let selected: @Sendable ([UInt8]) -> Void = {
    let name = ProcessInfo.processInfo.environment["JZ_FUZZ_TARGET"] ?? ""
    guard let target = targets[name] else {
        FileHandle.standardError.write(Data(
            "set JZ_FUZZ_TARGET to one of: \(targets.keys.sorted().joined(separator: " "))\n".utf8))
        exit(2)
    }
    return target
}()

/// Checks JZ_FUZZ_TARGET before the first input (an unknown name exits with the list).
@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> CInt {
    _ = selected
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    selected(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

// MARK: Multiformats

func fuzzVarint(_ bytes: [UInt8]) {
    guard let (value, length) = try? Varint.decode(bytes) else { return }
    let encoded = Varint.encode(value)
    guard encoded.count == Varint.encodedLength(of: value) else { mismatch("varint", "length of \(value)") }
    // The decoder accepts only minimal encodings, so the bytes read are the encoding.
    guard Array(bytes.prefix(length)) == encoded else { mismatch("varint", "\(value): \(bytes.prefix(length)) vs \(encoded)") }
}

func fuzzMultiaddr(_ bytes: [UInt8]) {
    if let addr = try? Multiaddr(bytes: bytes) {
        guard let again = try? Multiaddr(bytes: addr.bytes), again == addr else { mismatch("multiaddr", "bytes \(addr)") }
        if let parsed = try? Multiaddr(addr.description), parsed != addr { mismatch("multiaddr", "text \(addr)") }
    }
    if let string = text(bytes), let addr = try? Multiaddr(string) {
        guard let again = try? Multiaddr(bytes: addr.bytes), again == addr else { mismatch("multiaddr", "text→bytes \(addr)") }
        guard let parsed = try? Multiaddr(addr.description), parsed == addr else { mismatch("multiaddr", "text→text \(addr)") }
    }
}

func fuzzCID(_ bytes: [UInt8]) {
    if let cid = try? CID(bytes: bytes) {
        guard let again = try? CID(bytes: cid.bytes), again == cid else { mismatch("cid", "bytes \(cid)") }
        guard let parsed = try? CID(cid.description), parsed == cid else { mismatch("cid", "string \(cid)") }
    }
    if let string = text(bytes), let cid = try? CID(string) {
        guard let again = try? CID(bytes: cid.bytes), again == cid else { mismatch("cid", "string→bytes \(cid)") }
        _ = try? PeerID(string)
        _ = try? IPNSName(string)
    }
    _ = try? PeerID(bytes: bytes)
}

func fuzzMultihash(_ bytes: [UInt8]) {
    guard let mh = try? Multihash(bytes: bytes) else { return }
    guard let again = try? Multihash(bytes: mh.bytes), again == mh else { mismatch("multihash", "\(mh)") }
    var reader = ByteReader(bytes)
    _ = try? Multihash.read(from: &reader)
}

func fuzzMultibase(_ bytes: [UInt8]) {
    guard let string = text(bytes) else { return }
    guard let (base, decoded) = try? Multibase.decode(string) else { return }
    let encoded = base.encode(decoded)
    guard let (base2, again) = try? Multibase.decode(encoded), base2 == base, again == decoded else {
        mismatch("multibase", "\(base) \(decoded.count) bytes")
    }
}

// MARK: IPLD

func fuzzDagPB(_ bytes: [UInt8]) {
    guard let node = try? PBNode(decoding: bytes) else { return }
    _ = try? PBNode.linkCIDs(in: bytes)
    let encoded = node.encoded()
    guard encoded.count == node.encodedSize else { mismatch("dag-pb", "encodedSize") }
    guard let again = try? PBNode(decoding: encoded), again == node else { mismatch("dag-pb", "\(node)") }
    _ = try? IPLDCodecs.decode(bytes, codec: .dagPB)
}

func fuzzDagCBOR(_ bytes: [UInt8]) {
    _ = try? DagCBOR.decode(bytes, strict: false)
    guard let value = try? DagCBOR.decode(bytes) else { return }
    _ = try? IPLDCodecs.links(in: bytes, codec: .dagCBOR)
    guard let encoded = try? DagCBOR.encode(value) else { mismatch("dag-cbor", "encode of a decoded value") }
    guard encoded == bytes else { mismatch("dag-cbor", "strict decode accepted a non-canonical form") }
    // Through DAG-JSON and back (the codecs sort map keys differently, so compare encodings).
    if let json = try? DagJSON.encode(value) {
        guard let back = try? DagJSON.decode(json), (try? DagCBOR.encode(back)) == bytes else {
            mismatch("dag-cbor", "via dag-json")
        }
    }
}

func fuzzDagJSON(_ bytes: [UInt8]) {
    _ = try? DagJSON.decode(bytes, strict: true)
    guard let value = try? DagJSON.decode(bytes) else { return }
    guard let encoded = try? DagJSON.encode(value) else { return }  // e.g. values DAG-JSON cannot write back
    // The lenient decoder keeps a map's keys in input order and the encoder sorts them, so the
    // check is on the encoding: written, read and written again gives the same bytes.
    guard let again = try? DagJSON.decode(encoded, strict: true), (try? DagJSON.encode(again)) == encoded else {
        mismatch("dag-json", "\(value)")
    }
    if let cbor = try? DagCBOR.encode(value) {
        guard let back = try? DagCBOR.decode(cbor), (try? DagJSON.encode(back)) == encoded else {
            mismatch("dag-json", "via dag-cbor")
        }
    }
}

func fuzzCar(_ bytes: [UInt8]) {
    for verify in [false, true] {
        var options = CarReader.Options()
        options.verifyBlocks = verify
        options.maxSectionSize = 1 << 20
        options.maxHeaderSize = 1 << 16
        do {
            var reader = try CarReader(bytes: bytes, options: options)
            _ = reader.roots
            var count = 0
            while let section = try reader.nextSection(), count < 10_000 {
                count += 1
                _ = section.block.cid.bytes
            }
            _ = try reader.readIndex()
        } catch {}
    }
    _ = try? CarIndex(decoding: bytes)
}

// MARK: UnixFS

func fuzzUnixFSData(_ bytes: [UInt8]) {
    guard let data = try? UnixFSData(decoding: bytes) else { return }
    let encoded = data.encoded()
    guard let again = try? UnixFSData(decoding: encoded), again == data else { mismatch("unixfs", "\(data)") }
}

/// The input as a dag-pb block (a directory, a HAMT shard, a file root): decoded as the exporter
/// does and listed as a directory from a store holding only that block.
func fuzzHAMT(_ bytes: [UInt8]) {
    guard let block = try? Block(data: bytes, codec: .dagPB) else { return }
    if let node = try? DecodedNode.decode(block) {
        _ = try? node.info()
        _ = try? node.hamtParameters()
        _ = try? node.fileSize()
        _ = try? node.symlinkTarget()
    }
    let store = MemoryBlockStore()
    try? store.put(block)
    let exporter = Exporter(source: store)
    _ = try? exporter.entries(block.cid)
}

// MARK: Keys and security handshakes

func fuzzKey(_ bytes: [UInt8]) {
    if let key = try? PublicKey(protobuf: bytes) {
        guard let again = try? PublicKey(protobuf: key.protobufBytes), again == key else { mismatch("key", "public \(key)") }
        _ = key.verify(signature: Array(bytes.prefix(64)), message: bytes)
        _ = PeerID(publicKey: key)
    }
    if let key = try? PrivateKey(protobuf: bytes) {
        guard let again = try? PrivateKey(protobuf: key.protobufBytes), again.publicKey == key.publicKey else {
            mismatch("key", "private \(key)")
        }
    }
}

let noiseRemoteStatic = [UInt8](repeating: 7, count: 32)

/// The Noise handshake payload check of NoiseTransport (decode, identity key, signature), and the
/// responder reading a first handshake message.
func fuzzNoise(_ bytes: [UInt8]) {
    if let payload = try? Pb_NoiseHandshakePayload(serializedBytes: bytes) {
        if payload.hasIdentityKey, let key = try? PublicKey(protobuf: [UInt8](payload.identityKey)) {
            _ = key.verify(signature: [UInt8](payload.identitySig), message: NoiseTransport.signaturePrefix + noiseRemoteStatic)
        }
    }
    var state = NoiseHandshakeState(role: .responder, localStatic: NoiseKeyPair.generate())
    _ = try? state.readMessage(bytes)
    _ = NoiseFraming.frame(bytes)
}

/// The libp2p TLS certificate check (DER X.509 and the SignedKey extension) and the extension alone.
func fuzzTLS(_ bytes: [UInt8]) {
    _ = try? TLSCertificate.verify(der: bytes)
    _ = try? TLSCertificate.parseSignedKey(bytes)
}

// MARK: Stream protocols

/// Length-prefixed multistream messages fed to a responder and an initiator, and `ls` answers.
func fuzzMultistream(_ bytes: [UInt8]) {
    var responder = MultistreamStateMachine.responder(supported: ["/yamux/1.0.0", "/noise", "/ipfs/id/1.0.0"])
    var initiator = MultistreamStateMachine.initiator(protocols: ["/noise", "/tls/1.0.0"])
    _ = responder.start()
    _ = initiator.start()
    var rest = bytes[...]
    var messages = 0
    while !rest.isEmpty, messages < 64 {
        guard let (length, prefix) = try? Varint.decode(rest), length <= UInt64(rest.count - prefix) else { return }
        let body = Array(rest.dropFirst(prefix).prefix(Int(length)))
        rest = rest.dropFirst(prefix + Int(length))
        messages += 1
        guard let message = try? MultistreamStateMachine.decode(body) else { continue }
        guard MultistreamStateMachine.encode(message) == Varint.encode(length) + body else { mismatch("multistream", message) }
        _ = responder.receive(message)
        _ = initiator.receive(message)
    }
}

func fuzzYamux(_ bytes: [UInt8]) {
    var decoder = YamuxFrameDecoder(maxFrameSize: 1 << 16)
    // Fed in two pieces, as reads split frames.
    let cut = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
    decoder.feed(Array(bytes[..<cut]))
    var frames: [YamuxFrame] = []
    do {
        while let frame = try decoder.next() { frames.append(frame) }
        decoder.feed(Array(bytes[cut...]))
        while let frame = try decoder.next() { frames.append(frame) }
    } catch { return }
    var reencoded = YamuxFrameDecoder(maxFrameSize: 1 << 16)
    reencoded.feed(frames.flatMap { YamuxFrameEncoder.encode($0) })
    for frame in frames {
        guard let again = try? reencoded.next(), again == frame else { mismatch("yamux", "\(frame)") }
    }
}

func fuzzMplex(_ bytes: [UInt8]) {
    var decoder = MplexFrameDecoder(maxFrameSize: 1 << 16)
    let cut = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
    decoder.feed(Array(bytes[..<cut]))
    var frames: [MplexFrame] = []
    do {
        while let frame = try decoder.next() { frames.append(frame) }
        decoder.feed(Array(bytes[cut...]))
        while let frame = try decoder.next() { frames.append(frame) }
    } catch { return }
    var reencoded = MplexFrameDecoder(maxFrameSize: 1 << 16)
    reencoded.feed(frames.flatMap { $0.encoded() })
    for frame in frames {
        guard let again = try? reencoded.next(), again == frame else { mismatch("mplex", "\(frame)") }
    }
}

/// A host that is never used: IdentifyService.validate needs one to exist.
final class NoHost: P2PHost, @unchecked Sendable {
    let localPeer: PeerID
    let peerStore: any PeerStore = MemoryPeerStore()
    init(_ peer: PeerID) { localPeer = peer }
    func listenAddresses() async -> [Multiaddr] { [] }
    func setHandler(_ protocolID: ProtocolID, _ handler: @escaping StreamHandler) async {}
    func removeHandler(_ protocolID: ProtocolID) async {}
    func supportedProtocols() async -> [ProtocolID] { [] }
    func newStream(to peer: PeerID, protocols: [ProtocolID]) async throws -> (stream: any ByteStream, protocolID: ProtocolID) {
        throw StreamError.closed
    }
    func connect(_ address: Multiaddr) async throws -> PeerID { throw StreamError.closed }
    func disconnect(_ peer: PeerID) async {}
    func connections() async -> [ConnectionInfo] { [] }
    func addEventObserver(_ observer: @escaping @Sendable (HostEvent) -> Void) async {}
    func emit(_ event: HostEvent) async {}
}

let fuzzKeyPair = PrivateKey.generateEd25519()
let identify = IdentifyService(
    host: NoHost(PeerID(publicKey: fuzzKeyPair.publicKey)), privateKey: fuzzKeyPair, agentVersion: "jz-fuzz",
    logger: Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() }))

/// An identify message as IdentifyService.receive merges and validates it. The claimed peer is the
/// one of the message's own key when it has one (so the key check passes and the rest is reached).
func fuzzIdentify(_ bytes: [UInt8]) {
    guard let pb = try? Identify_Pb_Identify(serializedBytes: bytes) else { return }
    var peer = PeerID(publicKey: fuzzKeyPair.publicKey)
    if pb.hasPublicKey, let key = try? PublicKey(protobuf: Array(pb.publicKey)) { peer = PeerID(publicKey: key) }
    _ = try? identify.validate(pb, from: peer)
}

func fuzzEnvelope(_ bytes: [UInt8]) {
    _ = try? SignedEnvelope.open(bytes, domain: PeerRecord.domain)
    _ = try? PeerRecord.open(envelope: bytes)
    if let record = try? PeerRecord(decoding: bytes) {
        guard let again = try? PeerRecord(decoding: record.encode()), again == record else { mismatch("envelope", "peer record") }
    }
}

// MARK: Bitswap, DHT, IPNS

func fuzzBitswap(_ bytes: [UInt8]) {
    guard let message = try? BitswapMessage.decode(bytes) else { return }
    for protocolID in [BitswapProtocol.v120, BitswapProtocol.v100] {
        let encoded = message.encoded(for: protocolID)
        guard (try? BitswapMessage.decode(encoded)) != nil else { mismatch("bitswap", "re-decode for \(protocolID)") }
    }
    guard let again = try? BitswapMessage.decode(message.encoded(for: BitswapProtocol.v120)), again == message else {
        mismatch("bitswap", "\(message)")
    }
    for block in message.blocks { _ = try? block.prefix.cid(for: block.data) }
    _ = try? CIDPrefix(bytes: bytes)
}

func fuzzDHT(_ bytes: [UInt8]) {
    guard let message = try? DHTMessage(bytes: bytes) else { return }
    guard let again = try? DHTMessage(bytes: message.encoded()), again == message else { mismatch("dht", "\(message)") }
}

/// The name of the Ed25519 record of the IPNS spec fixtures (Tests/IPNSTests/Fixtures): seeds
/// mutated from it reach the signature and validity checks.
let ipnsName = try! IPNSName("k51qzi5uqu5dit2ku9mutlfgwyz8u730on38kd10m97m36bjt66my99hb6103f")
let ipnsNow = Date(timeIntervalSince1970: 1_700_000_000)

func fuzzIPNS(_ bytes: [UInt8]) {
    if let record = try? IPNSRecord(bytes: bytes) {
        _ = try? record.validate(for: ipnsName, now: ipnsNow)
        _ = record.description
    }
    _ = try? IPNSRecord.validate(bytes, for: ipnsName, now: ipnsNow)
    _ = try? IPNSValidator(clock: { ipnsNow }).validate(key: ipnsName.routingKey, value: bytes)
    _ = try? IPNSName(routingKey: bytes)
}

// MARK: The node config

func fuzzConfig(_ bytes: [UInt8]) {
    guard let root = try? JSONValue.parse(Data(bytes)), case .object = root else { return }
    let config = NodeConfig(root: root)
    _ = config.peerID
    _ = config.swarmAddresses
    _ = config.bootstrap
    _ = config.redacted
    _ = try? NetworkSettings(config: config)
}
