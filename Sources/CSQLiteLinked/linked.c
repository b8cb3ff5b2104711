#include "CSQLiteLinked.h"
#include <sqlite3.h>
#include <pthread.h>

static const void *captured_routines = 0;
static pthread_once_t capture_once = PTHREAD_ONCE_INIT;

// SQLite passes its own routines table to every auto-extension; opening one throwaway
// connection with a capturing auto-extension is the supported way to obtain it.
static int capture_routines(sqlite3 *db, char **error, const void *routines) {
    (void)db; (void)error;
    captured_routines = routines;
    return SQLITE_OK;
}

static void capture(void) {
    sqlite3 *db = 0;
    sqlite3_auto_extension((void (*)(void))capture_routines);
    sqlite3_open(":memory:", &db);
    sqlite3_close(db);
    sqlite3_cancel_auto_extension((void (*)(void))capture_routines);
}

const void *cloudsync_linked_routines(void) {
    pthread_once(&capture_once, capture);
    return captured_routines;
}
