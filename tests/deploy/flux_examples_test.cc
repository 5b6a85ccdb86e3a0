// The Flux examples under deploy/flux/ (there is no Flux here): every file parses, Flux objects
// use Flux's current apiVersions, sources and charts are pinned, every reference resolves (a
// sourceRef to a declared source, a path to a directory of this repository, HelmRelease values
// to keys the chart has), and each example directory's kustomization.yaml lists its files.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "deploy_test_util.h"
#include "resources/yaml_json.h"

namespace agentd::deploy {
namespace {

using core::Json;

std::filesystem::path FluxDir() { return SourceDir() / "deploy" / "flux"; }

struct Document {
  std::filesystem::path file;  // relative to deploy/flux, e.g. "helmrelease/release.yaml"
  Json object;
};

// Every document of every *.yaml file under deploy/flux/, with parse errors in `errors`.
std::vector<Document> LoadAll(std::vector<std::string>* errors) {
  std::vector<Document> out;
  std::vector<std::filesystem::path> files;
  if (std::filesystem::is_directory(FluxDir())) {
    for (const auto& entry : std::filesystem::recursive_directory_iterator(FluxDir())) {
      if (entry.is_regular_file() && entry.path().extension() == ".yaml") {
        files.push_back(entry.path());
      }
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) errors->push_back(FluxDir().string() + ": no .yaml files");
  for (const auto& path : files) {
    const auto relative = std::filesystem::relative(path, FluxDir());
    auto docs = resources::ParseYamlDocuments(ReadFile(path), relative.string());
    if (!docs.ok()) {
      errors->push_back(docs.error().message);
      continue;
    }
    for (auto& doc : *docs) {
      if (!doc.value.is_null()) out.push_back({relative, std::move(doc.value)});
    }
  }
  return out;
}

const std::vector<Document>& Documents() {
  static const std::vector<Document> docs = [] {
    std::vector<std::string> errors;
    auto loaded = LoadAll(&errors);
    for (const auto& error : errors) ADD_FAILURE() << error;
    return loaded;
  }();
  return docs;
}

std::string Kind(const Json& o) { return Str(o, {"kind"}); }
std::string ApiVersion(const Json& o) { return Str(o, {"apiVersion"}); }
std::string Group(const Json& o) { return ApiVersion(o).substr(0, ApiVersion(o).find('/')); }
bool IsKustomizeFile(const Json& o) { return Group(o) == "kustomize.config.k8s.io"; }
std::string Describe(const Document& d) {
  return d.file.string() + ": " + Kind(d.object) + " " + Str(d.object, {"metadata", "name"});
}

std::vector<Document> OfKind(const std::string& kind) {
  std::vector<Document> out;
  for (const auto& d : Documents()) {
    if (Kind(d.object) == kind && !IsKustomizeFile(d.object)) out.push_back(d);
  }
  return out;
}

// A repository path as Flux writes it ("./deploy/crds") inside this source tree.
std::filesystem::path InRepository(const std::string& path) { return SourceDir() / path; }

bool ExactVersion(const std::string& version) {
  static const std::regex kSemver(R"(v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?)");
  return std::regex_match(version, kSemver);
}

TEST(FluxExamplesTest, BothExamplesExist) {
  EXPECT_TRUE(std::filesystem::is_regular_file(FluxDir() / "kustomization" / "kustomization.yaml"));
  EXPECT_TRUE(std::filesystem::is_regular_file(FluxDir() / "helmrelease" / "kustomization.yaml"));
  EXPECT_FALSE(Documents().empty());
}

TEST(FluxExamplesTest, FluxObjectsUseTheCurrentApiVersions) {
  const std::map<std::string, std::string> want = {
      {"GitRepository", "source.toolkit.fluxcd.io/v1"},
      {"HelmRepository", "source.toolkit.fluxcd.io/v1"},
      {"OCIRepository", "source.toolkit.fluxcd.io/v1"},
      {"Kustomization", "kustomize.toolkit.fluxcd.io/v1"},
      {"HelmRelease", "helm.toolkit.fluxcd.io/v2"}};
  std::set<std::string> seen;
  for (const auto& d : Documents()) {
    const std::string kind = Kind(d.object);
    EXPECT_FALSE(kind.empty()) << d.file << ": an object without kind";
    EXPECT_FALSE(Str(d.object, {"metadata", "name"}).empty() && !IsKustomizeFile(d.object))
        << Describe(d) << " has no name";
    if (IsKustomizeFile(d.object)) {
      EXPECT_EQ(d.file.filename().string(), "kustomization.yaml") << d.file;
      continue;
    }
    auto it = want.find(kind);
    if (it == want.end()) {
      EXPECT_EQ(kind, "Namespace") << Describe(d) << ": unexpected kind in the Flux examples";
      continue;
    }
    EXPECT_EQ(ApiVersion(d.object), it->second) << Describe(d);
    EXPECT_FALSE(Str(d.object, {"metadata", "namespace"}).empty()) << Describe(d);
    seen.insert(kind);
  }
  for (const char* kind : {"GitRepository", "Kustomization", "HelmRelease"}) {
    EXPECT_TRUE(seen.count(kind)) << "no " << kind << " in the examples";
  }
}

TEST(FluxExamplesTest, SourcesAreGitRepositoriesPinnedToATagOrCommit) {
  auto sources = OfKind("GitRepository");
  ASSERT_FALSE(sources.empty());
  for (const auto& d : sources) {
    const Json& ref = At(d.object, {"spec", "ref"});
    const std::string tag = Str(ref, {"tag"});
    const std::string commit = Str(ref, {"commit"});
    EXPECT_TRUE(ExactVersion(tag) || commit.size() == 40)
        << Describe(d) << ": spec.ref must be an exact tag or a commit, not " << ref.dump();
    EXPECT_TRUE(Str(ref, {"branch"}).empty()) << Describe(d) << ": a branch is not pinned";
    EXPECT_TRUE(Str(ref, {"semver"}).empty()) << Describe(d) << ": a semver range is not pinned";
    EXPECT_FALSE(Str(d.object, {"spec", "url"}).empty()) << Describe(d);
  }
}

// The source a Flux object's sourceRef names, in the object's namespace unless it says otherwise.
bool SourceDeclared(const Document& d, const Json& source_ref) {
  const std::string ns = Str(source_ref, {"namespace"}).empty()
                             ? Str(d.object, {"metadata", "namespace"})
                             : Str(source_ref, {"namespace"});
  for (const auto& s : OfKind(Str(source_ref, {"kind"}))) {
    if (Str(s.object, {"metadata", "name"}) == Str(source_ref, {"name"}) &&
        Str(s.object, {"metadata", "namespace"}) == ns &&
        s.file.parent_path() == d.file.parent_path()) {
      return true;
    }
  }
  return false;
}

TEST(FluxExamplesTest, KustomizationsApplyDirectoriesOfThisRepository) {
  auto kustomizations = OfKind("Kustomization");
  ASSERT_FALSE(kustomizations.empty());
  bool applies_an_overlay = false;
  for (const auto& d : kustomizations) {
    const std::string path = Str(d.object, {"spec", "path"});
    EXPECT_TRUE(std::filesystem::is_directory(InRepository(path)))
        << Describe(d) << ": spec.path " << path << " is not a directory of this repository";
    applies_an_overlay =
        applies_an_overlay || path.find("deploy/kustomize/overlays/") != std::string::npos;
    EXPECT_TRUE(SourceDeclared(d, At(d.object, {"spec", "sourceRef"})))
        << Describe(d) << ": its sourceRef is not declared beside it";
    EXPECT_TRUE(At(d.object, {"spec", "prune"}).is_boolean()) << Describe(d);
    for (const auto& dep : At(d.object, {"spec", "dependsOn"})) {
      bool found = false;
      for (const auto& other : kustomizations) {
        found = found || Str(other.object, {"metadata", "name"}) == dep.value("name", "");
      }
      EXPECT_TRUE(found) << Describe(d) << " depends on " << dep.dump() << ", not declared";
    }
  }
  EXPECT_TRUE(applies_an_overlay) << "no Flux Kustomization applies an overlay";
}

// Keys of `values` that `defaults` (the chart's values.yaml) does not have, as dotted paths.
// Maps are compared key by key; anything else (lists, scalars) is taken as it is.
void UnknownKeys(const Json& values, const Json& defaults, const std::string& prefix,
                 std::vector<std::string>* out) {
  if (!values.is_object()) return;
  for (const auto& [key, value] : values.items()) {
    const std::string path = prefix.empty() ? key : prefix + "." + key;
    if (!defaults.is_object() || !defaults.contains(key)) {
      out->push_back(path);
      continue;
    }
    if (defaults[key].is_object() && !defaults[key].empty()) {
      UnknownKeys(value, defaults[key], path, out);
    }
  }
}

TEST(FluxExamplesTest, HelmReleasesUseTheChartOfThisRepositoryPinned) {
  auto releases = OfKind("HelmRelease");
  ASSERT_FALSE(releases.empty());
  for (const auto& d : releases) {
    const Json& spec = At(d.object, {"spec", "chart", "spec"});
    const std::string chart = Str(spec, {"chart"});
    ASSERT_TRUE(std::filesystem::is_regular_file(InRepository(chart) / "Chart.yaml"))
        << Describe(d) << ": chart " << chart << " has no Chart.yaml in this repository";
    EXPECT_TRUE(SourceDeclared(d, At(spec, {"sourceRef"})))
        << Describe(d) << ": its sourceRef is not declared beside it";

    // The version is the chart's own (Flux ignores it for Git sources, but readers and Renovate
    // do not): keep it in step with Chart.yaml.
    auto chart_yaml =
        resources::ParseYamlDocuments(ReadFile(InRepository(chart) / "Chart.yaml"), "Chart.yaml");
    ASSERT_TRUE(chart_yaml.ok() && chart_yaml->size() == 1);
    const std::string version = Str(spec, {"version"});
    EXPECT_TRUE(ExactVersion(version)) << Describe(d) << ": version " << version;
    EXPECT_EQ(version, Str((*chart_yaml)[0].value, {"version"})) << Describe(d);

    // The values are the chart's, with the image pinned by digest.
    auto defaults =
        resources::ParseYamlDocuments(ReadFile(InRepository(chart) / "values.yaml"), "values.yaml");
    ASSERT_TRUE(defaults.ok() && defaults->size() == 1);
    const Json& values = At(d.object, {"spec", "values"});
    std::vector<std::string> unknown;
    UnknownKeys(values, (*defaults)[0].value, "", &unknown);
    for (const auto& key : unknown) ADD_FAILURE() << Describe(d) << ": the chart has no " << key;
    static const std::regex kDigest("sha256:[0-9a-f]{64}");
    EXPECT_TRUE(std::regex_match(Str(values, {"image", "digest"}), kDigest))
        << Describe(d) << ": values.image.digest must pin the image";
  }
}

TEST(FluxExamplesTest, TheUnknownKeysCheckFindsATypo) {
  // The values check above can fail.
  const Json defaults = {{"image", {{"digest", ""}, {"tag", ""}}}, {"logLevel", "info"}};
  std::vector<std::string> unknown;
  UnknownKeys({{"image", {{"digets", "x"}}}, {"loglevel", "debug"}}, defaults, "", &unknown);
  EXPECT_EQ(unknown, (std::vector<std::string>{"image.digets", "loglevel"}));
}

TEST(FluxExamplesTest, EachKustomizationListsEveryFileBesideIt) {
  // Flux applies what the directory's kustomization.yaml lists: a file left out is never applied.
  for (const auto& d : Documents()) {
    if (!IsKustomizeFile(d.object)) continue;
    std::set<std::string> listed;
    for (const auto& r : At(d.object, {"resources"})) listed.insert(r.get<std::string>());
    const auto dir = FluxDir() / d.file.parent_path();
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      const std::string name = entry.path().filename().string();
      if (entry.path().extension() != ".yaml" || name == "kustomization.yaml") continue;
      EXPECT_TRUE(listed.count(name)) << d.file << " does not list " << name;
    }
    for (const auto& name : listed) {
      EXPECT_TRUE(std::filesystem::exists(dir / name)) << d.file << " lists missing " << name;
    }
  }
}

}  // namespace
}  // namespace agentd::deploy
