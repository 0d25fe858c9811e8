# Consumer-group core micro-benchmark (included by bench/CMakeLists.txt).
telemq_bench(group_bench ${CMAKE_CURRENT_SOURCE_DIR}/group_bench.cc)
target_link_libraries(group_bench PRIVATE telemq_group)
