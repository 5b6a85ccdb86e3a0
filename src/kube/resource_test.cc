#include "kube/resource.h"

#include <gtest/gtest.h>

namespace agentd::kube {
namespace {

using core::Json;

TEST(ResourceTest, CoreGroupPathsLiveUnderApi) {
  EXPECT_EQ(CollectionPath(resources::kPods, "ns").value(), "/api/v1/namespaces/ns/pods");
  EXPECT_EQ(CollectionPath(resources::kPods, "").value(), "/api/v1/pods");
  EXPECT_EQ(ObjectPath({resources::kPods, "ns", "p"}, "status").value(),
            "/api/v1/namespaces/ns/pods/p/status");
}

TEST(ResourceTest, NamedGroupPathsLiveUnderApis) {
  EXPECT_EQ(ObjectPath({resources::kJobs, "agentd", "run-1"}).value(),
            "/apis/batch/v1/namespaces/agentd/jobs/run-1");
  GroupVersionResource runs{"agentd.dev", "v1alpha1", "runs"};
  EXPECT_EQ(CollectionPath(runs, "").value(), "/apis/agentd.dev/v1alpha1/runs");
  EXPECT_EQ(runs.ApiVersion(), "agentd.dev/v1alpha1");
  EXPECT_EQ(resources::kPods.ApiVersion(), "v1");
  EXPECT_EQ(runs.ToString(), "runs.agentd.dev/v1alpha1");
}

TEST(ResourceTest, SegmentsThatWouldChangeThePathAreRejected) {
  for (const char* bad : {"a/b", "..", "a?b", "a#b", "a%2f", "a b", ""}) {
    auto path = ObjectPath({resources::kPods, "ns", bad});
    EXPECT_FALSE(path.ok()) << bad;
    if (!path.ok()) {
      EXPECT_EQ(path.error().code, core::ErrorCode::kInvalidArgument);
    }
  }
  EXPECT_FALSE(CollectionPath({"", "", "pods"}, "ns").ok());
  EXPECT_FALSE(CollectionPath(resources::kPods, "a/b").ok());
}

TEST(ResourceTest, MetadataAccessorsTolerateMissingFields) {
  Json object = {{"metadata",
                  {{"name", "x"},
                   {"namespace", "ns"},
                   {"resourceVersion", "7"},
                   {"uid", "u"},
                   {"generation", 3}}}};
  EXPECT_EQ(NameOf(object), "x");
  EXPECT_EQ(KeyOf(object), "ns/x");
  EXPECT_EQ(ResourceVersionOf(object), "7");
  EXPECT_EQ(UidOf(object), "u");
  EXPECT_EQ(GenerationOf(object), 3);
  EXPECT_EQ(KeyOf({{"metadata", {{"name", "cluster-wide"}}}}), "cluster-wide");
  EXPECT_EQ(NameOf(Json::array()), "");
  EXPECT_EQ(NameOf({{"metadata", {{"name", 5}}}}), "");
}

TEST(ResourceTest, TimesUseTheKubernetesFormats) {
  auto t = std::chrono::system_clock::time_point(std::chrono::microseconds(1'800'000'000'123'456));
  EXPECT_EQ(FormatMicroTime(t), "2027-01-15T08:00:00.123456Z");
  EXPECT_EQ(FormatTime(t), "2027-01-15T08:00:00Z");
}

TEST(ResourceTest, QueryValuesArePercentEncoded) {
  EXPECT_EQ(EncodeQueryValue("app=agentd,tier!=x"), "app%3Dagentd%2Ctier%21%3Dx");
  EXPECT_EQ(EncodeQueryValue("a-b_c.d~e"), "a-b_c.d~e");
  EXPECT_EQ(EncodeQueryValue("x in (a, b)"), "x%20in%20%28a%2C%20b%29");
}

}  // namespace
}  // namespace agentd::kube
