# gateway_bench: query latency through telemq-gateway with wrk, on a real
# broker, collector and gateway (not a Google Benchmark; docs/benchmarks.md).
if(TARGET telemq-gateway AND TARGET telemq-collector AND TARGET telemq_test_support)
  add_executable(gateway_bench ${CMAKE_CURRENT_LIST_DIR}/gateway_bench.cc)
  target_include_directories(gateway_bench PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(gateway_bench PRIVATE telemq_test_support telemq_client telemq_telemetry GTest::gtest)
endif()

# views_bench: the downsampled day and the fleet latest view (issue #15
# targets), same set-up as gateway_bench.
if(TARGET telemq-gateway AND TARGET telemq-collector AND TARGET telemq_test_support)
  add_executable(views_bench ${CMAKE_CURRENT_LIST_DIR}/views_bench.cc)
  target_include_directories(views_bench PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(views_bench PRIVATE telemq_test_support telemq_client telemq_telemetry GTest::gtest)
endif()
