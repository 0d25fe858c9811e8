// redis-load: the Redis Streams load generator of make compare (hiredis).
// Same command line and output as nats-load (bench/compare/peer_load.h).
//
//   publish: XADD NAME:i * v VALUE, pipelined on one connection with at
//            most --max-pending commands unanswered (Redis has no
//            asynchronous acknowledgement: the reply is the ack), round
//            robin over the partitions' keys; latency send→reply.
//   consume: XRANGE NAME:i (LAST + COUNT 1000 per key until N records.
//   e2e:     XADD at --rate on one connection (records that fall due
//            together are pipelined), XREAD BLOCK 100 COUNT 1000 on a
//            second; latency from the scheduled (or actual) send to the
//            reader's reply.

#include <hiredis/hiredis.h>

#include <atomic>
#include <cstdio>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench/compare/peer_load.h"
#include "bench/load/histogram.h"
#include "bench/load/load_result.h"

namespace {

using telemq::bench::Histogram;
using telemq::bench::PeerClock;
using telemq::bench::PeerNowMicros;
using telemq::bench::PeerOptions;

struct ContextDeleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
using Context = std::unique_ptr<redisContext, ContextDeleter>;
struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

int Fail(const std::string& what) {
  std::fprintf(stderr, "redis-load: %s\n", what.c_str());
  return 1;
}

Context Connect(const PeerOptions& o, std::string* error) {
  std::string host;
  int port = 0;
  if (!o.HostPort(&host, &port)) {
    *error = "--server must be host:port, got '" + o.server + "'";
    return nullptr;
  }
  const timeval tv{5, 0};
  Context c(redisConnectWithTimeout(host.c_str(), port, tv));
  if (!c || c->err) {
    *error = "connect " + o.server + ": " + (c ? c->errstr : "out of memory");
    return nullptr;
  }
  const long secs = static_cast<long>(o.timeout_s);
  redisSetTimeout(c.get(), timeval{secs, 0});
  return c;
}

std::string Key(const PeerOptions& o, int p) { return o.topic + ":" + std::to_string(p); }

// Reads one reply; an error reply or a broken connection is a failure.
bool GetReply(redisContext* c, Reply* out, std::string* error) {
  void* raw = nullptr;
  if (redisGetReply(c, &raw) != REDIS_OK) {
    *error = std::string("reply: ") + c->errstr;
    return false;
  }
  out->reset(static_cast<redisReply*>(raw));
  if ((*out)->type == REDIS_REPLY_ERROR) {
    *error = std::string("server: ") + (*out)->str;
    return false;
  }
  return true;
}

int RunPublish(redisContext* c, const PeerOptions& o) {
  std::vector<std::string> keys;
  for (int p = 0; p < o.partitions; ++p) keys.push_back(Key(o, p));
  const std::string payload = telemq::bench::PeerPayload(o.record_size);
  Histogram hist;
  std::deque<int64_t> sent_at;  // append time of each unanswered XADD, in order
  const auto start = PeerClock::now();
  const auto end =
      o.duration_s > 0 ? start + std::chrono::duration<double>(o.duration_s) : PeerClock::time_point::max();
  int64_t sent = 0, acked = 0;
  std::string error;
  const size_t window = static_cast<size_t>(o.max_pending);
  for (;;) {
    const bool more = o.duration_s > 0 ? PeerClock::now() < end : sent < o.records;
    if (!more && sent_at.empty()) break;
    if (more) {
      // Refill the window, then read back half of it, so the pipe never drains.
      while (sent_at.size() < window && (o.duration_s > 0 || sent < o.records)) {
        redisAppendCommand(c, "XADD %b * v %b", keys[sent % keys.size()].data(), keys[sent % keys.size()].size(),
                           payload.data(), payload.size());
        sent_at.push_back(PeerNowMicros());
        ++sent;
      }
    }
    const size_t keep = more ? window / 2 : 0;
    while (sent_at.size() > keep) {
      Reply r;
      if (!GetReply(c, &r, &error)) return Fail("XADD " + error);
      hist.Record(PeerNowMicros() - sent_at.front());
      sent_at.pop_front();
      ++acked;
    }
    if (PeerClock::now() - start > std::chrono::duration<double>(o.timeout_s)) return Fail("publish past --timeout-s");
  }
  const double secs = std::chrono::duration<double>(PeerClock::now() - start).count();
  telemq::bench::LoadResult r{.system = "redis",
                              .mode = "publish",
                              .topic = o.topic,
                              .partitions = o.partitions,
                              .record_size = o.record_size,
                              .records = acked,
                              .seconds = secs,
                              .latency_from = "send",
                              .async = "pipelined XADD, " + std::to_string(o.max_pending) + " unanswered at most",
                              .latency = &hist};
  std::printf("%s\n", r.ToJsonLine().c_str());
  return 0;
}

// Entries of an XRANGE reply or of one stream of an XREAD reply; the last
// entry's id goes to *last_id.
int64_t CountEntries(const redisReply* entries, std::string* last_id) {
  if (entries == nullptr || entries->type != REDIS_REPLY_ARRAY || entries->elements == 0) return 0;
  const redisReply* last = entries->element[entries->elements - 1];
  if (last->type == REDIS_REPLY_ARRAY && last->elements >= 1 && last->element[0]->type == REDIS_REPLY_STRING) {
    last_id->assign(last->element[0]->str, last->element[0]->len);
  }
  return static_cast<int64_t>(entries->elements);
}

int RunConsume(redisContext* c, const PeerOptions& o) {
  const auto start = PeerClock::now();
  int64_t n = 0;
  std::string error;
  for (int p = 0; p < o.partitions && n < o.records; ++p) {
    const std::string key = Key(o, p);
    std::string from = "-";
    for (;;) {
      Reply r(static_cast<redisReply*>(
          redisCommand(c, "XRANGE %b %b + COUNT 1000", key.data(), key.size(), from.data(), from.size())));
      if (!r) return Fail(std::string("XRANGE: ") + c->errstr);
      if (r->type == REDIS_REPLY_ERROR) return Fail(std::string("XRANGE: ") + r->str);
      std::string last;
      const int64_t got = CountEntries(r.get(), &last);
      if (got == 0) break;
      n += got;
      from = "(" + last;
      if (n >= o.records) break;
    }
  }
  const double secs = std::chrono::duration<double>(PeerClock::now() - start).count();
  telemq::bench::LoadResult r{.system = "redis",
                              .mode = "consume",
                              .topic = o.topic,
                              .partitions = o.partitions,
                              .record_size = o.record_size,
                              .records = n,
                              .seconds = secs,
                              .async = "XRANGE COUNT 1000 per call"};
  std::printf("%s\n", r.ToJsonLine().c_str());
  if (n < o.records) {
    std::fprintf(stderr, "redis-load: consume found %lld of %lld records\n", (long long)n, (long long)o.records);
    return 1;
  }
  return 0;
}

int RunEndToEnd(redisContext* c, const PeerOptions& o) {
  std::string error;
  Context reader_conn = Connect(o, &error);
  if (!reader_conn) return Fail(error);
  const std::string key = Key(o, 0);
  const double duration = o.duration_s > 0 ? o.duration_s : 10.0;
  const int64_t total = static_cast<int64_t>(o.rate * duration);
  const auto start = PeerClock::now();
  const int64_t start_us = std::chrono::duration_cast<std::chrono::microseconds>(start.time_since_epoch()).count();
  const auto bound = start + std::chrono::duration<double>(o.timeout_s);
  Histogram hist;
  std::atomic<int64_t> received{0};
  std::atomic<bool> reader_failed{false};
  std::thread reader([&]() {
    std::string last = "0-0";  // the topic is new: read it from the start
    auto last_progress = PeerClock::now();
    while (received.load() < total) {
      Reply r(static_cast<redisReply*>(redisCommand(reader_conn.get(), "XREAD COUNT 1000 BLOCK 100 STREAMS %b %b",
                                                    key.data(), key.size(), last.data(), last.size())));
      const int64_t now = PeerNowMicros();
      if (!r || r->type == REDIS_REPLY_ERROR) {
        std::fprintf(stderr, "redis-load: XREAD: %s\n", r ? r->str : reader_conn->errstr);
        reader_failed = true;
        return;
      }
      if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->elements == 2) {
        const redisReply* entries = r->element[0]->element[1];
        for (size_t i = 0; i < entries->elements; ++i) {
          const redisReply* e = entries->element[i];
          // [id, [field, value]]
          if (e->elements == 2 && e->element[1]->elements == 2) {
            const redisReply* v = e->element[1]->element[1];
            hist.Record(now - telemq::bench::ReadStamp(v->str, v->len));
          }
        }
        received += CountEntries(entries, &last);
        last_progress = PeerClock::now();
      }
      if (PeerClock::now() - last_progress > std::chrono::seconds(10) || PeerClock::now() > bound) return;
    }
  });
  std::string payload = telemq::bench::PeerPayload(o.record_size);
  const bool scheduled = o.latency_from == "scheduled";
  int64_t i = 0;
  bool ok = true;
  while (i < total && ok) {
    telemq::bench::WaitUntilDue(start, i, o.rate);
    // Every record already due leaves now, in one pipelined write.
    int64_t batch = 0;
    const double elapsed = std::chrono::duration<double>(PeerClock::now() - start).count();
    const int64_t due_now = std::min<int64_t>(total, static_cast<int64_t>(elapsed * o.rate) + 1);
    for (; i < std::max(due_now, i + 1) && batch < o.max_pending; ++i, ++batch) {
      const int64_t stamp =
          scheduled ? start_us + static_cast<int64_t>(static_cast<double>(i) * 1e6 / o.rate) : PeerNowMicros();
      telemq::bench::StampMicros(payload, stamp);
      redisAppendCommand(c, "XADD %b * v %b", key.data(), key.size(), payload.data(), payload.size());
    }
    for (int64_t k = 0; k < batch; ++k) {
      Reply r;
      if (!GetReply(c, &r, &error)) {
        ok = false;
        break;
      }
    }
    if (PeerClock::now() > bound) ok = false;
  }
  reader.join();
  const double secs = std::chrono::duration<double>(PeerClock::now() - start).count();
  if (!ok) return Fail("e2e XADD: " + (error.empty() ? std::string("past --timeout-s") : error));
  telemq::bench::LoadResult r{.system = "redis",
                              .mode = "e2e",
                              .topic = o.topic,
                              .partitions = 1,
                              .record_size = o.record_size,
                              .records = received.load(),
                              .seconds = secs,
                              .latency_from = o.latency_from,
                              .async = "XADD at a fixed rate (due records pipelined), XREAD BLOCK",
                              .latency = &hist};
  std::printf("%s\n", r.ToJsonLine().c_str());
  return received.load() >= total && !reader_failed ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    CLI::App app{"redis-load: Redis Streams load for make compare (publish, consume, e2e)"};
    PeerOptions o;
    o.server = "127.0.0.1:6379";
    o.Register(app);
    CLI11_PARSE(app, argc, argv);
    o.Mode(app);
    if (o.replicas != 1) return Fail("--replicas: Redis Streams has no synchronous replicas here; use 1");
    std::string error;
    Context c = Connect(o, &error);
    if (!c) return Fail(error);
    if (o.mode == "publish") return RunPublish(c.get(), o);
    if (o.mode == "consume") return RunConsume(c.get(), o);
    if (o.mode == "e2e") return RunEndToEnd(c.get(), o);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "redis-load: %s\n", e.what());
    return 1;
  }
}
