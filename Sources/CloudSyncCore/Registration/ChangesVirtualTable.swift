import CSQLiteExtension

/// The `cloudsync_changes` eponymous virtual table: SELECT reads the changes feed, INSERT
/// merges one change.
enum ChangesVirtualTable {
    static let name = "cloudsync_changes"
    static let schema = "CREATE TABLE x(tbl TEXT, pk BLOB, col_name TEXT, col_value, col_version INTEGER, db_version INTEGER, site_id BLOB, cl INTEGER, seq INTEGER)"

    private enum Column {
        static let table: Int32 = 0
        static let dbVersion: Int32 = 5
        static let siteID: Int32 = 6
        static let seq: Int32 = 8
    }

    /// Constraint codes packed 4 bits each into idxNum, in argv order.
    private enum Code: Int32 {
        case dbGreater = 1, dbGreaterOrEqual, dbEqual, dbLess, dbLessOrEqual, siteEqual, siteNotEqual, tableEqual
    }

    final class Table {
        let context: SyncContext
        init(context: SyncContext) { self.context = context }
    }

    final class Cursor {
        let table: Table
        var feed: ChangesFeed?
        var rowid: Int64 = 0
        init(table: Table) { self.table = table }
    }

    nonisolated(unsafe) private static let module: UnsafeMutablePointer<sqlite3_module> = {
        let module = UnsafeMutablePointer<sqlite3_module>.allocate(capacity: 1)
        module.initialize(to: sqlite3_module())
        module.pointee.iVersion = 1
        module.pointee.xCreate = nil // eponymous only: exists in every database as cloudsync_changes
        module.pointee.xConnect = connect
        module.pointee.xBestIndex = bestIndex
        module.pointee.xDisconnect = disconnect
        module.pointee.xDestroy = disconnect
        module.pointee.xOpen = open
        module.pointee.xClose = close
        module.pointee.xFilter = filter
        module.pointee.xNext = next
        module.pointee.xEof = eof
        module.pointee.xColumn = column
        module.pointee.xRowid = rowid
        module.pointee.xUpdate = update
        return module
    }()

    static func register(on connection: Connection, context: SyncContext) throws(CloudSyncError) {
        let box = Unmanaged.passRetained(Table(context: context)).toOpaque()
        let rc = connection.api.r.create_module_v2(connection.handle, name, module, box) { box in
            if let box { Unmanaged<Table>.fromOpaque(box).release() }
        }
        if rc != SQLITE_OK { throw connection.error(rc) }
    }

    // MARK: Callbacks

    private static let connect: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, Int32, UnsafePointer<UnsafePointer<CChar>?>?, UnsafeMutablePointer<UnsafeMutablePointer<sqlite3_vtab>?>?, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 = { db, aux, _, _, vtab, _ in
        let api = HostAPI.current
        let rc = api.r.declare_vtab(db, schema)
        guard rc == SQLITE_OK, let aux else { return rc }
        let table = Unmanaged<Table>.fromOpaque(aux).takeUnretainedValue()
        let instance = UnsafeMutablePointer<cloudsync_vtab>.allocate(capacity: 1)
        instance.initialize(to: cloudsync_vtab())
        instance.pointee.owner = Unmanaged.passRetained(table).toOpaque()
        vtab?.pointee = UnsafeMutableRawPointer(instance).assumingMemoryBound(to: sqlite3_vtab.self)
        return SQLITE_OK
    }

    private static let disconnect: @convention(c) (UnsafeMutablePointer<sqlite3_vtab>?) -> Int32 = { vtab in
        guard let vtab else { return SQLITE_OK }
        let instance = UnsafeMutableRawPointer(vtab).assumingMemoryBound(to: cloudsync_vtab.self)
        if let owner = instance.pointee.owner { Unmanaged<Table>.fromOpaque(owner).release() }
        if let message = instance.pointee.base.zErrMsg { HostAPI.current.r.free(message) }
        instance.deallocate()
        return SQLITE_OK
    }

    private static func table(_ vtab: UnsafeMutablePointer<sqlite3_vtab>?) -> Table {
        let instance = UnsafeMutableRawPointer(vtab!).assumingMemoryBound(to: cloudsync_vtab.self)
        return Unmanaged<Table>.fromOpaque(instance.pointee.owner!).takeUnretainedValue()
    }

    private static func cursor(_ pointer: UnsafeMutablePointer<sqlite3_vtab_cursor>?) -> Cursor {
        let instance = UnsafeMutableRawPointer(pointer!).assumingMemoryBound(to: cloudsync_vtab_cursor.self)
        return Unmanaged<Cursor>.fromOpaque(instance.pointee.owner!).takeUnretainedValue()
    }

    private static func setError(_ vtab: UnsafeMutablePointer<sqlite3_vtab>?, _ error: CloudSyncError) {
        guard let vtab else { return }
        let api = HostAPI.current
        if let old = vtab.pointee.zErrMsg { api.r.free(old) }
        let utf8 = Array(error.message.utf8CString)
        let copy = api.r.malloc(Int32(utf8.count))?.assumingMemoryBound(to: CChar.self)
        copy?.initialize(from: utf8, count: utf8.count)
        vtab.pointee.zErrMsg = copy
    }

    private static let bestIndex: @convention(c) (UnsafeMutablePointer<sqlite3_vtab>?, UnsafeMutablePointer<sqlite3_index_info>?) -> Int32 = { _, info in
        guard let info else { return SQLITE_ERROR }
        var codes: [Code] = []
        var cost = 1_000_000.0
        var rows: Int64 = 1_000_000
        for index in 0..<Int(info.pointee.nConstraint) {
            let constraint = info.pointee.aConstraint[index]
            guard constraint.usable != 0, codes.count < 7 else { continue }
            let code: Code?
            switch (constraint.iColumn, Int32(constraint.op)) {
            case (Column.dbVersion, SQLITE_INDEX_CONSTRAINT_GT): code = .dbGreater
            case (Column.dbVersion, SQLITE_INDEX_CONSTRAINT_GE): code = .dbGreaterOrEqual
            case (Column.dbVersion, SQLITE_INDEX_CONSTRAINT_EQ): code = .dbEqual
            case (Column.dbVersion, SQLITE_INDEX_CONSTRAINT_LT): code = .dbLess
            case (Column.dbVersion, SQLITE_INDEX_CONSTRAINT_LE): code = .dbLessOrEqual
            case (Column.siteID, SQLITE_INDEX_CONSTRAINT_EQ): code = .siteEqual
            case (Column.siteID, SQLITE_INDEX_CONSTRAINT_NE): code = .siteNotEqual
            case (Column.table, SQLITE_INDEX_CONSTRAINT_EQ): code = .tableEqual
            default: code = nil
            }
            guard let code else { continue }
            codes.append(code)
            info.pointee.aConstraintUsage[index].argvIndex = Int32(codes.count)
            info.pointee.aConstraintUsage[index].omit = 1
            switch code {
            case .dbEqual: cost /= 1000; rows /= 1000
            case .dbGreater, .dbGreaterOrEqual, .dbLess, .dbLessOrEqual: cost /= 10; rows /= 10
            case .siteEqual, .tableEqual: cost /= 2; rows /= 2
            case .siteNotEqual: break
            }
        }
        info.pointee.idxNum = codes.reversed().reduce(0) { $0 << 4 | $1.rawValue }
        info.pointee.estimatedCost = cost
        info.pointee.estimatedRows = max(rows, 1)
        // The feed comes in (db_version, seq) order.
        let orderBy = (0..<Int(info.pointee.nOrderBy)).map { info.pointee.aOrderBy[$0] }
        let consumable = [Column.dbVersion, Column.seq]
        if !orderBy.isEmpty, orderBy.count <= 2,
           orderBy.enumerated().allSatisfy({ $0.element.desc == 0 && $0.element.iColumn == consumable[$0.offset] }) {
            info.pointee.orderByConsumed = 1
        }
        return SQLITE_OK
    }

    private static let open: @convention(c) (UnsafeMutablePointer<sqlite3_vtab>?, UnsafeMutablePointer<UnsafeMutablePointer<sqlite3_vtab_cursor>?>?) -> Int32 = { vtab, result in
        let instance = UnsafeMutablePointer<cloudsync_vtab_cursor>.allocate(capacity: 1)
        instance.initialize(to: cloudsync_vtab_cursor())
        instance.pointee.owner = Unmanaged.passRetained(Cursor(table: table(vtab))).toOpaque()
        result?.pointee = UnsafeMutableRawPointer(instance).assumingMemoryBound(to: sqlite3_vtab_cursor.self)
        return SQLITE_OK
    }

    private static let close: @convention(c) (UnsafeMutablePointer<sqlite3_vtab_cursor>?) -> Int32 = { pointer in
        guard let pointer else { return SQLITE_OK }
        let instance = UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: cloudsync_vtab_cursor.self)
        if let owner = instance.pointee.owner { Unmanaged<Cursor>.fromOpaque(owner).release() }
        instance.deallocate()
        return SQLITE_OK
    }

    private static let filter: @convention(c) (UnsafeMutablePointer<sqlite3_vtab_cursor>?, Int32, UnsafePointer<CChar>?, Int32, UnsafeMutablePointer<OpaquePointer?>?) -> Int32 = { pointer, idxNum, _, argc, argv in
        let cursor = cursor(pointer)
        let arguments = SQLArguments(api: HostAPI.current, count: argc, values: argv)
        var constraints: [ChangesFeed.Constraint] = []
        var packed = idxNum
        var index = 0
        while packed != 0, index < arguments.count {
            let value = arguments.value(index)
            switch Code(rawValue: packed & 0xF) {
            case .dbGreater?: constraints.append(versionConstraint(.greater, value))
            case .dbGreaterOrEqual?: constraints.append(versionConstraint(.greaterOrEqual, value))
            case .dbEqual?: constraints.append(versionConstraint(.equal, value))
            case .dbLess?: constraints.append(versionConstraint(.less, value))
            case .dbLessOrEqual?: constraints.append(versionConstraint(.lessOrEqual, value))
            case .siteEqual?, .siteNotEqual?:
                let equal = packed & 0xF == Code.siteEqual.rawValue
                if case .blob(let site) = value {
                    constraints.append(.siteID(equal: equal, site))
                } else if equal {
                    constraints.append(.siteID(equal: true, []))
                }
            case .tableEqual?: constraints.append(.table(value.stringValue ?? ""))
            case nil: break
            }
            packed >>= 4
            index += 1
        }
        do throws(CloudSyncError) {
            cursor.feed = try ChangesFeed(context: cursor.table.context, constraints: constraints)
            cursor.rowid = 1
            return SQLITE_OK
        } catch {
            setError(pointer?.pointee.pVtab, error)
            return error.resultCode ?? SQLITE_ERROR
        }
    }

    /// A db_version comparison. db_version is always an INTEGER, so a REAL operand is rounded
    /// the way the comparison needs and any other operand matches nothing.
    private static func versionConstraint(_ comparison: ChangesFeed.Comparison, _ value: SQLValue) -> ChangesFeed.Constraint {
        switch value {
        case .integer(let v): return .dbVersion(comparison, v)
        case .real(let v) where v.isFinite && abs(v) < 9.2e18:
            switch comparison {
            case .greater, .lessOrEqual: return .dbVersion(comparison, Int64(v.rounded(.down)))
            case .greaterOrEqual, .less: return .dbVersion(comparison, Int64(v.rounded(.up)))
            case .equal: return v == v.rounded() ? .dbVersion(.equal, Int64(v)) : .nothing
            }
        default: return .nothing
        }
    }

    private static let next: @convention(c) (UnsafeMutablePointer<sqlite3_vtab_cursor>?) -> Int32 = { pointer in
        let cursor = cursor(pointer)
        do throws(CloudSyncError) {
            try cursor.feed?.advance()
            cursor.rowid += 1
            return SQLITE_OK
        } catch {
            setError(pointer?.pointee.pVtab, error)
            return error.resultCode ?? SQLITE_ERROR
        }
    }

    private static let eof: @convention(c) (UnsafeMutablePointer<sqlite3_vtab_cursor>?) -> Int32 = { pointer in
        cursor(pointer).feed?.isAtEnd ?? true ? 1 : 0
    }

    private static let column: @convention(c) (UnsafeMutablePointer<sqlite3_vtab_cursor>?, OpaquePointer?, Int32) -> Int32 = { pointer, context, index in
        let api = HostAPI.current
        guard let feed = cursor(pointer).feed, !feed.isAtEnd else { return SQLITE_ERROR }
        if index == Column.table {
            let name = feed.table.name
            api.r.result_text(context, name, -1, cloudsync_transient())
        } else {
            api.r.result_value(context, feed.row.rawValue(at: index - 1))
        }
        return SQLITE_OK
    }

    private static let rowid: @convention(c) (UnsafeMutablePointer<sqlite3_vtab_cursor>?, UnsafeMutablePointer<sqlite3_int64>?) -> Int32 = { pointer, result in
        result?.pointee = cursor(pointer).rowid
        return SQLITE_OK
    }

    private static let update: @convention(c) (UnsafeMutablePointer<sqlite3_vtab>?, Int32, UnsafeMutablePointer<OpaquePointer?>?, UnsafeMutablePointer<sqlite3_int64>?) -> Int32 = { vtab, argc, argv, _ in
        let api = HostAPI.current
        let arguments = SQLArguments(api: api, count: argc, values: argv)
        guard argc == 11, arguments.type(0) == SQLITE_NULL else {
            setError(vtab, CloudSyncError(.misuse, "cloudsync_changes only accepts INSERT (a change to merge); rows cannot be updated or deleted"))
            return SQLITE_MISUSE
        }
        do throws(CloudSyncError) {
            let change = try changeFromArguments(arguments)
            try table(vtab).context.mergeInPlace(change)
            return SQLITE_OK
        } catch {
            setError(vtab, error)
            return error.resultCode ?? SQLITE_ERROR
        }
    }

    /// The change in an INSERT's values (argv[2...10]), with the types the feed uses.
    private static func changeFromArguments(_ arguments: SQLArguments) throws(CloudSyncError) -> Change {
        func integer(_ index: Int, _ name: String) throws(CloudSyncError) -> Int64 {
            guard case .integer(let value) = arguments.value(index) else {
                throw CloudSyncError(.misuse, "cloudsync_changes: \(name) must be an INTEGER")
            }
            return value
        }
        guard case .text = arguments.value(2), let table = arguments.string(2) else {
            throw CloudSyncError(.misuse, "cloudsync_changes: tbl must be TEXT")
        }
        guard case .blob(let pk) = arguments.value(3) else {
            throw CloudSyncError(.misuse, "cloudsync_changes: pk must be a BLOB made by cloudsync_pk_encode")
        }
        guard case .text = arguments.value(4), let column = arguments.string(4) else {
            throw CloudSyncError(.misuse, "cloudsync_changes: col_name must be TEXT")
        }
        guard case .blob(let site) = arguments.value(8), site.count == 16 else {
            throw CloudSyncError(.misuse, "cloudsync_changes: site_id must be a 16-byte BLOB")
        }
        return Change(
            table: table, pk: pk, column: column, value: arguments.value(5),
            colVersion: try integer(6, "col_version"), dbVersion: try integer(7, "db_version"),
            siteID: site, causalLength: try integer(9, "cl"), seq: try integer(10, "seq"))
    }
}
