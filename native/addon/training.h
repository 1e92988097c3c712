// Training jobs that report every epoch to JavaScript (nnTrain, ganTrain) and the abort flag every
// training entry point takes. One copy of the threading rules, so the addons cannot drift apart:
// each addon only parses its options and builds its epoch event and result objects.
#pragma once
#include <napi.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <future>
#include <initializer_list>
#include <memory>
#include <string>

#include "args.h"
#include "async.h"

namespace nadir::addon {

// abortFlag argument: null/undefined, or an Int32Array whose first element JavaScript sets to
// non-zero to stop training (read on the training thread, so it is volatile).
inline const volatile int32_t* abort_arg(const Napi::CallbackInfo& info, size_t i) {
  if (info[i].IsNull() || info[i].IsUndefined()) return nullptr;
  auto f = i32(info, i, "abortFlag");
  if (f.length < 1) range_fail(info.Env(), "Expected at least 1 element in abortFlag");
  return f.data;
}

namespace training_detail {

template <class Result>
struct State {
  std::atomic<int> cancel{0};
  Result result;
  std::string error;
  // Cleanup-hook bookkeeping; only touched on the JavaScript thread.
  std::shared_ptr<State>* holder = nullptr;
  bool hooked = false;
  bool env_gone = false;

  // Environment cleanup hook: stops a training run whose environment is going away.
  static void EnvGone(void* arg) {
    auto* holder = static_cast<std::shared_ptr<State>*>(arg);
    (*holder)->cancel = 1;
    (*holder)->hooked = false;
    (*holder)->env_gone = true;
    delete holder;
  }
};

template <class Info, class Result>
struct EpochMsg {
  Info info{};
  std::promise<void> done;
  bool failed = false;
  std::shared_ptr<State<Result>> state;
  Napi::Value (*event)(Napi::Env, const Info&) = nullptr;
};

}  // namespace training_detail

// Validates onEpoch (argument cb_index: a function or null) and abortFlag (flag_index), then runs
// `train(onEpoch, shouldStop)` on the libuv pool; `output` builds the resolved value from its result.
// `event` builds the single argument of each onEpoch call. With wait_epoch the training thread
// waits for every onEpoch call (calls run in order and before the promise settles, and a slow
// callback applies backpressure); without it the calls are queued fire-and-forget.
template <class Info, class Result>
Napi::Promise start_training(const Napi::CallbackInfo& info, size_t cb_index, size_t flag_index, const char* tsfn_name,
                             bool wait_epoch, Napi::Value (*event)(Napi::Env, const Info&),
                             std::function<Result(const std::function<void(const Info&)>&, const std::function<bool()>&)> train,
                             std::function<Napi::Value(Napi::Env, const Result&)> output,
                             std::initializer_list<Napi::Value> keep) {
  using State = training_detail::State<Result>;
  using Msg = training_detail::EpochMsg<Info, Result>;
  Napi::Env env = info.Env();
  Napi::Value cbv = info[cb_index];
  const bool has_cb = cbv.IsFunction();
  if (!has_cb && !cbv.IsNull() && !cbv.IsUndefined()) fail(env, "a function or null", "onEpoch", cbv);
  const volatile int32_t* flag = abort_arg(info, flag_index);
  Napi::ThreadSafeFunction tsfn;
  if (has_cb) tsfn = Napi::ThreadSafeFunction::New(env, cbv.As<Napi::Function>(), tsfn_name, 0, 1);

  // If the environment goes away mid-training (a worker_thread terminated) the loop must stop, or
  // teardown waits for it: the per-epoch call fails once JavaScript cannot run and cancels it;
  // the cleanup hook is the last resort. (Process exit raises the abort flag from JavaScript.)
  auto state = std::make_shared<State>();
  state->holder = new std::shared_ptr<State>(state);
  napi_add_env_cleanup_hook(env, State::EnvGone, state->holder);
  state->hooked = true;

  auto work = [train = std::move(train), event, state, tsfn, flag, has_cb, wait_epoch]() mutable {
    // The thread-safe function must be released however training ends, or the process cannot exit.
    struct Release {
      Napi::ThreadSafeFunction& t;
      bool on;
      ~Release() { if (on) t.Release(); }
    } release{tsfn, has_cb};
    std::function<void(const Info&)> cb;
    auto stop = [flag, &state]() { return state->cancel.load(std::memory_order_relaxed) != 0 || (flag && *flag != 0); };
    if (has_cb)
      cb = [&tsfn, &state, &stop, wait_epoch, event](const Info& e) {
        auto msg = std::make_shared<Msg>();
        msg->info = e;
        msg->state = state;
        msg->event = event;
        // The queue owns one reference, so the worker may stop waiting without freeing it.
        auto fut = msg->done.get_future();
        auto* ref = new std::shared_ptr<Msg>(msg);
        auto call = [](Napi::Env env, Napi::Function fn, std::shared_ptr<Msg>* r) {
          Msg& m = **r;
          bool ok = false;
          if (env != nullptr && fn != nullptr) {
            try {
              fn.Call({m.event(env, m.info)});
              ok = true;
            } catch (...) {
              // The TypeScript wrappers catch user errors themselves, so a failure here means
              // JavaScript can no longer run (the environment is shutting down).
            }
          }
          m.failed = !ok;
          if (!ok) m.state->cancel = 1;
          m.done.set_value();
          delete r;
        };
        napi_status st = wait_epoch ? tsfn.BlockingCall(ref, call) : tsfn.NonBlockingCall(ref, call);
        if (st != napi_ok) {
          delete ref;
          state->cancel = 1;  // the callback can no longer run: the environment is closing
          return;
        }
        if (!wait_epoch) return;
        // Wait, so every onEpoch call happens before the promise settles and in order; give up
        // when training is being stopped (process exit sets the abort flag from JavaScript).
        while (fut.wait_for(std::chrono::milliseconds(5)) != std::future_status::ready)
          if (stop()) return;
        if (msg->failed) state->cancel = 1;
      };
    try {
      state->result = train(cb, stop);
    } catch (const std::exception& e) {
      state->error = e.what();
    } catch (...) {
      state->error = "native error";
    }
  };
  auto done = [state, output = std::move(output)](Napi::Env env) -> Napi::Value {
    if (state->hooked) {
      napi_remove_env_cleanup_hook(env, State::EnvGone, state->holder);
      delete state->holder;
      state->hooked = false;
    }
    if (state->env_gone) return Napi::Value();  // nobody is left to receive the result
    if (!state->error.empty()) throw Napi::Error::New(env, state->error);
    return output(env, state->result);
  };
  return Job::Start(env, work, done, keep);
}

}  // namespace nadir::addon
