# Collector store micro-benchmarks (bench/collector_bench.cc): apply rate,
# one-hour window query latency, bytes per point after compaction.
if(TARGET telemq_collector)
  telemq_bench(collector_bench collector_bench.cc)
  target_link_libraries(collector_bench PRIVATE telemq_collector telemq_telemetry)
endif()
