import Multiformats

/// The protobuf wire form of a bitswap message, written and read by hand: blocks are copied once
/// on each side (the generated code, kept for the conformance tests, would copy them through
/// `Data` several times). Field numbers follow `Protos/bitswap-message.proto`.
enum BitswapWire {
    // MARK: Encoding

    /// The message framed for a stream: varint length, then the protobuf bytes.
    static func frame(_ m: BitswapMessage, for protocolID: ProtocolIDKind) -> [UInt8] {
        var wantlist: [UInt8] = []
        if !m.wantlist.isEmpty || m.fullWantlist {
            for entry in m.wantlist {
                var e: [UInt8] = []
                appendBytesField(1, entry.cid.bytes, to: &e)
                if entry.priority != 0 { appendVarintField(2, UInt64(bitPattern: Int64(entry.priority)), to: &e) }
                if entry.cancel { appendVarintField(3, 1, to: &e) }
                if protocolID.presence {
                    if entry.wantType == .have { appendVarintField(4, 1, to: &e) }
                    if entry.sendDontHave { appendVarintField(5, 1, to: &e) }
                }
                appendBytesField(1, e, to: &wantlist)
            }
            if m.fullWantlist { appendVarintField(2, 1, to: &wantlist) }
        }
        var presences: [UInt8] = []
        if protocolID.presence {
            for p in m.presences {
                var e: [UInt8] = []
                appendBytesField(1, p.cid.bytes, to: &e)
                if p.kind == .dontHave { appendVarintField(2, 1, to: &e) }
                appendBytesField(4, e, to: &presences)
            }
        }
        let blocks = protocolID.payload ? m.blocks : m.blocks.filter { $0.prefix == .v0 }
        let prefixes = protocolID.payload ? blocks.map(\.prefix.bytes) : []
        var size = 0
        if !m.wantlist.isEmpty || m.fullWantlist { size += fieldSize(wantlist.count) }
        for (i, block) in blocks.enumerated() {
            if protocolID.payload {
                size += fieldSize(payloadSize(prefix: prefixes[i].count, data: block.data.count))
            } else {
                size += fieldSize(block.data.count)
            }
        }
        size += presences.count
        if m.pendingBytes != 0 { size += 1 + varintSize(UInt64(bitPattern: Int64(m.pendingBytes))) }

        var out: [UInt8] = []
        out.reserveCapacity(varintSize(UInt64(size)) + size)
        appendVarint(UInt64(size), to: &out)
        if !m.wantlist.isEmpty || m.fullWantlist { appendBytesField(1, wantlist, to: &out) }
        for (i, block) in blocks.enumerated() {
            if protocolID.payload {
                appendKey(3, wireType: 2, to: &out)
                appendVarint(UInt64(payloadSize(prefix: prefixes[i].count, data: block.data.count)), to: &out)
                if !prefixes[i].isEmpty { appendBytesField(1, prefixes[i], to: &out) }
                if !block.data.isEmpty { appendBytesField(2, block.data, to: &out) }
            } else {
                appendBytesField(2, block.data, to: &out)
            }
        }
        out.append(contentsOf: presences)
        if m.pendingBytes != 0 { appendVarintField(5, UInt64(bitPattern: Int64(m.pendingBytes)), to: &out) }
        return out
    }

    /// What the encoding depends on.
    struct ProtocolIDKind {
        var presence: Bool
        var payload: Bool
    }

    private static func payloadSize(prefix: Int, data: Int) -> Int {
        (prefix > 0 ? fieldSize(prefix) : 0) + (data > 0 ? fieldSize(data) : 0)
    }

    /// Size of a length-delimited field with a one-byte key.
    private static func fieldSize(_ length: Int) -> Int { 1 + varintSize(UInt64(length)) + length }

    static func varintSize(_ value: UInt64) -> Int { (64 - (value | 1).leadingZeroBitCount + 6) / 7 }

    static func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    private static func appendKey(_ field: UInt64, wireType: UInt64, to out: inout [UInt8]) {
        appendVarint(field << 3 | wireType, to: &out)
    }

    private static func appendVarintField(_ field: UInt64, _ value: UInt64, to out: inout [UInt8]) {
        appendKey(field, wireType: 0, to: &out)
        appendVarint(value, to: &out)
    }

    private static func appendBytesField(_ field: UInt64, _ bytes: [UInt8], to out: inout [UInt8]) {
        appendKey(field, wireType: 2, to: &out)
        appendVarint(UInt64(bytes.count), to: &out)
        out.append(contentsOf: bytes)
    }

    // MARK: Decoding

    /// Parses the protobuf bytes of a message (without the length prefix).
    static func decode(_ bytes: [UInt8]) throws(BitswapError) -> BitswapMessage {
        var out = BitswapMessage()
        var r = Reader(bytes: bytes, range: 0..<bytes.count, what: "message")
        while !r.isAtEnd {
            let (field, wire) = try r.key()
            switch (field, wire) {
            case (1, 2):
                var w = try r.nested("wantlist")
                while !w.isAtEnd {
                    let (f, t) = try w.key()
                    switch (f, t) {
                    case (1, 2):
                        let index = out.wantlist.count
                        out.wantlist.append(try entry(try w.nested("wantlist.entries[\(index)]"), bytes: bytes))
                    case (2, 0): out.fullWantlist = try w.varint() != 0
                    default: try w.skip(t)
                    }
                }
            case (2, 2):
                out.blocks.append(PrefixedBlock(prefix: .v0, data: Array(bytes[try r.lengthDelimited()])))
            case (3, 2):
                let index = out.blocks.count
                var b = try r.nested("payload[\(index)]")
                var prefix: [UInt8] = []
                var data: Range<Int> = 0..<0
                while !b.isAtEnd {
                    let (f, t) = try b.key()
                    switch (f, t) {
                    case (1, 2): prefix = Array(bytes[try b.lengthDelimited()])
                    case (2, 2): data = try b.lengthDelimited()
                    default: try b.skip(t)
                    }
                }
                let parsed: CIDPrefix
                do { parsed = try CIDPrefix(bytes: prefix) } catch {
                    throw .malformedMessage(field: "payload[\(index)].prefix", reason: "\(error)")
                }
                out.blocks.append(PrefixedBlock(prefix: parsed, data: Array(bytes[data])))
            case (4, 2):
                let index = out.presences.count
                var p = try r.nested("blockPresences[\(index)]")
                var cidBytes: [UInt8] = []
                var kind = BlockPresence.Kind.have
                while !p.isAtEnd {
                    let (f, t) = try p.key()
                    switch (f, t) {
                    case (1, 2): cidBytes = Array(bytes[try p.lengthDelimited()])
                    case (2, 0):
                        switch try p.varint() {
                        case 0: kind = .have
                        case 1: kind = .dontHave
                        case let other:
                            throw .malformedMessage(field: "blockPresences[\(index)].type", reason: "unknown value \(other)")
                        }
                    default: try p.skip(t)
                    }
                }
                do {
                    out.presences.append(BlockPresence(cid: try CID(bytes: cidBytes), kind: kind))
                } catch {
                    throw .malformedMessage(field: "blockPresences[\(index)].cid", reason: "\(error)")
                }
            case (5, 0):
                out.pendingBytes = Int32(truncatingIfNeeded: Int64(bitPattern: try r.varint()))
            default:
                try r.skip(wire)
            }
        }
        return out
    }

    private static func entry(_ reader: Reader, bytes: [UInt8]) throws(BitswapError) -> WantlistEntry {
        var r = reader
        var cidBytes: [UInt8] = []
        var priority: Int32 = 0
        var cancel = false
        var type = WantType.block
        var sendDontHave = false
        while !r.isAtEnd {
            let (f, t) = try r.key()
            switch (f, t) {
            case (1, 2): cidBytes = Array(bytes[try r.lengthDelimited()])
            case (2, 0): priority = Int32(truncatingIfNeeded: Int64(bitPattern: try r.varint()))
            case (3, 0): cancel = try r.varint() != 0
            case (4, 0):
                switch try r.varint() {
                case 0: type = .block
                case 1: type = .have
                case let other: throw .malformedMessage(field: "\(r.what).wantType", reason: "unknown value \(other)")
                }
            case (5, 0): sendDontHave = try r.varint() != 0
            default: try r.skip(t)
            }
        }
        let cid: CID
        do { cid = try CID(bytes: cidBytes) } catch {
            throw .malformedMessage(field: "\(r.what).block", reason: "\(error)")
        }
        return WantlistEntry(cid: cid, priority: priority, cancel: cancel, wantType: type, sendDontHave: sendDontHave)
    }

    /// A bounded cursor over `bytes[range]` that names the message part it reads in its errors.
    struct Reader {
        let bytes: [UInt8]
        var position: Int
        let end: Int
        let what: String

        init(bytes: [UInt8], range: Range<Int>, what: String) {
            self.bytes = bytes
            self.position = range.lowerBound
            self.end = range.upperBound
            self.what = what
        }

        var isAtEnd: Bool { position >= end }

        mutating func varint() throws(BitswapError) -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while position < end {
                let byte = bytes[position]
                position += 1
                if shift == 63 && byte > 1 { break }
                value |= UInt64(byte & 0x7f) << shift
                if byte < 0x80 { return value }
                shift += 7
                if shift > 63 { break }
            }
            throw .malformedMessage(field: what, reason: "truncated or overlong varint at offset \(position)")
        }

        mutating func key() throws(BitswapError) -> (UInt64, UInt64) {
            let key = try varint()
            guard key >> 3 != 0 else { throw .malformedMessage(field: what, reason: "field number 0 at offset \(position)") }
            return (key >> 3, key & 7)
        }

        mutating func lengthDelimited() throws(BitswapError) -> Range<Int> {
            let length = try varint()
            guard length <= UInt64(end - position) else {
                throw .malformedMessage(field: what, reason: "length \(length) runs past the end at offset \(position)")
            }
            let range = position..<(position + Int(length))
            position = range.upperBound
            return range
        }

        mutating func nested(_ name: String) throws(BitswapError) -> Reader {
            Reader(bytes: bytes, range: try lengthDelimited(), what: name)
        }

        mutating func skip(_ wireType: UInt64) throws(BitswapError) {
            switch wireType {
            case 0: _ = try varint()
            case 1, 5:
                let n = wireType == 1 ? 8 : 4
                guard end - position >= n else { throw .malformedMessage(field: what, reason: "truncated fixed field") }
                position += n
            case 2: _ = try lengthDelimited()
            default: throw .malformedMessage(field: what, reason: "unsupported wire type \(wireType) at offset \(position)")
            }
        }
    }
}
