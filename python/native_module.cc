// The embedded module `inlet._native` (registered as `_inlet_native` and aliased by the
// interpreter): Request and Headers over the AuthRequest, and the hooks the runtime's loop calls.
#include <pybind11/embed.h>

#include <string_view>
#include <utility>

#include "codecs/content_type.h"
#include "python/request_object.h"

namespace inlet::python {

namespace {

py::str latin1(std::string_view text) {
  return py::reinterpret_steal<py::str>(
      PyUnicode_DecodeLatin1(text.data(), static_cast<Py_ssize_t>(text.size()), nullptr));
}

py::bytes bytes_of(std::string_view text) { return py::bytes(text.data(), text.size()); }

py::str lower_latin1(std::string_view text) {
  std::string lowered(text);
  for (char& c : lowered) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return latin1(lowered);
}

std::string_view utf8(const py::str& key) {
  Py_ssize_t size = 0;
  const char* data = PyUnicode_AsUTF8AndSize(key.ptr(), &size);
  if (data == nullptr) throw py::error_already_set();
  return {data, static_cast<std::size_t>(size)};
}

// Starlette's Headers surface (case-insensitive, multi-valued, str values), read in place.
class HeadersObject {
 public:
  HeadersObject(py::object owner, RequestObject* request)
      : owner_(std::move(owner)), request_(request) {}

  py::object get(const py::str& key, py::object fallback) const {
    const std::string_view name = utf8(key);
    return request_->read([&](const auth::AuthRequest& r) -> py::object {
      for (const auth::Header& h : r.headers) {
        if (codecs::iequals(h.name, name)) return latin1(h.value);
      }
      return fallback;
    });
  }
  py::str getitem(const py::str& key) const {
    py::object value = get(key, py::none());
    if (value.is_none()) throw py::key_error(key.cast<std::string>());
    return value;
  }
  bool contains(const py::object& key) const {
    if (!py::isinstance<py::str>(key)) return false;
    return !get(key, py::none()).is_none();
  }
  py::list getlist(const py::str& key) const {
    const std::string_view name = utf8(key);
    return request_->read([&](const auth::AuthRequest& r) {
      py::list values;
      for (const auth::Header& h : r.headers) {
        if (codecs::iequals(h.name, name)) values.append(latin1(h.value));
      }
      return values;
    });
  }
  py::list keys() const {
    return request_->read([&](const auth::AuthRequest& r) {
      py::list keys;
      for (const auth::Header& h : r.headers) keys.append(lower_latin1(h.name));
      return keys;
    });
  }
  py::list values() const {
    return request_->read([&](const auth::AuthRequest& r) {
      py::list values;
      for (const auth::Header& h : r.headers) values.append(latin1(h.value));
      return values;
    });
  }
  py::list items() const {
    return request_->read([&](const auth::AuthRequest& r) {
      py::list items;
      for (const auth::Header& h : r.headers)
        items.append(py::make_tuple(lower_latin1(h.name), latin1(h.value)));
      return items;
    });
  }
  py::list raw() const {
    return request_->read([&](const auth::AuthRequest& r) {
      py::list items;
      std::string lowered;
      for (const auth::Header& h : r.headers) {
        lowered.assign(h.name);
        for (char& c : lowered) {
          if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        }
        items.append(py::make_tuple(bytes_of(lowered), bytes_of(h.value)));
      }
      return items;
    });
  }
  std::size_t size() const {
    return request_->read([](const auth::AuthRequest& r) { return r.headers.size(); });
  }

 private:
  py::object owner_;  // keeps the Request (and so request_) alive
  RequestObject* request_;
};

// A coroutine that forwards to the authenticator's own, each step under the watchdog. Raw C API:
// the Task calls send/throw once per step, and pybind11 would add an exception round trip to the
// StopIteration that ends every call.
struct WatchedCoroutine {
  PyObject ob_base;  // PyObject_HEAD
  PyObject* coro;
  Job* job;  // freed only by finish_task, after the last step
};

PyTypeObject* watched_type = nullptr;

PyObject* watched_step(WatchedCoroutine* self, PyObject* method, PyObject* const* args,
                       Py_ssize_t nargs) {
  Interpreter& interpreter = Interpreter::instance();
  PyObject* callable = PyObject_GetAttr(self->coro, method);
  if (callable == nullptr) return nullptr;
  interpreter.watch_begin(self->job);
  PyObject* result = PyObject_Vectorcall(callable, args, static_cast<std::size_t>(nargs), nullptr);
  interpreter.watch_end();
  Py_DECREF(callable);
  // asyncio lets these two escape its loop, which would stop every async authenticator: make
  // them this call's failure (a 500), keeping the original as the cause for the traceback.
  if (result == nullptr && (PyErr_ExceptionMatches(PyExc_SystemExit) ||
                            PyErr_ExceptionMatches(PyExc_KeyboardInterrupt))) {
    _PyErr_FormatFromCause(
        PyExc_RuntimeError, "the function raised %s",
        PyErr_ExceptionMatches(PyExc_SystemExit) ? "SystemExit" : "KeyboardInterrupt");
  }
  return result;
}

PyObject* watched_send(PyObject* self, PyObject* value) {
  static PyObject* name = PyUnicode_InternFromString("send");
  return watched_step(reinterpret_cast<WatchedCoroutine*>(self), name, &value, 1);
}

PyObject* watched_throw(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  static PyObject* name = PyUnicode_InternFromString("throw");
  return watched_step(reinterpret_cast<WatchedCoroutine*>(self), name, args, nargs);
}

PyObject* watched_close(PyObject* self, PyObject*) {
  return PyObject_CallMethod(reinterpret_cast<WatchedCoroutine*>(self)->coro, "close", nullptr);
}

PyObject* watched_await(PyObject* self) {
  return PyObject_CallMethod(reinterpret_cast<WatchedCoroutine*>(self)->coro, "__await__", nullptr);
}

PyObject* watched_next(PyObject* self) { return watched_send(self, Py_None); }

void watched_dealloc(PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  Py_XDECREF(reinterpret_cast<WatchedCoroutine*>(self)->coro);
  type->tp_free(self);
  Py_DECREF(type);
}

PyMethodDef watched_methods[] = {
    {"send", watched_send, METH_O, nullptr},
    {"throw", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(watched_throw)),
     METH_FASTCALL, nullptr},
    {"close", watched_close, METH_NOARGS, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

PyType_Slot watched_slots[] = {
    {Py_tp_dealloc, reinterpret_cast<void*>(watched_dealloc)},
    {Py_tp_methods, watched_methods},
    {Py_am_await, reinterpret_cast<void*>(watched_await)},
    {Py_tp_iter, reinterpret_cast<void*>(PyObject_SelfIter)},
    {Py_tp_iternext, reinterpret_cast<void*>(watched_next)},
    {0, nullptr},
};

PyType_Spec watched_spec = {"inlet._native.WatchedCoroutine", sizeof(WatchedCoroutine), 0,
                            Py_TPFLAGS_DEFAULT, watched_slots};

}  // namespace

PyObject* watch_coroutine(PyObject* coro, Job* job) noexcept {
  auto* self = PyObject_New(WatchedCoroutine, watched_type);
  if (self == nullptr) return nullptr;
  Py_INCREF(coro);
  self->coro = coro;
  self->job = job;
  return reinterpret_cast<PyObject*>(self);
}

py::object RequestObject::make(AuthJob* job, RequestObject*& out) {
  out = new RequestObject(job);
  return py::cast(out, py::return_value_policy::take_ownership);
}

namespace {

// What an async call's task holds of its job, for the two hooks below.
struct CallHandle {
  Job* job;
};

}  // namespace

py::object make_call_handle(Job* job) {
  return py::cast(CallHandle{job});
}

PYBIND11_EMBEDDED_MODULE(_inlet_native, m) {
  m.doc() = "inlet's native side: the request view and the hooks of the interpreter thread";

  py::class_<HeadersObject>(m, "Headers")
      .def("get", &HeadersObject::get, py::arg("key"), py::arg("default") = py::none())
      .def("getlist", &HeadersObject::getlist)
      .def("keys", &HeadersObject::keys)
      .def("values", &HeadersObject::values)
      .def("items", &HeadersObject::items)
      .def("__getitem__", &HeadersObject::getitem)
      .def("__contains__", &HeadersObject::contains)
      .def("__len__", &HeadersObject::size)
      .def("__iter__", [](const HeadersObject& h) { return py::iter(h.keys()); })
      .def("__repr__",
           [](const HeadersObject& h) {
             return "Headers(" + py::repr(h.items()).cast<std::string>() + ")";
           })
      .def_property_readonly("raw", &HeadersObject::raw);

  py::class_<RequestObject>(m, "Request", py::dynamic_attr())
      .def_property_readonly(
          "method",
          [](const RequestObject& r) {
            return r.read([](const auth::AuthRequest& a) { return latin1(a.method); });
          })
      .def_property_readonly("headers",
                             // Not cached: Request -> Headers -> Request would be a cycle.
                             [](py::object self) {
                               auto& r = self.cast<RequestObject&>();
                               return HeadersObject(self, &r);
                             })
      .def_property_readonly(
          "_target",
          [](const RequestObject& r) {
            return r.read([](const auth::AuthRequest& a) { return latin1(a.target); });
          })
      .def_property_readonly("_client",
                             [](const RequestObject& r) {
                               return r.read([](const auth::AuthRequest& a) {
                                 return py::make_tuple(latin1(a.client_host), a.client_port);
                               });
                             })
      .def_property_readonly("_origin",
                             [](const RequestObject& r) {
                               return r.read([](const auth::AuthRequest& a) {
                                 return py::make_tuple(latin1(a.scheme), latin1(a.host));
                               });
                             })
      .def_property_readonly("_client_cert",
                             [](const RequestObject& r) {
                               return r.read([](const auth::AuthRequest& a) -> py::object {
                                 if (a.client_cert.empty()) return py::none();
                                 return py::str(a.client_cert.data(), a.client_cert.size());
                               });
                             })
      .def("_body_bytes", [](RequestObject& r) {
        if (!r.body_) r.body_ = r.read([](const auth::AuthRequest& a) { return bytes_of(a.body); });
        return r.body_;
      });

  watched_type = reinterpret_cast<PyTypeObject*>(PyType_FromSpec(&watched_spec));
  if (watched_type == nullptr) throw py::error_already_set();
  // The runtime registers it as a collections.abc.Coroutine so asyncio accepts it as a task.
  m.add_object("WatchedCoroutine",
               py::reinterpret_borrow<py::object>(reinterpret_cast<PyObject*>(watched_type)));

  m.def("_drain", [] { Interpreter::instance().drain(); });
  py::class_<CallHandle>(m, "Call");
  // The async call ran past its deadline: answer with the timeout now (the task is being cancelled).
  m.def("_answer_timeout", [](CallHandle& call) {
    if (call.job == nullptr || !Interpreter::answer_timeout(*call.job)) return;
    const Program& program = *call.job->program;
    program.log(30, program.kind + " timed out after " + std::to_string(program.timeout.count()) +
                        " ms; the task is cancelled");
  });
  // The async call ended: answer from the task's result or exception, then free the job.
  m.def("_finish_task", [](CallHandle& call, py::handle task) {
    Job* job = std::exchange(call.job, nullptr);
    if (job != nullptr) Interpreter::finish_task(job, task);
  });
}

}  // namespace inlet::python
