# Raft core micro-benchmark (included by bench/CMakeLists.txt).
telemq_bench(raft_bench ${CMAKE_CURRENT_SOURCE_DIR}/raft_bench.cc)
target_link_libraries(raft_bench PRIVATE telemq_raft)
