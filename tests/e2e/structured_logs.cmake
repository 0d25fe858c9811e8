# Structured logs (docs/operations.md, "Logs"): a real broker, streamer and
# gateway with --log-format json and text; every line each wrote is checked.
if(TARGET telemq-streamer AND TARGET telemq-gateway)
  telemq_test(NAME structured_logs_e2e_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/structured_logs_test.cc
    LIBS telemq_test_support telemq_client nlohmann_json::nlohmann_json
    LABELS e2e TIMEOUT 120)
endif()
