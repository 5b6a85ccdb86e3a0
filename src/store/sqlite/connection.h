// Thin RAII wrappers over a SQLite connection and its cached prepared statements. Internal to
// src/store/sqlite; nothing outside the store includes this (it pulls in sqlite3.h).
//
// A Connection is used by one thread at a time (it is opened with SQLITE_OPEN_NOMUTEX); callers
// serialise access themselves (the writer thread owns its connection, readers lease theirs).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <sqlite3.h>

#include "core/result.h"

namespace agentd::store::sqlite {

// Maps a SQLite result code to an Error with the database's message. Busy, locked, I/O, full-disk
// and can't-open errors are kUnavailable (transient, retry); everything else is kInternal.
// `what` names the operation, e.g. "insert run run-x".
core::Error SqliteError(sqlite3* db, int rc, std::string_view what);

// A cached prepared statement, reset and unbound when this handle goes away. Move-only.
// Bind errors are remembered and reported by the next Step.
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  ~Statement();

  // Parameters are 1-based, as in SQLite.
  void BindInt(int index, int64_t value);
  void BindText(int index, std::string_view text);
  void BindNull(int index);
  void BindOptionalInt(int index, std::optional<int64_t> value);

  // true: a row is available; false: the statement is done.
  core::Result<bool> Step();
  // Steps until done (for statements that return no rows).
  core::Status Run();

  bool IsNull(int column) const;
  int64_t Int(int column) const;
  std::string Text(int column) const;
  // The SQLite extended result code of the last failing Step (0 if none).
  int last_error_code() const { return last_rc_; }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  int bind_rc_ = SQLITE_OK;
  int last_rc_ = 0;
};

enum class OpenMode { kReadWrite, kReadOnly };

class Connection {
 public:
  // Opens (creating it when kReadWrite) the database at `path` (a file name, ":memory:" or a
  // "file:" URI).
  static core::Result<std::unique_ptr<Connection>> Open(const std::string& path, OpenMode mode,
                                                        std::chrono::milliseconds busy_timeout);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one or more statements without results (pragmas, DDL).
  core::Status Exec(std::string_view sql);
  // Runs a single-value query such as "PRAGMA journal_mode=WAL" and returns the value as text.
  core::Result<std::string> QueryText(std::string_view sql);
  // A prepared statement from this connection's cache (prepared on first use).
  core::Result<Statement> Prepare(std::string_view sql);

  sqlite3* raw() const { return db_; }
  bool InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}

  sqlite3* db_;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

}  // namespace agentd::store::sqlite
