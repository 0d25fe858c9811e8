#pragma once
// Invariant checks. A broken invariant is a bug: TELEMQ_CHECK logs the
// condition and where it failed, then aborts, in release builds too. Use it
// for states the code must never reach, never for bad input (bad input gets a
// Result error).

#include <cstdio>
#include <cstdlib>

#define TELEMQ_CHECK(cond, msg)                                                                               \
  do {                                                                                                        \
    if (!(cond)) [[unlikely]] {                                                                               \
      std::fprintf(stderr, "telemq: invariant violated at %s:%d: %s (%s)\n", __FILE__, __LINE__, #cond, msg); \
      std::abort();                                                                                           \
    }                                                                                                         \
  } while (0)
