// The embedded module `inlet._native` (registered as `_inlet_native` and aliased by the
// interpreter): Request and Headers over the AuthRequest, and the hooks the runtime's loop calls.
#include <pybind11/embed.h>

#include <string_view>

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

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
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
        if (iequals(h.name, name)) return latin1(h.value);
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
        if (iequals(h.name, name)) values.append(latin1(h.value));
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

}  // namespace

py::object RequestObject::make(Job* job, RequestObject*& out) {
  out = new RequestObject(job);
  return py::cast(out, py::return_value_policy::take_ownership);
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
      .def("_body_bytes", [](RequestObject& r) {
        if (!r.body_) r.body_ = r.read([](const auth::AuthRequest& a) { return bytes_of(a.body); });
        return r.body_;
      });

  m.def("_drain", [] { Interpreter::instance().drain(); });
  m.def("_answer_timeout", [](RequestObject& r) { r.answer_timeout(); });
  m.def("_finish_task", [](RequestObject& r, py::handle task) { r.finish_task(task); });
}

}  // namespace inlet::python
