#include "gateway/api.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

namespace telemq::gateway {
namespace {

using nlohmann::json;

json Spec() { return json::parse(OpenApiDocument()); }

TEST(OpenApi, IsVersion3WithInfo) {
  const json doc = Spec();
  EXPECT_EQ(doc["openapi"].get<std::string>().rfind("3.", 0), 0u);
  EXPECT_TRUE(doc["info"].contains("title"));
  EXPECT_TRUE(doc["info"].contains("version"));
}

TEST(OpenApi, EveryRouteIsPresentAndNothingElse) {
  const json doc = Spec();
  size_t operations = 0;
  for (const auto& [path, item] : doc["paths"].items()) operations += item.size();
  // GET and HEAD served, POST/PUT/PATCH/DELETE declared as 405.
  EXPECT_EQ(operations, 6 * Routes().size());
  for (const auto& r : Routes()) {
    const json& op = doc["paths"][std::string(r.path)]["get"];
    ASSERT_TRUE(op.is_object()) << r.path;
    EXPECT_EQ(op["operationId"], std::string(r.operation_id));
    EXPECT_TRUE(op["responses"].contains("200")) << r.path;
  }
  for (const char* required : {"/api/v1/gpus", "/api/v1/gpus/{id}", "/api/v1/gpus/{id}/telemetry", "/api/v1/hosts",
                               "/api/v1/hosts/{hostname}/gpus", "/api/v1/telemetry/latest",
                               "/api/v1/metrics", "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"}) {
    EXPECT_TRUE(doc["paths"].contains(required)) << required;
  }
}

TEST(OpenApi, HeadIsDeclaredForEveryRouteWithoutBodies) {
  const json doc = Spec();
  for (const auto& r : Routes()) {
    const json& item = doc["paths"][std::string(r.path)];
    ASSERT_TRUE(item.contains("head")) << r.path;
    EXPECT_EQ(item["head"]["responses"].size(), item["get"]["responses"].size()) << r.path;
    for (const auto& [status, resp] : item["head"]["responses"].items()) {
      EXPECT_FALSE(resp.contains("content")) << r.path << " " << status;
    }
  }
}

TEST(OpenApi, EveryRouteDeclaresUnknownParameterUriTooLongAndMethodNotAllowed) {
  const json doc = Spec();
  for (const auto& r : Routes()) {
    const json& item = doc["paths"][std::string(r.path)];
    EXPECT_TRUE(item["get"]["responses"].contains("400")) << r.path;
    EXPECT_TRUE(item["get"]["responses"].contains("414")) << r.path;
    for (const char* m : {"post", "put", "patch", "delete"}) {
      ASSERT_TRUE(item.contains(m)) << r.path << " " << m;
      EXPECT_EQ(item[m]["responses"]["405"]["$ref"], "#/components/responses/MethodNotAllowed") << r.path;
    }
  }
  EXPECT_TRUE(doc["components"]["responses"]["MethodNotAllowed"]["headers"].contains("Allow"));
}

TEST(OpenApi, DocsAssetsDeclareTheirRealMediaTypes) {
  const json doc = Spec();
  const json& content = doc["paths"]["/docs/{file}"]["get"]["responses"]["200"]["content"];
  for (const char* type : {"text/css", "application/javascript", "image/png", "application/json"}) {
    EXPECT_TRUE(content.contains(type)) << type;
  }
}

TEST(OpenApi, ParametersAreTypedAndBounded) {
  const json doc = Spec();
  std::map<std::string, json> params;
  for (const auto& p : doc["paths"]["/api/v1/gpus/{id}/telemetry"]["get"]["parameters"]) params[p["name"]] = p;
  ASSERT_EQ(params.size(), 8u);
  EXPECT_EQ(params["agg"]["schema"]["enum"], json::array({"avg", "min", "max", "last", "count"}));
  EXPECT_FALSE(params["step"]["schema"]["pattern"].get<std::string>().empty());
  EXPECT_EQ(params["id"]["in"], "path");
  EXPECT_EQ(params["id"]["required"], true);
  EXPECT_EQ(params["start_time"]["in"], "query");
  EXPECT_EQ(params["start_time"]["schema"]["type"], "string");
  EXPECT_EQ(params["start_time"]["schema"]["format"], "date-time");
  EXPECT_EQ(params["end_time"]["schema"]["format"], "date-time");
  EXPECT_EQ(params["limit"]["schema"]["type"], "integer");
  EXPECT_EQ(params["limit"]["schema"]["minimum"], 1);
  EXPECT_EQ(params["limit"]["schema"]["maximum"], 10000);
  EXPECT_EQ(params["limit"]["schema"]["default"], 1000);
  EXPECT_EQ(params["cursor"]["schema"]["type"], "string");
  EXPECT_EQ(params["metric"]["required"], false);
}

TEST(OpenApi, ErrorsAndRetryAfterAreDocumented) {
  const json doc = Spec();
  const json& responses = doc["paths"]["/api/v1/gpus/{id}/telemetry"]["get"]["responses"];
  for (const char* status : {"400", "404", "502", "503", "504"}) EXPECT_TRUE(responses.contains(status)) << status;
  EXPECT_TRUE(responses["503"]["headers"].contains("Retry-After"));
  EXPECT_EQ(responses["400"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Error");
}

TEST(OpenApi, EveryReferencedSchemaExists) {
  const std::string text = OpenApiDocument();
  const std::regex ref("#/components/schemas/([A-Za-z]+)");
  const json schemas = Spec()["components"]["schemas"];
  for (auto it = std::sregex_iterator(text.begin(), text.end(), ref); it != std::sregex_iterator(); ++it) {
    EXPECT_TRUE(schemas.contains((*it)[1].str())) << (*it)[1].str();
  }
}

TEST(OpenApi, IsDeterministic) { EXPECT_EQ(OpenApiDocument(), OpenApiDocument()); }

TEST(OpenApi, CommittedDocumentMatchesTheCode) {
  std::ifstream in(TELEMQ_COMMITTED_OPENAPI);
  ASSERT_TRUE(in.good()) << TELEMQ_COMMITTED_OPENAPI << " is missing: run `make openapi`";
  std::stringstream committed;
  committed << in.rdbuf();
  EXPECT_TRUE(committed.str() == OpenApiDocument())
      << TELEMQ_COMMITTED_OPENAPI << " differs from what gateway/api.cc generates: run `make openapi` and commit it";
}

TEST(RouteTable, PathRegexMatchesItsTemplateOnly) {
  std::set<std::string> paths;
  for (const auto& r : Routes()) {
    EXPECT_TRUE(paths.insert(std::string(r.method) + " " + std::string(r.path)).second) << "duplicate " << r.path;
    std::string example(r.path);
    size_t open;
    while ((open = example.find('{')) != std::string::npos) example.replace(open, example.find('}') - open + 1, "x1");
    EXPECT_TRUE(std::regex_match(example, std::regex(PathRegex(r)))) << r.path;
    EXPECT_FALSE(std::regex_match(example + "/more", std::regex(PathRegex(r)))) << r.path;
  }
  EXPECT_FALSE(std::regex_match(std::string("/openapiXjson"), std::regex(PathRegex(RouteFor(RouteId::kOpenApi)))));
}

TEST(RouteTable, IdAndMetricTakeAnyName) {
  // The export's UUIDs and metric names are free text: no pattern may
  // promise clients less than the gateway accepts.
  EXPECT_TRUE(RouteFor(RouteId::kGetGpu).Param("id")->pattern.empty());
  EXPECT_TRUE(RouteFor(RouteId::kGpuTelemetry).Param("metric")->pattern.empty());
}

TEST(OpenApi, PartialListsDocumentRetryAfter) {
  const json doc = Spec();
  for (const char* path : {"/api/v1/gpus", "/api/v1/hosts", "/api/v1/metrics"}) {
    const json& ok = doc["paths"][path]["get"]["responses"]["200"];
    ASSERT_TRUE(ok.contains("headers")) << path;
    EXPECT_NE(ok["headers"]["Retry-After"]["description"].get<std::string>().find("partial"), std::string::npos);
  }
}

}  // namespace
}  // namespace telemq::gateway
