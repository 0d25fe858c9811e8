# `cmake --install` of the telemq programs (component `runtime`), next to the
# client package of cmake/ClientPackage.cmake:
#
#   <prefix>/bin/telemq-broker, telemq, telemq-streamer, telemq-collector,
#                telemq-gateway                 the programs
#   <prefix>/bin/telemq-healthcheck             HTTP probe for container health checks
#   <prefix>/share/telemq/swagger-ui/           the Swagger UI files telemq-gateway serves at /docs
#
# The container image (Dockerfile) installs exactly this. Programs that are
# not configured in this build (e.g. TELEMQ_FUZZ_ONLY) are skipped.
include(GNUInstallDirs)

set(TELEMQ_PROGRAMS telemq-broker telemq telemq-streamer telemq-collector telemq-gateway)
foreach(program ${TELEMQ_PROGRAMS})
  if(TARGET ${program})
    install(TARGETS ${program} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
  endif()
endforeach()
install(PROGRAMS ${PROJECT_SOURCE_DIR}/scripts/telemq-healthcheck DESTINATION ${CMAKE_INSTALL_BINDIR}
        COMPONENT runtime)

# Swagger UI comes from npm (tools/package.json, `npm ci --prefix tools`);
# only the files the gateway's /docs page loads, with their licence.
set(TELEMQ_SWAGGER_UI_DIR ${PROJECT_SOURCE_DIR}/tools/node_modules/swagger-ui-dist)
if(EXISTS ${TELEMQ_SWAGGER_UI_DIR}/swagger-ui-bundle.js)
  install(FILES ${TELEMQ_SWAGGER_UI_DIR}/swagger-ui-bundle.js ${TELEMQ_SWAGGER_UI_DIR}/swagger-ui.css
                ${TELEMQ_SWAGGER_UI_DIR}/favicon-32x32.png ${TELEMQ_SWAGGER_UI_DIR}/favicon-16x16.png
                ${TELEMQ_SWAGGER_UI_DIR}/LICENSE ${TELEMQ_SWAGGER_UI_DIR}/NOTICE
          DESTINATION ${CMAKE_INSTALL_DATADIR}/telemq/swagger-ui COMPONENT runtime)
else()
  message(STATUS "telemq: ${TELEMQ_SWAGGER_UI_DIR} missing (run scripts/install-deps): "
                 "the installed gateway will answer /docs with 404")
endif()
