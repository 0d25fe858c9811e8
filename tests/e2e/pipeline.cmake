# The whole pipeline (three brokers as one cluster, RF3; streamer, two
# collectors, gateway): the real DCGM export with a collector crash, and a
# synthetic stream through a kill -9 of the leading broker; only when all
# three apps are built.
if(TARGET telemq-streamer AND TARGET telemq-collector AND TARGET telemq-gateway)
  telemq_test(NAME pipeline_e2e_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/pipeline_test.cc
    LIBS telemq_cluster_support telemq_test_support telemq_client PkgConfig::HTTPLIB nlohmann_json::nlohmann_json
    PkgConfig::XXHASH
    LABELS e2e TIMEOUT 240)
  target_compile_definitions(pipeline_e2e_test PRIVATE
    TELEMQ_DCGM_SAMPLE_CSV="${PROJECT_SOURCE_DIR}/../shared/data/dcgm_metrics_20250718_134233.csv")
endif()
