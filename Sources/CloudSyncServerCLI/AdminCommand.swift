import ArgumentParser
import CloudSyncServer
import Foundation

/// `cloudsync-server admin create`: the administrators who sign in to the dashboard
/// (docs/operations.md). Their passwords are stored as slow salted hashes, in the storage, so
/// every server instance on it knows them.
struct AdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin",
        abstract: "Manage the administrators who sign in to the dashboard.",
        subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an administrator, or set a new password for one. The password is read from standard input (its first line); with --generate-password one is made and printed.")

        @OptionGroup var data: DataOptions

        @Option(help: "The administrator's user name.")
        var user: String

        @Flag(name: .customLong("generate-password"), help: "Generate a password and print it (its only output line) instead of reading one.")
        var generatePassword = false

        func run() async throws {
            let name = user.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !name.isEmpty, name.count <= 64, !name.contains(where: { $0.isNewline }) else {
                throw CLIError("--user must be 1 to 64 characters on one line")
            }
            let password: String
            if generatePassword {
                password = AdminPassword.generate()
            } else {
                guard let line = readLine(strippingNewline: true) else {
                    throw CLIError("no password on standard input: pipe one in (echo ... | cloudsync-server admin create --user \(name)), or use --generate-password")
                }
                guard line.count >= AdminPassword.minimumLength else {
                    throw CLIError("the password must have at least \(AdminPassword.minimumLength) characters")
                }
                password = line
            }
            let hash = try AdminPassword.hash(password)
            try await withStorage(data) { storage in
                guard let console = storage as? any ConsoleStorage else { throw CLIError("this storage has no dashboard") }
                try await console.setAdministrator(user: name, passwordHash: hash)
            }
            if generatePassword {
                print(password)
            } else {
                print("administrator \(name) can sign in at /dashboard")
            }
        }
    }
}
