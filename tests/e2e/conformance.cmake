# The gateway judged by a third-party validator: Stoplight Prism (npm
# @stoplight/prism-cli, pinned in tools/package.json, installed by
# scripts/install-deps) proxies a real gateway and flags every answer that
# the committed docs/openapi.json does not describe; plus a seeded property
# sweep that must never produce a 5xx. Needs no shared data.
if(TARGET telemq-gateway AND TARGET telemq-collector)
  telemq_test(NAME gateway_conformance_e2e_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/conformance_test.cc
    LIBS telemq_test_support telemq_gateway_api telemq_client telemq_telemetry PkgConfig::HTTPLIB nlohmann_json::nlohmann_json
    LABELS e2e TIMEOUT 240)
  target_compile_definitions(gateway_conformance_e2e_test PRIVATE
    TELEMQ_PRISM_BIN="${PROJECT_SOURCE_DIR}/tools/node_modules/.bin/prism"
    TELEMQ_COMMITTED_OPENAPI="${PROJECT_SOURCE_DIR}/docs/openapi.json"
    TELEMQ_SWAGGER_UI_DIR="${PROJECT_SOURCE_DIR}/tools/node_modules/swagger-ui-dist")
endif()
