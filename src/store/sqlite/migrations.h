// Versioned schema migrations of the SQLite store, as SQL embedded in the binary.
//
// The database's `PRAGMA user_version` is its schema version. Migration N moves a database from
// version N-1 to N; each runs in its own BEGIN IMMEDIATE transaction together with the new
// user_version, so a crash leaves the database at a whole version. Migrations are append-only:
// never edit one that has shipped, add the next.
#pragma once

#include "core/result.h"
#include "store/sqlite/connection.h"

namespace agentd::store::sqlite {

// The schema version this build writes and understands.
int LatestSchemaVersion();

// The database's current schema version (0 for a new database).
core::Result<int> ReadSchemaVersion(Connection& db);

// Applies every migration above the database's version, in order. Running it again is a no-op.
// A database written by a newer agentd (version above LatestSchemaVersion) is
// kFailedPrecondition and is left untouched; SQLite errors are kUnavailable or kInternal.
core::Status Migrate(Connection& db);

}  // namespace agentd::store::sqlite
