import CloudSyncCore

/// The body of the notify request (`POST UPLOAD`): `{"url": "<upload URL>"}`, the JSON the
/// C client sends too.
package enum UploadNotice {
    package static func body(url: String) -> [UInt8] {
        var escaped = ""
        for scalar in url.unicodeScalars {
            switch scalar {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            case _ where scalar.value < 0x20: escaped += "\\u00" + Hex.encode([UInt8(scalar.value)])
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return Array(#"{"url":"\#(escaped)"}"#.utf8)
    }
}
