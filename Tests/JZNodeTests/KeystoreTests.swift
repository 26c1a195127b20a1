import Foundation
import Testing
@testable import JZNode
import P2PCrypto
import TestSupport

@Suite("Keystore", .onBlockingPool)
struct KeystoreTests {
    /// An initialised node home and its keystore.
    func makeKeystore() throws -> (Keystore, NodeIdentity) {
        let home = NodeHome(path: try temporaryDirectory() + "/node")
        try home.initialize(bootstrap: [])
        return (home.keystore, try home.loadIdentity().1)
    }

    func permissions(_ path: String) throws -> Int {
        let attrs = try FileManager.default.attributesOfItem(atPath: path)
        return try #require((attrs[.posixPermissions] as? NSNumber)?.intValue)
    }

    /// Kubo's `ipfs key import` vector (test/sharness/t0165-keystore-data/openssl_ed25519.pem), made by
    /// `openssl genpkey -algorithm ED25519`; its peer ID computed from OpenSSL's public key.
    static let kuboEd25519PEM = """
        -----BEGIN PRIVATE KEY-----
        MC4CAQAwBQYDK2VwBCIEIJ2M1na2f3dRm4b1FcAQvsn7q08+XfBZcr4MgH4yiBdz
        -----END PRIVATE KEY-----

        """
    static let kuboEd25519PeerID = "12D3KooWAcekXpuJjXdXUVKvtjYsa2WAY7hF5hX4csqGe4S434R6"
    static let kuboEd25519IPNSName = "k51qzi5uqu5dgh881t0hm6pfpev7wmidy6m8z3fzl4vxajkfkyd5zfjif5dhkx"

    @Test func fileNamesAreKubosBase32Encoding() throws {
        // boxo keystore: "key_" + lowercase RFC 4648 base32 without padding (its own test uses "valid").
        #expect(Keystore.fileName(forKeyName: "valid") == "key_ozqwy2le")
        #expect(Keystore.fileName(forKeyName: "foo") == "key_mzxw6")
        #expect(Keystore.fileName(forKeyName: "mykey") == "key_nv4wwzlz")
        #expect(Keystore.fileName(forKeyName: "ключ") == "key_2c5nbo6rr3iyo")
        #expect(Keystore.keyName(fromFileName: "key_ozqwy2le") == "valid")
        #expect(Keystore.keyName(fromFileName: "KEY_ozqwy2le") == nil)
        #expect(Keystore.keyName(fromFileName: "key_OZQWY2LE") == "valid")
        #expect(Keystore.keyName(fromFileName: "z.invalid") == nil)
        #expect(Keystore.keyName(fromFileName: ".tmp-1-2") == nil)
    }

    @Test func aKeyFileWrittenAsKuboDoesIsListed() throws {
        let (store, _) = try makeKeystore()
        let key = PrivateKey.generateEd25519()
        try FileManager.default.createDirectory(atPath: store.directory, withIntermediateDirectories: true)
        let file = (store.directory as NSString).appendingPathComponent("key_ozqwy2le")
        try Data(key.protobufBytes).write(to: URL(fileURLWithPath: file))
        try Data("stray".utf8).write(to: URL(fileURLWithPath: store.directory + "/z.invalid"))
        #expect(try store.list().map(\.name) == ["self", "valid"])
        #expect(try store.key(named: "valid").privateKey == key)
    }

    @Test func generateListRenameRemove() throws {
        let (store, identity) = try makeKeystore()
        #expect(try store.list().map(\.name) == ["self"])
        let b = try store.generate(name: "b")
        #expect(b.privateKey.type == .ed25519)
        let a = try store.generate(name: "a", type: .rsa)
        #expect(a.privateKey.type == .rsa)
        let c = try store.generate(name: "c", type: .secp256k1)
        let listed = try store.list()
        #expect(listed.map(\.name) == ["self", "a", "b", "c"])
        #expect(listed.map(\.peerID) == [identity.peerID, a.peerID, b.peerID, c.peerID])
        #expect(try store.key(named: "b") == b)

        let (renamed, overwritten) = try store.rename(from: "b", to: "d")
        #expect(!overwritten)
        #expect(renamed.peerID == b.peerID && renamed.name == "d")
        #expect(try store.storedNames() == ["a", "c", "d"])
        #expect(throws: KeystoreError.noSuchKey("b", path: store.path(forKeyName: "b"))) { try store.key(named: "b") }
        // Renaming to itself changes nothing.
        #expect(try store.rename(from: "d", to: "d").key.peerID == b.peerID)

        let removed = try store.remove("a")
        #expect(removed.peerID == a.peerID)
        #expect(try store.storedNames() == ["c", "d"])
        #expect(throws: KeystoreError.noSuchKey("a", path: store.path(forKeyName: "a"))) { try store.remove("a") }
        // No temporary files left behind.
        let files = try FileManager.default.contentsOfDirectory(atPath: store.directory).sorted()
        #expect(files == [Keystore.fileName(forKeyName: "c"), Keystore.fileName(forKeyName: "d")].sorted())
    }

    @Test func permissionsAreOwnerOnly() throws {
        let (store, _) = try makeKeystore()
        // `init` makes the folder, as `ipfs init` does.
        #expect(try permissions(store.directory) == 0o700)
        #expect(try FileManager.default.contentsOfDirectory(atPath: store.directory).isEmpty)
        try store.generate(name: "k")
        #expect(try permissions(store.directory) == 0o700)
        #expect(try permissions(store.path(forKeyName: "k")) == 0o600)
        try store.import(name: "imported", bytes: try store.export(name: "k"), format: .libp2pProtobufCleartext)
        #expect(try permissions(store.path(forKeyName: "imported")) == 0o600)
    }

    @Test func selfIsTheNodeIdentityAndProtected() throws {
        let (store, identity) = try makeKeystore()
        let me = try store.key(named: "self")
        #expect(me.privateKey == identity.privateKey)
        #expect(me.peerID == identity.peerID)
        #expect(store.contains("self"))
        #expect(throws: KeystoreError.reservedName(operation: "create")) { try store.generate(name: "self") }
        #expect(throws: KeystoreError.reservedName(operation: "remove")) { try store.remove("self") }
        #expect(throws: KeystoreError.reservedName(operation: "export")) { try store.export(name: "self") }
        try store.generate(name: "other")
        #expect(throws: KeystoreError.reservedName(operation: "rename")) { try store.rename(from: "self", to: "x") }
        #expect(throws: KeystoreError.reservedName(operation: "overwrite")) {
            try store.rename(from: "other", to: "self", force: true)
        }
        let bytes = try store.export(name: "other")
        #expect(throws: KeystoreError.reservedName(operation: "import")) { try store.import(name: "self", bytes: bytes) }
        #expect(!FileManager.default.fileExists(atPath: store.path(forKeyName: "self")))
    }

    @Test func badNamesAreRefused() throws {
        let (store, _) = try makeKeystore()
        #expect(throws: KeystoreError.invalidName("", reason: "key names must be at least one character")) {
            try store.generate(name: "")
        }
        #expect(throws: KeystoreError.invalidName("a/b", reason: "key names may not contain slashes")) {
            try store.generate(name: "a/b")
        }
        try store.generate(name: "ok")
        #expect(throws: KeystoreError.self) { try store.rename(from: "ok", to: "../x") }
        #expect(throws: KeystoreError.self) { try store.import(name: "a/b", bytes: PrivateKey.generateEd25519().protobufBytes) }
        #expect(try store.storedNames() == ["ok"])
        // A name with a slash that a Kubo keystore already holds (base32 hides the slash) stays usable.
        let kubo = PrivateKey.generateEd25519()
        try Data(kubo.protobufBytes).write(to: URL(fileURLWithPath: store.path(forKeyName: "team/a")))
        #expect(try store.key(named: "team/a").privateKey == kubo)
        try store.rename(from: "team/a", to: "team-a")
        #expect(try store.storedNames() == ["ok", "team-a"])
    }

    @Test func duplicateNamesAreRefusedUnlessForced() throws {
        let (store, _) = try makeKeystore()
        let first = try store.generate(name: "dup")
        #expect(throws: KeystoreError.keyExists("dup", path: store.path(forKeyName: "dup"))) { try store.generate(name: "dup") }
        #expect(throws: KeystoreError.keyExists("dup", path: store.path(forKeyName: "dup"))) {
            try store.import(name: "dup", bytes: PrivateKey.generateEd25519().protobufBytes)
        }
        #expect(try store.key(named: "dup") == first)
        let second = try store.generate(name: "second")
        #expect(throws: KeystoreError.keyExists("dup", path: store.path(forKeyName: "dup"))) {
            try store.rename(from: "second", to: "dup")
        }
        #expect(try store.storedNames() == ["dup", "second"])
        let (moved, overwritten) = try store.rename(from: "second", to: "dup", force: true)
        #expect(overwritten)
        #expect(moved.peerID == second.peerID)
        #expect(try store.storedNames() == ["dup"])
        #expect(try store.key(named: "dup").peerID == second.peerID)
    }

    @Test func keySizes() throws {
        let (store, _) = try makeKeystore()
        #expect(throws: KeystoreError.self) { try store.generate(name: "small", type: .rsa, bits: 1024) }
        #expect(throws: KeystoreError.self) { try store.generate(name: "ed", type: .ed25519, bits: 2048) }
        #expect(throws: KeystoreError.self) { try store.generate(name: "ec", type: .ecdsa) }
        #expect(try store.generate(name: "ed", type: .ed25519, bits: 256).privateKey.type == .ed25519)
        #expect(try store.storedNames() == ["ed"])
    }

    @Test func aCorruptKeyFileIsNamedInTheError() throws {
        let (store, _) = try makeKeystore()
        try store.generate(name: "good")
        let file = store.path(forKeyName: "bad")
        try Data([0x08, 0x01, 0x12, 0x03, 1, 2, 3]).write(to: URL(fileURLWithPath: file))
        do {
            _ = try store.key(named: "bad")
            Issue.record("a corrupt key decoded")
        } catch {
            guard case let .corruptKey(name, path, _) = error else { Issue.record("unexpected \(error)"); return }
            #expect(name == "bad" && path == file)
            #expect(error.description.contains(file) && error.description.contains("'bad'"))
        }
        #expect(throws: KeystoreError.self) { try store.list() }
        // Removing it is the way out.
        let removed = try store.remove("bad")
        #expect(removed.peerID == nil)
        #expect(try store.list().map(\.name) == ["self", "good"])
    }

    @Test(arguments: [KeyType.ed25519, .rsa, .secp256k1], KeyFormat.allCases)
    func exportThenImportRoundTrips(type: KeyType, format: KeyFormat) throws {
        let (store, _) = try makeKeystore()
        let original = try store.generate(name: "orig", type: type)
        let exported = try store.export(name: "orig", format: format)
        if format == .pemPKCS8Cleartext {
            let text = String(decoding: exported, as: UTF8.self)
            #expect(text.hasPrefix("-----BEGIN PRIVATE KEY-----\n"))
            #expect(text.hasSuffix("-----END PRIVATE KEY-----\n"))
            #expect(text.split(separator: "\n").allSatisfy { $0.count <= 64 })
        } else {
            #expect(exported == original.privateKey.protobufBytes)
        }
        let imported = try store.import(name: "copy", bytes: exported, format: format)
        #expect(imported.privateKey == original.privateKey)
        #expect(try store.key(named: "copy").peerID == original.peerID)
    }

    @Test func importsKubosOpenSSLVector() throws {
        let (store, _) = try makeKeystore()
        let key = try store.import(name: "openssl", bytes: Array(Self.kuboEd25519PEM.utf8), format: .pemPKCS8Cleartext)
        #expect(key.peerID.description == Self.kuboEd25519PeerID)
        #expect(key.peerID.cidString() == Self.kuboEd25519IPNSName)
        // And exports it back to the same PEM (OpenSSL and Go write the same PKCS#8 for Ed25519).
        #expect(String(decoding: try store.export(name: "openssl", format: .pemPKCS8Cleartext), as: UTF8.self) == Self.kuboEd25519PEM)
    }

    /// Kubo's other vectors (test/sharness/t0165-keystore-data): an OpenSSL RSA 2048 key (peer ID computed
    /// from OpenSSL's public key) and a secp384r1 key that `import` refuses without --allow-any-key-type.
    static let kuboRSAPEM = """
        -----BEGIN PRIVATE KEY-----
        MIIEvwIBADANBgkqhkiG9w0BAQEFAASCBKkwggSlAgEAAoIBAQDSaJB9EKnShOs6
        sbGkB40crn72yNKXj5OBPS2wBDTHWwxyhTB0qJirOT2QYW2DmR/4lPfVk5/f4CJ7
        xIHUBJRoC+NTwqHit24DQBd00tNG4EnKn2Dad/arZ/nEVshkKiGXn0qXxiHHsaCn
        X/pnVPU4+O7fdfUlz2EKf3Og/ocRCFrdMsULR2QwDc0YWsY8ngrcKegyFCbKjXjo
        zvfbGevCDPlhKaZLxRy0PHnON00YC4KO6d77XpbECFvsE1aG1RxYQX0Zjr+i8UvD
        UJp/YCoRNEX54/wKpGebMUrFse5K9hBsFen/wCsPnOsYPSb9g8qyoYRDBnr9sIe1
        9MxFTMy/AgMBAAECggEAKXu2KQI1CS1tlzfbdySJ/MKmg49afckv4sYmENLzeO6J
        iLabtBRdbTyu151t0wlIlWEBb9lYJvJwuggnNJ7mh5D4c9YmxqU1imyDc2PxhcLI
        qas8lDYcqvSn+L7HaYAo+VTNhxjoJg/uRbGVk/PbGS1zIxmFiLvXPROdv3sPNBsf
        EYMDH9q7/8DI6dNBQPxtTKlTDLDsTezbkNFQ74znlXgQYcfY1mXljcRtbJqhQJT3
        uppktESPwLRmqtT9H+v9nCtQR6OLmAmLWNgMrSdGKBsSsgJwv2xfpNMffwd84dtT
        uGrS2K+BY0TH2q+Xx04r18GLCst3U5MBSklyHQ/mwQKBgQDqnxNOnK41/n/Q8X4a
        /TUnZBx/JHiCoQoa06AsMxFgOvV3ycR+Z9lwb5I5BsicH1GUcHIxSY3mCyd4fLwE
        FC0QIyNhPJ5oFKh0Oynjm+79VE8v7kK2qqRL4zUpaCXEsSOrhRsCY0/WQdMUPVsh
        okXDUIv37G9KUcjdrhNVpGK3oQKBgQDllK7augIhmlQZTdSLTgmuzhYsXdSGDML/
        Bx48q7OvPhvZIIOsygLGhtcBk2xG6PN1yP44cx9dvcTnzxU6TEblO5P8TWY0BSNj
        ZuC5wdxLwc3KUdLd9JLR7qcbjqndDruE01rQFVQ3MDbyB1+VrJgiVHIEomJJrKGm
        FQ+314moXwKBgQDL90sDlnZk/kED1k15DRN+kSus5HnXpkRwmfWvNx4t+FOZtdCa
        y5Fei8Akz17rStbTIwZDDtzLVnsT5exV52xdkQ6a4+YaOYtQsHZ0JwWXOgo1cv6Q
        ary2NGns+1uKKS0HWYnng4rOix8Dg2uMS9Q2PfnQqLz/cSYcgc7RLz2awQKBgQDd
        HSaLYztKQeldtahPwwlwYuzYLkbSFNh559EnfffBgIAxzy8C7E1gB95sliBi61oQ
        x1SR6c776hoLaVd4np5picgt6B3XXFuJETy/rAcQr8gUZFpDi5sctk4cLHtNfTL9
        6tI8N061GKrS0GcvMNwVtF9cN0mSy8GkxAQvfFgI4QKBgQC4NVimIPptfFckulAL
        /t0vkdLhCRr1+UFNhgsQJhCZpfWZK4x8If6Jru/eiU7ywEsL6fHE2ENvyoTjV33g
        b9yJ7SV4zkz4VhBxc3p26SIvBgLqtHwH8IkIonlbfQFoEAg1iOneLvimPy0YGHsG
        +bTwwlAJJhctILkFtAbooeAQVQ==
        -----END PRIVATE KEY-----

        """
    static let kuboRSAPeerID = "QmWqgbBdPWDUnqDWey5RoRbg98bEciLkoFwLg76xctpKgJ"
    static let kuboSecp384r1PEM = """
        -----BEGIN PRIVATE KEY-----
        MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDC8DksLZwPKGQS8tuWI
        w+dNYiSHUyw30NkrK9YGmjgp84sVVa5NGrv0QniAnNWG1DqhZANiAATq0d5KV1MF
        IIpF4beNX+YsmFdqB2oDLhznO/4xNsFCFKE39oGQmuMwnQhDNZZ2CQA8csfgZmuF
        OSooe/Ru6ubyeGVKafcHJrOMBvl8hIg0tVWgIAhuXiTHq0UL0QTv9Vk=
        -----END PRIVATE KEY-----

        """

    /// Kubo's test_openssl_compatibility: PEM in, libp2p protobuf out and back in, PEM out again,
    /// byte-identical to the OpenSSL original.
    @Test(arguments: [(kuboEd25519PEM, kuboEd25519PeerID), (kuboRSAPEM, kuboRSAPeerID)])
    func openSSLCompatibilityCycle(pem: String, peerID: String) throws {
        let (store, _) = try makeKeystore()
        let imported = try store.import(name: "test-openssl", bytes: Array(pem.utf8), format: .pemPKCS8Cleartext)
        #expect(imported.peerID.description == peerID)
        let protobuf = try store.export(name: "test-openssl", format: .libp2pProtobufCleartext)
        try store.remove("test-openssl")
        try store.import(name: "test-openssl", bytes: protobuf)
        let exported = try store.export(name: "test-openssl", format: .pemPKCS8Cleartext)
        #expect(String(decoding: exported, as: UTF8.self) == pem)
    }

    @Test func keyTypesKuboDoesNotGenerateNeedAllowAnyKeyType() throws {
        let (store, _) = try makeKeystore()
        let bytes = Array(Self.kuboSecp384r1PEM.utf8)
        #expect(throws: KeystoreError.self) { try store.import(name: "restricted-type", bytes: bytes, format: .pemPKCS8Cleartext) }
        let key = try store.import(name: "restricted-type", bytes: bytes, format: .pemPKCS8Cleartext, allowAnyKeyType: true)
        #expect(key.privateKey.type == .ecdsa)
        try store.remove("restricted-type")
    }

    @Test func importErrorsSayWhatToDo() throws {
        let (store, _) = try makeKeystore()
        do {
            try store.import(name: "x", bytes: Array(Self.kuboEd25519PEM.utf8), format: .libp2pProtobufCleartext)
            Issue.record("PEM imported as protobuf")
        } catch {
            #expect(error.description.contains("--format=pem-pkcs8-cleartext"))
        }
        #expect(throws: KeystoreError.self) { try store.import(name: "x", bytes: [1, 2, 3], format: .pemPKCS8Cleartext) }
        // ECDSA only with allowAnyKeyType, as Kubo's --allow-any-key-type.
        let ecdsa = try PrivateKey.generate(.ecdsa)
        #expect(throws: KeystoreError.self) { try store.import(name: "ec", bytes: ecdsa.protobufBytes) }
        #expect(try store.import(name: "ec", bytes: ecdsa.protobufBytes, allowAnyKeyType: true).privateKey == ecdsa)
        #expect(try store.storedNames() == ["ec"])
    }
}

@Suite("Keystore CLI", .onBlockingPool, .serialized)
struct KeystoreCLITests {
    @Test func keyCommandsRoundTrip() throws {
        let dir = try temporaryDirectory()
        let home = dir + "/node"
        #expect(try CLI.run(["init", "--empty-bootstrap"], home: home).status == 0)

        let gen = try CLI.run(["key", "gen", "mykey", "--json"], home: home)
        #expect(gen.status == 0, "\(gen.stderr)")
        let genJSON = try #require(try JSONSerialization.jsonObject(with: Data(gen.stdout.utf8)) as? [String: String])
        #expect(genJSON["Name"] == "mykey")
        let id = try #require(genJSON["Id"])
        #expect(id.hasPrefix("k51"))

        let list = try CLI.run(["key", "list", "--json"], home: home)
        let listJSON = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: [[String: String]]])
        #expect(listJSON["Keys"]?.map { $0["Name"] ?? "" } == ["self", "mykey"])
        #expect(listJSON["Keys"]?.last?["Id"] == id)
        #expect(try CLI.run(["key", "ls"], home: home).stdout == "self\nmykey\n")

        let pem = dir + "/mykey.pem"
        let export = try CLI.run(["key", "export", "mykey", "-f", "pem-pkcs8-cleartext", "-o", pem], home: home)
        #expect(export.status == 0, "\(export.stderr)")
        let attrs = try FileManager.default.attributesOfItem(atPath: pem)
        #expect((attrs[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let imported = try CLI.run(["key", "import", "copy", pem, "-f", "pem-pkcs8-cleartext"], home: home)
        #expect(imported.stdout == id + "\n")

        let renamed = try CLI.run(["key", "rename", "copy", "mykey"], home: home)
        #expect(renamed.status != 0)
        #expect(renamed.stderr.contains("already exists") && renamed.stderr.split(separator: "\n").count == 1)
        let forced = try CLI.run(["key", "rename", "copy", "mykey", "--force"], home: home)
        #expect(forced.stdout == "Key \(id) renamed to mykey with overwriting\n")

        let selfRemoval = try CLI.run(["key", "rm", "self"], home: home)
        #expect(selfRemoval.status != 0 && selfRemoval.stderr.contains("'self'"))
        let removed = try CLI.run(["key", "rm", "mykey", "--json"], home: home)
        let removedJSON = try #require(try JSONSerialization.jsonObject(with: Data(removed.stdout.utf8)) as? [String: [[String: String]]])
        #expect(removedJSON["Keys"] == [["Name": "mykey", "Id": id]])
        #expect(try CLI.run(["key", "list"], home: home).stdout == "self\n")
    }
}
