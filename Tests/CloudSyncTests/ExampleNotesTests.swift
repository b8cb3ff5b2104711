import CloudSyncTestSupport
import Foundation
import Testing

/// `cloudsync-example notes-demo`: a note whose body merges line by line.
@Suite(.enabled(if: exampleExecutable != nil, "cloudsync-example is not built"))
struct ExampleNotesTests {
    @Test func notesDemoKeepsBothDevicesLineEdits() throws {
        let process = Process()
        process.executableURL = exampleExecutable
        process.arguments = ["notes-demo"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(output)")
        #expect(output.contains("Welcome everyone\nAgenda\nAction items - DONE\nNext meeting: Monday"), "\(output)")
        #expect(output.contains("converged: both devices kept both edits"))
    }
}
