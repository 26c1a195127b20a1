import Foundation
import Gateway

/// Building server-rendered HTML: every piece of text that comes from data (file names, commit
/// messages, CSV cells, branch names) goes through `escape`, so a hostile file name cannot inject
/// markup or script.
struct HTML {
    private(set) var text = ""

    /// Escapes `&`, `<`, `>`, `"` and `'` (the gateway's escaper, one for both pages).
    static func escape(_ s: String) -> String { DirectoryListing.escape(s) }

    /// Percent-encodes one path segment or query value (the gateway's encoder).
    static func component(_ s: String) -> String { DirectoryListing.component(s) }

    /// Appends trusted markup.
    mutating func raw(_ markup: String) { text += markup }

    /// Appends escaped text.
    mutating func text(_ s: String) { text += Self.escape(s) }

    /// `<tag>escaped text</tag>`.
    mutating func element(_ tag: String, _ content: String, attributes: String = "") {
        text += "<\(tag)\(attributes.isEmpty ? "" : " " + attributes)>\(Self.escape(content))</\(tag)>"
    }

    /// A link with escaped text; `href` is built from `component`-encoded parts by the caller.
    mutating func link(_ href: String, _ label: String) {
        text += "<a href=\"\(Self.escape(href))\">\(Self.escape(label))</a>"
    }

    /// The page around `body`.
    static func page(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(title)) · jz-node</title>
        <style>
        body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1b1f24;background:#fafbfc}
        header{background:#24292f;color:#fff;padding:.6em 1.2em}header a{color:#fff;margin-right:1.2em;text-decoration:none}
        main{padding:1em 1.2em;max-width:1200px}
        table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #d0d7de;padding:.25em .6em;text-align:left;vertical-align:top}
        th{background:#f0f2f4}code,.cid{font-family:ui-monospace,monospace;font-size:12px}
        .added{background:#e6ffec}.removed{background:#ffebe9}.modified{background:#fff8c5}
        .diff td{font-family:ui-monospace,monospace;font-size:12px;white-space:pre-wrap}
        .muted{color:#57606a}pre{background:#f6f8fa;padding:.8em;overflow:auto}
        </style></head><body>
        <header><a href="/webui/">Repositories</a><a href="/webui/peers">Peers</a></header>
        <main>
        \(body)
        </main></body></html>
        """
    }
}
