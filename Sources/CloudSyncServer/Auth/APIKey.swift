import CloudSyncCore
import Crypto

/// API keys: random secrets handed to clients once; the server keeps only their SHA-256.
public enum APIKey {
    /// Prefix of every key this server issues, so keys are recognizable in logs and configs.
    public static let prefix = "csk_"

    /// A fresh key: the prefix and 32 random bytes (256 bits) as 64 hex digits.
    public static func generate() -> String {
        prefix + Hex.encode(RandomToken.bytes(32))
    }

    /// The stored form of a key: SHA-256 of its UTF-8 bytes, as 64 hex digits.
    public static func hash(_ key: String) -> String {
        Hex.encode(SHA256.hash(data: Array(key.utf8)))
    }
}

/// Unguessable random values (the system CSPRNG: getrandom on Linux).
enum RandomToken {
    static func bytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// 32 random bytes as 64 hex digits (256 bits).
    static func make() -> String { Hex.encode(bytes(32)) }
}
