# telemq_test_support: what integration and end-to-end suites share: a
# launcher for real telemq-broker processes, a TCP proxy that can drop
# connections, and a raw protocol socket for hostile-input tests. Loopback only.
add_library(telemq_test_support STATIC
  ${CMAKE_CURRENT_LIST_DIR}/process.cc
  ${CMAKE_CURRENT_LIST_DIR}/broker_process.cc
  ${CMAKE_CURRENT_LIST_DIR}/tcp_proxy.cc
  ${CMAKE_CURRENT_LIST_DIR}/raw_socket.cc
  ${CMAKE_CURRENT_LIST_DIR}/app_process.cc
  ${CMAKE_CURRENT_LIST_DIR}/http_get.cc
  ${CMAKE_CURRENT_LIST_DIR}/prometheus_text.cc
)
target_include_directories(telemq_test_support PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(telemq_test_support PUBLIC telemq_common telemq_wire GTest::gtest Threads::Threads
  PRIVATE PkgConfig::HTTPLIB)
target_compile_definitions(telemq_test_support PRIVATE TELEMQ_BROKER_BIN="$<TARGET_FILE:telemq-broker>")
# Building any suite that launches brokers builds the broker first.
add_dependencies(telemq_test_support telemq-broker)

# The telemetry applications, for end-to-end suites (each only when built).
foreach(app streamer collector gateway)
  if(TARGET telemq-${app})
    string(TOUPPER ${app} APP_UPPER)
    target_compile_definitions(telemq_test_support PRIVATE TELEMQ_${APP_UPPER}_BIN="$<TARGET_FILE:telemq-${app}>")
    add_dependencies(telemq_test_support telemq-${app})
  endif()
endforeach()

# The exposition reader and convention check on their own, against what
# telemq_metrics renders (a unit test: no processes).
telemq_test(NAME prometheus_text_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/prometheus_text_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/prometheus_text.cc LIBS telemq_common telemq_metrics LABELS unit)
target_include_directories(prometheus_text_test PRIVATE ${PROJECT_SOURCE_DIR})

# telemq_cluster_support: BrokerCluster, several brokers started as one Raft
# cluster and watched through the client's Admin (hence its own library: the
# rest of the support code does not link the client).
add_library(telemq_cluster_support STATIC ${CMAKE_CURRENT_LIST_DIR}/broker_cluster.cc)
target_link_libraries(telemq_cluster_support PUBLIC telemq_test_support telemq_client)
