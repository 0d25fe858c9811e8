#pragma once
// `--config FILE` for the telemetry programs (streamer, collector, gateway),
// so Kubernetes can mount their options as a ConfigMap with the same names
// as the flags. The file is TOML, one `key = value` per flag, keys the long
// flag names without the dashes in front (`http-port = 8081`,
// `bootstrap = "b-0:9092,b-1:9092"`, `loop = true`); a flag given on the
// command line wins over the file. The file is strict, like the flags: an
// unknown key (a section counts as one), a value of the wrong type or out
// of a flag's range is refused with a message naming the key, exit code 2.
//
// Header-only on CLI11: include it only from programs that link CLI11 (the
// broker keeps its YAML file, broker/server/config.h).

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <string_view>

namespace telemq {

// Adds --config to `app`; call before parsing.
inline void AddConfigFileOption(CLI::App& app) {
  app.set_config(
      "--config", "",
      "TOML file of options: keys are the long flag names (http-port = 8081); flags on the command line win");
  app.allow_config_extras(CLI::config_extras_mode::error);
}

// Parses the command line (and the --config file). Returns -1 to go on, or
// the exit code to return at once: 0 after --help, 2 for anything refused.
inline int ParseCommandLine(CLI::App& app, int argc, char** argv, std::string_view program) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ConfigError& e) {
    // CLI11 words an unknown key as "INI was not able to parse KEY".
    constexpr std::string_view kExtras = "INI was not able to parse ";
    std::string message = e.what();
    if (message.rfind(kExtras, 0) == 0) {
      std::string key = message.substr(kExtras.size());
      // A [section] comes as "section.++": the file has no sections.
      if (key.size() > 3 && key.compare(key.size() - 3, 3, ".++") == 0) {
        message = "unknown section [" + key.substr(0, key.size() - 3) + "] (the file has no sections)";
      } else {
        message = "unknown key '" + key + "'";
      }
    }
    const CLI::Option* config = app.get_config_ptr();
    const std::string file = config != nullptr && !config->results().empty() ? config->results().front() : "";
    std::fprintf(stderr, "%.*s: config file '%s': %s\n", static_cast<int>(program.size()), program.data(), file.c_str(),
                 message.c_str());
    return 2;
  } catch (const CLI::ParseError& e) {
    // --help exits 0; every bad flag or value exits 2 (CLI11's own codes vary).
    return app.exit(e) == 0 ? 0 : 2;
  }
  return -1;
}

}  // namespace telemq
