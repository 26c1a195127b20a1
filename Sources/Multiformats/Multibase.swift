/// Multibase: self-describing base encodings (multiformats/multibase).
///
/// A multibase string is a one-character prefix naming the base followed by the
/// encoded bytes. Every base in the registry that has a published, unambiguous
/// algorithm is supported; `proquint` is not (its odd-length rule is unspecified).
public enum Multibase: String, CaseIterable, Sendable {
    case identity
    case base2
    case base8
    case base10
    case base16
    case base16upper
    case base32
    case base32upper
    case base32pad
    case base32padupper
    case base32hex
    case base32hexupper
    case base32hexpad
    case base32hexpadupper
    case base32z
    case base36
    case base36upper
    case base45
    case base58btc
    case base58flickr
    case base64
    case base64pad
    case base64url
    case base64urlpad
    case base256emoji

    /// The registry name, e.g. `base58btc`.
    public var name: String { rawValue }

    /// The prefix that introduces this base in a multibase string.
    public var prefix: String {
        switch self {
        case .identity: return "\u{0}"
        case .base2: return "0"
        case .base8: return "7"
        case .base10: return "9"
        case .base16: return "f"
        case .base16upper: return "F"
        case .base32: return "b"
        case .base32upper: return "B"
        case .base32pad: return "c"
        case .base32padupper: return "C"
        case .base32hex: return "v"
        case .base32hexupper: return "V"
        case .base32hexpad: return "t"
        case .base32hexpadupper: return "T"
        case .base32z: return "h"
        case .base36: return "k"
        case .base36upper: return "K"
        case .base45: return "R"
        case .base58btc: return "z"
        case .base58flickr: return "Z"
        case .base64: return "m"
        case .base64pad: return "M"
        case .base64url: return "u"
        case .base64urlpad: return "U"
        case .base256emoji: return "🚀"
        }
    }

    /// Looks a base up by registry name (`base32`, `base58btc`, …).
    public init?(name: String) {
        self.init(rawValue: name)
    }

    /// Looks a base up by its prefix character.
    public init?(prefix: Character) {
        guard let base = Multibase.byPrefix[prefix] else { return nil }
        self = base
    }

    private static let byPrefix: [Character: Multibase] = {
        var table: [Character: Multibase] = [:]
        for base in Multibase.allCases { table[Character(base.prefix)] = base }
        return table
    }()

    /// Encodes `bytes` and puts the prefix in front.
    public func encode(_ bytes: [UInt8]) -> String {
        prefix + encodeBare(bytes)
    }

    /// Encodes `bytes` without the prefix.
    public func encodeBare(_ bytes: [UInt8]) -> String {
        switch codec {
        case .identity:
            return String(decoding: bytes, as: UTF8.self)
        case let .bits(codec):
            return codec.encode(bytes)
        case let .bigInt(alphabet, zero):
            return BigIntBase.encode(bytes, alphabet: alphabet, zeroChar: zero)
        case .base45:
            return Base45.encode(bytes)
        case .emoji:
            return Base256Emoji.encode(bytes)
        }
    }

    /// Decodes a string of this base that carries no prefix.
    public func decodeBare(_ string: some StringProtocol) throws(MultibaseError) -> [UInt8] {
        switch codec {
        case .identity:
            return Array(string.utf8)
        case let .bits(codec):
            return try codec.decode(Array(string.utf8), base: self)
        case let .bigInt(alphabet, _):
            return try BigIntBase.decode(Array(string.utf8), alphabet: alphabet, base: self)
        case .base45:
            return try Base45.decode(Array(string.utf8), base: self)
        case .emoji:
            return try Base256Emoji.decode(string, base: self)
        }
    }

    /// Decodes a multibase string: reads the prefix, then the bytes.
    public static func decode(_ string: some StringProtocol) throws(MultibaseError) -> (base: Multibase, bytes: [UInt8]) {
        guard let first = string.first else { throw .empty }
        guard let base = Multibase(prefix: first) else { throw .unknownPrefix(String(first)) }
        let rest = string[string.index(after: string.startIndex)...]
        return (base, try base.decodeBare(rest))
    }

    // MARK: - Codec table

    private enum Codec {
        case identity
        case bits(BitCodec)
        case bigInt(alphabet: [UInt8], zero: UInt8)
        case base45
        case emoji
    }

    private var codec: Codec {
        switch self {
        case .identity: return .identity
        case .base2: return .bits(BitCodec.base2)
        case .base8: return .bits(BitCodec.base8)
        case .base10: return .bigInt(alphabet: BigIntBase.base10, zero: UInt8(ascii: "0"))
        case .base16: return .bits(BitCodec.base16)
        case .base16upper: return .bits(BitCodec.base16upper)
        case .base32: return .bits(BitCodec.base32)
        case .base32upper: return .bits(BitCodec.base32upper)
        case .base32pad: return .bits(BitCodec.base32pad)
        case .base32padupper: return .bits(BitCodec.base32padupper)
        case .base32hex: return .bits(BitCodec.base32hex)
        case .base32hexupper: return .bits(BitCodec.base32hexupper)
        case .base32hexpad: return .bits(BitCodec.base32hexpad)
        case .base32hexpadupper: return .bits(BitCodec.base32hexpadupper)
        case .base32z: return .bits(BitCodec.base32z)
        case .base36: return .bigInt(alphabet: BigIntBase.base36, zero: UInt8(ascii: "0"))
        case .base36upper: return .bigInt(alphabet: BigIntBase.base36upper, zero: UInt8(ascii: "0"))
        case .base45: return .base45
        case .base58btc: return .bigInt(alphabet: BigIntBase.base58btc, zero: UInt8(ascii: "1"))
        case .base58flickr: return .bigInt(alphabet: BigIntBase.base58flickr, zero: UInt8(ascii: "1"))
        case .base64: return .bits(BitCodec.base64)
        case .base64pad: return .bits(BitCodec.base64pad)
        case .base64url: return .bits(BitCodec.base64url)
        case .base64urlpad: return .bits(BitCodec.base64urlpad)
        case .base256emoji: return .emoji
        }
    }
}

/// Why a multibase string could not be decoded.
public enum MultibaseError: Error, Equatable, Sendable, CustomStringConvertible {
    case empty
    case unknownPrefix(String)
    case invalidCharacter(Character, base: Multibase, offset: Int)
    case invalidLength(base: Multibase, length: Int)
    case invalidPadding(base: Multibase)

    public var description: String {
        switch self {
        case .empty: return "multibase: empty string"
        case let .unknownPrefix(p): return "multibase: unknown prefix \(p.debugDescription)"
        case let .invalidCharacter(c, base, offset):
            return "multibase: character \(String(c).debugDescription) at offset \(offset) is not valid \(base.name)"
        case let .invalidLength(base, length):
            return "multibase: \(length) characters cannot be \(base.name)"
        case let .invalidPadding(base): return "multibase: bad padding for \(base.name)"
        }
    }
}

/// Bare base58btc (no multibase prefix), as used by CIDv0 and peer IDs.
public enum Base58 {
    public static func encode(_ bytes: [UInt8]) -> String {
        Multibase.base58btc.encodeBare(bytes)
    }

    public static func decode(_ string: some StringProtocol) throws(MultibaseError) -> [UInt8] {
        try Multibase.base58btc.decodeBare(string)
    }
}

// MARK: - RFC 4648-style bit packing (base2, base8, base16, base32*, base64*)

struct BitCodec: Sendable {
    let alphabet: [UInt8]
    let bitsPerChar: Int
    let padded: Bool
    let caseInsensitive: Bool
    /// base2 accepts non-canonical (short) strings by left-padding with '0'.
    let leftPadBits: Bool
    private let table: [Int16]

    init(_ alphabet: String, bits: Int, padded: Bool = false, caseInsensitive: Bool = false, leftPadBits: Bool = false) {
        self.alphabet = Array(alphabet.utf8)
        self.bitsPerChar = bits
        self.padded = padded
        self.caseInsensitive = caseInsensitive
        self.leftPadBits = leftPadBits
        var table = [Int16](repeating: -1, count: 256)
        for (i, c) in self.alphabet.enumerated() {
            table[Int(c)] = Int16(i)
            if caseInsensitive {
                table[Int(BitCodec.lower(c))] = Int16(i)
                table[Int(BitCodec.upper(c))] = Int16(i)
            }
        }
        self.table = table
    }

    static func lower(_ c: UInt8) -> UInt8 { (c >= 65 && c <= 90) ? c + 32 : c }
    static func upper(_ c: UInt8) -> UInt8 { (c >= 97 && c <= 122) ? c - 32 : c }

    static let base2 = BitCodec("01", bits: 1, leftPadBits: true)
    static let base8 = BitCodec("01234567", bits: 3)
    static let base16 = BitCodec("0123456789abcdef", bits: 4, caseInsensitive: true)
    static let base16upper = BitCodec("0123456789ABCDEF", bits: 4, caseInsensitive: true)
    static let base32 = BitCodec("abcdefghijklmnopqrstuvwxyz234567", bits: 5, caseInsensitive: true)
    static let base32upper = BitCodec("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", bits: 5, caseInsensitive: true)
    static let base32pad = BitCodec("abcdefghijklmnopqrstuvwxyz234567", bits: 5, padded: true, caseInsensitive: true)
    static let base32padupper = BitCodec("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", bits: 5, padded: true, caseInsensitive: true)
    static let base32hex = BitCodec("0123456789abcdefghijklmnopqrstuv", bits: 5, caseInsensitive: true)
    static let base32hexupper = BitCodec("0123456789ABCDEFGHIJKLMNOPQRSTUV", bits: 5, caseInsensitive: true)
    static let base32hexpad = BitCodec("0123456789abcdefghijklmnopqrstuv", bits: 5, padded: true, caseInsensitive: true)
    static let base32hexpadupper = BitCodec("0123456789ABCDEFGHIJKLMNOPQRSTUV", bits: 5, padded: true, caseInsensitive: true)
    static let base32z = BitCodec("ybndrfg8ejkmcpqxot1uwisza345h769", bits: 5)
    static let base64 = BitCodec("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", bits: 6)
    static let base64pad = BitCodec("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", bits: 6, padded: true)
    static let base64url = BitCodec("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", bits: 6)
    static let base64urlpad = BitCodec("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", bits: 6, padded: true)

    /// Characters per padding block: the smallest multiple of bitsPerChar divisible by 8.
    private var blockChars: Int {
        var n = 1
        while (n * bitsPerChar) % 8 != 0 { n += 1 }
        return n
    }

    func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 8 + bitsPerChar - 1) / bitsPerChar + blockChars)
        let mask = (1 << bitsPerChar) - 1
        var buffer = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | Int(byte)
            bits += 8
            while bits >= bitsPerChar {
                bits -= bitsPerChar
                out.append(alphabet[(buffer >> bits) & mask])
            }
            buffer &= (1 << bits) - 1
        }
        if bits > 0 {
            out.append(alphabet[(buffer << (bitsPerChar - bits)) & mask])
        }
        if padded {
            let block = blockChars
            while out.count % block != 0 { out.append(UInt8(ascii: "=")) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    func decode(_ input: [UInt8], base: Multibase) throws(MultibaseError) -> [UInt8] {
        var chars = input[...]
        if padded {
            guard chars.count % blockChars == 0 else { throw .invalidPadding(base: base) }
            var padCount = 0
            while let last = chars.last, last == UInt8(ascii: "=") {
                chars.removeLast()
                padCount += 1
            }
            guard padCount < blockChars, padCount == 0 || !chars.isEmpty else { throw .invalidPadding(base: base) }
        }
        var bitCount = chars.count * bitsPerChar
        var leadingPad = 0
        if leftPadBits, bitCount % 8 != 0 {
            leadingPad = 8 - bitCount % 8
            bitCount += leadingPad
        }
        // A trailing group too short to finish a byte is only allowed if it is shorter than one char.
        if bitCount % 8 >= bitsPerChar && bitsPerChar < 8 {
            throw .invalidLength(base: base, length: input.count)
        }
        var out: [UInt8] = []
        out.reserveCapacity(bitCount / 8)
        var buffer = 0
        var bits = leadingPad
        for (i, c) in chars.enumerated() {
            let v = table[Int(c)]
            guard v >= 0 else {
                if c == UInt8(ascii: "=") { throw .invalidPadding(base: base) }
                throw .invalidCharacter(Character(Unicode.Scalar(c)), base: base, offset: i)
            }
            buffer = (buffer << bitsPerChar) | Int(v)
            bits += bitsPerChar
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: buffer >> bits))
                buffer &= (1 << bits) - 1
            }
        }
        return out
    }
}

// MARK: - Big-integer bases (base10, base36, base58)

enum BigIntBase {
    static let base10 = Array("0123456789".utf8)
    static let base36 = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)
    static let base36upper = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
    static let base58btc = Array("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz".utf8)
    static let base58flickr = Array("123456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ".utf8)

    /// Leading zero bytes become leading zero characters; the rest is a big-endian integer.
    static func encode(_ bytes: [UInt8], alphabet: [UInt8], zeroChar: UInt8) -> String {
        let radix = alphabet.count
        var zeros = 0
        while zeros < bytes.count && bytes[zeros] == 0 { zeros += 1 }
        // Digits in little-endian order, radix `radix`.
        var digits: [UInt8] = []
        digits.reserveCapacity(bytes.count * 138 / 100 + 1)
        for byte in bytes[zeros...] {
            var carry = Int(byte)
            for j in 0..<digits.count {
                carry += Int(digits[j]) << 8
                digits[j] = UInt8(carry % radix)
                carry /= radix
            }
            while carry > 0 {
                digits.append(UInt8(carry % radix))
                carry /= radix
            }
        }
        var out = [UInt8](repeating: zeroChar, count: zeros)
        out.reserveCapacity(zeros + digits.count)
        for d in digits.reversed() { out.append(alphabet[Int(d)]) }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ input: [UInt8], alphabet: [UInt8], base: Multibase) throws(MultibaseError) -> [UInt8] {
        let radix = alphabet.count
        var table = [Int16](repeating: -1, count: 256)
        let caseInsensitive = (base == .base36 || base == .base36upper)
        for (i, c) in alphabet.enumerated() {
            table[Int(c)] = Int16(i)
            if caseInsensitive {
                table[Int(BitCodec.lower(c))] = Int16(i)
                table[Int(BitCodec.upper(c))] = Int16(i)
            }
        }
        let zeroChar = alphabet[0]
        var zeros = 0
        while zeros < input.count && input[zeros] == zeroChar { zeros += 1 }
        var bytes: [UInt8] = []  // little-endian base-256
        bytes.reserveCapacity(input.count)
        for i in zeros..<input.count {
            let c = input[i]
            let v = table[Int(c)]
            guard v >= 0 else {
                throw .invalidCharacter(Character(Unicode.Scalar(c)), base: base, offset: i)
            }
            var carry = Int(v)
            for j in 0..<bytes.count {
                carry += Int(bytes[j]) * radix
                bytes[j] = UInt8(truncatingIfNeeded: carry)
                carry >>= 8
            }
            while carry > 0 {
                bytes.append(UInt8(truncatingIfNeeded: carry))
                carry >>= 8
            }
        }
        return [UInt8](repeating: 0, count: zeros) + bytes.reversed()
    }
}

// MARK: - base45 (RFC 9285)

enum Base45 {
    static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count / 2 * 3 + 2)
        var i = 0
        while i + 1 < bytes.count {
            var n = Int(bytes[i]) << 8 | Int(bytes[i + 1])
            for _ in 0..<3 { out.append(alphabet[n % 45]); n /= 45 }
            i += 2
        }
        if i < bytes.count {
            var n = Int(bytes[i])
            for _ in 0..<2 { out.append(alphabet[n % 45]); n /= 45 }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ input: [UInt8], base: Multibase) throws(MultibaseError) -> [UInt8] {
        guard input.count % 3 != 1 else { throw .invalidLength(base: base, length: input.count) }
        var values: [Int] = []
        values.reserveCapacity(input.count)
        for (i, c) in input.enumerated() {
            // RFC 9285 is upper case; lower-case letters are accepted as their upper-case forms.
            guard let v = alphabet.firstIndex(of: BitCodec.upper(c)) else {
                throw .invalidCharacter(Character(Unicode.Scalar(c)), base: base, offset: i)
            }
            values.append(v)
        }
        var out: [UInt8] = []
        var i = 0
        while i < values.count {
            if i + 2 < values.count {
                let n = values[i] + values[i + 1] * 45 + values[i + 2] * 45 * 45
                guard n <= 0xffff else { throw .invalidCharacter(Character(Unicode.Scalar(input[i + 2])), base: base, offset: i + 2) }
                out.append(UInt8(n >> 8)); out.append(UInt8(n & 0xff))
                i += 3
            } else {
                let n = values[i] + values[i + 1] * 45
                guard n <= 0xff else { throw .invalidCharacter(Character(Unicode.Scalar(input[i + 1])), base: base, offset: i + 1) }
                out.append(UInt8(n))
                i += 2
            }
        }
        return out
    }
}

// MARK: - base256emoji

enum Base256Emoji {
    static let codepoints: [UInt32] = [
        0x1F680, 0x1FA90, 0x2604, 0x1F6F0, 0x1F30C, 0x1F311, 0x1F312, 0x1F313, 0x1F314, 0x1F315, 0x1F316, 0x1F317, 0x1F318, 0x1F30D, 0x1F30F, 0x1F30E,
        0x1F409, 0x2600, 0x1F4BB, 0x1F5A5, 0x1F4BE, 0x1F4BF, 0x1F602, 0x2764, 0x1F60D, 0x1F923, 0x1F60A, 0x1F64F, 0x1F495, 0x1F62D, 0x1F618, 0x1F44D,
        0x1F605, 0x1F44F, 0x1F601, 0x1F525, 0x1F970, 0x1F494, 0x1F496, 0x1F499, 0x1F622, 0x1F914, 0x1F606, 0x1F644, 0x1F4AA, 0x1F609, 0x263A, 0x1F44C,
        0x1F917, 0x1F49C, 0x1F614, 0x1F60E, 0x1F607, 0x1F339, 0x1F926, 0x1F389, 0x1F49E, 0x270C, 0x2728, 0x1F937, 0x1F631, 0x1F60C, 0x1F338, 0x1F64C,
        0x1F60B, 0x1F497, 0x1F49A, 0x1F60F, 0x1F49B, 0x1F642, 0x1F493, 0x1F929, 0x1F604, 0x1F600, 0x1F5A4, 0x1F603, 0x1F4AF, 0x1F648, 0x1F447, 0x1F3B6,
        0x1F612, 0x1F92D, 0x2763, 0x1F61C, 0x1F48B, 0x1F440, 0x1F62A, 0x1F611, 0x1F4A5, 0x1F64B, 0x1F61E, 0x1F629, 0x1F621, 0x1F92A, 0x1F44A, 0x1F973,
        0x1F625, 0x1F924, 0x1F449, 0x1F483, 0x1F633, 0x270B, 0x1F61A, 0x1F61D, 0x1F634, 0x1F31F, 0x1F62C, 0x1F643, 0x1F340, 0x1F337, 0x1F63B, 0x1F613,
        0x2B50, 0x2705, 0x1F97A, 0x1F308, 0x1F608, 0x1F918, 0x1F4A6, 0x2714, 0x1F623, 0x1F3C3, 0x1F490, 0x2639, 0x1F38A, 0x1F498, 0x1F620, 0x261D,
        0x1F615, 0x1F33A, 0x1F382, 0x1F33B, 0x1F610, 0x1F595, 0x1F49D, 0x1F64A, 0x1F639, 0x1F5E3, 0x1F4AB, 0x1F480, 0x1F451, 0x1F3B5, 0x1F91E, 0x1F61B,
        0x1F534, 0x1F624, 0x1F33C, 0x1F62B, 0x26BD, 0x1F919, 0x2615, 0x1F3C6, 0x1F92B, 0x1F448, 0x1F62E, 0x1F646, 0x1F37B, 0x1F343, 0x1F436, 0x1F481,
        0x1F632, 0x1F33F, 0x1F9E1, 0x1F381, 0x26A1, 0x1F31E, 0x1F388, 0x274C, 0x270A, 0x1F44B, 0x1F630, 0x1F928, 0x1F636, 0x1F91D, 0x1F6B6, 0x1F4B0,
        0x1F353, 0x1F4A2, 0x1F91F, 0x1F641, 0x1F6A8, 0x1F4A8, 0x1F92C, 0x2708, 0x1F380, 0x1F37A, 0x1F913, 0x1F619, 0x1F49F, 0x1F331, 0x1F616, 0x1F476,
        0x1F974, 0x25B6, 0x27A1, 0x2753, 0x1F48E, 0x1F4B8, 0x2B07, 0x1F628, 0x1F31A, 0x1F98B, 0x1F637, 0x1F57A, 0x26A0, 0x1F645, 0x1F61F, 0x1F635,
        0x1F44E, 0x1F932, 0x1F920, 0x1F927, 0x1F4CC, 0x1F535, 0x1F485, 0x1F9D0, 0x1F43E, 0x1F352, 0x1F617, 0x1F911, 0x1F30A, 0x1F92F, 0x1F437, 0x260E,
        0x1F4A7, 0x1F62F, 0x1F486, 0x1F446, 0x1F3A4, 0x1F647, 0x1F351, 0x2744, 0x1F334, 0x1F4A3, 0x1F438, 0x1F48C, 0x1F4CD, 0x1F940, 0x1F922, 0x1F445,
        0x1F4A1, 0x1F4A9, 0x1F450, 0x1F4F8, 0x1F47B, 0x1F910, 0x1F92E, 0x1F3BC, 0x1F975, 0x1F6A9, 0x1F34E, 0x1F34A, 0x1F47C, 0x1F48D, 0x1F4E3, 0x1F942,
    ]

    static let reverse: [UInt32: UInt8] = {
        var table: [UInt32: UInt8] = [:]
        for (i, cp) in codepoints.enumerated() { table[cp] = UInt8(i) }
        return table
    }()

    static func encode(_ bytes: [UInt8]) -> String {
        var scalars = String.UnicodeScalarView()
        for b in bytes {
            if let s = Unicode.Scalar(codepoints[Int(b)]) { scalars.append(s) }
        }
        return String(scalars)
    }

    static func decode(_ string: some StringProtocol, base: Multibase) throws(MultibaseError) -> [UInt8] {
        var out: [UInt8] = []
        for (i, scalar) in string.unicodeScalars.enumerated() {
            guard let b = reverse[scalar.value] else {
                throw .invalidCharacter(Character(scalar), base: base, offset: i)
            }
            out.append(b)
        }
        return out
    }
}
