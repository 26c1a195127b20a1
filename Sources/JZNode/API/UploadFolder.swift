import Foundation

/// How an upload command's multipart parts are laid out in its temporary folder.
public enum UploadLayout: Sendable {
    /// `add`, `commit`: named parts at their paths under `tree/` (folders as directories, files
    /// as files, symlinks as symlinks), unnamed data parts as `parts/<n>`.
    case tree
    /// `block/put`, `dag/put`, `dag/import`: every data part as `parts/<n>`, names unused.
    case flat

    /// The layout of a command's multipart body; nil for commands that take none.
    public static func of(command: String) -> UploadLayout? {
        switch command {
        case "add", "commit": .tree
        case "block/put", "dag/put", "dag/import": .flat
        default: nil
        }
    }
}

/// An upload's parts written to a per-request temporary folder as the body arrived
/// (`APIRequest.upload`); the server removes it once the response is written.
public struct UploadedFolder: Sendable {
    public enum Kind: Sendable, Equatable { case file, directory, symlink }

    /// One top-level entry (`.tree`: a named entry at its first appearance, or an unnamed data
    /// part) or one data part (`.flat`), in the order they came.
    public struct Entry: Sendable, Equatable {
        /// `.tree`: the top-level name as sent, nil for an unnamed part. `.flat`: the part's
        /// file name if it has one (for messages).
        public let name: String?
        /// Where it is on disk.
        public let path: String
        public let kind: Kind
    }

    /// The per-request folder (holds `tree/` and `parts/`).
    public let root: String
    public let entries: [Entry]

    /// Removes the folder and everything in it.
    public func remove() {
        try? FileManager.default.removeItem(atPath: root)
    }
}

/// Why an upload cannot be taken.
public enum UploadError: Error, Sendable, CustomStringConvertible {
    case multipart(MultipartError)
    /// A part's file name is unusable (absolute, `..`, under a file or symlink, sent twice).
    case badName(String, reason: String)
    /// The temporary folder's file system lacks room.
    case noSpace(folder: String, free: Int64, needed: Int64?)
    /// Writing under the temporary folder failed.
    case io(path: String, reason: String)

    /// The HTTP status to answer.
    public var status: Int {
        switch self {
        case .multipart, .badName: 400
        case .noSpace: 507
        case .io: 500
        }
    }

    public var description: String {
        switch self {
        case .multipart(let error): "\(error)"
        case .badName(let name, let reason): "upload: file name \"\(name)\" \(reason)"
        case .noSpace(let folder, let free, let needed):
            "upload refused: the daemon's temporary folder \(folder) has \(free) bytes free"
                + (needed.map { ", the upload needs \($0)" } ?? ", too few to take the rest of the upload")
                + " (free space there, or start the daemon with TMPDIR on a larger file system)"
        case .io(let path, let reason): "upload: cannot write \(path): \(reason)"
        }
    }
}

/// Writes a multipart upload body to a per-request temporary folder as it arrives: a
/// `MultipartStream` turns the chunks into parts and each part's bytes go straight to its file.
/// Blocking (file system): the server calls it through `BlockingExecutor`, one call at a time.
final class UploadWriter: @unchecked Sendable {
    let root: String
    private let layout: UploadLayout
    private var stream: MultipartStream
    private let reserveBytes: Int64
    /// The body size the client announced (checked against free space before the first write).
    private let declaredBytes: Int64?
    private var created = false
    /// What was made under `tree/`, by relative path (a path is never made twice).
    private var kinds: [String: UploadedFolder.Kind] = [:]
    private var entries: [UploadedFolder.Entry] = []
    private var partCount = 0
    // The current part: an open file, a symlink's target being collected, or nothing (a folder).
    private var fd: Int32 = -1
    private var filePath = ""
    private var symlink: (path: String, target: [UInt8])?
    private var sinceRoomCheck = 0

    /// Free space is checked again after this many bytes written.
    static let roomCheckBytes = 64 << 20
    /// The longest symlink target taken.
    static let maxSymlinkTarget = 4096

    /// `contentType` must be `multipart/…` with a boundary. Nothing is written before `write`.
    init(
        contentType: String, layout: UploadLayout, declaredBytes: Int64? = nil,
        temporaryFolder: String = NSTemporaryDirectory(), reserveBytes: Int64 = 64 << 20
    ) throws(UploadError) {
        do { stream = try MultipartStream(contentType: contentType) } catch { throw .multipart(error) }
        self.layout = layout
        self.declaredBytes = declaredBytes
        self.reserveBytes = reserveBytes
        root = (temporaryFolder as NSString).appendingPathComponent("jz-upload-\(UUID().uuidString)")
    }

    /// The next bytes of the body.
    func write(_ bytes: [UInt8]) throws(UploadError) {
        if !created { try create() }
        let events: [MultipartEvent]
        do { events = try stream.feed(bytes) } catch { throw .multipart(error) }
        for event in events {
            switch event {
            case .part(let headers): try begin(headers)
            case .content(let content): try append(content)
            case .partEnd: try end()
            case .finished: break
            }
        }
    }

    /// The body ended: the folder and its entries (throws if the closing boundary is missing).
    func finish() throws(UploadError) -> UploadedFolder {
        if !created { try create() }
        do { try stream.finish() } catch { throw .multipart(error) }
        return UploadedFolder(root: root, entries: entries)
    }

    /// Closes what is open and removes the folder (again harmless).
    func remove() {
        if fd >= 0 { close(fd); fd = -1 }
        try? FileManager.default.removeItem(atPath: root)
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    /// A whole body held in memory written out at once (routes called without the server).
    static func materialize(body: [UInt8], contentType: String, layout: UploadLayout) throws(UploadError) -> UploadedFolder {
        let writer = try UploadWriter(contentType: contentType, layout: layout)
        do {
            try writer.write(body)
            return try writer.finish()
        } catch {
            writer.remove()
            throw error
        }
    }

    // MARK: - Parts

    private var tree: String { (root as NSString).appendingPathComponent("tree") }

    private func create() throws(UploadError) {
        created = true
        for folder in [root, tree, (root as NSString).appendingPathComponent("parts")] where mkdir(folder, 0o700) != 0 {
            throw .io(path: folder, reason: String(cString: strerror(errno)))
        }
        if let declaredBytes { try checkRoom(needed: declaredBytes) }
    }

    /// Throws `noSpace` unless the temporary folder's file system has `needed` bytes (or, when
    /// nil, at least the reserve) free beyond the reserve.
    private func checkRoom(needed: Int64?) throws(UploadError) {
        guard let free = freeBytes() else { return }
        if free - (needed ?? 0) < reserveBytes {
            throw .noSpace(folder: (root as NSString).deletingLastPathComponent, free: free, needed: needed)
        }
    }

    /// Bytes free for unprivileged users on the temporary folder's file system.
    private func freeBytes() -> Int64? {
        var info = statvfs()
        guard statvfs(root, &info) == 0 else { return nil }
        return Int64(info.f_bavail) * Int64(info.f_frsize)
    }

    private func begin(_ headers: MultipartHeaders) throws(UploadError) {
        defer { partCount += 1 }
        let name = headers.filename ?? ""
        if layout == .flat || name.isEmpty {
            guard !headers.isDirectory else { return }
            let path = (root as NSString).appendingPathComponent("parts/\(partCount)")
            try openFile(path, name: "part \(partCount)")
            entries.append(.init(name: layout == .flat && !name.isEmpty ? name : nil, path: path, kind: .file))
            return
        }
        guard !name.hasPrefix("/") else { throw .badName(name, reason: "is absolute: names must be relative paths inside the upload") }
        guard !name.utf8.contains(0) else { throw .badName(name, reason: "contains a NUL byte") }
        let components = name.split(separator: "/").map(String.init)
        guard !components.isEmpty, !components.contains(where: { $0 == ".." || $0 == "." }) else {
            throw .badName(name, reason: "is not a relative path inside the upload (no \".\" or \"..\" components)")
        }
        let kind: UploadedFolder.Kind = headers.isDirectory ? .directory : headers.isSymlink ? .symlink : .file
        if kinds[components[0]] == nil {
            let top = (tree as NSString).appendingPathComponent(components[0])
            entries.append(.init(name: components[0], path: top, kind: components.count == 1 ? kind : .directory))
        }
        // Every parent is a folder made here (never a file or a symlink: nothing escapes `tree/`).
        var relative = ""
        for component in components.dropLast() {
            relative = relative.isEmpty ? component : relative + "/" + component
            switch kinds[relative] {
            case .directory: continue
            case nil: try makeDirectory(relative, name: name)
            case .file, .symlink: throw .badName(name, reason: "is under \"\(relative)\", which is not a folder")
            }
        }
        let path = (tree as NSString).appendingPathComponent(components.joined(separator: "/"))
        let full = components.joined(separator: "/")
        if let existing = kinds[full] {
            guard existing == .directory, kind == .directory else { throw .badName(name, reason: "is sent twice") }
            return
        }
        switch kind {
        case .directory: try makeDirectory(full, name: name)
        case .symlink:
            kinds[full] = .symlink
            symlink = (path, [])
        case .file:
            kinds[full] = .file
            try openFile(path, name: name)
        }
    }

    private func makeDirectory(_ relative: String, name: String) throws(UploadError) {
        let path = (tree as NSString).appendingPathComponent(relative)
        guard mkdir(path, 0o755) == 0 else { throw .io(path: path, reason: "\(name): \(String(cString: strerror(errno)))") }
        kinds[relative] = .directory
    }

    private func openFile(_ path: String, name: String) throws(UploadError) {
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(path: path, reason: "\(name): \(String(cString: strerror(errno)))") }
        filePath = path
    }

    private func append(_ content: [UInt8]) throws(UploadError) {
        if fd >= 0 {
            var offset = 0
            while offset < content.count {
                let written = content[offset...].withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
                if written < 0 {
                    if errno == EINTR { continue }
                    if errno == ENOSPC || errno == EDQUOT {
                        throw .noSpace(folder: (root as NSString).deletingLastPathComponent, free: freeBytes() ?? 0, needed: nil)
                    }
                    throw .io(path: filePath, reason: String(cString: strerror(errno)))
                }
                offset += written
            }
            sinceRoomCheck += content.count
            if sinceRoomCheck >= Self.roomCheckBytes {
                sinceRoomCheck = 0
                if declaredBytes == nil { try checkRoom(needed: nil) }
            }
        } else if let pending = symlink {
            guard pending.target.count + content.count <= Self.maxSymlinkTarget else {
                throw .badName(pending.path, reason: "is a symlink with a target longer than \(Self.maxSymlinkTarget) bytes")
            }
            symlink?.target += content
        }
    }

    private func end() throws(UploadError) {
        if fd >= 0 {
            close(fd)
            fd = -1
        }
        if let pending = symlink {
            symlink = nil
            guard Foundation.symlink(String(decoding: pending.target, as: UTF8.self), pending.path) == 0 else {
                throw .io(path: pending.path, reason: String(cString: strerror(errno)))
            }
        }
    }
}
