extension String {
    /// `bytes` as a string when they are valid UTF-8, nil otherwise. The standard library's
    /// validating initializer exists from iOS 18 / macOS 15 on only. Decoding repairs
    /// invalid sequences with U+FFFD, so the bytes come back unchanged exactly when they were
    /// valid.
    package init?(validUTF8 bytes: some Collection<UInt8>) {
        var text = String(decoding: bytes, as: UTF8.self)
        // Compared as buffers: this runs on whole answers of megabytes.
        let unchanged = text.withUTF8 { decoded in
            bytes.withContiguousStorageIfAvailable { decoded.elementsEqual($0) } ?? decoded.elementsEqual(Array(bytes))
        }
        guard unchanged else { return nil }
        self = text
    }
}
