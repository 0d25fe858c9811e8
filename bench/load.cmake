# The end-to-end load tool (not a Google Benchmark): telemq-bench.
add_executable(telemq-bench load/telemq_bench.cc load/group_bench_modes.cc load/telemetry_modes.cc)
target_include_directories(telemq-bench PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(telemq-bench PRIVATE telemq_client telemq_telemetry CLI11::CLI11 nlohmann_json::nlohmann_json)
