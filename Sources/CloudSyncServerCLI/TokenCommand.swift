import ArgumentParser
import CloudSyncServer
import Foundation

/// `cloudsync-server token create | revoke`: access tokens for users (docs/server.md).
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Manage access tokens.",
        subcommands: [Create.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Issue an access token for a user of a database and print it (its only output line).")

        @OptionGroup var data: DataOptions

        @Option(help: "The database the token gives access to.")
        var database: String

        @Option(help: "The user id (auth_userid() in policies).")
        var user: String

        @Option(help: "A display name.")
        var name: String?

        @Option(help: "A JSON object policies can read through auth_json(), e.g. '{\"team\": \"blue\"}'.")
        var attributes = "{}"

        @Option(help: "Lifetime in seconds (default: the token does not expire; it can be revoked).")
        var expires: Int64?

        func run() async throws {
            // Checked here rather than in validate(): ArgumentParser would add its usage
            // text, and the contract is one line on stderr.
            if let expires, expires <= 0 { throw CLIError("--expires must be a number of seconds greater than 0") }
            let token = try await withTokens(data) { authority in
                try await authority.issue(
                    database: database, userID: user, name: name, attributesJSON: attributes,
                    expiresIn: expires.map { .seconds($0) })
            }
            print(token)
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an access token; takes effect on a running server at once.")

        @OptionGroup var data: DataOptions

        @Argument(help: "The access token.")
        var token: String

        func run() async throws {
            try await withTokens(data) { try await $0.revoke(token) }
            print("revoked")
        }
    }
}

/// `withStorage` with a token authority, turning token errors into one-line messages too.
private func withTokens<T>(_ data: DataOptions, _ body: (TokenAuthority) async throws -> T) async throws -> T {
    try await withStorage(data) { storage in
        do {
            return try await body(TokenAuthority(storage: storage))
        } catch let error as TokenError {
            throw CLIError(error.message)
        }
    }
}
