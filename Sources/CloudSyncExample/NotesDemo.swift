import ArgumentParser
import Foundation

struct NotesDemo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notes-demo",
        abstract: "Two devices edit different lines of one note offline and exchange payloads: both edits are kept. Exits 0 only if they are.")

    func run() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloudsync-notes-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let phone = try NotesStore(path: directory.appendingPathComponent("phone.sqlite").path)
        let laptop = try NotesStore(path: directory.appendingPathComponent("laptop.sqlite").path)

        try await phone.write(id: "minutes", title: "Minutes", body: "Welcome\nAgenda\nAction items")
        if let payload = try await phone.payload() { try await laptop.apply(payload) }
        print("both devices have the note:\n\(try await laptop.body(id: "minutes") ?? "")\n")

        print("offline, the phone edits line 1 and the laptop edits line 3 and adds a line")
        try await phone.write(id: "minutes", title: "Minutes", body: "Welcome everyone\nAgenda\nAction items")
        try await laptop.write(id: "minutes", title: "Minutes", body: "Welcome\nAgenda\nAction items - DONE\nNext meeting: Monday")
        let fromPhone = try await phone.payload(), fromLaptop = try await laptop.payload()
        if let fromPhone { try await laptop.apply(fromPhone) }
        if let fromLaptop { try await phone.apply(fromLaptop) }

        let merged = try await phone.body(id: "minutes")
        print("after exchanging payloads:\n\(merged ?? "")\n")
        guard merged == (try await laptop.body(id: "minutes")),
              let merged, merged.contains("Welcome everyone"), merged.contains("Action items - DONE"), merged.contains("Next meeting")
        else {
            print("FAILED: the devices lost an edit or differ")
            throw ExitCode.failure
        }
        print("converged: both devices kept both edits")
    }
}
