# Every third-party library comes from a Debian package (scripts/install-deps).
# Nothing is vendored and nothing is downloaded at build time.
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(FlatBuffers CONFIG REQUIRED)
find_program(FLATC flatc REQUIRED)
find_package(zstd CONFIG REQUIRED)
find_package(tl-expected CONFIG REQUIRED)
pkg_check_modules(XXHASH REQUIRED IMPORTED_TARGET libxxhash)
pkg_check_modules(LZ4 REQUIRED IMPORTED_TARGET liblz4)

if(NOT TELEMQ_FUZZ_ONLY)
  find_package(fmt CONFIG REQUIRED)
  find_package(spdlog CONFIG REQUIRED)
  find_package(RocksDB CONFIG REQUIRED)
  find_package(yaml-cpp CONFIG REQUIRED)
  find_package(CLI11 CONFIG REQUIRED)
  find_package(nlohmann_json CONFIG REQUIRED)
  find_package(GTest CONFIG REQUIRED)
  if(TELEMQ_BUILD_BENCH)
    find_package(benchmark CONFIG REQUIRED)
  endif()
  pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)

  # Asio is header-only and ships no CMake package: standalone mode, no Boost.
  find_path(ASIO_INCLUDE_DIR asio.hpp REQUIRED)
  add_library(telemq_asio INTERFACE)
  target_include_directories(telemq_asio SYSTEM INTERFACE ${ASIO_INCLUDE_DIR})
  target_compile_definitions(telemq_asio INTERFACE ASIO_STANDALONE ASIO_NO_DEPRECATED)
  target_link_libraries(telemq_asio INTERFACE Threads::Threads)
endif()

# The zstd package names its target differently across versions.
if(TARGET zstd::libzstd_shared)
  set(TELEMQ_ZSTD zstd::libzstd_shared)
else()
  set(TELEMQ_ZSTD zstd::libzstd_static)
endif()

# Adds a GoogleTest executable registered with ctest.
#   telemq_test(NAME name SOURCES a_test.cc ... LIBS lib ... [LABELS l ...])
function(telemq_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main GTest::gmock)
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  add_test(NAME ${T_NAME} COMMAND ${T_NAME})
  set_tests_properties(${T_NAME} PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "${T_LABELS}")
endfunction()

# Fails the build of `target` when a source under `module` includes a header
# matching one of the FORBIDDEN regular expressions (cmake/CheckLayering.cmake).
#   telemq_check_layering(TARGET telemq_raft MODULE broker/raft FORBIDDEN "^asio" ...)
function(telemq_check_layering)
  cmake_parse_arguments(L "" "TARGET;MODULE" "FORBIDDEN" ${ARGN})
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/${L_MODULE}/*.h ${PROJECT_SOURCE_DIR}/${L_MODULE}/*.cc)
  set(stamp ${CMAKE_CURRENT_BINARY_DIR}/${L_TARGET}_layering.stamp)
  add_custom_command(
    OUTPUT ${stamp}
    COMMAND ${CMAKE_COMMAND} -DMODULE=${L_MODULE} -DROOT=${PROJECT_SOURCE_DIR} "-DFORBIDDEN=${L_FORBIDDEN}"
            -DSTAMP=${stamp} -P ${PROJECT_SOURCE_DIR}/cmake/CheckLayering.cmake
    DEPENDS ${sources} ${PROJECT_SOURCE_DIR}/cmake/CheckLayering.cmake
    COMMENT "Checking the includes of ${L_MODULE}"
    VERBATIM)
  add_custom_target(${L_TARGET}_layering DEPENDS ${stamp})
  add_dependencies(${L_TARGET} ${L_TARGET}_layering)
endfunction()

# Headers no pure broker module may include: networking, HTTP, RocksDB, and
# the modules above them.
set(TELEMQ_IO_HEADERS "^asio[./]" "^asio$" "^httplib" "^rocksdb/" "^broker/server/" "^collector/" "^gateway/"
    "^streamer/")
