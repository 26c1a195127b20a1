import Foundation
import P2PCore

/// An upload's request body written to a temporary file as it arrives (so a large `add` is not
/// held in memory); `APIRequest.bodyFile` names it and the handler maps it. One task uses it.
final class BodySpool: @unchecked Sendable {
    let path: String
    private var fd: Int32
    private var pending: [UInt8] = []
    private(set) var count = 0
    /// Writes go to the file in batches of this size.
    static let batchBytes = 1 << 20

    /// Creates an empty file (mode 0600) in the temporary folder.
    init() throws {
        path = (NSTemporaryDirectory() as NSString).appendingPathComponent("jz-upload-\(UUID().uuidString)")
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw APIError.transport("cannot create \(path): \(String(cString: strerror(errno)))") }
    }

    func append(_ bytes: [UInt8]) async throws {
        pending += bytes
        count += bytes.count
        if pending.count >= Self.batchBytes { try await flush() }
    }

    /// Writes what is buffered.
    func flush() async throws {
        guard !pending.isEmpty else { return }
        let batch = pending
        pending = []
        let (fd, path) = (fd, path)
        try await BlockingExecutor.run { () throws(APIError) in
            var offset = 0
            while offset < batch.count {
                let written = batch[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if written < 0 {
                    if errno == EINTR { continue }
                    throw APIError.transport("cannot write \(path): \(String(cString: strerror(errno)))")
                }
                offset += written
            }
        }
    }

    /// Closes and removes the file (a mapping of it stays valid).
    func remove() {
        if fd >= 0 { close(fd); fd = -1 }
        unlink(path)
    }

    deinit { remove() }
}
