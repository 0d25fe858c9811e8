telemq_bench(wire_bench wire_bench.cc)
target_link_libraries(wire_bench PRIVATE telemq_wire)
