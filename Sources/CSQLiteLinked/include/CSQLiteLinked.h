#ifndef CSQLITE_LINKED_H
#define CSQLITE_LINKED_H

/// The routines table of the SQLite library this process links, as SQLite itself hands it to
/// extensions. Lets Swift programs run the engine on connections they open themselves.
const void *cloudsync_linked_routines(void);

#endif
