// P2PCrypto: libp2p keys (Ed25519, RSA, ECDSA, secp256k1), the key protobuf and peer IDs.
