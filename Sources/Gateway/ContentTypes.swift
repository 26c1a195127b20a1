/// Content types of deserialized files: by the name's extension, else by the first bytes.
enum ContentTypes {
    static let byExtension: [String: String] = [
        "html": "text/html; charset=utf-8", "htm": "text/html; charset=utf-8", "css": "text/css; charset=utf-8",
        "js": "text/javascript; charset=utf-8", "mjs": "text/javascript; charset=utf-8",
        "json": "application/json", "txt": "text/plain; charset=utf-8", "md": "text/markdown; charset=utf-8",
        "csv": "text/csv; charset=utf-8", "tsv": "text/tab-separated-values; charset=utf-8", "xml": "application/xml",
        "svg": "image/svg+xml", "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
        "webp": "image/webp", "ico": "image/x-icon", "pdf": "application/pdf", "wasm": "application/wasm",
        "mp4": "video/mp4", "webm": "video/webm", "mp3": "audio/mpeg", "wav": "audio/wav", "zip": "application/zip",
        "gz": "application/gzip", "tar": "application/x-tar", "car": "application/vnd.ipld.car",
        "parquet": "application/vnd.apache.parquet", "yaml": "application/yaml", "yml": "application/yaml",
    ]

    /// The type of a file named `name` whose content starts with `head` (up to 512 bytes).
    static func of(name: String?, head: [UInt8]) -> String {
        if let name, let dot = name.lastIndex(of: "."), let type = byExtension[name[name.index(after: dot)...].lowercased()] {
            return type
        }
        return sniff(head)
    }

    /// A small subset of the WHATWG MIME sniffing table.
    static func sniff(_ head: [UInt8]) -> String {
        func starts(_ magic: [UInt8]) -> Bool { head.starts(with: magic) }
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return "image/png" }
        if starts([0xFF, 0xD8, 0xFF]) { return "image/jpeg" }
        if starts(Array("GIF87a".utf8)) || starts(Array("GIF89a".utf8)) { return "image/gif" }
        if starts(Array("%PDF-".utf8)) { return "application/pdf" }
        if starts([0x1F, 0x8B, 0x08]) { return "application/gzip" }
        if starts([0x50, 0x4B, 0x03, 0x04]) { return "application/zip" }
        if starts([0x00, 0x61, 0x73, 0x6D]) { return "application/wasm" }
        if head.count >= 12, starts(Array("RIFF".utf8)), Array(head[8..<12]) == Array("WEBP".utf8) { return "image/webp" }
        let text = String(decoding: head.prefix(64), as: UTF8.self).trimmingLeadingSpace().lowercased()
        if text.hasPrefix("<!doctype html") || text.hasPrefix("<html") { return "text/html; charset=utf-8" }
        if text.hasPrefix("<svg") { return "image/svg+xml" }
        if text.hasPrefix("<?xml") { return "application/xml" }
        if isText(head) { return "text/plain; charset=utf-8" }
        return "application/octet-stream"
    }

    /// No NUL or other binary control bytes, and valid UTF-8 (a sequence cut at the end is fine).
    static func isText(_ bytes: [UInt8]) -> Bool {
        for byte in bytes where byte < 0x20 && byte != 0x09 && byte != 0x0A && byte != 0x0D && byte != 0x0C && byte != 0x1B {
            return false
        }
        // A multi-byte sequence cut by the 512-byte window is fine.
        for cut in 0...min(3, bytes.count) where String(validating: bytes.dropLast(cut), as: UTF8.self) != nil {
            return true
        }
        return false
    }
}

extension String {
    fileprivate func trimmingLeadingSpace() -> Substring {
        self.drop { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\u{FEFF}" }
    }
}
