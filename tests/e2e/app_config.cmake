# --config FILE of the streamer, collector and gateway: read, strict (an
# unknown key, a wrong type or range: exit 2 naming the key), flags win.
if(TARGET telemq-gateway AND TARGET telemq-collector AND TARGET telemq-streamer)
  add_test(NAME app_config_e2e_test
    COMMAND ${PROJECT_SOURCE_DIR}/tests/e2e/app_config_test.sh $<TARGET_FILE:telemq-streamer>
            $<TARGET_FILE:telemq-collector> $<TARGET_FILE:telemq-gateway>)
  set_tests_properties(app_config_e2e_test PROPERTIES TIMEOUT 60 LABELS "e2e;config")
endif()
