#include "audit/catalog_audit.h"

#include <gtest/gtest.h>

namespace agentd::audit {
namespace {

catalog::Snapshot WithAgents(std::vector<std::pair<std::string, std::string>> agents) {
  catalog::Snapshot snapshot;
  snapshot.origin = "dir:/etc/agentd";
  for (auto& [name, prompt] : agents) {
    resources::Agent agent;
    agent.metadata.name = name;
    agent.spec.role = "developer";
    agent.spec.model = "local";
    agent.spec.system_prompt = prompt;
    snapshot.agents[name] = agent;
  }
  return snapshot;
}

TEST(CatalogAuditTest, FirstLoadIsOneEntryWithADigestOfEverything) {
  auto snapshot = WithAgents({{"a", "x"}, {"b", "y"}});
  snapshot.generation = 1;

  auto drafts = CatalogChangeAudit(nullptr, snapshot, {});

  ASSERT_EQ(drafts.size(), 1u);
  EXPECT_EQ(drafts[0].action, "catalog.loaded");
  EXPECT_EQ(drafts[0].details["objects"], 2);
  EXPECT_EQ(drafts[0].details["digest"].get<std::string>().size(), 64u);
}

TEST(CatalogAuditTest, ReloadRecordsCreatedUpdatedAndDeletedObjectsOnly) {
  auto before = WithAgents({{"kept", "same"}, {"changed", "old"}, {"gone", "z"}});
  auto after = WithAgents({{"kept", "same"}, {"changed", "new"}, {"added", "q"}});

  auto drafts = CatalogChangeAudit(&before, after, {});

  std::map<std::string, std::string> seen;
  for (const auto& d : drafts) seen[d.subject] = d.action;
  EXPECT_EQ(seen, (std::map<std::string, std::string>{{"Agent/added", "catalog.created"},
                                                      {"Agent/changed", "catalog.updated"},
                                                      {"Agent/gone", "catalog.deleted"}}));
}

TEST(CatalogAuditTest, DigestIgnoresServerPopulatedMetadata) {
  resources::Agent a;
  a.metadata.name = "a";
  a.spec.model = "local";
  resources::Agent b = a;
  b.metadata.resource_version = "42";
  b.metadata.uid = "0b1c";

  EXPECT_EQ(ObjectDigest(a), ObjectDigest(b));
  b.spec.model = "openai";
  EXPECT_NE(ObjectDigest(a), ObjectDigest(b));
}

}  // namespace
}  // namespace agentd::audit
