import Foundation
import Multiformats
import Testing

/// Loads test fixtures copied from /work/shared/vectors (see Fixtures/SOURCES.md).
enum Fixtures {
    static func data(_ name: String, _ ext: String, subdirectory: String = "Fixtures") throws -> [UInt8] {
        let url = try #require(
            Bundle.module.url(forResource: name, withExtension: ext, subdirectory: subdirectory),
            "missing fixture \(subdirectory)/\(name).\(ext)")
        return [UInt8](try Data(contentsOf: url))
    }

    static func json(_ name: String) throws -> [String: Any] {
        let bytes = try data(name, "json")
        let object = try JSONSerialization.jsonObject(with: Data(bytes))
        return try #require(object as? [String: Any], "\(name).json is not a JSON object")
    }

    /// go-libp2p core/crypto/test_data/<type>.<ext>
    static func goTestData(_ type: Int, _ ext: String) throws -> [UInt8] {
        try data(String(type), ext, subdirectory: "Fixtures/crypto-test_data")
    }
}

func hex(_ string: String) throws -> [UInt8] {
    try #require(Hex.decode(string.lowercased()), "bad hex in test: \(string.prefix(16))…")
}

/// The message signed in go-libp2p's crypto test data.
let goTestMessage = Array("Libp2p is the _best_!".utf8)
