// Audit entries for catalog changes: which objects appeared, changed or disappeared between two
// snapshots, each with the SHA-256 of its canonical JSON so a later reader can tell exactly which
// configuration ran. Pure.
#pragma once

#include <string>
#include <vector>

#include "catalog/snapshot.h"
#include "core/clock.h"
#include "governance/audit_chain.h"
#include "resources/codec.h"

namespace agentd::audit {

// With no `before` (the first load after a start): one "catalog.loaded" entry with the origin,
// generation, object count and a digest over every object. Otherwise one entry per object that
// was created ("catalog.created"), updated ("catalog.updated") or deleted ("catalog.deleted"),
// details {kind, name, digest}; none when nothing changed. Actor "system".
std::vector<governance::AuditEntryDraft> CatalogChangeAudit(const catalog::Snapshot* before,
                                                            const catalog::Snapshot& after,
                                                            core::TimePoint time);

// SHA-256 hex of the object's canonical JSON without server-populated metadata.
std::string ObjectDigest(const resources::AnyObject& object);

}  // namespace agentd::audit
