import CloudSyncTestSupport

/// A protocol-v2 test client over a server-test `Device`, which the tests read and write.
final class DeviceV2Client: V2TestClient, @unchecked Sendable {
    let device: Device

    init(_ device: Device, _ generation: Generation, database: String, credential: String?) throws {
        self.device = device
        try super.init(device.context, generation, database: database, credential: credential)
    }
}
