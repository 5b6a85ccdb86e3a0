// Naming Kubernetes resources: group/version/resource (plural), namespace and name, the REST
// paths they map to, and tolerant accessors for the metadata of unstructured objects.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/json.h"
#include "core/result.h"

namespace agentd::kube {

// A resource type as the REST API names it: group "" is the core group (/api/v1), every other
// group lives under /apis/<group>/<version>. `resource` is the lowercase plural ("jobs").
struct GroupVersionResource {
  std::string group;
  std::string version;
  std::string resource;

  // "v1" for the core group, else "group/version" (the apiVersion field of objects).
  std::string ApiVersion() const;
  // "jobs.batch/v1", "pods/v1": for messages.
  std::string ToString() const;
  friend bool operator==(const GroupVersionResource&, const GroupVersionResource&) = default;
};

// One object: its type, namespace ("" for cluster-scoped objects) and name.
struct ObjectRef {
  GroupVersionResource gvr;
  std::string ns;
  std::string name;

  // "jobs.batch/v1 agentd/run-abc": for messages.
  std::string ToString() const;
};

// Resource types agentd uses.
namespace resources {
inline const GroupVersionResource kPods{"", "v1", "pods"};
inline const GroupVersionResource kSecrets{"", "v1", "secrets"};
inline const GroupVersionResource kConfigMaps{"", "v1", "configmaps"};
inline const GroupVersionResource kNamespaces{"", "v1", "namespaces"};
inline const GroupVersionResource kJobs{"batch", "v1", "jobs"};
inline const GroupVersionResource kEvents{"events.k8s.io", "v1", "events"};
inline const GroupVersionResource kLeases{"coordination.k8s.io", "v1", "leases"};
}  // namespace resources

// The collection path: "/api/v1/namespaces/ns/pods", "/apis/batch/v1/jobs" (ns empty: cluster-
// scoped resources, or every namespace for a list or watch). kInvalidArgument when a part is
// empty where it is required or contains characters that cannot appear in a path segment.
core::Result<std::string> CollectionPath(const GroupVersionResource& gvr, std::string_view ns);
// The object path, with "/<subresource>" appended when `subresource` is not empty.
core::Result<std::string> ObjectPath(const ObjectRef& ref, std::string_view subresource = "");

// Metadata of unstructured objects; "" (or 0) when absent or of the wrong type.
std::string NameOf(const core::Json& object);
std::string NamespaceOf(const core::Json& object);
std::string ResourceVersionOf(const core::Json& object);
std::string UidOf(const core::Json& object);
int64_t GenerationOf(const core::Json& object);
// "namespace/name", or "name" for cluster-scoped objects: the cache key of client-go.
std::string KeyOf(const core::Json& object);

// metav1.MicroTime / metav1.Time text: "2026-11-21T19:36:22.123456Z" / "2026-11-21T19:36:22Z".
std::string FormatMicroTime(std::chrono::system_clock::time_point t);
std::string FormatTime(std::chrono::system_clock::time_point t);

// Percent-encodes a query parameter value (RFC 3986 unreserved characters stay as they are).
std::string EncodeQueryValue(std::string_view value);

}  // namespace agentd::kube
