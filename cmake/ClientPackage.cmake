# The client library as an installable package (docs/client.md):
#
#   <prefix>/include/telemq/...                 public headers only
#   <prefix>/<libdir>/libtelemq_client.so.*     shared, soname libtelemq_client.so.<SOVERSION>
#   <prefix>/<libdir>/libtelemq_client.a        static: client + wire objects in one archive
#   <prefix>/<libdir>/cmake/telemq/             find_package(telemq) -> telemq::client
#   <prefix>/<libdir>/pkgconfig/telemq.pc       pkg-config --cflags --libs telemq
#   <prefix>/share/telemq/point.fbs             schema of the telemetry topic's values
#
# Install components: `client` (the shared library's runtime files) and
# `client_dev` (everything else). Included from client/CMakeLists.txt once
# telemq_client exists.
#
# Both libraries are linked from the objects the in-tree telemq_client and
# telemq_wire already compile (nothing is compiled twice); those two are
# therefore position independent. Only the headers of TELEMQ_PUBLIC_HEADERS
# are installed: client/include/telemq/*.h (not wire/, the broker's and the
# CLI's) and the two common headers they include. tests/package checks that
# each installed header compiles on its own against the installed prefix.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set_target_properties(telemq_client telemq_wire PROPERTIES POSITION_INDEPENDENT_CODE ON)

# The ABI may change with any minor release before 1.0: the soname carries
# major.minor until then, the major alone after.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(TELEMQ_CLIENT_SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
else()
  set(TELEMQ_CLIENT_SOVERSION ${PROJECT_VERSION_MAJOR})
endif()

file(GLOB TELEMQ_CLIENT_PUBLIC_HEADERS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/client/include/telemq/*.h)
set(TELEMQ_COMMON_PUBLIC_HEADERS ${PROJECT_SOURCE_DIR}/common/include/telemq/common/result.h
                                 ${PROJECT_SOURCE_DIR}/common/include/telemq/common/strong_id.h)

# The package's libraries are written under package/ so that the static one
# does not collide with the in-tree libtelemq_client.a (client only).
set(TELEMQ_PACKAGE_LIB_DIR ${PROJECT_BINARY_DIR}/package/lib)
add_library(telemq_client_shared SHARED $<TARGET_OBJECTS:telemq_client> $<TARGET_OBJECTS:telemq_wire>)
add_library(telemq_client_static STATIC $<TARGET_OBJECTS:telemq_client> $<TARGET_OBJECTS:telemq_wire>)
set_target_properties(telemq_client_shared PROPERTIES
  OUTPUT_NAME telemq_client EXPORT_NAME client_shared
  VERSION ${PROJECT_VERSION} SOVERSION ${TELEMQ_CLIENT_SOVERSION}
  LIBRARY_OUTPUT_DIRECTORY ${TELEMQ_PACKAGE_LIB_DIR})
set_target_properties(telemq_client_static PROPERTIES
  OUTPUT_NAME telemq_client EXPORT_NAME client_static
  ARCHIVE_OUTPUT_DIRECTORY ${TELEMQ_PACKAGE_LIB_DIR})

foreach(lib telemq_client_shared telemq_client_static)
  target_include_directories(${lib} INTERFACE $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_compile_features(${lib} INTERFACE cxx_std_20)
  # telemq/common/result.h includes <tl/expected.hpp>.
  target_link_libraries(${lib} PUBLIC tl::expected)
endforeach()

# What the objects call. For the shared library these stay private; for the
# static one they become link-only dependencies of the exported target, so
# their names in the installed package are those telemqConfig.cmake defines
# (xxHash and lz4 ship no CMake package: pkg-config imported targets).
target_link_libraries(telemq_client_shared PRIVATE PkgConfig::XXHASH PkgConfig::LZ4 ${TELEMQ_ZSTD} Threads::Threads)
target_link_libraries(telemq_client_static PRIVATE
  $<BUILD_INTERFACE:PkgConfig::XXHASH> $<INSTALL_INTERFACE:PkgConfig::telemq_xxhash>
  $<BUILD_INTERFACE:PkgConfig::LZ4> $<INSTALL_INTERFACE:PkgConfig::telemq_lz4>
  ${TELEMQ_ZSTD} Threads::Threads)
# Every symbol the shared library needs must be resolved when it is linked
# (not at the user's link). Sanitizer runtimes are only linked into programs.
if(NOT TELEMQ_SANITIZE AND NOT TELEMQ_TSAN)
  target_link_options(telemq_client_shared PRIVATE LINKER:-z,defs LINKER:--as-needed)
endif()

install(TARGETS telemq_client_shared telemq_client_static EXPORT telemqTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT client NAMELINK_COMPONENT client_dev
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT client_dev)
install(FILES ${TELEMQ_CLIENT_PUBLIC_HEADERS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/telemq COMPONENT client_dev)
install(FILES ${TELEMQ_COMMON_PUBLIC_HEADERS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/telemq/common
        COMPONENT client_dev)
# The value format of the telemetry topic, for programs that read or write
# points (examples/ generates its encoder from it).
install(FILES ${PROJECT_SOURCE_DIR}/telemetry/schemas/point.fbs DESTINATION ${CMAKE_INSTALL_DATADIR}/telemq
        COMPONENT client_dev)

set(TELEMQ_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/telemq)
install(EXPORT telemqTargets NAMESPACE telemq:: DESTINATION ${TELEMQ_CMAKE_DIR} COMPONENT client_dev)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/telemqConfig.cmake.in
  ${PROJECT_BINARY_DIR}/package/telemqConfig.cmake
  INSTALL_DESTINATION ${TELEMQ_CMAKE_DIR}
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR CMAKE_INSTALL_DATADIR)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/package/telemqConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  # Before 1.0 a minor release may break the API: 0.1 is not 0.2.
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/package/telemqConfig.cmake ${PROJECT_BINARY_DIR}/package/telemqConfigVersion.cmake
        DESTINATION ${TELEMQ_CMAKE_DIR} COMPONENT client_dev)

# telemq.pc is written when installing, so that it names the prefix actually
# installed to (`cmake --install --prefix` may differ from the configured
# one); DESTDIR staging keeps the final prefix.
set(TELEMQ_PC_TEMPLATE ${PROJECT_SOURCE_DIR}/cmake/telemq.pc.in)
set(TELEMQ_PC_OUT ${PROJECT_BINARY_DIR}/package/telemq.pc)
foreach(dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    set(TELEMQ_PC_${dir} "${CMAKE_INSTALL_${dir}}")
  else()
    set(TELEMQ_PC_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()
install(CODE "
  set(TELEMQ_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  set(TELEMQ_PC_LIBDIR [=[${TELEMQ_PC_LIBDIR}]=])
  set(TELEMQ_PC_INCLUDEDIR [=[${TELEMQ_PC_INCLUDEDIR}]=])
  set(TELEMQ_PC_VERSION \"${PROJECT_VERSION}\")
  configure_file(\"${TELEMQ_PC_TEMPLATE}\" \"${TELEMQ_PC_OUT}\" @ONLY)
" COMPONENT client_dev)
install(FILES ${TELEMQ_PC_OUT} DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT client_dev)
