import ArgumentParser
import CloudSyncServer
import Foundation

/// `cloudsync-server policy set|show|disable`: Row-Level Security policies
/// (docs/row-level-security.md).
struct PolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Manage the Row-Level Security policies that apply to access-token users.",
        subcommands: [Set.self, Show.self, Disable.self])

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Enable Row-Level Security on a table with these policies (replacing earlier ones). An operation without a policy is denied.")

        @OptionGroup var data: DataOptions
        @Option(help: "The managed database.") var database: String
        @Option(help: "The synchronized table.") var table: String
        @Option(help: "Which rows users download: a SQL expression over the table's columns.") var select: String?
        @Option(help: "Which new rows users may upload (NEW.col or bare columns).") var insert: String?
        @Option(help: "Which changes to existing rows users may upload (OLD.col, NEW.col).") var update: String?
        @Option(help: "Which rows users may delete (OLD.col or bare columns).") var delete: String?

        func run() async throws {
            let policy = TablePolicy(table: table, select: select, insert: insert, update: update, delete: delete)
            try await withStorage(data) { try await $0.setPolicy(policy, database: database) }
            print("row-level security enabled on \(table)")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the policies of a database, or of one table.")

        @OptionGroup var data: DataOptions
        @Option(help: "The managed database.") var database: String
        @Option(help: "Only this table.") var table: String?

        func run() async throws {
            let policies = try await withStorage(data) { try await $0.policies(database: database, table: table) }
            if policies.isEmpty {
                print(table.map { "no row-level security on \($0)" } ?? "no row-level security policies")
            }
            for policy in policies {
                print("table \(policy.table)")
                for (name, expression) in [("select", policy.select), ("insert", policy.insert), ("update", policy.update), ("delete", policy.delete)] {
                    print("  \(name): \(expression ?? "(denied)")")
                }
            }
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Turn Row-Level Security off for a table: token users see and change all its rows again.")

        @OptionGroup var data: DataOptions
        @Option(help: "The managed database.") var database: String
        @Option(help: "The table.") var table: String

        func run() async throws {
            try await withStorage(data) { try await $0.disablePolicy(database: database, table: table) }
            print("row-level security disabled on \(table)")
        }
    }
}
