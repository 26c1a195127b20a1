import Foundation
import Multiformats
import UnixFS

/// The HTML page of a directory without `index.html`.
public enum DirectoryListing {
    static func html(path: String, cid: CID, entries: [DirectoryEntry]) -> String {
        var rows = ""
        let base = path.hasSuffix("/") ? path : path + "/"
        if path.split(separator: "/").count > 2 {
            rows += "<tr><td><a href=\"../\">..</a></td><td></td><td></td></tr>\n"
        }
        for entry in entries {
            let href = base + (entry.name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/", "?", "#"])) ?? entry.name)
            let size = entry.tsize.map { sizeText($0) } ?? ""
            rows += "<tr><td><a href=\"\(escape(href))\">\(escape(entry.name))</a></td>"
                + "<td><a class=\"cid\" href=\"/ipfs/\(entry.cid)\">\(entry.cid)</a></td><td>\(size)</td></tr>\n"
        }
        return """
            <!DOCTYPE html>
            <html><head><meta charset="utf-8"><title>\(escape(path))</title>
            <style>body{font-family:sans-serif;margin:2em}td{padding:0.2em 1em}.cid{font-family:monospace;color:#666}</style>
            </head><body>
            <h1>Index of \(escape(path))</h1>
            <p class="cid">\(cid)</p>
            <table>
            \(rows)</table>
            </body></html>

            """
    }

    /// Escapes `&`, `<`, `>`, `"` and `'` for HTML text and attribute values (also used by the
    /// repository web page).
    public static func escape(_ text: String) -> String {
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
