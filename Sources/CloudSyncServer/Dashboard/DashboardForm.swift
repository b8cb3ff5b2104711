import Foundation

/// An `application/x-www-form-urlencoded` body: every value of each field, in order.
struct DashboardForm: Sendable {
    private(set) var fields: [String: [String]] = [:]

    init(urlEncoded body: String) {
        for pair in body.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = Self.decode(parts[0])
            let value = parts.count > 1 ? Self.decode(parts[1]) : ""
            fields[name, default: []].append(value)
        }
    }

    /// The first value of `name`, nil when absent.
    subscript(_ name: String) -> String? { fields[name]?.first }

    /// The first value of `name` with surrounding white space removed; nil when absent or blank.
    func trimmed(_ name: String) -> String? {
        guard let value = self[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else { return nil }
        return value
    }

    /// Every value of `name` (checkboxes).
    func all(_ name: String) -> [String] { fields[name] ?? [] }

    private static func decode(_ text: Substring) -> String {
        String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(text)
    }
}
