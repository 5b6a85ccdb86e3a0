#include "kube/resource.h"

#include <cstdio>
#include <ctime>

#include "core/text.h"

namespace agentd::kube {
namespace {

// Path segments come from callers and from objects: refuse anything that would change the
// path's meaning ('/', '?', '#', '%', '..') or that is not plain printable ASCII.
core::Status CheckSegment(std::string_view value, std::string_view what, bool required) {
  if (value.empty()) {
    if (required) return core::InvalidArgument("empty " + std::string(what) + " in resource path");
    return core::Ok();
  }
  if (value == "." || value == "..") {
    return core::InvalidArgument("invalid " + std::string(what) + " " +
                                 core::QuoteForMessage(value));
  }
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '/' || c == '?' || c == '#' || c == '%') {
      return core::InvalidArgument("invalid character in " + std::string(what) + " " +
                                   core::QuoteForMessage(value));
    }
  }
  return core::Ok();
}

std::string StringField(const core::Json& object, const char* key) {
  if (!object.is_object()) return "";
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return "";
  auto it = meta->find(key);
  if (it == meta->end() || !it->is_string()) return "";
  return it->get<std::string>();
}

}  // namespace

std::string GroupVersionResource::ApiVersion() const {
  return group.empty() ? version : group + "/" + version;
}

std::string GroupVersionResource::ToString() const {
  return (group.empty() ? resource : resource + "." + group) + "/" + version;
}

std::string ObjectRef::ToString() const {
  return gvr.ToString() + " " + (ns.empty() ? name : ns + "/" + name);
}

core::Result<std::string> CollectionPath(const GroupVersionResource& gvr, std::string_view ns) {
  AGENTD_RETURN_IF_ERROR(CheckSegment(gvr.group, "group", false));
  AGENTD_RETURN_IF_ERROR(CheckSegment(gvr.version, "version", true));
  AGENTD_RETURN_IF_ERROR(CheckSegment(gvr.resource, "resource", true));
  AGENTD_RETURN_IF_ERROR(CheckSegment(ns, "namespace", false));
  std::string path =
      gvr.group.empty() ? "/api/" + gvr.version : "/apis/" + gvr.group + "/" + gvr.version;
  if (!ns.empty()) path += "/namespaces/" + std::string(ns);
  path += "/" + gvr.resource;
  return path;
}

core::Result<std::string> ObjectPath(const ObjectRef& ref, std::string_view subresource) {
  AGENTD_ASSIGN_OR_RETURN(std::string path, CollectionPath(ref.gvr, ref.ns));
  AGENTD_RETURN_IF_ERROR(CheckSegment(ref.name, "name", true));
  AGENTD_RETURN_IF_ERROR(CheckSegment(subresource, "subresource", false));
  path += "/" + ref.name;
  if (!subresource.empty()) path += "/" + std::string(subresource);
  return path;
}

std::string NameOf(const core::Json& object) { return StringField(object, "name"); }
std::string NamespaceOf(const core::Json& object) { return StringField(object, "namespace"); }
std::string ResourceVersionOf(const core::Json& object) {
  return StringField(object, "resourceVersion");
}
std::string UidOf(const core::Json& object) { return StringField(object, "uid"); }

int64_t GenerationOf(const core::Json& object) {
  if (!object.is_object()) return 0;
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return 0;
  auto it = meta->find("generation");
  if (it == meta->end() || !it->is_number_integer()) return 0;
  return it->get<int64_t>();
}

std::string KeyOf(const core::Json& object) {
  std::string ns = NamespaceOf(object);
  return ns.empty() ? NameOf(object) : ns + "/" + NameOf(object);
}

namespace {
std::string FormatUtc(std::chrono::system_clock::time_point t, bool micros) {
  auto since = t.time_since_epoch();
  auto secs = std::chrono::floor<std::chrono::seconds>(since);
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(since - secs).count();
  std::time_t tt = static_cast<std::time_t>(secs.count());
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out(buf, n);
  if (micros) {
    std::snprintf(buf, sizeof(buf), ".%06lld", static_cast<long long>(us));  // NOLINT
    out += buf;
  }
  out += 'Z';
  return out;
}
}  // namespace

std::string FormatMicroTime(std::chrono::system_clock::time_point t) { return FormatUtc(t, true); }
std::string FormatTime(std::chrono::system_clock::time_point t) { return FormatUtc(t, false); }

std::string EncodeQueryValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", u);
      out += buf;
    }
  }
  return out;
}

}  // namespace agentd::kube
