// nats-load: the NATS JetStream load generator of make compare (libnats).
// Same command line and output as redis-load (bench/compare/peer_load.h).
//
//   publish: js_PublishAsync with PublishAsync.MaxPending = --max-pending
//            (JetStream's asynchronous publish; a publish blocks while that
//            many acknowledgements are outstanding), round-robin over the
//            partitions' streams; latency send→PubAck.
//   consume: one ordered push consumer per stream (the client's fastest
//            way to read a stream from the start), until N records.
//   e2e:     ordered consumer on NAME.* delivering new records, and
//            js_PublishAsync at --rate; latency from the scheduled (or
//            actual) send to the consumer's callback.
// Streams use file storage with --replicas replicas.

#include <nats/nats.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "bench/compare/peer_load.h"
#include "bench/load/histogram.h"
#include "bench/load/load_result.h"

namespace {

using telemq::bench::Histogram;
using telemq::bench::PeerClock;
using telemq::bench::PeerNowMicros;
using telemq::bench::PeerOptions;

int Fail(const std::string& what, natsStatus s, jsErrCode jerr = static_cast<jsErrCode>(0)) {
  std::fprintf(stderr, "nats-load: %s: %s", what.c_str(), natsStatus_GetText(s));
  if (jerr != 0) std::fprintf(stderr, " (JetStream error %d)", static_cast<int>(jerr));
  const char* last = nats_GetLastError(nullptr);
  if (last != nullptr && *last != '\0') std::fprintf(stderr, ": %s", last);
  std::fprintf(stderr, "\n");
  return 1;
}

std::string StreamName(const PeerOptions& o, int p) { return o.topic + "_" + std::to_string(p); }
std::string Subject(const PeerOptions& o, int p) { return o.topic + "." + std::to_string(p); }

// Creates the partitions' streams (an existing one is kept). Retries for up
// to 30 s: a fresh cluster elects its JetStream meta leader first.
int EnsureStreams(jsCtx* js, const PeerOptions& o) {
  for (int p = 0; p < o.partitions; ++p) {
    const std::string name = StreamName(o, p), subject = Subject(o, p);
    const char* subjects[] = {subject.c_str()};
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = name.c_str();
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    sc.Replicas = o.replicas;
    const auto give_up = PeerClock::now() + std::chrono::seconds(30);
    for (;;) {
      jsErrCode jerr = static_cast<jsErrCode>(0);
      jsStreamInfo* si = nullptr;
      const natsStatus s = js_AddStream(&si, js, &sc, nullptr, &jerr);
      if (si != nullptr) jsStreamInfo_Destroy(si);
      if (s == NATS_OK || jerr == JSStreamNameExistErr) break;
      if (PeerClock::now() > give_up) return Fail("add stream " + name, s, jerr);
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
  }
  return 0;
}

struct PublishState {
  Histogram hist;  // touched only by the library's PubAck thread
  std::atomic<int64_t> acked{0};
  std::atomic<int64_t> failed{0};
};

void OnPubAck(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
  auto* st = static_cast<PublishState*>(closure);
  if (pa != nullptr && pae == nullptr) {
    st->hist.Record(PeerNowMicros() - telemq::bench::ReadStamp(natsMsg_GetData(msg), natsMsg_GetDataLength(msg)));
    ++st->acked;
  } else {
    ++st->failed;
  }
  natsMsg_Destroy(msg);
}

// A JetStream context for async publishing, at most --max-pending
// unacknowledged, the acks counted into *st (a publish blocks up to
// stall_wait_ms for room; 0: the library's default), and the streams of
// `o` created. 0, or the exit code of the failure.
int OpenJetStream(natsConnection* nc, const PeerOptions& o, PublishState* st, int64_t stall_wait_ms, jsCtx** js) {
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.PublishAsync.MaxPending = o.max_pending;
  jo.PublishAsync.AckHandler = OnPubAck;
  jo.PublishAsync.AckHandlerClosure = st;
  if (stall_wait_ms > 0) jo.PublishAsync.StallWait = stall_wait_ms;
  if (natsStatus s = natsConnection_JetStream(js, nc, &jo); s != NATS_OK) return Fail("jetstream", s);
  return EnsureStreams(*js, o);
}

int RunPublish(natsConnection* nc, const PeerOptions& o) {
  PublishState st;
  jsCtx* js = nullptr;
  if (int rc = OpenJetStream(nc, o, &st, 1000, &js); rc != 0) return rc;
  std::vector<std::string> subjects;
  for (int p = 0; p < o.partitions; ++p) subjects.push_back(Subject(o, p));
  std::string payload = telemq::bench::PeerPayload(o.record_size);
  const auto start = PeerClock::now();
  const auto bound = start + std::chrono::duration<double>(o.timeout_s);
  const auto end =
      o.duration_s > 0 ? start + std::chrono::duration<double>(o.duration_s) : PeerClock::time_point::max();
  int64_t sent = 0;
  while ((o.duration_s > 0 ? PeerClock::now() < end : sent < o.records)) {
    telemq::bench::StampMicros(payload, PeerNowMicros());
    const natsStatus s = js_PublishAsync(js, subjects[sent % subjects.size()].c_str(), payload.data(),
                                         static_cast<int>(payload.size()), nullptr);
    if (s == NATS_TIMEOUT) {  // stalled at MaxPending for StallWait: retry unless past the bound
      if (PeerClock::now() > bound) return Fail("publish stalled past --timeout-s", s);
      continue;
    }
    if (s != NATS_OK) return Fail("publish", s);
    ++sent;
  }
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = static_cast<int64_t>(o.timeout_s * 1000);
  if (natsStatus s = js_PublishAsyncComplete(js, &po); s != NATS_OK) return Fail("publish complete", s);
  const double secs = std::chrono::duration<double>(PeerClock::now() - start).count();
  jsCtx_Destroy(js);
  telemq::bench::LoadResult r{.system = "nats",
                              .mode = "publish",
                              .topic = o.topic,
                              .partitions = o.partitions,
                              .record_size = o.record_size,
                              .records = st.acked.load(),
                              .failed = st.failed.load(),
                              .seconds = secs,
                              .latency_from = "send",
                              .async = "js_PublishAsync, MaxPending " + std::to_string(o.max_pending),
                              .latency = &st.hist};
  std::printf("%s\n", r.ToJsonLine().c_str());
  return st.failed.load() > 0 ? 1 : 0;
}

struct ReceiveState {
  std::atomic<int64_t> received{0};
  std::mutex mu;
  Histogram hist;  // guarded by mu (one callback thread per subscription)
  bool stamp = false;
};

void OnMsg(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* st = static_cast<ReceiveState*>(closure);
  if (st->stamp) {
    const int64_t lat = PeerNowMicros() - telemq::bench::ReadStamp(natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
    std::lock_guard<std::mutex> lock(st->mu);
    st->hist.Record(lat);
  }
  ++st->received;
  natsMsg_Destroy(msg);
}

natsStatus SubscribeOrdered(natsSubscription** sub, jsCtx* js, const std::string& subject, ReceiveState* st,
                            bool only_new) {
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Ordered = true;
  so.Config.DeliverPolicy = only_new ? js_DeliverNew : js_DeliverAll;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_Subscribe(sub, js, subject.c_str(), OnMsg, st, nullptr, &so, &jerr);
  if (s == NATS_OK) s = natsSubscription_SetPendingLimits(*sub, -1, -1);
  return s;
}

// Waits until `target` records arrived; false after 10 s without progress
// or past the run's bound.
bool WaitReceived(const ReceiveState& st, int64_t target, PeerClock::time_point bound) {
  int64_t last = -1;
  auto last_change = PeerClock::now();
  while (st.received.load() < target) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const int64_t now_n = st.received.load();
    if (now_n != last) {
      last = now_n;
      last_change = PeerClock::now();
    }
    if (PeerClock::now() - last_change > std::chrono::seconds(10) || PeerClock::now() > bound) return false;
  }
  return true;
}

int RunConsume(natsConnection* nc, const PeerOptions& o) {
  jsCtx* js = nullptr;
  if (natsStatus s = natsConnection_JetStream(&js, nc, nullptr); s != NATS_OK) return Fail("jetstream", s);
  ReceiveState st;
  std::vector<natsSubscription*> subs(o.partitions, nullptr);
  const auto start = PeerClock::now();
  for (int p = 0; p < o.partitions; ++p) {
    if (natsStatus s = SubscribeOrdered(&subs[p], js, Subject(o, p), &st, false); s != NATS_OK) {
      return Fail("subscribe", s);
    }
  }
  const bool done = WaitReceived(st, o.records, telemq::bench::After(start, o.timeout_s));
  const double secs = std::chrono::duration<double>(PeerClock::now() - start).count();
  for (auto* sub : subs) {
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
  }
  jsCtx_Destroy(js);
  if (!done) std::fprintf(stderr, "nats-load: consume stopped at %lld records\n", (long long)st.received.load());
  telemq::bench::LoadResult r{.system = "nats",
                              .mode = "consume",
                              .topic = o.topic,
                              .partitions = o.partitions,
                              .record_size = o.record_size,
                              .records = st.received.load(),
                              .seconds = secs,
                              .async = "ordered push consumer per stream"};
  std::printf("%s\n", r.ToJsonLine().c_str());
  return done ? 0 : 1;
}

int RunEndToEnd(natsConnection* nc, const PeerOptions& o) {
  PublishState acks;
  jsCtx* js = nullptr;
  if (int rc = OpenJetStream(nc, o, &acks, 0, &js); rc != 0) return rc;
  ReceiveState st;
  st.stamp = true;
  natsSubscription* sub = nullptr;
  if (natsStatus s = SubscribeOrdered(&sub, js, o.topic + ".*", &st, true); s != NATS_OK) return Fail("subscribe", s);
  const double duration = o.duration_s > 0 ? o.duration_s : 10.0;
  const int64_t total = static_cast<int64_t>(o.rate * duration);
  const std::string subject = Subject(o, 0);
  std::string payload = telemq::bench::PeerPayload(o.record_size);
  const auto start = PeerClock::now();
  const bool scheduled = o.latency_from == "scheduled";
  for (int64_t i = 0; i < total; ++i) {
    const int64_t due = telemq::bench::WaitUntilDue(start, i, o.rate);
    telemq::bench::StampMicros(payload, scheduled ? due : PeerNowMicros());
    natsStatus s;
    do {
      s = js_PublishAsync(js, subject.c_str(), payload.data(), static_cast<int>(payload.size()), nullptr);
    } while (s == NATS_TIMEOUT && PeerClock::now() - start < std::chrono::duration<double>(o.timeout_s));
    if (s != NATS_OK) return Fail("publish", s);
  }
  const bool done = WaitReceived(st, total, telemq::bench::After(start, o.timeout_s));
  const double secs = std::chrono::duration<double>(PeerClock::now() - start).count();
  natsSubscription_Unsubscribe(sub);
  natsSubscription_Destroy(sub);
  jsCtx_Destroy(js);
  std::lock_guard<std::mutex> lock(st.mu);
  telemq::bench::LoadResult r{.system = "nats",
                              .mode = "e2e",
                              .topic = o.topic,
                              .partitions = 1,
                              .record_size = o.record_size,
                              .records = st.received.load(),
                              .failed = acks.failed.load(),
                              .seconds = secs,
                              .latency_from = o.latency_from,
                              .async = "js_PublishAsync at a fixed rate, ordered push consumer",
                              .latency = &st.hist};
  std::printf("%s\n", r.ToJsonLine().c_str());
  return done && acks.failed.load() == 0 ? 0 : 1;
}

int Run(const PeerOptions& o) {
  std::string host;
  int port = 0;
  if (!o.HostPort(&host, &port)) {
    std::fprintf(stderr, "nats-load: --server must be host:port, got '%s'\n", o.server.c_str());
    return 2;
  }
  natsOptions* opts = nullptr;
  natsOptions_Create(&opts);
  const std::string url = "nats://" + o.server;
  natsOptions_SetURL(opts, url.c_str());
  natsOptions_SetTimeout(opts, 5000);
  natsOptions_SetMaxPendingMsgs(opts, 1 << 20);
  natsConnection* nc = nullptr;
  natsStatus s = natsConnection_Connect(&nc, opts);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) return Fail("connect " + url, s);
  int rc = 2;
  if (o.mode == "publish") rc = RunPublish(nc, o);
  if (o.mode == "consume") rc = RunConsume(nc, o);
  if (o.mode == "e2e") rc = RunEndToEnd(nc, o);
  natsConnection_Destroy(nc);
  nats_Close();
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    CLI::App app{"nats-load: NATS JetStream load for make compare (publish, consume, e2e)"};
    PeerOptions o;
    o.server = "127.0.0.1:4222";
    o.Register(app);
    CLI11_PARSE(app, argc, argv);
    o.Mode(app);
    return Run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nats-load: %s\n", e.what());
    return 1;
  }
}
