# telemq-collector end to end: a real broker (three as one cluster, RF3, for
# the recreated topic) and real collector processes, points produced with the
# client library, checked through the collector's internal API (restart after
# kill -9, two members splitting partitions, failover by replay, a store of
# an old format rebuilt, a recreated topic's stores rebuilt).
if(TARGET telemq-collector)
  telemq_test(NAME collector_e2e_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/collector_test.cc
    LIBS telemq_cluster_support telemq_test_support telemq_client telemq_telemetry PkgConfig::HTTPLIB nlohmann_json::nlohmann_json
    RocksDB::rocksdb
    LABELS e2e TIMEOUT 120)
endif()
