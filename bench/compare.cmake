# make compare (scripts/compare, docs/benchmarks.md): load generators for the
# peers telemq is measured against, built only where their C clients are
# installed (Debian libnats-dev and libhiredis-dev; scripts/install-deps),
# and the tool that turns the raw runs into the table.
add_executable(compare-table compare/compare_table.cc)
target_link_libraries(compare-table PRIVATE nlohmann_json::nlohmann_json)
pkg_check_modules(NATS IMPORTED_TARGET libnats)
pkg_check_modules(HIREDIS IMPORTED_TARGET hiredis)
if(NATS_FOUND)
  add_executable(nats-load compare/nats_load.cc)
  target_include_directories(nats-load PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(nats-load PRIVATE PkgConfig::NATS CLI11::CLI11 nlohmann_json::nlohmann_json Threads::Threads)
else()
  message(STATUS "libnats not found: nats-load (make compare) is not built")
endif()
if(HIREDIS_FOUND)
  add_executable(redis-load compare/redis_load.cc)
  target_include_directories(redis-load PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(redis-load PRIVATE PkgConfig::HIREDIS CLI11::CLI11 nlohmann_json::nlohmann_json Threads::Threads)
else()
  message(STATUS "hiredis not found: redis-load (make compare) is not built")
endif()
if(NATS_FOUND AND HIREDIS_FOUND)
  # The whole harness in its QUICK mode: every workload on all three systems.
  add_test(NAME compare_smoke_test COMMAND ${PROJECT_SOURCE_DIR}/tests/compare/compare_smoke_test.sh
           ${PROJECT_BINARY_DIR})
  set_tests_properties(compare_smoke_test PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77 LABELS "bench;e2e" RUN_SERIAL TRUE)
endif()
