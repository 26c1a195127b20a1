import IPLD
import Multiformats
import UnixFS

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Materialises a tree into a local folder and proves it: the folder is re-hashed (nothing stored)
/// and must give back the tree's CID.
public enum Checkout {
    /// Writes the tree (or file, or symlink) `tree` to `folder`, which must be absent or an empty
    /// directory, then verifies it by re-hashing with `options` (the options it was imported with;
    /// hidden files included).
    /// - Returns: the CID the written folder hashes to (equal to `tree` when verified).
    /// - Throws: `TreeError.io` (folder not empty), `.exportFailed`, `.verificationFailed`.
    @discardableResult
    public static func materialize(
        _ tree: CID, source: any BlockSource, to folder: String, options: ImportOptions, verify: Bool = true
    ) throws(TreeError) -> CID {
        if rmdir(folder) != 0 && errno != ENOENT {
            let code = errno
            throw .io(operation: "checkout into", path: folder, reason: code == ENOTEMPTY || code == EEXIST
                ? "folder is not empty" : String(cString: strerror(code)))
        }
        do {
            try Exporter(source: source).get(tree, to: folder)
        } catch {
            throw .exportFailed(error)
        }
        guard verify else { return tree }
        let actual = try hash(folder, options: options)
        guard actual == tree else { throw .verificationFailed(path: folder, expected: tree, actual: actual) }
        return actual
    }

    /// The root CID of a local file or folder hashed with `options` (hidden files included, nothing stored).
    public static func hash(_ path: String, options: ImportOptions) throws(TreeError) -> CID {
        var hashing = options
        hashing.includeHidden = true
        hashing.wrapWithDirectory = false
        do {
            return try Importer(options: hashing, sink: nil, collectEntries: false).add(path: path).root.cid
        } catch {
            throw .importFailed(error)
        }
    }
}
