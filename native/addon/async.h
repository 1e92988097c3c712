// One AsyncWorker for every promise-returning entry point: `work` runs on the libuv pool and only
// touches raw memory captured from typed arrays that `keep` holds alive; `done` builds the JS result
// on the main thread. A C++ exception in `work` rejects the promise with its message.
#pragma once
#include <napi.h>

#include <exception>
#include <functional>
#include <initializer_list>
#include <vector>

namespace nadir::addon {

class Job : public Napi::AsyncWorker {
 public:
  using Work = std::function<void()>;
  using Done = std::function<Napi::Value(Napi::Env)>;

  static Napi::Promise Start(Napi::Env env, Work work, Done done,
                             std::initializer_list<Napi::Value> keep) {
    auto* job = new Job(env, std::move(work), std::move(done));
    for (const auto& v : keep)
      if (v.IsObject()) job->keep_.push_back(Napi::Persistent(v.As<Napi::Object>()));
    Napi::Promise p = job->deferred_.Promise();
    job->Queue();
    return p;
  }

 protected:
  void Execute() override {
    try {
      work_();
    } catch (const std::exception& e) {
      SetError(e.what());
    } catch (...) {
      SetError("native error");
    }
  }
  // Neither may throw: when the environment is shutting down (a terminated worker_thread) every
  // N-API call fails, and an exception escaping here would abort the process.
  void OnOK() override {
    try {
      Napi::HandleScope scope(Env());
      try {
        deferred_.Resolve(done_ ? done_(Env()) : Env().Undefined());
      } catch (const Napi::Error& e) {
        deferred_.Reject(e.Value());
      }
    } catch (...) {
    }
  }
  void OnError(const Napi::Error& e) override {
    try {
      deferred_.Reject(e.Value());
    } catch (...) {
    }
  }

 private:
  Job(Napi::Env env, Work work, Done done)
      : Napi::AsyncWorker(env, "nadir"), deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)), done_(std::move(done)) {}

  Napi::Promise::Deferred deferred_;
  Work work_;
  Done done_;
  std::vector<Napi::ObjectReference> keep_;
};

}  // namespace nadir::addon
