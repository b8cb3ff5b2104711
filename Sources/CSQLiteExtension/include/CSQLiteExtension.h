#ifndef CSQLITE_EXTENSION_H
#define CSQLITE_EXTENSION_H

// SQLITE_CORE keeps sqlite3ext.h from redefining sqlite3_* as macros: the engine calls SQLite
// only through the routines table a host hands it, never through linked symbols.
#define SQLITE_CORE 1
#include <sqlite3.h>
#include <sqlite3ext.h>
#undef SQLITE_CORE

/// A virtual table instance: SQLite's base struct followed by a retained Swift object.
typedef struct cloudsync_vtab {
    sqlite3_vtab base;
    void *owner;
} cloudsync_vtab;

/// A virtual table cursor: SQLite's base struct followed by a retained Swift object.
typedef struct cloudsync_vtab_cursor {
    sqlite3_vtab_cursor base;
    void *owner;
} cloudsync_vtab_cursor;

/// SQLITE_TRANSIENT as a value Swift can pass (the C macro is a cast Swift cannot import).
static inline sqlite3_destructor_type cloudsync_transient(void) { return SQLITE_TRANSIENT; }

#endif
