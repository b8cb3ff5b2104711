import CloudSyncCore
import Crypto
import CryptoExtras
import Foundation

/// Dashboard administrator passwords, stored as PBKDF2-HMAC-SHA256 with a random salt:
///
///     pbkdf2-sha256$<rounds>$<salt, hex>$<derived key, hex>
///
/// The rounds are part of the stored form, so raising the default later keeps old hashes valid.
public enum AdminPassword {
    /// Rounds for new hashes: OWASP's recommendation for PBKDF2-HMAC-SHA256.
    public static let defaultRounds = 600_000
    static let scheme = "pbkdf2-sha256"
    /// Shortest password `cloudsync-server admin create` accepts.
    public static let minimumLength = 12

    /// The stored form of `password`. `rounds` below the default is for tests only.
    public static func hash(_ password: String, rounds: Int = defaultRounds) throws -> String {
        let salt = RandomToken.bytes(16)
        let key = try derive(password, salt: salt, rounds: rounds)
        return [scheme, String(rounds), Hex.encode(salt), Hex.encode(key)].joined(separator: "$")
    }

    /// True if `password` matches the stored form `stored`; false for a malformed one.
    public static func verify(_ password: String, against stored: String) -> Bool {
        let parts = stored.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == scheme, let rounds = Int(parts[1]), rounds > 0,
              let salt = Hex.decode(parts[2]), let expected = Hex.decode(parts[3]), !expected.isEmpty,
              let actual = try? derive(password, salt: salt, rounds: rounds, count: expected.count)
        else { return false }
        return constantTimeEqual(actual, expected)
    }

    /// A generated password: 24 characters from an alphabet without look-alikes (about 138 bits).
    public static func generate() -> String {
        let alphabet = Array("abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<24).map { _ in alphabet.randomElement(using: &generator)! })
    }

    private static func derive(_ password: String, salt: [UInt8], rounds: Int, count: Int = 32) throws -> [UInt8] {
        let key = try KDF.Insecure.PBKDF2.deriveKey(
            from: Array(password.utf8), salt: salt, using: .sha256, outputByteCount: count, unsafeUncheckedRounds: rounds)
        return key.withUnsafeBytes { Array($0) }
    }

    /// Compares without stopping at the first difference, so timing tells nothing.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
