// Helpers the deploy/ tests share: where the source tree is, reading a file, and reaching into
// parsed manifests without throwing.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>

#include "core/json.h"

namespace agentd::deploy {

// AGENTD_SOURCE_DIR (CTest sets it), else the current directory.
inline std::filesystem::path SourceDir() {
  const char* source = std::getenv("AGENTD_SOURCE_DIR");
  return std::filesystem::path(source != nullptr ? source : ".");
}

// The whole file; empty when it cannot be read (the tests then fail on what is missing).
inline std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// The value at `path` (object keys), or null when any step is missing.
inline const core::Json& At(const core::Json& value, std::initializer_list<const char*> path) {
  static const core::Json kNull;
  const core::Json* at = &value;
  for (const char* key : path) {
    if (!at->is_object()) return kNull;
    auto it = at->find(key);
    if (it == at->end()) return kNull;
    at = &*it;
  }
  return *at;
}

// The string at `path`, or "" when it is missing or not a string.
inline std::string Str(const core::Json& value, std::initializer_list<const char*> path) {
  const core::Json& at = At(value, path);
  return at.is_string() ? at.get<std::string>() : "";
}

}  // namespace agentd::deploy
