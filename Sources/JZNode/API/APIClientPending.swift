// TEMPORARY (h-kubo): stands in for the lead's APIClient uploads/downloads until main has them.
// Delete on merging main.
import Foundation

public struct APIUpload: Sendable, Equatable {
    public enum Part: Sendable, Equatable {
        case file(name: String, path: String)
        case bytes(name: String, [UInt8])
        case directory(name: String)
        case symlink(name: String, target: String)
    }
    public var parts: [Part]
    public init(parts: [Part]) { self.parts = parts }
}

extension APIClient {
    public func call(
        _ command: String, arguments: [String] = [], options: [(String, String)] = [], upload: APIUpload
    ) throws(APIError) -> JSONValue { throw .transport("pending") }

    public func stream(
        _ command: String, arguments: [String] = [], options: [(String, String)] = [], upload: APIUpload,
        each: (JSONValue, _ isStream: Bool) throws -> Void
    ) throws(APIError) { throw .transport("pending") }

    public func download(
        _ command: String, arguments: [String] = [], options: [(String, String)] = [], body: [UInt8] = [],
        to sink: (UnsafeRawBufferPointer) throws -> Void
    ) throws(APIError) { throw .transport("pending") }
}
