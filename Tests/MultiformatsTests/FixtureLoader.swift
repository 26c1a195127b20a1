import Foundation
import Testing

/// Loads files copied under `Tests/MultiformatsTests/Fixtures/`.
enum Fixture {
    static func url(_ name: String) throws -> URL {
        let parts = name.split(separator: "/")
        let file = String(parts.last ?? "")
        let dir = (["Fixtures"] + parts.dropLast().map(String.init)).joined(separator: "/")
        let ext = (file as NSString).pathExtension
        let base = (file as NSString).deletingPathExtension
        return try #require(Bundle.module.url(forResource: base, withExtension: ext, subdirectory: dir),
                            "fixture \(name) missing")
    }

    static func data(_ name: String) throws -> Data {
        try Data(contentsOf: url(name))
    }

    static func text(_ name: String) throws -> String {
        String(decoding: try data(name), as: UTF8.self)
    }

    static func json(_ name: String) throws -> Any {
        try JSONSerialization.jsonObject(with: data(name))
    }
}
