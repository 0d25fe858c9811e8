# telemq-gateway end to end: three real brokers (one cluster, RF3) and a
# collector, the real DCGM export produced through the client Producer,
# queries through the gateway.
# Built only once both the gateway and the collector exist.
if(TARGET telemq-gateway AND TARGET telemq-collector)
  telemq_test(NAME gateway_e2e_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/gateway_test.cc
    LIBS telemq_cluster_support telemq_test_support telemq_client telemq_telemetry PkgConfig::HTTPLIB nlohmann_json::nlohmann_json
    LABELS e2e TIMEOUT 120)
  target_compile_definitions(gateway_e2e_test PRIVATE
    TELEMQ_DCGM_SAMPLE_CSV="${PROJECT_SOURCE_DIR}/../shared/data/dcgm_metrics_20250718_134233.csv"
    TELEMQ_COMMITTED_OPENAPI="${PROJECT_SOURCE_DIR}/docs/openapi.json"
    TELEMQ_SWAGGER_UI_DIR="${PROJECT_SOURCE_DIR}/tools/node_modules/swagger-ui-dist")
endif()
