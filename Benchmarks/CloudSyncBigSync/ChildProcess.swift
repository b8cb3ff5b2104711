import Foundation

/// A run of this executable as a child process (`fill`, `sync`): its wall time and the values
/// of the `RESULT key=value ...` line it printed. The child's standard error passes through.
struct ChildProcess {
    var seconds: Double
    var status: Int32
    var values: [String: String]

    /// The value of `key` as a number (0 when absent).
    func number(_ key: String) -> Double { values[key].flatMap(Double.init) ?? 0 }

    static func run(_ arguments: [String]) throws -> ChildProcess {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        let start = Date()
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let seconds = Date().timeIntervalSince(start)
        var values: [String: String] = [:]
        let text = String(decoding: data, as: UTF8.self)
        if let line = text.split(separator: "\n").last(where: { $0.hasPrefix("RESULT ") }) {
            // error= is last and may contain spaces.
            let body = line.dropFirst("RESULT ".count)
            let (fields, error) = body.range(of: " error=").map { (body[..<$0.lowerBound], String(body[$0.upperBound...])) } ?? (body, nil)
            for field in fields.split(separator: " ") {
                let parts = field.split(separator: "=", maxSplits: 1)
                if parts.count == 2 { values[String(parts[0])] = String(parts[1]) }
            }
            values["error"] = error
        }
        return ChildProcess(seconds: seconds, status: process.terminationStatus, values: values)
    }
}
