import Foundation
import JZNode
import Logging
import Multiformats
import Testing
import Versioning
import TestSupport

@Suite("Working folders (checkout records)", .onBlockingPool)
struct WorkingFoldersTests {
    @Test("fresh checkout records; next checkout updates in place; other folders are refused")
    func records() throws {
        let root = NSTemporaryDirectory() + "wf-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: root) }
        let home = NodeHome(path: root + "/home")
        try home.initialize(bootstrap: [])
        let node = try LocalNode(home: home, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let versions = node.versionStore()
        let folders = WorkingFolders(home: home, versions: versions)
        try versions.createRepository("r")
        let source = root + "/src"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        for i in 0..<5 { try Data("file \(i)".utf8).write(to: URL(fileURLWithPath: source + "/f\(i).txt")) }
        let author = Person(name: "T", email: "t@example.org")
        let first = try versions.commit("r", directory: source, message: "one", author: author)
        try Data("changed".utf8).write(to: URL(fileURLWithPath: source + "/f2.txt"))
        let second = try versions.commit("r", directory: source, message: "two", author: author)

        let work = root + "/work"
        let fresh = try folders.updateCheckout(repo: "r", ref: RefExpression(base: first.cid.description), folder: work)
        #expect(fresh.previous == nil && fresh.written == 5 && fresh.tree == first.commit.tree)
        let record = try #require(try folders.record(for: fresh.folder))
        #expect(record.tree == first.commit.tree && record.files.count == 5 && record.repository == "r")

        let update = try folders.updateCheckout(repo: "r", ref: nil, folder: work)
        #expect(update.previous == first.commit.tree && update.tree == second.commit.tree)
        #expect(update.written == 1 && update.removed == 0 && update.unchanged == 4)
        #expect(try Checkout.hash(work, options: versions.importOptions) == second.commit.tree)

        // An emptied folder gets a fresh, whole checkout again.
        for name in try FileManager.default.contentsOfDirectory(atPath: work) {
            try FileManager.default.removeItem(atPath: work + "/" + name)
        }
        let again = try folders.updateCheckout(repo: "r", ref: nil, folder: work)
        #expect(again.previous == nil && again.written == 5)

        // A non-empty folder without a record, and a checkout of another repository, are refused.
        try versions.createRepository("other")
        _ = try versions.commit("other", directory: source, message: "o", author: author)
        #expect(throws: CheckoutError.self) { try folders.updateCheckout(repo: "other", ref: nil, folder: work) }
        let stranger = root + "/stranger"
        try FileManager.default.createDirectory(atPath: stranger, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: stranger + "/x"))
        #expect(throws: CheckoutError.self) { try folders.updateCheckout(repo: "r", ref: nil, folder: stranger) }
    }
}
