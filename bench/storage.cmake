# Partition log micro-benchmarks (bench/storage_bench.cc).
telemq_bench(storage_bench storage_bench.cc)
target_link_libraries(storage_bench PRIVATE telemq_storage)
