#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch

/// A TCP listener on loopback that accepts connections and never answers: what a server that
/// hangs looks like to a client. Tests of timeouts and cancellation use it.
final class SilentListener: @unchecked Sendable {
    // @unchecked: the descriptors are set in init and only read afterwards; `accepted` is
    // only touched by `nextConnection` callers, one at a time.
    let fd: Int32
    let port: Int
    private var accepted: [Int32] = []

    init() throws {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        var address = sockaddr_in()
        #if canImport(Darwin)
        address.sin_len = UInt8(MemoryLayout<sockaddr_in>.size)
        #endif
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard fd >= 0, bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw ListenerError()
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit {
        for connection in accepted { close(connection) }
        close(fd)
    }

    struct ListenerError: Error {}

    var url: String { "http://127.0.0.1:\(port)/todo.sqlite" }

    /// Waits (off the cooperative pool) up to `seconds` for a client to connect; returns the
    /// accepted connection.
    func nextConnection(within seconds: Int = 30) async -> Int32? {
        let connection = await Self.blocking { [fd] () -> Int32? in
            var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&ready, 1, Int32(seconds * 1000)) == 1 else { return nil }
            let connection = accept(fd, nil, nil)
            return connection >= 0 ? connection : nil
        }
        if let connection { accepted.append(connection) }
        return connection
    }

    /// Sends `text` on `connection`: the start of an answer that then stalls.
    func send(_ text: String, on connection: Int32) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { sendAll(connection, $0.baseAddress, bytes.count) }
    }

    /// Waits up to `seconds` until the client closes `connection` (reads until end of file,
    /// dropping the request it sent). True if it did.
    func clientCloses(_ connection: Int32, within seconds: Int = 30) async -> Bool {
        await Self.blocking {
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(seconds)
            var buffer = [UInt8](repeating: 0, count: 4096)
            while clock.now < deadline {
                var ready = pollfd(fd: connection, events: Int16(POLLIN), revents: 0)
                guard poll(&ready, 1, 100) >= 0 else { return false }
                if ready.revents != 0 {
                    let count = recv(connection, &buffer, buffer.count, 0)
                    if count <= 0 { return true }
                }
            }
            return false
        }
    }

    private func sendAll(_ connection: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int {
        #if canImport(Glibc)
        Glibc.send(connection, bytes, count, Int32(MSG_NOSIGNAL))
        #else
        Darwin.send(connection, bytes, count, 0)
        #endif
    }

    private static func blocking<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: body()) }
        }
    }
}
