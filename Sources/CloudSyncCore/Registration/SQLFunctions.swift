import CSQLiteExtension

/// The scalar SQL functions of sql-api.md (local ones), and the trigger helpers.
enum SQLFunctions {
    static func register(on connection: Connection, context: SyncContext) throws(CloudSyncError) {
        func add(_ name: String, _ arguments: Int32, flags: Int32 = 0, _ handler: @escaping FunctionBox.Handler) throws(CloudSyncError) {
            try FunctionRegistry.register(name, arguments: arguments, flags: flags, on: connection, context: context, handler: handler)
        }
        let pure = FunctionRegistry.deterministic | FunctionRegistry.innocuous
        let trigger = FunctionRegistry.innocuous

        try add("cloudsync_version", 0, flags: pure) { _, _, result in
            result.set(.string(SyncContext.versionString))
        }
        try add("cloudsync_siteid", 0) { context, _, result in
            result.set(.blob(try context.siteID()))
        }
        try add("cloudsync_db_version", 0) { context, _, result in
            result.set(.integer(try context.databaseVersion()))
        }
        try add("cloudsync_uuid", 0) { _, _, result in
            result.set(.string(UUIDv7.format(UUIDv7.generate())))
        }
        for count: Int32 in 1...2 {
            try add("cloudsync_uuid_text", count, flags: pure) { _, arguments, result in
                if arguments.type(0) == SQLITE_NULL { return result.set(.null) }
                guard case .blob(let bytes) = arguments.value(0), bytes.count == 16 else {
                    throw CloudSyncError(.misuse, "cloudsync_uuid_text takes a 16-byte BLOB (from cloudsync_uuid_blob or a uuid column)")
                }
                let dashes = arguments.count < 2 || arguments.type(1) == SQLITE_NULL || arguments.value(1).isTrue
                result.set(.string(UUIDText.format(bytes, dashes: dashes)))
            }
        }
        try add("cloudsync_uuid_blob", 1, flags: pure) { _, arguments, result in
            if arguments.type(0) == SQLITE_NULL { return result.set(.null) }
            guard let text = arguments.string(0), let bytes = UUIDText.parse(text) else {
                throw CloudSyncError(.misuse, "cloudsync_uuid_blob takes a UUID as text: 32 hex digits, with or without dashes (found \(arguments.value(0)))")
            }
            result.set(.blob(bytes))
        }
        for count: Int32 in 1...3 {
            try add("cloudsync_init", count) { context, arguments, result in
                let table = try arguments.requireString(0, "table", of: "cloudsync_init")
                var algorithm = SyncAlgorithm.causalLengthSet
                if arguments.count > 1, arguments.type(1) != SQLITE_NULL {
                    let name = arguments.string(1) ?? ""
                    guard let parsed = SyncAlgorithm(name: name) else {
                        throw CloudSyncError(.misuse, "cloudsync_init: unknown algorithm '\(name)'; use cls, dws, aws or gos")
                    }
                    algorithm = parsed
                }
                let flags = arguments.count > 2 ? try Self.initFlags(arguments.value(2)) : []
                let site = try context.initialize(table: table, algorithm: algorithm, flags: flags)
                result.set(.string(Hex.encode(site)))
            }
        }
        try add("cloudsync_set_filter", 2) { context, arguments, result in
            let table = try arguments.requireString(0, "table", of: "cloudsync_set_filter")
            let expression = try arguments.requireString(1, "expression", of: "cloudsync_set_filter")
            try context.setFilter(table: table, expression: expression)
            result.set(.integer(1))
        }
        try add("cloudsync_clear_filter", 1) { context, arguments, result in
            try context.clearFilter(table: try arguments.requireString(0, "table", of: "cloudsync_clear_filter"))
            result.set(.integer(1))
        }
        try add("cloudsync_enable", 1) { context, arguments, result in
            try context.setTracking(true, table: try arguments.requireString(0, "table", of: "cloudsync_enable"))
            result.set(.null)
        }
        try add("cloudsync_disable", 1) { context, arguments, result in
            try context.setTracking(false, table: try arguments.requireString(0, "table", of: "cloudsync_disable"))
            result.set(.null)
        }
        try add("cloudsync_is_enabled", 1) { context, arguments, result in
            let table = try arguments.requireString(0, "table", of: "cloudsync_is_enabled")
            result.set(.integer(try context.isTracking(table: table) ? 1 : 0))
        }
        try add("cloudsync_cleanup", 1) { context, arguments, result in
            try context.cleanup(table: try arguments.requireString(0, "table", of: "cloudsync_cleanup"))
            result.set(.null)
        }
        try add("cloudsync_terminate", 0) { context, _, result in
            context.releaseResources()
            result.set(.integer(0))
        }
        try add("cloudsync_set", 2) { context, arguments, result in
            let key = try arguments.requireString(0, "key", of: "cloudsync_set")
            if key.lowercased() == SyncContext.EngineSetting.payloadVersion,
               Self.integerLike(arguments.value(1)).flatMap(PayloadFormat.init(rawValue:)) == nil {
                throw CloudSyncError(.misuse, "cloudsync_set: payload_version is 1 (for sqlite-sync 0.8 peers) or 2 (checksummed, the default), not \(arguments.value(1))")
            }
            try context.setSetting(key, arguments.value(1))
            result.set(.null)
        }
        try add("cloudsync_set_table", 3) { context, arguments, result in
            let table = try arguments.requireString(0, "table", of: "cloudsync_set_table")
            let key = try arguments.requireString(1, "key", of: "cloudsync_set_table")
            try context.setTableSetting(table: table, key, arguments.value(2))
            result.set(.null)
        }
        try add("cloudsync_set_column", 4) { context, arguments, result in
            let table = try arguments.requireString(0, "table", of: "cloudsync_set_column")
            let column = try arguments.requireString(1, "column", of: "cloudsync_set_column")
            let key = try arguments.requireString(2, "key", of: "cloudsync_set_column")
            try context.setColumnSetting(table: table, column: column, key, arguments.value(3))
            result.set(.null)
        }
        try add("cloudsync_text_materialize", -1) { context, arguments, result in
            guard arguments.count >= 3 else {
                throw CloudSyncError(.misuse, "cloudsync_text_materialize requires at least 3 arguments: table, column, pk...")
            }
            let table = try arguments.requireString(0, "table", of: "cloudsync_text_materialize")
            let column = try arguments.requireString(1, "column", of: "cloudsync_text_materialize")
            try context.textMaterialize(table: table, column: column, key: (2..<arguments.count).map { arguments.value($0) })
            result.set(.integer(1))
        }
        try add("cloudsync_pk_encode", -1, flags: pure) { _, arguments, result in
            guard (1...255).contains(arguments.count) else {
                throw CloudSyncError(.misuse, "cloudsync_pk_encode takes 1 to 255 values")
            }
            result.set(.blob(arguments.encodeKey(0..<arguments.count)))
        }
        try add("cloudsync_pk_decode", 2, flags: pure) { _, arguments, result in
            guard arguments.type(0) == SQLITE_BLOB, arguments.type(1) == SQLITE_INTEGER else {
                throw CloudSyncError(.misuse, "cloudsync_pk_decode(pk, index): pk must be a BLOB and index an INTEGER")
            }
            // The feed calls this once per clock row: read the one value in place, no copies.
            let position = Int(clamping: arguments.value(1).integerValue!)
            guard let value = RawKeyValue.value(at: position, in: arguments.bytes(0)) else {
                throw CloudSyncError(.misuse, "cloudsync_pk_decode: not a primary-key blob with a value at index \(position) (index out of range or malformed blob)")
            }
            result.setRaw(value)
        }
        // `cloudsync_payload_apply` is 1.x's name for the same function.
        for name in ["cloudsync_payload_decode", "cloudsync_payload_apply"] {
            try add(name, 1) { context, arguments, result in
                guard case .blob(let payload) = arguments.value(0) else {
                    throw CloudSyncError(.misuse, "\(name) takes a payload BLOB (from cloudsync_payload_encode)")
                }
                result.set(.integer(Int64(try context.applyPayload(payload).changes)))
            }
        }
        try add("cloudsync_begin_alter", 1) { context, arguments, result in
            try context.beginAlter(table: try arguments.requireString(0, "table", of: "cloudsync_begin_alter"))
            result.set(.null)
        }
        try add("cloudsync_commit_alter", 1) { context, arguments, result in
            try context.commitAlter(table: try arguments.requireString(0, "table", of: "cloudsync_commit_alter"))
            result.set(.null)
        }

        // Trigger helpers.
        try add("cloudsync_is_sync", 1, flags: trigger) { context, arguments, result in
            result.set(.integer(context.isQuiet(arguments.string(0) ?? "") ? 1 : 0))
        }
        // Deterministic: constant within one statement, so SQLite evaluates it once per trigger
        // program instead of once per clock row.
        try add("cloudsync_db_version_next", 0, flags: pure) { context, _, result in
            result.set(.integer(try context.transactionVersion()))
        }
        try add("cloudsync_seq", 0, flags: trigger) { context, _, result in
            result.set(.integer(try context.takeLocalSeq()))
        }
        try add("cloudsync_block_write", 5, flags: trigger) { context, arguments, result in
            try context.triggerBlockWrite(arguments)
            result.set(.null)
        }
        try add("cloudsync_update_key", -1, flags: trigger) { context, arguments, result in
            try context.triggerKeyChange(arguments)
            result.set(.null)
        }
    }
}

extension SQLFunctions {
    /// `cloudsync_init`'s third argument: the 1.x bitmask, where 0.8's booleans (`0`, `1`,
    /// `'true'`, `'false'`) keep their meaning.
    static func initFlags(_ value: SQLValue) throws(CloudSyncError) -> InitFlags {
        let raw: Int64
        switch value {
        case .null: raw = 0
        case .text: raw = integerLike(value) ?? (value.isTrue ? 1 : 0)
        default:
            guard let number = integerLike(value) else {
                throw CloudSyncError(.misuse, "cloudsync_init: the third argument is a bitmask of init flags (1, 2, 4), found \(value)")
            }
            raw = number
        }
        guard raw >= 0 else {
            throw CloudSyncError(.misuse, "cloudsync_init: init flags cannot be negative (found \(raw))")
        }
        return InitFlags(rawValue: raw)
    }

    /// An integer given as INTEGER, integral REAL or decimal TEXT, as shells and bindings pass
    /// numbers; nil otherwise.
    static func integerLike(_ value: SQLValue) -> Int64? {
        switch value {
        case .integer(let v): v
        case .real(let v) where v.rounded() == v && abs(v) < 9.0e15: Int64(v)
        case .text(let bytes): Int64(String(decoding: bytes, as: UTF8.self).trimmed)
        default: nil
        }
    }
}

extension SQLValue {
    /// SQLite's truth: non-zero numbers, and text that reads as a non-zero number.
    var isTrue: Bool {
        switch self {
        case .integer(let v): v != 0
        case .real(let v): v != 0
        case .text(let bytes): (Int64(String(decoding: bytes, as: UTF8.self)) ?? 0) != 0 || String(decoding: bytes, as: UTF8.self).lowercased() == "true"
        default: false
        }
    }
}
