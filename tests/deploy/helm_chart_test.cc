// The Helm chart's metadata (deploy/helm/agentd): its appVersion is the project's version, and
// values.yaml and values.schema.json describe the same keys. What it renders is checked by
// render_and_check.sh with deploy_manifests_test; its CRDs by crds_drift.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "core/json.h"
#include "deploy_test_util.h"
#include "resources/yaml_json.h"

namespace agentd::deploy {
namespace {

using core::Json;

std::filesystem::path ChartDir() { return SourceDir() / "deploy" / "helm" / "agentd"; }

Json LoadYaml(const std::filesystem::path& path) {
  auto docs = resources::ParseYamlDocuments(ReadFile(path), path.filename().string());
  if (!docs.ok() || docs->size() != 1) {
    ADD_FAILURE() << path << ": not one YAML document"
                  << (docs.ok() ? "" : ": " + docs.error().message);
    return Json();
  }
  return (*docs)[0].value;
}

// "0.1.0" from `project(agentd VERSION 0.1.0 ...)` in the top-level CMakeLists.txt.
std::string ProjectVersion() {
  static const std::regex kProject(R"(project\(agentd\s+VERSION\s+([0-9][0-9.]*))");
  std::smatch match;
  const std::string text = ReadFile(SourceDir() / "CMakeLists.txt");
  return std::regex_search(text, match, kProject) ? match[1].str() : "";
}

// Dotted paths of every key of `values`, descending into non-empty maps.
void Keys(const Json& values, const std::string& prefix, std::set<std::string>* out) {
  for (const auto& [key, value] : values.items()) {
    const std::string path = prefix.empty() ? key : prefix + "." + key;
    out->insert(path);
    if (value.is_object() && !value.empty()) Keys(value, path, out);
  }
}

// Dotted paths of every property a JSON schema declares, descending into "properties"; those
// without "properties" of their own (free-form maps such as resources.requests) also go to
// `free_form`.
void SchemaKeys(const Json& schema, const std::string& prefix, std::set<std::string>* out,
                std::set<std::string>* free_form) {
  for (const auto& [key, value] : schema["properties"].items()) {
    const std::string path = prefix.empty() ? key : prefix + "." + key;
    out->insert(path);
    if (value.contains("properties")) {
      SchemaKeys(value, path, out, free_form);
    } else {
      free_form->insert(path);
    }
  }
}

// Whether `path` is inside one of `free_form` ("resources.requests.cpu" in "resources.requests").
bool InsideFreeForm(const std::string& path, const std::set<std::string>& free_form) {
  for (size_t dot = path.find('.'); dot != std::string::npos; dot = path.find('.', dot + 1)) {
    if (free_form.count(path.substr(0, dot))) return true;
  }
  return false;
}

TEST(HelmChartTest, AppVersionIsTheProjectVersion) {
  const Json chart = LoadYaml(ChartDir() / "Chart.yaml");
  const std::string project = ProjectVersion();
  ASSERT_FALSE(project.empty()) << "no project(agentd VERSION ...) in CMakeLists.txt";
  EXPECT_EQ(chart.value("appVersion", ""), project)
      << "Chart.yaml appVersion: set it to the project version (and bump the chart's version)";
  EXPECT_EQ(chart.value("apiVersion", ""), "v2");
  EXPECT_TRUE(std::regex_match(chart.value("version", ""), std::regex(R"([0-9]+\.[0-9]+\.[0-9]+)")))
      << chart.value("version", "");
}

TEST(HelmChartTest, TheSchemaDeclaresExactlyTheValues) {
  const Json values = LoadYaml(ChartDir() / "values.yaml");
  auto schema = core::ParseJson(ReadFile(ChartDir() / "values.schema.json"));
  ASSERT_TRUE(schema.ok()) << "values.schema.json: " << schema.error().message;
  EXPECT_EQ(schema->value("additionalProperties", true), false)
      << "the schema must refuse unknown top-level values (typos)";
  std::set<std::string> in_values;
  std::set<std::string> in_schema;
  std::set<std::string> free_form;
  Keys(values, "", &in_values);
  ASSERT_TRUE(schema->contains("properties"));
  SchemaKeys(*schema, "", &in_schema, &free_form);
  for (const auto& key : in_values) {
    EXPECT_TRUE(in_schema.count(key) || InsideFreeForm(key, free_form))
        << "values.yaml has " << key << ", the schema does not";
  }
  for (const auto& key : in_schema) {
    EXPECT_TRUE(in_values.count(key)) << "the schema declares " << key << ", values.yaml lacks it";
  }
}

}  // namespace
}  // namespace agentd::deploy
