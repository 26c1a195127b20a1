import Foundation
import Multiformats
import UnixFS

/// The HTML page of a directory without `index.html`, `pageSize` entries a page.
///
/// Pages are chained by cursor, not by offset: `?after=NAME` lists the entries that follow the
/// entry `NAME` (see `UnixFS.DirectoryCursor`), which costs O(depth + page) blocks however deep
/// the page is in a 100,000-entry HAMT. Like boxo's listing, sizes come from the links' `Tsize`
/// (no block of an entry is read) and the directory's size is its cumulative DAG size; unlike
/// boxo, which renders every entry on one page, a big directory is split into pages.
public enum DirectoryListing {
    /// Entries per page.
    public static let pageSize = 1000

    /// The listing page of `cid` at `path` (which ends in "/"); `after` is the cursor the page
    /// was asked with.
    static func html(path: String, cid: CID, page: DirectoryPage, after: String?) -> String {
        var rows = ""
        let base = path.hasSuffix("/") ? path : path + "/"
        if path.split(separator: "/").count > 2 {
            rows += "<tr><td><a href=\"../\">..</a></td><td></td><td></td></tr>\n"
        }
        rows.reserveCapacity(page.entries.count * 300)
        for entry in page.entries {
            let name = isUnreserved(entry.name)
                ? entry.name
                : entry.name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/", "?", "#"])) ?? entry.name
            let size = entry.tsize.map { sizeText($0) } ?? ""
            let cid = entry.cid.description
            rows += "<tr><td><a href=\"\(escape(base + name))\">\(escape(entry.name))</a></td>"
                + "<td><a class=\"cid\" href=\"/ipfs/\(cid)\">\(cid)</a></td><td>\(size)</td></tr>\n"
        }
        var summary = page.count.map { "\($0) entries" } ?? "sharded directory (HAMT), entries in shard order"
        summary += " · \(sizeText(page.dagSize))"
        if let after { summary += " · entries after “\(after)”" }
        var links: [String] = []
        if after != nil { links.append("<a href=\"\(escape(base))\">« first page</a>") }
        if let next = page.next {
            links.append("<a href=\"\(escape(base + "?after=" + component(next)))\">next \(pageSize) »</a>")
        }
        let navigation = links.isEmpty ? "" : "<p class=\"pages\">" + links.joined(separator: " ") + "</p>\n"
        return """
            <!DOCTYPE html>
            <html><head><meta charset="utf-8"><title>\(escape(path))</title>
            <style>body{font-family:sans-serif;margin:2em}td{padding:0.2em 1em}.cid{font-family:monospace;color:#666}</style>
            </head><body>
            <h1>Index of \(escape(path))</h1>
            <p class="cid">\(cid)</p>
            <p class="summary">\(escape(summary))</p>
            <table>
            \(rows)</table>
            \(navigation)</body></html>

            """
    }

    /// Percent-encodes one path segment or query value: everything but ASCII letters, digits and
    /// `-._~` (also used by the repository web page).
    public static func component(_ text: String) -> String {
        if isUnreserved(text) { return text }
        var allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    /// Whether `text` is only ASCII letters, digits and `-._~` (nothing to percent-encode).
    static func isUnreserved(_ text: String) -> Bool {
        text.utf8.allSatisfy { byte in
            switch byte {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x2E, 0x5F, 0x7E: return true
            default: return false
            }
        }
    }

    /// Escapes `&`, `<`, `>`, `"` and `'` for HTML text and attribute values (also used by the
    /// repository web page).
    public static func escape(_ text: String) -> String {
        // Most names need nothing: answer them without rebuilding the string.
        guard text.utf8.contains(where: { $0 == 0x26 || $0 == 0x3C || $0 == 0x3E || $0 == 0x22 || $0 == 0x27 }) else {
            return text
        }
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    static func sizeText(_ bytes: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f", value) + " " + units[unit]
    }
}
