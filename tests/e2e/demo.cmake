# scripts/demo end to end: the real pipeline started by the script, stopped
# by signals the way a terminal, a supervisor or make deliver them.
if(TARGET telemq-gateway AND TARGET telemq-collector AND TARGET telemq-streamer AND TARGET telemq)
  add_test(NAME demo_stop_e2e_test
    COMMAND ${PROJECT_SOURCE_DIR}/tests/e2e/demo_stop_test.sh ${CMAKE_BINARY_DIR})
  set_tests_properties(demo_stop_e2e_test PROPERTIES TIMEOUT 600 LABELS e2e RUN_SERIAL TRUE)
endif()
