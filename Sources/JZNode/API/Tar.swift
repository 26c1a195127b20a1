import Foundation

/// Writes POSIX ustar archives, as Kubo's `get` streams files and folders (names longer than
/// ustar's 100 bytes get a PAX `path` record).
public enum TarWriter {
    public enum Kind: Sendable { case file, directory, symlink(target: String) }

    /// The header block(s) of one entry; a file's data follows, then `padding(size)`.
    public static func header(name: String, kind: Kind, size: UInt64, mode: UInt32? = nil, mtime: Int64 = 0) -> [UInt8] {
        var out: [UInt8] = []
        var storedName = name
        var linkName = ""
        if case .symlink(let target) = kind { linkName = target }
        if case .directory = kind, !storedName.hasSuffix("/") { storedName += "/" }
        var pax: [(String, String)] = []
        if storedName.utf8.count > 100 { pax.append(("path", storedName)); storedName = String(decoding: storedName.utf8.prefix(100), as: UTF8.self) }
        if linkName.utf8.count > 100 { pax.append(("linkpath", linkName)); linkName = String(decoding: linkName.utf8.prefix(100), as: UTF8.self) }
        if !pax.isEmpty {
            var records: [UInt8] = []
            for (key, value) in pax { records += paxRecord(key, value) }
            out += block(name: "PaxHeaders/\(storedName)".utf8.prefix(100).map { $0 }, type: UInt8(ascii: "x"),
                         size: UInt64(records.count), mode: 0o644, mtime: mtime, link: [])
            out += records + padding(UInt64(records.count))
        }
        let type: UInt8
        let defaultMode: UInt32
        switch kind {
        case .file: type = UInt8(ascii: "0"); defaultMode = 0o644
        case .directory: type = UInt8(ascii: "5"); defaultMode = 0o755
        case .symlink: type = UInt8(ascii: "2"); defaultMode = 0o777
        }
        let entrySize: UInt64 = if case .file = kind { size } else { 0 }
        out += block(name: Array(storedName.utf8), type: type, size: entrySize, mode: mode ?? defaultMode, mtime: mtime, link: Array(linkName.utf8))
        return out
    }

    /// Zero bytes that round `size` up to the 512-byte record.
    public static func padding(_ size: UInt64) -> [UInt8] {
        let rest = Int(size % 512)
        return rest == 0 ? [] : [UInt8](repeating: 0, count: 512 - rest)
    }

    /// The end of the archive: two zero records.
    public static let trailer = [UInt8](repeating: 0, count: 1024)

    private static func paxRecord(_ key: String, _ value: String) -> [UInt8] {
        let body = " \(key)=\(value)\n"
        var length = body.utf8.count + 1
        while String(length).utf8.count + body.utf8.count != length { length += 1 }
        return Array("\(length)\(body)".utf8)
    }

    private static func block(name: [UInt8], type: UInt8, size: UInt64, mode: UInt32, mtime: Int64, link: [UInt8]) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 512)
        func put(_ bytes: [UInt8], at offset: Int, width: Int) {
            for (i, b) in bytes.prefix(width).enumerated() { header[offset + i] = b }
        }
        func octal(_ value: UInt64, at offset: Int, width: Int) {
            let digits = String(value, radix: 8)
            let padded = String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits
            put(Array(padded.utf8), at: offset, width: width - 1)
        }
        put(name, at: 0, width: 100)
        octal(UInt64(mode & 0o7777), at: 100, width: 8)
        octal(0, at: 108, width: 8)
        octal(0, at: 116, width: 8)
        octal(size, at: 124, width: 12)
        octal(UInt64(max(0, mtime)), at: 136, width: 12)
        header[156] = type
        put(link, at: 157, width: 100)
        put(Array("ustar\u{0}00".utf8), at: 257, width: 8)
        for i in 148..<156 { header[i] = 0x20 }
        let checksum = header.reduce(UInt64(0)) { $0 + UInt64($1) }
        octal(checksum, at: 148, width: 7)
        header[155] = 0x20
        return header
    }
}
