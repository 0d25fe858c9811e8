# telemq-streamer against real telemq-brokers: one pass over the real DCGM
# export (three brokers, RF3) and over a CSV with bad rows, and three looping
# streamers sharing a synthetic fleet through their group while one leaves.
if(TARGET telemq-streamer)
  telemq_test(NAME streamer_e2e_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/streamer_test.cc
    LIBS telemq_cluster_support telemq_test_support telemq_client telemq_telemetry PkgConfig::HTTPLIB nlohmann_json::nlohmann_json
    LABELS e2e TIMEOUT 120)
  target_compile_definitions(streamer_e2e_test PRIVATE
    TELEMQ_DCGM_SAMPLE_CSV="${PROJECT_SOURCE_DIR}/../shared/data/dcgm_metrics_20250718_134233.csv")
endif()
