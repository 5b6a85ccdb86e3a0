// CatalogSource: something that keeps a Catalog filled with the current objects (a watched
// directory of YAML, later Kubernetes informers). Chosen once at start by the composition root.
#pragma once

#include "core/result.h"

namespace agentd::catalog {

class CatalogSource {
 public:
  virtual ~CatalogSource() = default;

  // Loads the first snapshot into the catalog and starts following changes. Fails (and leaves
  // the catalog untouched) when the first snapshot cannot be loaded or is invalid.
  virtual core::Status Start() = 0;
  // Stops following changes; blocks until background work has ended. Idempotent.
  virtual void Stop() = 0;
};

}  // namespace agentd::catalog
