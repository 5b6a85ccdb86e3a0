#include "store/sqlite/connection.h"

#include <utility>

namespace agentd::store::sqlite {

core::Error SqliteError(sqlite3* db, int rc, std::string_view what) {
  std::string message = std::string(what) + ": " +
                        (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc)) + " (" +
                        sqlite3_errstr(rc) + ")";
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_READONLY:
    case SQLITE_NOMEM:
      return core::Unavailable(std::move(message));
    default:
      return core::Internal(std::move(message));
  }
}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_),
      stmt_(std::exchange(other.stmt_, nullptr)),
      bind_rc_(other.bind_rc_),
      last_rc_(other.last_rc_) {}

Statement::~Statement() {
  if (stmt_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

void Statement::BindInt(int index, int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
}

void Statement::BindText(int index, std::string_view text) {
  int rc =
      sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
}

void Statement::BindNull(int index) {
  int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
}

void Statement::BindOptionalInt(int index, std::optional<int64_t> value) {
  if (value) {
    BindInt(index, *value);
  } else {
    BindNull(index);
  }
}

core::Result<bool> Statement::Step() {
  if (bind_rc_ != SQLITE_OK) {
    last_rc_ = bind_rc_;
    return SqliteError(db_, bind_rc_, "bind parameters");
  }
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  last_rc_ = sqlite3_extended_errcode(db_);
  // The message must be read before the reset below replaces it.
  core::Error error = SqliteError(db_, last_rc_, std::string(sqlite3_sql(stmt_)).substr(0, 80));
  sqlite3_reset(stmt_);
  return error;
}

core::Status Statement::Run() {
  while (true) {
    AGENTD_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return core::Ok();
  }
}

bool Statement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

int64_t Statement::Int(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string Statement::Text(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

core::Result<std::unique_ptr<Connection>> Connection::Open(const std::string& path, OpenMode mode,
                                                           std::chrono::milliseconds busy_timeout) {
  int flags = SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX;
  flags |= mode == OpenMode::kReadWrite ? (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
                                        : SQLITE_OPEN_READONLY;
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    core::Error error = SqliteError(db, rc, "open SQLite database \"" + path + "\"");
    sqlite3_close_v2(db);
    return error;
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, static_cast<int>(busy_timeout.count()));
  return std::unique_ptr<Connection>(new Connection(db));
}

Connection::~Connection() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

core::Status Connection::Exec(std::string_view sql) {
  std::string text(sql);
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, nullptr);
  if (rc == SQLITE_OK) return core::Ok();
  return SqliteError(db_, sqlite3_extended_errcode(db_), text.substr(0, 80));
}

core::Result<std::string> Connection::QueryText(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return SqliteError(db_, rc, sql);
  std::string value;
  rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(stmt, 0);
    if (text != nullptr) value = reinterpret_cast<const char*>(text);
    rc = SQLITE_DONE;
  }
  core::Error error = rc == SQLITE_DONE ? core::Error{} : SqliteError(db_, rc, sql);
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE) return error;
  return value;
}

core::Result<Statement> Connection::Prepare(std::string_view sql) {
  std::string key(sql);
  auto it = cache_.find(key);
  if (it == cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, key.c_str(), static_cast<int>(key.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return SqliteError(db_, rc, "prepare " + key.substr(0, 80));
    it = cache_.emplace(std::move(key), stmt).first;
  }
  return Statement(db_, it->second);
}

}  // namespace agentd::store::sqlite
