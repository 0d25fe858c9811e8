# Include-level layering check (docs/architecture.md, "Layering").
#
# Linking already keeps Asio, httplib and RocksDB out of the pure modules,
# but every library exports the project root as an include directory, so a
# header of a forbidden library (or of a module above) would still compile
# there. This script fails the build when a source of a checked module
# includes one.
#
# Run in script mode:
#   cmake -DMODULE=broker/raft -DROOT=<src> -DFORBIDDEN="regex;regex" -DSTAMP=<file> -P CheckLayering.cmake
# Each FORBIDDEN entry is a regular expression matched against the text
# between the include's quotes or angle brackets.

file(GLOB_RECURSE sources RELATIVE ${ROOT} ${ROOT}/${MODULE}/*.h ${ROOT}/${MODULE}/*.cc)
set(violations "")
foreach(source IN LISTS sources)
  file(STRINGS ${ROOT}/${source} includes REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]")
  foreach(line IN LISTS includes)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*[<\"]([^>\"]*)[>\"].*$" "\\1" header "${line}")
    foreach(pattern IN LISTS FORBIDDEN)
      if(header MATCHES "${pattern}")
        string(APPEND violations "\n  ${source}: #include ${header} (matches '${pattern}')")
      endif()
    endforeach()
  endforeach()
endforeach()
if(violations)
  message(FATAL_ERROR "layering violation: ${MODULE} must not include these headers:${violations}\n"
                      "See docs/architecture.md (Layering).")
endif()
file(WRITE ${STAMP} "ok\n")
